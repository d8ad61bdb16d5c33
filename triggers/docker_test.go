package triggers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

// capturedDigest is the digest of the manifest in testdata/registry-push.json, which
// docker-registry 2.8 sent when go-containerregistry pushed 127.0.0.1:15000/acme/web:v1.2.3.
const capturedDigest = "sha256:9688958f9bcd9db7b25cf2af44c4447e6ed4502432489785bb192646d0509d89"

func registryDelivery(body []byte, h ...string) Delivery {
	return Delivery{Kind: pipeline.TriggerDocker, Header: headers(h...), Body: body}
}

// capturedEvent is the first event of a captured envelope with fields set as patch sets them.
func capturedEvent(t *testing.T, file string, set map[string]any) map[string]any {
	t.Helper()
	var env struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(load(t, file), &env); err != nil || len(env.Events) != 1 {
		t.Fatalf("%s: %v, %d events", file, err, len(env.Events))
	}
	var e map[string]any
	if err := json.Unmarshal(patch(t, env.Events[0], set), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func envelope(t *testing.T, events ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDocker(t *testing.T) {
	push := load(t, "registry-push.json")
	blob := load(t, "registry-blob-push.json")
	event := func(set map[string]any) []byte { return envelope(t, capturedEvent(t, "registry-push.json", set)) }
	withTag := func(tag string) []byte { return event(map[string]any{"target.tag": tag}) }
	bearer := func(secret string) []string { return []string{"Authorization", "Bearer " + secret} }

	web := cand(t, "web", "deploy", 0, `{"type":"docker","registry":"127.0.0.1:15000","repository":"acme/web"}`)
	semver := cand(t, "web", "release", 1, `{"type":"docker","registry":"127.0.0.1:15000","repository":"acme/web","tag":"v\\d+\\.\\d+\\.\\d+"}`)
	latest := cand(t, "web", "latest", 2, `{"type":"docker","registry":"127.0.0.1:15000","repository":"acme/web","tag":"latest"}`)
	signed := cand(t, "web", "signed", 0, `{"type":"docker","registry":"127.0.0.1:15000","repository":"acme/web","secret":"s3cret"}`)
	otherRepo := cand(t, "api", "deploy", 0, `{"type":"docker","registry":"127.0.0.1:15000","repository":"acme/api"}`)
	otherRegistry := cand(t, "web", "mirror", 0, `{"type":"docker","registry":"127.0.0.1:5000","repository":"acme/web"}`)
	byName := cand(t, "web", "by-name", 0, `{"type":"docker","registry":"registry.example.com","repository":"acme/web"}`)
	hook := cand(t, "web", "hook", 0, `{"type":"webhook","source":"registry"}`)
	off := cand(t, "web", "off", 0, `{"type":"docker","registry":"127.0.0.1:15000","repository":"acme/web","enabled":false}`)

	runEvalCases(t, []evalCase{
		{
			name:       "the push of a tagged manifest fires the repository's triggers in that registry",
			d:          registryDelivery(push),
			candidates: []Candidate{web, semver, otherRepo, otherRegistry, byName, hook},
			matches:    []string{"web/deploy#0", "web/release#1"},
			checked:    2,
		},
		{
			name:       "a tag outside the pattern",
			d:          registryDelivery(withTag("v1.2.3-rc.1")),
			candidates: []Candidate{web, semver},
			matches:    []string{"web/deploy#0"},
			checked:    2,
			reasons:    []string{`web/release triggers[1]: registry event 9a50b351-943b-4ca0-b5c2-03b208f6967a: tag "v1.2.3-rc.1" does not match "v\\d+\\.\\d+\\.\\d+" in full`},
		},
		{
			name:       "latest fires only a trigger that names it",
			d:          registryDelivery(withTag("latest")),
			candidates: []Candidate{web, semver, latest},
			matches:    []string{"web/latest#2"},
			checked:    3,
			reasons: []string{
				"web/deploy triggers[0]: registry event 9a50b351-943b-4ca0-b5c2-03b208f6967a: tag latest fires only a trigger whose tag pattern names it",
				`web/release triggers[1]: registry event 9a50b351-943b-4ca0-b5c2-03b208f6967a: tag "latest" does not match`,
			},
		},
		{
			name:       "blob pushes are no image",
			d:          registryDelivery(blob),
			candidates: []Candidate{web},
			checked:    1,
			reasons:    []string{`registry event 8805b7b3-92df-4476-8b11-7f019de72606: a push of a blob ("application/octet-stream"), not of an image's manifest`},
		},
		{
			name:       "pulls and deletes",
			d:          registryDelivery(envelope(t, capturedEvent(t, "registry-push.json", map[string]any{"action": "pull", "id": "p1"}), capturedEvent(t, "registry-push.json", map[string]any{"action": "delete", "id": "d1"}))),
			candidates: []Candidate{web},
			checked:    2,
			reasons:    []string{`registry event p1: a "pull", not a push`, `registry event d1: a "delete", not a push`},
		},
		{
			name:       "a push by digest has no tag",
			d:          registryDelivery(event(map[string]any{"target.tag": nil})),
			candidates: []Candidate{web},
			checked:    1,
			reasons:    []string{"a push of a manifest by digest, without a tag"},
		},
		{
			name:       "a push without a digest names no image",
			d:          registryDelivery(event(map[string]any{"target.digest": nil})),
			candidates: []Candidate{web},
			checked:    1,
			reasons:    []string{"a push without target.digest"},
		},
		{
			name: "an OCI index, and a manifest type not listed yet, named by its URL",
			d: registryDelivery(envelope(t,
				capturedEvent(t, "registry-push.json", map[string]any{"id": "oci", "target.mediaType": "application/vnd.oci.image.index.v1+json"}),
				capturedEvent(t, "registry-push.json", map[string]any{"id": "new", "target.mediaType": "application/vnd.example.manifest.v9+json"}),
				capturedEvent(t, "registry-push.json", map[string]any{"id": "bare", "target.mediaType": nil}))),
			candidates: []Candidate{web},
			matches:    []string{"web/deploy#0", "web/deploy#0", "web/deploy#0"},
			checked:    3,
			deliveries: []string{"registry:oci", "registry:new", "registry:bare"},
		},
		{
			name:       "the registry compared without regard to case",
			d:          registryDelivery(event(map[string]any{"request.host": "Registry.Example.COM", "target.url": "https://registry.example.com/v2/acme/web/manifests/" + capturedDigest})),
			candidates: []Candidate{byName, web},
			matches:    []string{"web/by-name#0"},
			checked:    1,
		},
		{
			name:       "behind a proxy, the host of the event's URL",
			d:          registryDelivery(event(map[string]any{"request.host": "registry-internal:5000", "target.url": "https://registry.example.com/v2/acme/web/manifests/" + capturedDigest})),
			candidates: []Candidate{byName, web},
			matches:    []string{"web/by-name#0"},
			checked:    1,
		},
		{
			name:       "the repository compared exactly",
			d:          registryDelivery(event(map[string]any{"target.repository": "acme/web/sub"})),
			candidates: []Candidate{web},
		},
		{
			name:       "a secret needs the bearer token: none",
			d:          registryDelivery(push),
			candidates: []Candidate{signed, otherRepo},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"web/signed triggers[0]: registry event 9a50b351-943b-4ca0-b5c2-03b208f6967a: the trigger has a secret and the notification has no Authorization header"},
		},
		{
			name:       "a secret needs the bearer token: wrong",
			d:          registryDelivery(push, bearer("s3cre")...),
			candidates: []Candidate{signed, web},
			matches:    []string{"web/deploy#0"},
			checked:    2,
			unsigned:   1,
			reasons:    []string{"the Authorization header does not carry the trigger's secret"},
		},
		{
			name:       "a secret needs the bearer token: basic",
			d:          registryDelivery(push, "Authorization", "Basic czNjcmV0"),
			candidates: []Candidate{signed},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"the Authorization header is not Bearer <secret>"},
		},
		{
			name:       "a secret needs the bearer token: right, whatever the scheme's case",
			d:          registryDelivery(push, "Authorization", "bearer s3cret"),
			candidates: []Candidate{signed},
			matches:    []string{"web/signed#0"},
			checked:    1,
		},
		{
			// Otherwise a sender without the secret would learn which of its events would fire.
			name:       "the secret is checked before anything else",
			d:          registryDelivery(blob, bearer("nope")...),
			candidates: []Candidate{signed},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"does not carry the trigger's secret"},
		},
		{
			name:       "a disabled trigger",
			d:          registryDelivery(push),
			candidates: []Candidate{off, disabledPipeline(web)},
			disabled:   []string{"web/off#0", "web/deploy#0"},
			checked:    2,
			reasons:    []string{"matches, but the trigger is disabled", "matches, but the pipeline is disabled"},
		},
		{
			name: "each event of an envelope is a delivery of its own",
			d: registryDelivery(envelope(t,
				capturedEvent(t, "registry-blob-push.json", nil),
				capturedEvent(t, "registry-push.json", map[string]any{"id": "e1", "target.tag": "v1.0.0"}),
				"not an event",
				capturedEvent(t, "registry-push.json", map[string]any{"id": "e2", "target.tag": "v1.0.1"}),
				capturedEvent(t, "registry-push.json", map[string]any{"id": "e3", "target.tag": "latest"}))),
			candidates: []Candidate{semver, otherRepo},
			matches:    []string{"web/release#1", "web/release#1"},
			// Whatever it was meant for, an entry that is no event is a reason for every trigger.
			checked:    6,
			deliveries: []string{"registry:e1", "registry:e2"},
			reasons: []string{
				"registry event 8805b7b3-92df-4476-8b11-7f019de72606: a push of a blob",
				"web/release triggers[1]: registry event events[2]: not an event object",
				"api/deploy triggers[0]: registry event events[2]: not an event object",
				`registry event e3: tag "latest" does not match`,
			},
		},
		{name: "no events", d: registryDelivery([]byte(`{"events": []}`)), candidates: []Candidate{web}},
		{name: "not JSON", d: registryDelivery([]byte(`events`)), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "no events list", d: registryDelivery([]byte(`{"event": {}}`)), candidates: []Candidate{web}, err: ErrBadPayload},
		{name: "events not a list", d: registryDelivery([]byte(`{"events": {"id": "x"}}`)), candidates: []Candidate{web}, err: ErrBadPayload},
	})
}

