package triggers

import (
	"encoding/json"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

func pubsubMessageDelivery(subscription, id, body string, attributes map[string]string) Delivery {
	return Delivery{Kind: pipeline.TriggerPubsub, Source: subscription, ID: "sqs:" + id, Body: []byte(body), Attributes: attributes}
}

// snsWrapped is body as SNS delivers it to a subscribed SQS queue without raw message delivery.
func snsWrapped(t *testing.T, body string, attributes map[string]string) string {
	t.Helper()
	attrs := map[string]any{}
	for k, v := range attributes {
		attrs[k] = map[string]string{"Type": "String", "Value": v}
	}
	attrs["blob"] = map[string]string{"Type": "Binary", "Value": "AAEC"}
	b, err := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "2d4c-sns", "TopicArn": "arn:aws:sns:us-east-1:123456789012:builds",
		"Message": body, "Timestamp": "2026-11-23T10:00:00.000Z", "MessageAttributes": attrs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPubsubTriggers(t *testing.T) {
	trigger := func(name, extra string) Candidate {
		return cand(t, "shop", name, 0, `{"type":"pubsub","pubsubSystem":"amazon","subscriptionName":"builds"`+extra+`}`)
	}
	any := trigger("any", "")
	onProd := trigger("prod", `,"payloadConstraints":{"branch":"prod"},"attributeConstraints":{"event":"build\\.finished"}`)
	otherSub := cand(t, "shop", "other", 0, `{"type":"pubsub","pubsubSystem":"amazon","subscriptionName":"releases"}`)
	google := cand(t, "shop", "google", 0, `{"type":"pubsub","pubsubSystem":"google","subscriptionName":"builds"}`)
	attrs := map[string]string{"event": "build.finished"}
	runEvalCases(t, []evalCase{
		{
			name:       "constraints on body and attributes",
			d:          pubsubMessageDelivery("builds", "m-1", buildPayload, attrs),
			candidates: []Candidate{any, onProd, otherSub, google},
			matches:    []string{"shop/any#0", "shop/prod#0"},
			checked:    2,
			reasons: []string{"any triggers[0]: payload artifacts[1] left out", "any triggers[0]: payload artifacts[2] left out", "any triggers[0]: payload artifacts[3] left out",
				"prod triggers[0]: payload artifacts[1] left out", "prod triggers[0]: payload artifacts[2] left out", "prod triggers[0]: payload artifacts[3] left out"},
		},
		{
			name:       "attribute missing or different",
			d:          pubsubMessageDelivery("builds", "m-2", `{"branch": "prod"}`, map[string]string{"event": "build.started"}),
			candidates: []Candidate{onProd},
			checked:    1,
			reasons:    []string{`attribute "event" is "build.started", which does not match "build\\.finished" in full`},
		},
		{
			name:       "no attributes",
			d:          pubsubMessageDelivery("builds", "m-3", `{"branch": "prod"}`, nil),
			candidates: []Candidate{onProd},
			checked:    1,
			reasons:    []string{`the message has no attribute "event"`},
		},
		{
			name:       "a body that is not JSON fires triggers without payload constraints only",
			d:          pubsubMessageDelivery("builds", "m-4", "deploy please", attrs),
			candidates: []Candidate{any, onProd},
			matches:    []string{"shop/any#0"},
			checked:    2,
			reasons:    []string{"the message body is not a JSON object (the body is not JSON"},
		},
		{
			name:       "SNS notification unwrapped",
			d:          pubsubMessageDelivery("builds", "m-5", snsWrapped(t, `{"branch": "prod"}`, attrs), nil),
			candidates: []Candidate{onProd},
			matches:    []string{"shop/prod#0"},
			checked:    1,
		},
		{
			name:       "disabled",
			d:          pubsubMessageDelivery("builds", "m-6", `{}`, nil),
			candidates: []Candidate{disabledPipeline(any)},
			disabled:   []string{"shop/any#0"},
			checked:    1,
			reasons:    []string{"matches, but the pipeline is disabled"},
		},
		{
			name: "no message ID",
			d:    Delivery{Kind: pipeline.TriggerPubsub, Source: "builds", Body: []byte(`{}`)},
			err:  ErrUnsupported,
		},
	})

	out, err := Evaluate(pubsubMessageDelivery("builds", "m-7", snsWrapped(t, `{"branch": "prod", "parameters": {"tag": "v2"}, "user": "ci"}`, attrs),
		map[string]string{"queue": "q"}), []Candidate{any})
	if err != nil || len(out.Matches) != 1 {
		t.Fatalf("evaluate: %v %+v", err, out)
	}
	info := out.Matches[0].Trigger
	if info.Type != pipeline.TriggerPubsub || info.Source != "builds" || info.User != "ci" || info.DeliveryID != "sqs:m-7" ||
		info.Parameters["tag"] != "v2" || info.Attributes["event"] != "build.finished" || info.Attributes["queue"] != "q" {
		t.Errorf("trigger: %+v", info)
	}
	if _, binary := info.Attributes["blob"]; binary {
		t.Error("a binary attribute is kept as text")
	}
	if info.Payload["branch"] != "prod" {
		t.Errorf("payload is the SNS message, unwrapped: %v", info.Payload)
	}
	if DeliveryID(pubsubMessageDelivery("builds", "m-7", "x", nil)) != "sqs:m-7" {
		t.Error("a pubsub message is identified by its message ID")
	}
	plain, _ := Evaluate(pubsubMessageDelivery("builds", "m-8", "hello", nil), []Candidate{any})
	if got := plain.Matches[0].Trigger; got.Payload != nil || got.User != "pubsub:builds" {
		t.Errorf("a message that is not JSON: %+v", got)
	}
}

func TestExpectedArtifactIDs(t *testing.T) {
	expected := []pipeline.ExpectedArtifact{
		{ID: "image", MatchArtifact: pipeline.Artifact{Type: "docker/image", Name: "registry.example.com/shop"}},
		{ID: "chart", MatchArtifact: pipeline.Artifact{Type: "helm/chart"}},
		{ID: "config", MatchArtifact: pipeline.Artifact{Type: "http/file"}, UseDefaultArtifact: true,
			DefaultArtifact: &pipeline.Artifact{Type: "http/file", Reference: "https://example.com/default.yaml"}},
	}
	withIDs := func(name, ids string) Candidate {
		c := cand(t, "shop", name, 0, `{"type":"webhook","source":"ci","expectedArtifactIds":`+ids+`}`)
		c.ExpectedArtifacts = expected
		return c
	}
	image := `{"type": "docker/image", "name": "registry.example.com/shop", "reference": "registry.example.com/shop:1"}`
	other := `{"type": "docker/image", "name": "registry.example.com/api", "reference": "registry.example.com/api:1"}`
	body := func(artifacts ...string) string {
		list := "["
		for i, a := range artifacts {
			if i > 0 {
				list += ","
			}
			list += a
		}
		return `{"artifacts": ` + list + `]}`
	}
	runEvalCases(t, []evalCase{
		{
			name:       "the expected image is brought",
			d:          webhookDelivery("ci", body(other, image)),
			candidates: []Candidate{withIDs("image", `["image"]`), withIDs("image-and-config", `["image", "config"]`), withIDs("none", `[]`)},
			matches:    []string{"shop/image#0", "shop/image-and-config#0", "shop/none#0"},
			checked:    3,
		},
		{
			name:       "another image",
			d:          webhookDelivery("ci", body(other)),
			candidates: []Candidate{withIDs("image", `["image"]`), withIDs("none", `[]`)},
			matches:    []string{"shop/none#0"},
			checked:    2,
			reasons:    []string{`the delivery brings none of the artifacts the trigger expects ("image")`},
		},
		{
			name:       "a default alone does not fire",
			d:          webhookDelivery("ci", body()),
			candidates: []Candidate{withIDs("config", `["config"]`)},
			checked:    1,
			reasons:    []string{`brings none of the artifacts the trigger expects ("config")`},
		},
		{
			name:       "one brought, another missing without a default",
			d:          webhookDelivery("ci", body(image)),
			candidates: []Candidate{withIDs("image-and-chart", `["image", "chart"]`)},
			checked:    1,
			reasons:    []string{`does not bring expected artifact "chart", which has no default`},
		},
	})
}
