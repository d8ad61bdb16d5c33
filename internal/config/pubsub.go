package config

import (
	"fmt"
	"strings"

	"github.com/gennaker/gennaker/pubsub/sqs"
)

// PubsubFile is the pubsub file: the subscriptions workers poll for pubsub triggers.
type PubsubFile struct {
	Subscriptions []sqs.Subscription `json:"subscriptions"`
}

// SubscriptionNames lists the configured subscriptions, for validating pubsub triggers.
func (c *Config) SubscriptionNames() []string {
	names := make([]string, 0, len(c.Pubsub.Subscriptions))
	for _, s := range c.Pubsub.Subscriptions {
		names = append(names, s.Name)
	}
	return names
}

// loadPubsub reads PubsubFileName; problems are kept for Validate.
func (c *Config) loadPubsub() {
	if c.PubsubFileName == "" {
		return
	}
	if err := readStrict(c.PubsubFileName, &c.Pubsub); err != nil {
		c.envProblems = append(c.envProblems, fmt.Sprintf("--pubsub %q: %v", c.PubsubFileName, err))
	}
}

// validatePubsub checks every subscription and that names are unique.
func (c *Config) validatePubsub(add func(string, ...any)) {
	seen := map[string]bool{}
	for i, s := range c.Pubsub.Subscriptions {
		for _, p := range s.Problems() {
			add("--pubsub %q: subscriptions[%d].%s", c.PubsubFileName, i, p)
		}
		if seen[s.Name] && strings.TrimSpace(s.Name) != "" {
			add("--pubsub %q: subscriptions[%d].name: %q is named twice", c.PubsubFileName, i, s.Name)
		}
		seen[s.Name] = true
	}
}
