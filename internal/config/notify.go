package config

import (
	"fmt"
	"net"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gennaker/gennaker/access"
	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

// Slack configures the Slack app gennaker posts as and receives button clicks from.
type Slack struct {
	// BotToken (xoxb-…) posts and updates messages; empty turns Slack notifications off.
	BotToken string
	// SigningSecret verifies requests to /slack/interactions; empty turns the endpoint off.
	SigningSecret string
	// APIURL replaces Slack's Web API address, for a test server; empty means Slack's.
	APIURL string
}

// Notifications is the notifications file: application defaults and event endpoints.
type Notifications struct {
	// DefaultSlackChannel receives Slack notifications that name no channel, when their application has none.
	DefaultSlackChannel string `json:"defaultSlackChannel,omitempty"`
	// Applications are per-application defaults: a Slack channel and notifications for every pipeline.
	Applications map[string]activities.ApplicationNotifications `json:"applications,omitempty"`
	// EventEndpoints receive every execution and stage status change, signed.
	EventEndpoints []notify.Endpoint `json:"eventEndpoints,omitempty"`
}

// UsersFile is the users file: who is who in Slack, and who has which roles.
type UsersFile struct {
	Users []access.User `json:"users"`
}

// loadNotifications reads NotificationsFile and UsersFile; problems are kept for Validate.
func (c *Config) loadNotifications() {
	if c.NotificationsFile != "" {
		if err := readStrict(c.NotificationsFile, &c.Notifications); err != nil {
			c.envProblems = append(c.envProblems, fmt.Sprintf("--notifications %q: %v", c.NotificationsFile, err))
		}
	}
	if c.UsersFile != "" {
		var f UsersFile
		if err := readStrict(c.UsersFile, &f); err != nil {
			c.envProblems = append(c.envProblems, fmt.Sprintf("--users %q: %v", c.UsersFile, err))
		}
		c.Users = f.Users
	}
}

func readStrict(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read: %w", err)
	}
	return yaml.UnmarshalStrict(data, into)
}

// validateNotifications checks the Slack settings, the notifications file and the users file.
func (c *Config) validateNotifications(add func(string, ...any)) {
	if c.Slack.APIURL != "" {
		if err := checkHTTPURL(c.Slack.APIURL); err != nil {
			add("--slack-api-url %q: %v", c.Slack.APIURL, err)
		}
	}
	if c.PublicURL != "" {
		if err := checkHTTPURL(c.PublicURL); err != nil {
			add("--public-url %q: %v", c.PublicURL, err)
		}
	}
	types := c.NotificationTypes()
	for app, defaults := range c.Notifications.Applications {
		path := fmt.Sprintf("applications.%s.notifications", app)
		for _, p := range pipeline.ValidateNotifications(defaults.Notifications, path, pipeline.PipelinePoints, types) {
			add("--notifications: %s", p)
		}
	}
	seen := map[string]bool{}
	for i, ep := range c.Notifications.EventEndpoints {
		where := fmt.Sprintf("--notifications: eventEndpoints[%d]", i)
		if err := checkHTTPURL(ep.URL); err != nil {
			add("%s.url %q: %v", where, ep.URL, err)
		}
		if strings.TrimSpace(ep.Secret) == "" {
			add("%s.secret: required, every event is signed with it", where)
		}
		key := ep.Name
		if key == "" {
			key = ep.URL
		}
		if seen[key] {
			add("%s: endpoint %q is listed twice", where, key)
		}
		seen[key] = true
	}
	if _, err := access.NewDirectory(c.Users); err != nil {
		add("--users %q: %v", c.UsersFile, err)
	}
}

// NotificationTypes are the notification types this configuration can send.
func (c *Config) NotificationTypes() []string {
	if c.Slack.BotToken == "" {
		return []string{}
	}
	return []string{pipeline.NotificationSlack}
}

// APIBaseURL is where people reach the API, for links in messages: --public-url, or the local
// address the API listens on.
func (c *Config) APIBaseURL(listening string) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	addr := listening
	if addr == "" {
		addr = c.HTTPAddress
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
