package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidateAutomaticTriggers(t *testing.T) {
	tests := []struct {
		name string
		// triggers is the YAML list under "triggers:".
		triggers string
		want     []string
	}{
		{
			name: "webhook valid",
			triggers: `
- type: webhook
  source: my-app_v1.2
  secret: s3cret
  enabled: false
  payloadConstraints:
    branch: "main|release/.*"
    build.status: SUCCESS
    $.commits[0].author: ".+"`,
		},
		{name: "webhook minimal", triggers: `[{type: webhook, source: deploys}]`},
		{
			name:     "webhook source required",
			triggers: `[{type: webhook}, {type: webhook, source: "  "}, {type: webhook, source: 7}]`,
			want: []string{
				"triggers[0].source: required",
				"triggers[1].source: required",
				"triggers[2].source: must be a string",
			},
		},
		{
			name:     "webhook source is a path segment",
			triggers: `[{type: webhook, source: "a/b"}, {type: webhook, source: "a b"}, {type: webhook, source: ".."}, {type: webhook, source: "é"}]`,
			want: []string{
				`triggers[0].source: "a/b" is not a URL path segment: use letters, digits, -, _ and .`,
				`triggers[1].source: "a b" is not a URL path segment: use letters, digits, -, _ and .`,
				`triggers[2].source: ".." is not a URL path segment: use letters, digits, -, _ and .`,
				`triggers[3].source: "é" is not a URL path segment: use letters, digits, -, _ and .`,
			},
		},
		{
			name: "webhook constraints",
			triggers: `
- type: webhook
  source: s
  secret: 12
  payloadConstraints:
    branch: "ma(in"
    $.a[: x
    $.ok: "[0-9]+"
    count: 3
    "": x`,
			want: []string{
				`triggers[0].payloadConstraints[""]: a constraint needs a payload field or JSONPath as its key`,
				`triggers[0].payloadConstraints["$.a["]: invalid JSONPath "$.a[":`,
				`triggers[0].payloadConstraints.branch: invalid regular expression for "branch": error parsing regexp: missing closing ): ` + "`ma(in`",
				`triggers[0].payloadConstraints.count: the constraint on "count" must be a string holding a regular expression`,
				"triggers[0].secret: must be a string",
			},
		},
		{
			name:     "webhook constraints not an object",
			triggers: `[{type: webhook, source: s, payloadConstraints: [a]}]`,
			want:     []string{"triggers[0].payloadConstraints: must be an object mapping payload fields to regular expressions"},
		},
		{
			name: "git valid",
			triggers: `
- {type: git, source: github, project: acme, slug: shop, branch: "main|release-.*", secret: s}
- {type: git, source: GitLab, project: group/sub, slug: shop}
- {type: git, source: bitbucket, project: PRJ, slug: shop, branch: ""}`,
		},
		{
			name:     "git required",
			triggers: `[{type: git}]`,
			want: []string{
				"triggers[0].source: required",
				"triggers[0].project: required",
				"triggers[0].slug: required",
			},
		},
		{
			name: "git settings",
			triggers: `
- {type: git, source: gitea, project: [a], slug: shop, branch: "(", secret: true}`,
			want: []string{
				`triggers[0].source: unknown git provider "gitea"; supported: bitbucket, github, gitlab`,
				"triggers[0].project: must be a string",
				"triggers[0].branch: invalid regular expression: error parsing regexp: missing closing ): `(`",
				"triggers[0].secret: must be a string",
			},
		},
		{
			name: "jenkins valid",
			triggers: `
- type: jenkins
  master: ci-1.example
  job: team/web-build
  secret: s3cret
  enabled: false
  buildResults: [SUCCESS, UNSTABLE, FAILURE, ABORTED]
  propertyConstraints:
    VERSION: "1\\.2\\..*"
    "odd key": ".+"`,
		},
		{name: "jenkins minimal", triggers: `[{type: jenkins, master: ci, job: web}]`},
		{
			name:     "jenkins required",
			triggers: `[{type: jenkins}, {type: jenkins, master: " ", job: ""}, {type: jenkins, master: 7, job: [a]}, {type: jenkins, source: ci, job: web}]`,
			want: []string{
				"triggers[0].master: required",
				"triggers[0].job: required",
				"triggers[1].master: required",
				"triggers[1].job: required",
				"triggers[2].master: must be a string",
				"triggers[2].job: must be a string",
				"triggers[3].master: required",
			},
		},
		{
			name:     "jenkins master is a path segment",
			triggers: `[{type: jenkins, master: "ci/1", job: web}, {type: jenkins, master: "..", job: web}]`,
			want: []string{
				`triggers[0].master: "ci/1" is not a URL path segment: use letters, digits, -, _ and .`,
				`triggers[1].master: ".." is not a URL path segment: use letters, digits, -, _ and .`,
			},
		},
		{
			name: "jenkins settings",
			triggers: `
- type: jenkins
  master: ci
  job: web
  secret: 12
  buildResults: [SUCCESS, success, NOT_BUILT, 3]
  propertyConstraints:
    VERSION: "1.(2"
    REPLICAS: 3
    "": x
- {type: jenkins, master: ci, job: web, buildResults: SUCCESS, propertyConstraints: [VERSION]}
- {type: jenkins, master: ci, job: web, buildResults: []}`,
			want: []string{
				`triggers[0].propertyConstraints[""]: a constraint needs a build property as its key`,
				`triggers[0].propertyConstraints.REPLICAS: the constraint on "REPLICAS" must be a string holding a regular expression`,
				"triggers[0].propertyConstraints.VERSION: invalid regular expression for \"VERSION\": error parsing regexp: missing closing ): `1.(2`",
				`triggers[0].buildResults[1]: "success" is not a build result; use one of SUCCESS, UNSTABLE, FAILURE, ABORTED`,
				`triggers[0].buildResults[2]: "NOT_BUILT" is not a build result`,
				`triggers[0].buildResults[3]: "3" is not a build result`,
				"triggers[0].secret: must be a string",
				"triggers[1].propertyConstraints: must be an object mapping build properties to regular expressions",
				"triggers[1].buildResults: must be a list of build results: SUCCESS, UNSTABLE, FAILURE, ABORTED",
				"triggers[2].buildResults: must name at least one result; leave it out to fire on SUCCESS only",
			},
		},
		{
			name:     "every trigger reported",
			triggers: `[{type: webhook}, {type: manual}, {type: git, source: github, project: a}, {type: cron}, {type: jenkins, master: ci}]`,
			want: []string{
				"triggers[0].source: required",
				"triggers[2].slug: required",
				"triggers[3].cronExpression: required",
				"triggers[4].job: required",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustDecode(t, "application: a\nname: p\nstages: []\ntriggers: "+tt.triggers)
			wantProblems(t, Validate(p, ValidateOptions{}), tt.want)
		})
	}
}

