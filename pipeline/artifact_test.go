package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidatePubsubTrigger(t *testing.T) {
	opts := ValidateOptions{PubsubSubscriptions: []string{"builds", "releases"}}
	tests := []struct {
		name     string
		triggers string
		opts     ValidateOptions
		want     []string
	}{
		{
			name: "valid",
			triggers: `
- type: pubsub
  pubsubSystem: amazon
  subscriptionName: builds
  payloadConstraints: {status: SUCCESS, $.build.branch: "main|release/.*"}
  attributeConstraints: {eventType: "build\\.finished"}`,
			opts: opts,
		},
		{
			name:     "required settings",
			triggers: `[{type: pubsub}]`,
			opts:     opts,
			want:     []string{"triggers[0].pubsubSystem: required", "triggers[0].subscriptionName: required"},
		},
		{
			// A subscription of a system gennaker does not poll is not looked for among its own.
			name:     "unknown system",
			triggers: `[{type: pubsub, pubsubSystem: google, subscriptionName: nope}]`,
			opts:     opts,
			want: []string{
				`triggers[0].pubsubSystem: unknown pubsub system "google"; gennaker polls "amazon" (Amazon SQS)`,
			},
		},
		{
			name:     "no subscriptions configured",
			triggers: `[{type: pubsub, pubsubSystem: amazon, subscriptionName: builds}]`,
			opts:     ValidateOptions{PubsubSubscriptions: []string{}},
			want:     []string{`triggers[0].subscriptionName: no pubsub subscription named "builds"; none is configured (see --pubsub)`},
		},
		{
			name:     "subscriptions unknown to the validator",
			triggers: `[{type: pubsub, pubsubSystem: AMAZON, subscriptionName: anything}]`,
		},
		{
			name: "bad constraints",
			triggers: `
- type: pubsub
  pubsubSystem: amazon
  subscriptionName: builds
  payloadConstraints: {"a(": x, b: "(" }
  attributeConstraints: [x]`,
			opts: opts,
			want: []string{
				`triggers[0].payloadConstraints.b: invalid regular expression for "b"`,
				"triggers[0].attributeConstraints: must be an object mapping message fields to regular expressions",
			},
		},
		{
			name: "attribute constraint values",
			triggers: `
- type: pubsub
  pubsubSystem: amazon
  subscriptionName: builds
  attributeConstraints: {kind: 3, "": x, env: "prod|(" }`,
			opts: opts,
			want: []string{
				`triggers[0].attributeConstraints[""]: a constraint needs a message attribute's name as its key`,
				`triggers[0].attributeConstraints.env: invalid regular expression for "env"`,
				`triggers[0].attributeConstraints.kind: the constraint on "kind" must be a string holding a regular expression`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustDecode(t, "application: a\nname: p\nstages: []\ntriggers: "+tt.triggers)
			wantProblems(t, Validate(p, tt.opts), tt.want)
		})
	}
	s := mustDecode(t, "application: a\nname: p\nstages: []\ntriggers: [{type: pubsub, pubsubSystem: ' Amazon ', subscriptionName: builds, attributeConstraints: {env: prod}}]").Triggers[0].Pubsub()
	if s.System != PubsubAmazon || s.Subscription != "builds" || s.AttributeConstraints["env"] != "prod" {
		t.Errorf("settings: %+v", s)
	}
}

