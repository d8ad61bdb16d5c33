package triggers

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// pubsubMessage is one message received on a subscription, read once for every candidate. Its
// body is the payload when it is a JSON object. A message an SNS topic delivered to the queue
// (without raw message delivery) is unwrapped: the payload is the notification's Message, and the
// notification's message attributes are the message's.
type pubsubMessage struct {
	*webhook
	// attributes are the message's attributes, String and Number values as text.
	attributes map[string]string
	// notJSON says why the body is no payload: constraints on the payload cannot match.
	notJSON string
}

func readPubsub(d Delivery) *pubsubMessage {
	m := &pubsubMessage{attributes: maps.Clone(d.Attributes)}
	if m.attributes == nil {
		m.attributes = map[string]string{}
	}
	body := d.Body
	if inner, attrs, ok := unwrapSNS(body); ok {
		body = inner
		for k, v := range attrs {
			m.attributes[k] = v
		}
	}
	payload, err := decodeObject(body)
	if err != nil {
		m.notJSON = strings.TrimPrefix(err.Error(), ErrBadPayload.Error()+": ")
		payload = map[string]any{}
	}
	m.webhook = newWebhook(d, payload, "pubsub:"+d.Source)
	if m.notJSON != "" {
		m.webhook.notes = nil
	}
	return m
}

// snsNotification is the envelope SNS wraps a message in when it delivers it to an SQS queue
// without raw message delivery.
type snsNotification struct {
	Type              string `json:"Type"`
	MessageID         string `json:"MessageId"`
	TopicArn          string `json:"TopicArn"`
	Message           string `json:"Message"`
	MessageAttributes map[string]struct {
		Type  string `json:"Type"`
		Value string `json:"Value"`
	} `json:"MessageAttributes"`
}

// unwrapSNS returns the message inside an SNS notification and its attributes, or ok false when
// the body is not one.
func unwrapSNS(body []byte) (inner []byte, attributes map[string]string, ok bool) {
	var n snsNotification
	if err := json.Unmarshal(body, &n); err != nil || n.Type != "Notification" || n.TopicArn == "" || n.MessageID == "" {
		return nil, nil, false
	}
	attributes = map[string]string{}
	for k, a := range n.MessageAttributes {
		if a.Type != "Binary" {
			attributes[k] = a.Value
		}
	}
	return []byte(n.Message), attributes, true
}

// watches compares subscription names exactly, as they are written in gennaker's configuration.
func (m *pubsubMessage) watches(t pipeline.Trigger) bool {
	s := t.Pubsub()
	return s.System == pipeline.PubsubAmazon && s.Subscription == m.d.Source
}

func (m *pubsubMessage) decide(c Candidate) decision {
	settings := c.Trigger.Pubsub()
	var failed []string
	if why := unmetConstraints(settings.AttributeConstraints, m.checkAttribute); why != "" {
		failed = append(failed, why)
	}
	switch {
	case len(settings.PayloadConstraints) == 0:
	case m.notJSON != "":
		failed = append(failed, "the message body is not a JSON object ("+m.notJSON+"), so payload constraints cannot match")
	default:
		if why := m.unmet(settings.PayloadConstraints); why != "" {
			failed = append(failed, why)
		}
	}
	if len(failed) > 0 {
		return decision{why: strings.Join(failed, "; ")}
	}
	info := m.trigger(pipeline.TriggerPubsub)
	if m.notJSON != "" {
		info.Payload = nil
	}
	if len(m.attributes) > 0 {
		info.Attributes = maps.Clone(m.attributes)
	}
	return decision{info: info, notes: m.notes}
}

func (m *pubsubMessage) checkAttribute(key, pattern string) string {
	re, err := pipeline.FullMatchRegexp(pattern)
	if err != nil {
		return fmt.Sprintf("constraint on attribute %q is not a regular expression: %v", key, err)
	}
	value, ok := m.attributes[key]
	if !ok {
		return fmt.Sprintf("the message has no attribute %q for constraint %q", key, pattern)
	}
	if !re.MatchString(value) {
		return fmt.Sprintf("attribute %q is %s, which does not match %q in full", key, quote(value), pattern)
	}
	return ""
}
