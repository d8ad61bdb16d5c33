package triggers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

const buildPayload = `{
  "user": "ci-bot",
  "branch": "prod",
  "build": {"status": "SUCCESS", "number": 42, "url": "https://ci.example.com/job/shop/42/"},
  "ratio": 1.0,
  "score": 0.25,
  "ok": true,
  "tags": ["a", "b"],
  "commits": [{"id": "5f1e9c", "author": "ann"}, {"id": "77aa01", "author": "bob"}],
  "parameters": {"tag": "1.2.3", "replicas": 3, "canary": false},
  "artifacts": [
    {"type": "docker/image", "name": "registry.example.com/shop", "reference": "registry.example.com/shop:1.2.3", "version": "1.2.3"},
    {"name": "no type"},
    "registry.example.com/shop:1.2.3",
    {"type": "helm/chart", "name": "shop", "version": 7}
  ]
}`

func webhookDelivery(source, body string, h ...string) Delivery {
	return Delivery{Kind: pipeline.TriggerWebhook, Source: source, Header: headers(h...), Body: []byte(body)}
}

// constrained is a webhook trigger on source "ci" with one payload constraint.
func constrained(t *testing.T, name, key, pattern string) Candidate {
	t.Helper()
	c := cand(t, "shop", name, 0, `{"type":"webhook","source":"ci"}`)
	c.Trigger.Context["payloadConstraints"] = map[string]any{key: pattern}
	return c
}

func TestWebhookConstraints(t *testing.T) {
	d := webhookDelivery("ci", buildPayload)
	tests := []struct {
		key, pattern string
		match        bool
		reason       string
	}{
		{key: "branch", pattern: "prod", match: true},
		{key: "branch", pattern: "pro", reason: `payload "branch" is "prod", which does not match "pro" in full`},
		{key: "branch", pattern: "rod", reason: "does not match"},
		{key: "branch", pattern: "prod|staging", match: true},
		{key: "build.status", pattern: "SUCCESS", match: true},
		{key: "build.number", pattern: "4[0-9]", match: true},
		{key: "build.number", pattern: "4", reason: `payload "build.number" is "42"`},
		{key: "commits.1.author", pattern: "bob", match: true},
		{key: "ratio", pattern: "1", match: true},
		{key: "ratio", pattern: `1\.0`, reason: `is "1", which`},
		{key: "score", pattern: `0\.25`, match: true},
		{key: "ok", pattern: "true", match: true},
		{key: "ok", pattern: "True", reason: `is "true"`},
		{key: "tags", pattern: `\["a","b"\]`, match: true},
		{key: "$.commits[0].author", pattern: "ann", match: true},
		{key: "$.build.status", pattern: "SUCC", reason: `payload "$.build.status" is "SUCCESS"`},
		{key: "$.commits[?(@.author == 'bob')].id", pattern: "77aa01", match: true},
		{key: "$.build.number", pattern: "42", match: true},
		{key: "missing", pattern: ".*", reason: `payload has no "missing" for constraint ".*"`},
		{key: "build.missing", pattern: ".*", reason: "payload has no"},
		{key: "$.nowhere[0]", pattern: ".*", reason: "payload has no"},
		{key: "branch", pattern: "(", reason: `constraint on "branch" is not a regular expression`},
		{key: "$.a[", pattern: ".*", reason: `constraint key "$.a[" is not a JSONPath`},
	}
	for _, tt := range tests {
		out, err := Evaluate(d, []Candidate{constrained(t, "p", tt.key, tt.pattern)})
		if err != nil {
			t.Fatalf("%s ~ %s: %v", tt.key, tt.pattern, err)
		}
		if got := len(out.Matches) == 1; got != tt.match {
			t.Errorf("%s ~ %s: matched %v, want %v; reasons %v", tt.key, tt.pattern, got, tt.match, out.Reasons)
			continue
		}
		if tt.match {
			continue
		}
		if len(out.Reasons) != 1 || !strings.Contains(out.Reasons[0], tt.reason) {
			t.Errorf("%s ~ %s: reasons %q, want one containing %q", tt.key, tt.pattern, out.Reasons, tt.reason)
		}
	}
}