func TestValidateExpectedArtifacts(t *testing.T) {
	p := mustDecode(t, `
application: a
name: p
expectedArtifacts:
  - id: image
    matchArtifact: {type: docker/image, name: "registry.example.com/web"}
    useDefaultArtifact: true
    defaultArtifact: {type: docker/image, reference: "registry.example.com/web:stable"}
  - id: image
    matchArtifact: {name: "x("}
  - id: ""
    matchArtifact: {type: http/file}
    useDefaultArtifact: true
  - id: prior
    matchArtifact: {type: http/file}
    usePriorArtifact: true
triggers:
  - {type: webhook, source: s, expectedArtifactIds: [image, missing]}
  - {type: webhook, source: s, expectedArtifactIds: image}
stages:
  - {refId: "1", type: deployManifest, account: a, source: artifact, manifestArtifactId: manifests, requiredArtifactIds: [image, "${trigger.x}", other]}
`)
	got := problemTexts(Validate(p, ValidateOptions{}))
	want := []string{
		`expectedArtifacts[1].id: duplicate id "image"`,
		"expectedArtifacts[1].matchArtifact.type: required: the type of artifact expected, such as docker/image",
		"expectedArtifacts[1].matchArtifact.name: invalid regular expression",
		"expectedArtifacts[2].id: required",
		"expectedArtifacts[2].defaultArtifact: required with a type when useDefaultArtifact is set",
		`triggers[0].expectedArtifactIds[1]: "missing" is not the id of one of the pipeline's expectedArtifacts`,
		"triggers[1].expectedArtifactIds: must be a list of the pipeline's expectedArtifacts ids",
		`stages[0].manifestArtifactId: "manifests" is not the id of one of the pipeline's expectedArtifacts`,
		`stages[0].requiredArtifactIds[2]: "other" is not the id of one of the pipeline's expectedArtifacts`,
	}
	if len(got) != len(want) {
		t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}

	bad := mustDecode(t, "application: a\nname: p\nstages: []\nexpectedArtifacts: [{id: x, matchArtifact: {type: 3}}]")
	if got := problemTexts(Validate(bad, ValidateOptions{})); len(got) != 1 || !strings.HasPrefix(got[0], "expectedArtifacts.matchArtifact.type: must be a string") {
		t.Errorf("a mistyped expected artifact: %q", got)
	}
}