func TestTriggerSettings(t *testing.T) {
	p := mustDecode(t, `application: a
name: p
stages: []
triggers:
- {type: webhook, source: s, secret: k, payloadConstraints: {a: "1", b: 2}}
- {type: git, source: " GitHub ", project: acme, slug: shop, branch: main, secret: k}`)
	wh := p.Triggers[0].Webhook()
	want := WebhookSettings{Source: "s", Secret: "k", PayloadConstraints: map[string]string{"a": "1"}}
	if !reflect.DeepEqual(wh, want) {
		t.Errorf("webhook settings: got %+v, want %+v", wh, want)
	}
	git := p.Triggers[1].Git()
	wantGit := GitSettings{Source: "github", Project: "acme", Slug: "shop", Branch: "main", Secret: "k"}
	if git != wantGit {
		t.Errorf("git settings: got %+v, want %+v", git, wantGit)
	}

	jenkins := mustDecode(t, `application: a
name: p
stages: []
triggers:
- {type: jenkins, master: ci, job: team/web, secret: k, buildResults: [FAILURE, 3, ABORTED], propertyConstraints: {VERSION: "1\\..*", N: 2}}
- {type: jenkins, master: ci, job: web}
- {type: jenkins, master: ci, job: web, buildResults: [7]}`).Triggers
	wantJenkins := JenkinsSettings{Master: "ci", Job: "team/web", Secret: "k", BuildResults: []string{"FAILURE", "ABORTED"},
		PropertyConstraints: map[string]string{"VERSION": `1\..*`}}
	if got := jenkins[0].Jenkins(); !reflect.DeepEqual(got, wantJenkins) {
		t.Errorf("jenkins settings: got %+v, want %+v", got, wantJenkins)
	}
	for i := 1; i < len(jenkins); i++ {
		got := jenkins[i].Jenkins()
		if !reflect.DeepEqual(got.BuildResults, []string{BuildSuccess}) || got.PropertyConstraints != nil {
			t.Errorf("jenkins settings %d: got %+v, want SUCCESS only and no constraints", i, got)
		}
	}
	// The default is the caller's own copy.
	jenkins[1].Jenkins().BuildResults[0] = BuildFailure
	if DefaultBuildResults[0] != BuildSuccess {
		t.Error("changing a trigger's settings changed DefaultBuildResults")
	}

	// A trigger built in Go, with Go types in its context, reads the same.
	built := Trigger{Type: TriggerWebhook, Context: map[string]any{
		"source": "s", "payloadConstraints": map[string]string{"a": "x"},
	}}
	if got := built.Webhook().PayloadConstraints; !reflect.DeepEqual(got, map[string]string{"a": "x"}) {
		t.Errorf("built webhook constraints: got %v", got)
	}
	if ps := Validate(Pipeline{Application: "a", Name: "p", Triggers: []Trigger{built}}, ValidateOptions{}); len(ps) > 0 {
		t.Errorf("built webhook trigger: unexpected problems %v", ps)
	}
	builtJenkins := Trigger{Type: TriggerJenkins, Context: map[string]any{
		"master": "ci", "job": "web", "buildResults": []string{BuildUnstable}, "propertyConstraints": map[string]string{"V": "1"},
	}}
	if got := builtJenkins.Jenkins(); !reflect.DeepEqual(got.BuildResults, []string{BuildUnstable}) || got.PropertyConstraints["V"] != "1" {
		t.Errorf("built jenkins settings: got %+v", got)
	}
	if ps := Validate(Pipeline{Application: "a", Name: "p", Triggers: []Trigger{builtJenkins}}, ValidateOptions{}); len(ps) > 0 {
		t.Errorf("built jenkins trigger: unexpected problems %v", ps)
	}
}