func TestWebhookAllConstraintsMustMatch(t *testing.T) {
	c := cand(t, "shop", "p", 0, `{"type":"webhook","source":"ci","payloadConstraints":{"branch":"prod","build.status":"FAILED","ok":"false"}}`)
	out, err := Evaluate(webhookDelivery("ci", buildPayload), []Candidate{c})
	if err != nil {
		t.Fatal(err)
	}
	want := `shop/p triggers[0]: payload "build.status" is "SUCCESS", which does not match "FAILED" in full; payload "ok" is "true", which does not match "false" in full`
	if len(out.Matches) != 0 || !reflect.DeepEqual(out.Reasons, []string{want}) {
		t.Errorf("got matches %v, reasons %q", out.Matches, out.Reasons)
	}
}

func TestWebhookTrigger(t *testing.T) {
	d := webhookDelivery("ci", buildPayload, "X-Gennaker-Delivery", "build-42")
	out, err := Evaluate(d, []Candidate{cand(t, "shop", "deploy", 1, `{"type":"webhook","source":"ci","payloadConstraints":{"branch":"prod"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Matches) != 1 {
		t.Fatalf("no match: %v", out.Reasons)
	}
	got := out.Matches[0].Trigger
	if got.Type != "webhook" || got.Source != "ci" || got.User != "ci-bot" || got.DeliveryID != "build-42" || got.ScmInfo != nil {
		t.Errorf("trigger: %+v", got)
	}
	wantParams := map[string]any{"tag": "1.2.3", "replicas": int64(3), "canary": false}
	if !reflect.DeepEqual(got.Parameters, wantParams) {
		t.Errorf("parameters: got %#v, want %#v", got.Parameters, wantParams)
	}
	wantArtifacts := []pipeline.Artifact{{Type: "docker/image", Name: "registry.example.com/shop", Reference: "registry.example.com/shop:1.2.3", Version: "1.2.3"}}
	if !reflect.DeepEqual(got.Artifacts, wantArtifacts) {
		t.Errorf("artifacts: got %+v", got.Artifacts)
	}
	if got.Payload["branch"] != "prod" || got.Payload["build"].(map[string]any)["number"] != int64(42) || got.Payload["ratio"] != float64(1) {
		t.Errorf("payload: %v", got.Payload)
	}
	wantReasons := []string{
		"shop/deploy triggers[1]: payload artifacts[1] left out: no type",
		"shop/deploy triggers[1]: payload artifacts[2] left out: not an object",
		"shop/deploy triggers[1]: payload artifacts[3] left out: version must be a string",
	}
	if !reflect.DeepEqual(out.Reasons, wantReasons) {
		t.Errorf("reasons:\n got  %q\n want %q", out.Reasons, wantReasons)
	}
}

func TestWebhookMatchesDoNotShare(t *testing.T) {
	d := webhookDelivery("ci", buildPayload)
	a := cand(t, "shop", "a", 0, `{"type":"webhook","source":"ci"}`)
	b := cand(t, "shop", "b", 0, `{"type":"webhook","source":"ci"}`)
	out, err := Evaluate(d, []Candidate{a, b})
	if err != nil || len(out.Matches) != 2 {
		t.Fatalf("%v %+v", err, out)
	}
	// One execution's trigger changed by its caller must not change another's.
	out.Matches[0].Trigger.Payload["branch"] = "changed"
	out.Matches[0].Trigger.Parameters["tag"] = "changed"
	if out.Matches[1].Trigger.Payload["branch"] != "prod" || out.Matches[1].Trigger.Parameters["tag"] != "1.2.3" {
		t.Error("matches share their payload or parameters")
	}
}

func TestWebhookDefaultsAndLimits(t *testing.T) {
	c := cand(t, "shop", "p", 0, `{"type":"webhook","source":"ci"}`)

	out, _ := Evaluate(webhookDelivery("ci", `{"parameters":"tag=1","artifacts":{"type":"x"}}`), []Candidate{c})
	got := out.Matches[0].Trigger
	if got.User != "webhook:ci" || got.Parameters != nil || got.Artifacts != nil {
		t.Errorf("trigger: %+v", got)
	}
	wantReasons := []string{
		"shop/p triggers[0]: payload parameters is not an object; started without parameters",
		"shop/p triggers[0]: payload artifacts is not a list; started without artifacts",
	}
	if !reflect.DeepEqual(out.Reasons, wantReasons) {
		t.Errorf("reasons: %q", out.Reasons)
	}

	big := `{"branch":"prod","parameters":{"tag":"9"},"blob":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`
	out, _ = Evaluate(webhookDelivery("ci", big), []Candidate{constrained(t, "p", "branch", "prod")})
	if len(out.Matches) != 1 {
		t.Fatalf("a large payload still fires: %v", out.Reasons)
	}
	if got := out.Matches[0].Trigger; got.Payload != nil || got.Parameters["tag"] != "9" {
		t.Errorf("large payload kept, or parameters lost: %d keys, %v", len(got.Payload), got.Parameters)
	}
	if len(out.Reasons) != 1 || !strings.Contains(out.Reasons[0], "over the 64 KiB an execution keeps") {
		t.Errorf("reasons: %q", out.Reasons)
	}
}

func TestWebhook(t *testing.T) {
	body := `{"branch":"prod"}`
	signed := cand(t, "shop", "signed", 0, `{"type":"webhook","source":"ci","secret":"k"}`)
	open := cand(t, "shop", "open", 0, `{"type":"webhook","source":"ci"}`)
	otherSource := cand(t, "shop", "other", 0, `{"type":"webhook","source":"CI"}`)
	git := cand(t, "shop", "git", 0, `{"type":"git","source":"ci","project":"a","slug":"b"}`)
	cron := cand(t, "shop", "cron", 0, `{"type":"cron","cronExpression":"0 0 * * *"}`)

	runEvalCases(t, []evalCase{
		{
			name:       "signed",
			d:          webhookDelivery("ci", body, SignatureHeader, Sign("k", []byte(body))),
			candidates: []Candidate{signed, open, otherSource, git, cron},
			matches:    []string{"shop/signed#0", "shop/open#0"},
			checked:    2,
		},
		{
			name:       "wrong signature",
			d:          webhookDelivery("ci", body, SignatureHeader, Sign("x", []byte(body))),
			candidates: []Candidate{signed, open},
			matches:    []string{"shop/open#0"},
			checked:    2,
			unsigned:   1,
			reasons:    []string{"shop/signed triggers[0]: X-Hub-Signature-256 does not match the body signed with the trigger's secret"},
		},
		{
			name:       "signature in upper case hex and prefix",
			d:          webhookDelivery("ci", body, SignatureHeader, strings.ToUpper(Sign("k", []byte(body)))),
			candidates: []Candidate{signed},
			matches:    []string{"shop/signed#0"},
			checked:    1,
		},
		{
			name:       "missing signature",
			d:          webhookDelivery("ci", body),
			candidates: []Candidate{signed},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"no X-Hub-Signature-256 header"},
		},
		{
			name: "disabled trigger and disabled pipeline",
			d:    webhookDelivery("ci", body),
			candidates: []Candidate{
				cand(t, "shop", "off", 4, `{"type":"webhook","source":"ci","enabled":false}`),
				disabledPipeline(open),
				cand(t, "shop", "off-no-match", 5, `{"type":"webhook","source":"ci","enabled":false,"payloadConstraints":{"branch":"dev"}}`),
			},
			disabled: []string{"shop/off#4", "shop/open#0"},
			checked:  3,
			reasons: []string{
				"shop/off triggers[4]: matches, but the trigger is disabled",
				"shop/open triggers[0]: matches, but the pipeline is disabled",
				`shop/off-no-match triggers[5]: payload "branch" is "prod", which does not match "dev" in full`,
			},
		},
		{
			name:       "other source",
			d:          webhookDelivery("cd", body),
			candidates: []Candidate{signed, open},
		},
		{name: "not JSON", d: webhookDelivery("ci", "branch=prod"), candidates: []Candidate{open}, err: ErrBadPayload},
		{name: "a list", d: webhookDelivery("ci", `[{"branch":"prod"}]`), candidates: []Candidate{open}, err: ErrBadPayload},
		{name: "two objects", d: webhookDelivery("ci", `{} {}`), candidates: []Candidate{open}, err: ErrBadPayload},
		{name: "empty", d: webhookDelivery("ci", ""), err: ErrBadPayload},
		{name: "no source", d: webhookDelivery("", body), err: ErrUnsupported},
		{name: "unknown kind", d: Delivery{Kind: "travis", Source: "ci", Body: []byte(body)}, err: ErrUnsupported},
	})
}