func TestResolveExpectedArtifacts(t *testing.T) {
	image := ExpectedArtifact{ID: "image", MatchArtifact: Artifact{Type: "docker/image", Name: "registry.example.com/web"}}
	withDefault := ExpectedArtifact{ID: "config", MatchArtifact: Artifact{Type: "http/file", Name: `.*\.yaml`},
		UseDefaultArtifact: true, DefaultArtifact: &Artifact{Type: "http/file", Name: "default.yaml", Reference: "https://example.com/default.yaml"}}
	pushed := Artifact{Type: "docker/image", Name: "registry.example.com/web", Reference: "registry.example.com/web@sha256:abc"}
	other := Artifact{Type: "docker/image", Name: "registry.example.com/api", Reference: "registry.example.com/api:1"}

	t.Run("bound from the trigger and the default", func(t *testing.T) {
		resolved, artifacts, problems := ResolveExpectedArtifacts([]ExpectedArtifact{image, withDefault}, []Artifact{other, pushed, pushed}, nil)
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		if len(resolved) != 2 || resolved[0].BoundArtifact.Reference != pushed.Reference || resolved[1].BoundArtifact.Name != "default.yaml" {
			t.Fatalf("resolved: %+v", resolved)
		}
		if resolved[1].DefaultArtifact != nil {
			t.Error("a resolved expected artifact keeps only what it is bound to")
		}
		// The default used joins the trigger's artifacts, as Spinnaker adds it.
		if len(artifacts) != 4 || artifacts[3].Name != "default.yaml" {
			t.Errorf("artifacts: %+v", artifacts)
		}
		if a, ok := BoundExpectedArtifact(resolved, "config"); !ok || a.Name != "default.yaml" {
			t.Errorf("bound config: %+v %v", a, ok)
		}
		if _, ok := BoundExpectedArtifact(resolved, "nope"); ok {
			t.Error("an unknown id is bound")
		}
	})
	t.Run("missing without a default", func(t *testing.T) {
		_, _, problems := ResolveExpectedArtifacts([]ExpectedArtifact{withDefault, image}, []Artifact{other}, nil)
		got := problemTexts(problems)
		want := `expectedArtifacts[1]: expected artifact "image" (type docker/image, name "registry.example.com/web") is not among the trigger's artifacts (it brought docker/image registry.example.com/api (registry.example.com/api:1)), and it has no default to use`
		if len(got) != 1 || got[0] != want {
			t.Errorf("got %q\nwant %q", got, want)
		}
	})
	t.Run("ambiguous", func(t *testing.T) {
		any := ExpectedArtifact{ID: "any", MatchArtifact: Artifact{Type: "docker/image"}}
		_, _, problems := ResolveExpectedArtifacts([]ExpectedArtifact{any}, []Artifact{pushed, other}, nil)
		if got := problemTexts(problems); len(got) != 1 || !strings.Contains(got[0], "matches 2 of the trigger's artifacts") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("the previous execution's, before the default", func(t *testing.T) {
		prior := image
		prior.UsePriorArtifact, prior.UseDefaultArtifact = true, true
		prior.DefaultArtifact = &Artifact{Type: "docker/image", Name: "registry.example.com/web", Reference: "registry.example.com/web:stable"}
		if !NeedsPriorArtifacts([]ExpectedArtifact{prior}, []Artifact{other}) || NeedsPriorArtifacts([]ExpectedArtifact{prior}, []Artifact{pushed}) {
			t.Error("NeedsPriorArtifacts is wrong")
		}
		resolved, artifacts, problems := ResolveExpectedArtifacts([]ExpectedArtifact{prior}, []Artifact{other}, []Artifact{other, pushed})
		if len(problems) > 0 || resolved[0].BoundArtifact.Reference != pushed.Reference || len(artifacts) != 2 {
			t.Errorf("resolved %+v, artifacts %+v, %v", resolved, artifacts, problems)
		}
		// What the trigger brings comes first.
		fresh := Artifact{Type: "docker/image", Name: "registry.example.com/web", Reference: "registry.example.com/web:new"}
		resolved, _, _ = ResolveExpectedArtifacts([]ExpectedArtifact{prior}, []Artifact{fresh}, []Artifact{pushed})
		if resolved[0].BoundArtifact.Reference != fresh.Reference {
			t.Errorf("bound %+v, want the trigger's", resolved[0].BoundArtifact)
		}
		resolved, _, _ = ResolveExpectedArtifacts([]ExpectedArtifact{prior}, nil, nil)
		if resolved[0].BoundArtifact.Reference != "registry.example.com/web:stable" {
			t.Errorf("bound %+v, want the default", resolved[0].BoundArtifact)
		}
		prior.UseDefaultArtifact = false
		_, _, problems = ResolveExpectedArtifacts([]ExpectedArtifact{prior}, nil, []Artifact{other})
		if got := problemTexts(problems); len(got) != 1 || !strings.Contains(got[0], "nor the previous execution's") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("nothing expected", func(t *testing.T) {
		resolved, artifacts, problems := ResolveExpectedArtifacts(nil, []Artifact{pushed}, nil)
		if resolved != nil || len(artifacts) != 1 || problems != nil {
			t.Errorf("got %v %v %v", resolved, artifacts, problems)
		}
	})
}

// An execution's artifacts, as a later one takes them: later stages' outputs first, then the trigger's.
func TestExecutionAllArtifacts(t *testing.T) {
	art := func(ref string) map[string]any {
		return map[string]any{"type": "docker/image", "name": "web", "reference": ref}
	}
	e := Execution{
		Trigger: TriggerInfo{Artifacts: []Artifact{{Type: "docker/image", Name: "web", Reference: "trigger"}}},
		Stages: []StageExecution{
			{RefID: "3", RequisiteStageRefIDs: []string{"2"}, Outputs: map[string]any{"artifacts": []any{art("third")}}},
			{RefID: "1", Outputs: map[string]any{"artifacts": []any{art("first")}}},
			{RefID: "2", RequisiteStageRefIDs: []string{"1"}, Outputs: map[string]any{"artifacts": []Artifact{{Type: "docker/image", Name: "web", Reference: "second"}}}},
			{RefID: "4", Outputs: map[string]any{"artifacts": "not a list"}},
		},
	}
	var got []string
	for _, a := range e.AllArtifacts("") {
		got = append(got, a.Reference)
	}
	if want := []string{"third", "second", "first", "trigger"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got = nil
	for _, a := range e.AllArtifacts("3") {
		got = append(got, a.Reference)
	}
	if want := []string{"second", "first", "trigger"}; !reflect.DeepEqual(got, want) {
		t.Errorf("skipping stage 3: got %v, want %v", got, want)
	}
}