func TestFullMatchRegexp(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"pro", "prod", false},
		{"prod", "prod", true},
		{"main|release/.*", "release/1.2", true},
		// Without the group, ^main|release$ would accept "mainline".
		{"main|release", "mainline", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		re, err := FullMatchRegexp(tt.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tt.pattern, err)
		}
		if got := re.MatchString(tt.value); got != tt.want {
			t.Errorf("%q against %q: got %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
	if _, err := FullMatchRegexp("a)(b"); err == nil {
		t.Error("a)(b compiled; it only balances once wrapped in a group")
	}
}

func TestValidatePipelineTrigger(t *testing.T) {
	exists := func(app, name string) bool { return app == "a" && (name == "deploy" || name == "01ID") }
	doc := `application: a
name: smoke
triggers:
- {type: pipeline, application: a, pipeline: 01ID, status: [successful, FAILED]}
- {type: pipeline, application: a, pipeline: nope, status: [done]}
- {type: pipeline, status: []}
- {type: pipeline, application: a, pipeline: smoke, status: [failed]}
stages: []`
	got := problemTexts(Validate(mustDecode(t, doc), ValidateOptions{PipelineExists: exists}))
	want := []string{
		`triggers[1].status[0]: "done" is not an outcome; use successful, failed, canceled`,
		`triggers[1].pipeline: no pipeline "nope" in application "a" yet: this trigger fires once it is saved and ends`,
		`triggers[2].application: required`,
		`triggers[2].pipeline: required`,
		`triggers[2].status: must have at least one item`,
		`triggers[3].pipeline: no pipeline "smoke" in application "a" yet: this trigger fires once it is saved and ends`,
		`triggers[3].pipeline: a pipeline cannot be triggered by itself: each end would start it again`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s := mustDecode(t, doc).Triggers[0].PipelineTrigger()
	if s.Application != "a" || s.Pipeline != "01ID" || strings.Join(s.Status, ",") != "successful,failed" {
		t.Errorf("settings %+v", s)
	}
}