func TestDockerTriggerInfo(t *testing.T) {
	c := cand(t, "web", "deploy", 0, `{"type":"docker","registry":"127.0.0.1:15000","repository":"acme/web","tag":"v.*"}`)
	out, err := Evaluate(registryDelivery(load(t, "registry-push.json")), []Candidate{c})
	if err != nil || len(out.Matches) != 1 {
		t.Fatalf("Evaluate: %v, %+v", err, out)
	}
	got := out.Matches[0].Trigger
	want := pipeline.TriggerInfo{
		Type:   pipeline.TriggerDocker,
		User:   "docker:127.0.0.1:15000",
		Source: "127.0.0.1:15000",
		Payload: map[string]any{
			"registry": "127.0.0.1:15000", "repository": "acme/web", "tag": "v1.2.3", "digest": capturedDigest,
		},
		Artifacts: []pipeline.Artifact{{
			Type:      "docker/image",
			Name:      "127.0.0.1:15000/acme/web",
			Version:   "v1.2.3",
			Reference: "127.0.0.1:15000/acme/web@" + capturedDigest,
		}},
		DeliveryID: "registry:9a50b351-943b-4ca0-b5c2-03b208f6967a",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trigger:\n got  %+v\n want %+v", got, want)
	}
	// The execution reads the trigger as JSON: the expressions a user writes find these fields.
	raw, _ := json.Marshal(got)
	for _, field := range []string{`"payload":{"digest":"sha256:`, `"artifacts":[{"type":"docker/image"`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("the trigger's JSON %s lacks %s", raw, field)
		}
	}
}

