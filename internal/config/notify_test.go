package config

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNotificationAndUsersFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// The examples the README points to are valid as they are.
	c, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{
		"--slack-bot-token", "xoxb-1",
		"--notifications", filepath.Join("..", "..", "examples", "notifications.yaml"),
		"--users", filepath.Join("..", "..", "examples", "users.yaml"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Notifications.Applications["web"].SlackChannel != "#web-deploys" || len(c.Notifications.EventEndpoints) != 1 || len(c.Users) != 2 {
		t.Errorf("read %+v, users %+v", c.Notifications, c.Users)
	}

	bad := write("bad.yaml", `eventEndpoints:
  - {name: audit, url: "ftp://x", secret: ""}
  - {name: audit, url: "http://ok", secret: s}
applications:
  web:
    notifications: [{type: slack, when: [stage.failed]}]
`)
	users := write("users.yaml", "users:\n  - {name: a@x}\n  - {name: A@x}\n")
	_, err = Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--notifications", bad, "--users", users})
	for _, want := range []string{
		`eventEndpoints[0].url "ftp://x"`,
		"eventEndpoints[0].secret: required",
		`eventEndpoints[1]: endpoint "audit" is listed twice`,
		`applications.web.notifications[0].type: slack notifications are not configured`,
		`applications.web.notifications[0].when[0]: "stage.failed" is not a notification point here`,
		"--users",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	pubsub, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--pubsub", filepath.Join("..", "..", "examples", "pubsub.yaml")})
	if err != nil || len(pubsub.SubscriptionNames()) != 2 || pubsub.SubscriptionNames()[1] != "releases" {
		t.Errorf("the pubsub example: %v %+v", err, pubsub)
	}
	badSubs := write("subs.yaml", "subscriptions:\n  - {name: a, queueUrl: \"ftp://q\"}\n  - {name: a, queueArn: arn:aws:sqs:us-east-1:123456789012:a, waitSeconds: 30}\n")
	_, err = Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--pubsub", badSubs})
	for _, want := range []string{`subscriptions[0].queueUrl: "ftp://q" is not an http(s) URL`, "subscriptions[1].waitSeconds: must be between 1 and 20", `subscriptions[1].name: "a" is named twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	typo := write("typo.yaml", "eventEndpiont: []\n")
	if _, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--notifications", typo}); err == nil || !strings.Contains(err.Error(), "eventEndpiont") {
		t.Errorf("an unknown field was accepted: %v", err)
	}
}

func TestSlackSecretsAreNotLogged(t *testing.T) {
	c := parse(t, nil, "--slack-bot-token", "xoxb-secret-1", "--slack-signing-secret", "sign-secret-2")
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "config", c)
	for _, secret := range []string{"xoxb-secret-1", "sign-secret-2"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("logged config contains %q: %s", secret, out.String())
		}
	}
}

func TestAPIBaseURL(t *testing.T) {
	for _, tt := range []struct{ public, listening, http, want string }{
		{"https://deploy.example.com/", "", ":8080", "https://deploy.example.com"},
		{"", "127.0.0.1:4567", ":0", "http://127.0.0.1:4567"},
		{"", "", ":8080", "http://localhost:8080"},
		{"", "[::]:9000", "", "http://localhost:9000"},
	} {
		c := &Config{PublicURL: tt.public, HTTPAddress: tt.http}
		if got := c.APIBaseURL(tt.listening); got != tt.want {
			t.Errorf("APIBaseURL(%+v) = %q, want %q", tt, got, tt.want)
		}
	}
}
