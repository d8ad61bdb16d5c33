package pipeline

import (
	"slices"
	"sort"
	"strings"
)

// TriggerPubsub starts a pipeline when a message arrives on a subscription gennaker polls: an
// Amazon SQS queue, as Spinnaker's pubsub trigger with pubsubSystem "amazon".
const TriggerPubsub = "pubsub"

// PubsubAmazon is the one pubsub system gennaker polls: Amazon SQS (messages sent to the queue
// directly, or through an SNS topic the queue subscribes to).
const PubsubAmazon = "amazon"

// PubsubSettings are a pubsub trigger's own settings, read from its Context.
type PubsubSettings struct {
	// System is the pubsub system, lower-case; "amazon" is the one gennaker polls.
	System string
	// Subscription names a subscription configured for gennaker (its pubsub file), not the queue
	// itself: credentials and queue addresses stay out of pipelines.
	Subscription string
	// PayloadConstraints maps a field of the message body (a key, dotted path or JSONPath) to a
	// regular expression its value must match in full, as a webhook trigger's do.
	PayloadConstraints map[string]string
	// AttributeConstraints maps a message attribute to a regular expression its value must match in full.
	AttributeConstraints map[string]string
}

// Pubsub reads the trigger's pubsub settings. A setting of the wrong type reads as empty, as
// Validate reports it.
func (t Trigger) Pubsub() PubsubSettings {
	ctx := t.shapedContext()
	return PubsubSettings{
		System:               strings.ToLower(strings.TrimSpace(contextString(ctx, "pubsubSystem"))),
		Subscription:         contextString(ctx, "subscriptionName"),
		PayloadConstraints:   stringValues(ctx["payloadConstraints"]),
		AttributeConstraints: stringValues(ctx["attributeConstraints"]),
	}
}

func validatePubsubTrigger(t Trigger, path string, opts ValidateOptions) []Problem {
	var ps problems
	f := newFields(t.shapedContext(), path, &ps)
	system := f.requiredString("pubsubSystem")
	if strings.TrimSpace(system) != "" && strings.ToLower(strings.TrimSpace(system)) != PubsubAmazon {
		ps.add(f.at("pubsubSystem"), "unknown pubsub system %q; gennaker polls %q (Amazon SQS)", system, PubsubAmazon)
		// Which subscriptions exist depends on the system, so nothing more is said of this one's.
		opts.PubsubSubscriptions = nil
	}
	if name := f.requiredString("subscriptionName"); strings.TrimSpace(name) != "" && opts.PubsubSubscriptions != nil &&
		!slices.Contains(opts.PubsubSubscriptions, name) {
		known := "none is configured (see --pubsub)"
		if len(opts.PubsubSubscriptions) > 0 {
			known = "configured: " + strings.Join(opts.PubsubSubscriptions, ", ")
		}
		ps.add(f.at("subscriptionName"), "no pubsub subscription named %q; %s", name, known)
	}
	for _, key := range []string{"payloadConstraints", "attributeConstraints"} {
		v, ok := f.get(key)
		if !ok {
			continue
		}
		constraints, isMap := v.(map[string]any)
		if !isMap {
			ps.add(f.at(key), "must be an object mapping message fields to regular expressions")
			continue
		}
		keys := make([]string, 0, len(constraints))
		for k := range constraints {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if key == "payloadConstraints" {
				validatePayloadConstraint(k, constraints[k], joinKey(f.at(key), k), &ps)
			} else {
				validateNamedConstraint(k, constraints[k], joinKey(f.at(key), k), "a message attribute's name", &ps)
			}
		}
	}
	return ps
}