func TestRegistryDeliveryIDs(t *testing.T) {
	push := load(t, "registry-push.json")
	c := Candidate{Application: "web", Pipeline: "deploy", PipelineID: "01", Index: 0,
		Trigger: pipeline.Trigger{Type: pipeline.TriggerDocker, Context: map[string]any{"registry": "127.0.0.1:15000", "repository": "acme/web"}}}
	d := registryDelivery(push)
	if got := DeliveryID(d); got != "registry:9a50b351-943b-4ca0-b5c2-03b208f6967a" {
		t.Errorf("one event: delivery %q", got)
	}
	out, err := Evaluate(d, []Candidate{c})
	if err != nil || len(out.Matches) != 1 {
		t.Fatalf("Evaluate: %v, %+v", err, out)
	}
	if id := out.Matches[0].ExecutionID; id != ExecutionID(d, c) || !workflowID.MatchString(id) {
		t.Errorf("execution %q, ExecutionID %q", id, ExecutionID(d, c))
	}

	// The registry resends an event as it was; a request header or a new timestamp changes nothing.
	again := registryDelivery(envelope(t, capturedEvent(t, "registry-push.json", map[string]any{"timestamp": "2026-11-23T07:00:00Z"})), "X-Request-Id", "retry")
	if ExecutionID(again, c) != ExecutionID(d, c) {
		t.Error("a resent event gives another execution")
	}
	other := registryDelivery(envelope(t, capturedEvent(t, "registry-push.json", map[string]any{"id": "other"})))
	if ExecutionID(other, c) == ExecutionID(d, c) {
		t.Error("two events give the same execution")
	}

	// An envelope of several events is no one event; its matches name theirs.
	two := registryDelivery(envelope(t, capturedEvent(t, "registry-push.json", map[string]any{"id": "a"}), capturedEvent(t, "registry-push.json", map[string]any{"id": "b"})))
	if got := DeliveryID(two); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("two events: delivery %q", got)
	}
	out, err = Evaluate(two, []Candidate{c})
	if err != nil || len(out.Matches) != 2 {
		t.Fatalf("Evaluate: %v, %+v", err, out)
	}
	a, b := out.Matches[0], out.Matches[1]
	if a.ExecutionID == b.ExecutionID || a.ExecutionID != executionID(two, "registry:a", c) {
		t.Errorf("executions %q and %q", a.ExecutionID, b.ExecutionID)
	}
	// Each event alone starts what it started within the envelope.
	alone := registryDelivery(envelope(t, capturedEvent(t, "registry-push.json", map[string]any{"id": "b"})))
	if ExecutionID(alone, c) != b.ExecutionID {
		t.Error("an event alone and in an envelope give different executions")
	}

	// Without an id, the event's content identifies it; a long id is hashed.
	noID := capturedEvent(t, "registry-push.json", map[string]any{"id": nil})
	first := DeliveryID(registryDelivery(envelope(t, noID)))
	if !strings.HasPrefix(first, "registry:sha256:") || DeliveryID(registryDelivery(envelope(t, noID))) != first {
		t.Errorf("an event without an id: %q", first)
	}
	long := DeliveryID(registryDelivery(envelope(t, capturedEvent(t, "registry-push.json", map[string]any{"id": strings.Repeat("x", 300)}))))
	if !strings.HasPrefix(long, "registry:sha256:") || len(long) > maxDeliveryID {
		t.Errorf("a long id: %q", long)
	}
}
