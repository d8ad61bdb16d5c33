package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustDecode(t testing.TB, doc string) Pipeline {
	t.Helper()
	p, err := Decode([]byte(doc))
	if err != nil {
		t.Fatalf("decoding: %v\n%s", err, doc)
	}
	return p
}

func problemTexts(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// wantProblems checks the problems against want, one by one: each must start with its want (a
// parser's own message may follow our words), and there must be no more and no fewer.
func wantProblems(t *testing.T, problems []Problem, want []string) {
	t.Helper()
	got := problemTexts(problems)
	if len(got) != len(want) {
		t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

// supportedStageTypes is how an unknown-type problem lists the registered types.
func supportedStageTypes() string { return strings.Join(StageTypes(), ", ") }

func TestValidateValidPipeline(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := mustDecode(t, string(data))
	exists := func(app, name string) bool { return app == "shop" && name == "smoke" }
	if ps := Validate(p, ValidateOptions{PipelineExists: exists}); len(ps) > 0 {
		t.Fatalf("unexpected problems:\n%s", strings.Join(problemTexts(ps), "\n"))
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		// doc is YAML; "application: a" and "name: n" are added unless it starts with application.
		doc  string
		want []string
	}{
		{
			name: "top level",
			doc:  "application: ''\nname: a/b\nmaxConcurrentExecutions: -1\nstages: []",
			want: []string{"application: required", "name: must not contain /", "maxConcurrentExecutions: must not be negative"},
		},
		{name: "name required", doc: "application: a\nstages: []", want: []string{"name: required"}},
		{name: "no stages is fine", doc: "stages: []"},
		{
			name: "refId and type",
			doc: `stages:
- {refId: "1", type: wait, waitTime: 1}
- {refId: "1", type: wait, waitTime: 1}
- {type: wait, waitTime: 1}
- {refId: "3", type: deployFoo}
- {refId: "4"}`,
			want: []string{
				`stages[1].refId: duplicate refId "1"`,
				"stages[2].refId: required",
				`stages[3].type: unknown stage type "deployFoo"; supported types: ` + supportedStageTypes(),
				"stages[4].type: required",
			},
		},
		{
			name: "requisites",
			doc: `stages:
- {refId: "1", type: wait, waitTime: 1, requisiteStageRefIds: ["1"]}
- {refId: "2", type: wait, waitTime: 1, requisiteStageRefIds: ["7", "1", "1", ""]}`,
			want: []string{
				"stages[0].requisiteStageRefIds[0]: a stage cannot wait for itself",
				`stages[1].requisiteStageRefIds[0]: unknown refId "7"`,
				`stages[1].requisiteStageRefIds[2]: refId "1" is listed twice`,
				"stages[1].requisiteStageRefIds[3]: required",
			},
		},
		{
			name: "cycles reported once each, after the stages",
			doc: `stages:
- {refId: "1", type: wait, requisiteStageRefIds: ["3"]}
- {refId: "2", type: wait, waitTime: 1, requisiteStageRefIds: ["1"]}
- {refId: "3", type: wait, waitTime: 1, requisiteStageRefIds: ["2", "1"]}
- {refId: "4", type: wait, waitTime: 1, requisiteStageRefIds: ["5"]}
- {refId: "5", type: wait, waitTime: 1, requisiteStageRefIds: ["4"]}`,
			want: []string{

				`stages[0].requisiteStageRefIds: stages wait for each other in a cycle: "1" -> "2" -> "3" -> "1"`,
				`stages[3].requisiteStageRefIds: stages wait for each other in a cycle: "4" -> "5" -> "4"`,
			},
		},
		{
			name: "stageEnabled",
			doc: `stages:
- {refId: "1", type: wait, waitTime: 1, stageEnabled: {type: bool, expression: ""}}
- {refId: "2", type: wait, waitTime: 1, stageEnabled: {type: expression, expression: "a +"}}
- {refId: "3", type: wait, waitTime: 1, stageEnabled: {type: expression, expression: "${a} and ${b}"}}
- {refId: "4", type: wait, waitTime: 1, stageEnabled: {type: expression, expression: "${(}"}}
- {refId: "5", type: wait, waitTime: 1, stageEnabled: {type: expression, expression: "${parameters.go}"}}`,
			want: []string{
				`stages[0].stageEnabled.type: must be "expression"`,

				`stages[1].stageEnabled.expression: invalid expression "a +": unexpected token EOF (1:3)`,
				`stages[2].stageEnabled.expression: invalid expression "${a} and ${b}": a condition must be one expression, written with or without ${}`,
				`stages[3].stageEnabled.expression: invalid expression "${(}": unexpected token EOF (1:1)`,
			},
		},
		{
			name: "timeout",
			doc:  `stages: [{refId: "1", type: wait, waitTime: 1, stageTimeoutMs: -1}]`,
			want: []string{"stages[0].stageTimeoutMs: must not be negative"},
		},
		{
			name: "execution window",
			doc: `stages:
- {refId: "1", type: wait, waitTime: 1, restrictExecutionDuringTimeWindow: true}
- refId: "2"
  type: wait
  waitTime: 1
  restrictExecutionDuringTimeWindow: true
  restrictedExecutionWindow:
    whitelist: []
    days: [0, 7, 8]
    timeZone: Nowhere/Land
- refId: "3"
  type: wait
  waitTime: 1
  restrictExecutionDuringTimeWindow: true
  restrictedExecutionWindow:
    whitelist:
    - {startHour: 24, startMin: 60, endHour: -1, endMin: 0}
    - {startHour: 5, startMin: 30, endHour: 5, endMin: 30}
- refId: "4"
  type: wait
  waitTime: 1
  restrictExecutionDuringTimeWindow: false
  restrictedExecutionWindow: {whitelist: []}`,
			want: []string{
				"stages[0].restrictedExecutionWindow: required when restrictExecutionDuringTimeWindow is set",
				"stages[1].restrictedExecutionWindow.whitelist: must have at least one time range",
				"stages[1].restrictedExecutionWindow.days[0]: must be 1 (Sunday) to 7 (Saturday)",
				"stages[1].restrictedExecutionWindow.days[2]: must be 1 (Sunday) to 7 (Saturday)",
				`stages[1].restrictedExecutionWindow.timeZone: unknown time zone "Nowhere/Land"`,
				"stages[2].restrictedExecutionWindow.whitelist[0].startHour: must be 0 to 23",
				"stages[2].restrictedExecutionWindow.whitelist[0].startMin: must be 0 to 59",
				"stages[2].restrictedExecutionWindow.whitelist[0].endHour: must be 0 to 23",
				"stages[2].restrictedExecutionWindow.whitelist[1]: start and end are the same time",
			},
		},
		{
			name: "expressions in the context",
			doc: `stages:
- {refId: "1", type: webhook, url: "https://x.example/${a +}", payload: {items: ["${)}"]}}
- {refId: "2", type: webhook, url: "https://x.example/${a +}", skipExpressionEvaluation: true}`,
			want: []string{
				`stages[0].payload.items[0]: invalid expression "${)}": unexpected token Bracket(")") (1:1)`,
				`stages[0].url: invalid expression "${a +}": unexpected token EOF (1:3)`,
			},
		},
		{
			name: "wait",
			doc: `stages:
- {refId: "1", type: wait}
- {refId: "2", type: wait, waitTime: -1}
- {refId: "3", type: wait, waitTime: "abc"}
- {refId: "4", type: wait, waitTime: "-5"}
- {refId: "5", type: wait, waitTime: ""}
- {refId: "6", type: wait, waitTime: {}}
- {refId: "7", type: wait, waitTime: "${parameters.wait}"}
- {refId: "8", type: wait, waitTime: "30"}
- {refId: "9", type: wait, waitTime: 0.5}`,
			// Spinnaker waits not at all without a waitTime, or with one of zero or less.
			want: []string{
				"stages[2].waitTime: must be a number of seconds, got abc",
				"stages[5].waitTime: must be a number of seconds, got {}",
			},
		},
		{
			name: "manual judgment",
			doc: `stages:
- {refId: "1", type: manualJudgment}
- refId: "2"
  type: manualJudgment
  instructions: 5
  judgmentInputs: [{value: ""}, "x", {}]
  selectedStageRoles: [1, ok]
- {refId: "3", type: manualJudgment, judgmentInputs: "x", selectedStageRoles: {a: b}}`,
			want: []string{
				"stages[1].instructions: must be a string",
				"stages[1].judgmentInputs[0].value: required",
				"stages[1].judgmentInputs[1]: must be an object",
				"stages[1].judgmentInputs[2].value: required",
				"stages[1].selectedStageRoles[0]: must be a string",
				"stages[2].judgmentInputs: must be a list",
				"stages[2].selectedStageRoles: must be a list",
			},
		},
		{
			name: "check preconditions",
			doc: `stages:
- {refId: "1", type: checkPreconditions}
- {refId: "2", type: checkPreconditions, preconditions: []}
- refId: "3"
  type: checkPreconditions
  preconditions:
  - {type: clusterSize, context: {}}
  - {type: stageStatus, context: {stageName: Deploy, stageStatus: DONE}}
  - {type: diskSpace, context: {}}
  - {context: "x"}
  - {type: expression}
  - {type: expression, context: {expression: "a +"}}
  - {type: expression, context: {expression: "${a} x"}}
  - {type: expression, context: {expression: true, failureMessage: 3}, failPipeline: "yes"}
  - {type: expression, context: {expression: "${b +}"}, failPipeline: false}
  - "x"`,
			want: []string{
				"stages[0].preconditions: required",
				"stages[1].preconditions: must have at least one item",
				"stages[2].preconditions[0].context.credentials: required",
				"stages[2].preconditions[0].context.cluster: required",
				"stages[2].preconditions[0].context.regions: required: the regions (namespaces) to count the cluster's server groups in",
				`stages[2].preconditions[1].context.stageStatus: "DONE" is not a stage status`,
				// An unknown type says nothing of its context, whose shape only the type decides.
				`stages[2].preconditions[2].type: unknown precondition type "diskSpace"; supported types: clusterSize, expression, stageStatus`,
				"stages[2].preconditions[3].type: required",
				"stages[2].preconditions[3].context: must be an object",
				"stages[2].preconditions[4].context: required",
				`stages[2].preconditions[5].context.expression: invalid expression "a +": unexpected token EOF (1:3)`,
				"stages[2].preconditions[6].context.expression: must be one expression, written with or without ${}",
				"stages[2].preconditions[7].failPipeline: must be true or false",
				"stages[2].preconditions[7].context.failureMessage: must be a string",
				"stages[2].preconditions[9]: must be an object",
				// Syntax inside ${} is found by the check of every expression in the stage, which runs last.
				`stages[2].preconditions[8].context.expression: invalid expression "${b +}": unexpected token EOF (1:3)`,
			},
		},
		{
			name: "evaluate variables",
			doc: `stages:
- {refId: "1", type: evaluateVariables}
- refId: "2"
  type: evaluateVariables
  variables: [{key: a, value: 1}, {key: a}, {value: 1}, {key: trigger}, {key: "", value: x}]`,
			want: []string{
				"stages[0].variables: required",
				`stages[1].variables[1].key: duplicate key "a"`,
				"stages[1].variables[2].key: required",
				`stages[1].variables[3].key: "trigger" is a name expressions already use`,
				"stages[1].variables[4].key: required",
			},
		},
		{
			name: "pipeline",
			doc: `stages:
- {refId: "1", type: pipeline}
- {refId: "2", type: pipeline, application: shop, pipeline: smoke, pipelineParameters: "x", waitForCompletion: 1}
- {refId: "3", type: pipeline, application: shop, pipeline: gone}
- {refId: "4", type: pipeline, application: shop, pipeline: "${parameters.target}"}`,
			want: []string{
				"stages[0].application: required",
				"stages[0].pipeline: required",
				"stages[1].pipelineParameters: must be an object",
				"stages[1].waitForCompletion: must be true or false",
				// A warning: pipelines are saved one by one, in any order.
				`stages[2].pipeline: no pipeline "gone" in application "shop" yet: save it too, or the stage fails when it runs`,
			},
		},
		{
			name: "webhook",
			doc: `stages:
- {refId: "1", type: webhook}
- {refId: "2", type: webhook, url: "ftp://x.example/a", method: FETCH}
- {refId: "3", type: webhook, url: "/relative", method: "${parameters.method}"}
- refId: "4"
  type: webhook
  url: http://x.example
  customHeaders: {A: 1, B: [1, ok], C: ok}
  expectedStatusCodes: [99, 200, "x", 600, "${code}"]
  failFastStatusCodes: "400"
  waitForCompletion: true
  statusUrlResolution: bogus
  monitorIntervalSeconds: 0
- {refId: "5", type: webhook, url: http://x.example, waitForCompletion: true, statusUrlResolution: webhookResponse, statusJsonPath: $.s, successStatuses: OK}
- {refId: "6", type: webhook, url: http://x.example, customHeaders: [a]}`,
			want: []string{
				"stages[0].url: required",
				"stages[1].url: must be an absolute http or https URL",
				"stages[1].method: must be one of DELETE, GET, HEAD, PATCH, POST, PUT",
				"stages[2].url: must be an absolute http or https URL",
				"stages[3].customHeaders.A: must be a string or a list of strings",
				"stages[3].customHeaders.B[0]: must be a string",
				"stages[3].expectedStatusCodes[0]: must be an HTTP status code (100-599)",
				"stages[3].expectedStatusCodes[2]: must be an HTTP status code (100-599)",
				"stages[3].expectedStatusCodes[3]: must be an HTTP status code (100-599)",
				`stages[3].statusUrlResolution: must be one of getMethod, locationHeader, webhookResponse, not "bogus"`,
				"stages[3].statusJsonPath: required",
				"stages[3].successStatuses: required",
				"stages[3].monitorIntervalSeconds: must be a number of seconds above 0",
				"stages[4].statusUrlJsonPath: required",
				"stages[5].customHeaders: must be an object",
			},
		},
		{
			name: "parameters",
			doc: `parameterConfig:
- {name: ""}
- {name: a}
- {name: a}
- {name: b, hasOptions: true}
- {name: c, hasOptions: true, default: z, options: [{value: x}, {value: "y"}]}
- {name: d, hasOptions: true, default: 2, options: [{value: "1"}, {value: 2}]}
stages: []`,
			want: []string{
				"parameterConfig[0].name: required",
				`parameterConfig[2].name: duplicate parameter "a"`,
				"parameterConfig[3].options: required when hasOptions is set",
				`parameterConfig[4].default: "z" is not one of [x y]`,
			},
		},
		{
			name: "triggers",
			doc: `triggers:
- {type: ""}
- {type: travis, enabled: false}
- {type: cron}
- {type: cron, cronExpression: "0 0 12 L * ?", timeZone: X/Y}
- {type: cron, cronExpression: "0 0 12 * * ?", timeZone: UTC}
- {type: manual}
stages: []`,
			want: []string{
				"triggers[0].type: required",
				`triggers[1].type: unknown trigger type "travis"; supported types: cron, docker, git, jenkins, manual, pipeline, pubsub, webhook`,
				"triggers[2].cronExpression: required",
				"triggers[3].cronExpression: day-of-month: Quartz's L and W (last day, nearest weekday) are not supported",
				`triggers[3].timeZone: unknown time zone "X/Y"`,
			},
		},
	}
	exists := func(app, name string) bool { return app == "shop" && name == "smoke" }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.doc
			if !strings.HasPrefix(doc, "application:") {
				doc = "application: a\nname: release\n" + doc
			}
			p := mustDecode(t, doc)
			wantProblems(t, Validate(p, ValidateOptions{PipelineExists: exists}), tt.want)
			got := problemTexts(Validate(p, ValidateOptions{PipelineExists: exists}))
			again := problemTexts(Validate(p, ValidateOptions{PipelineExists: exists}))
			if !reflect.DeepEqual(got, again) {
				t.Errorf("second run differs:\n%v\n%v", got, again)
			}
		})
	}
}

func TestValidateTypedContext(t *testing.T) {
	// A stage built in Go rather than decoded carries Go types in its context.
	p := Pipeline{Application: "a", Name: "n", Stages: []Stage{
		{RefID: "1", Type: StageWait, Context: map[string]any{"waitTime": 30}},
		{RefID: "2", Type: StageWebhook, Context: map[string]any{
			"url":                 "https://x.example",
			"customHeaders":       map[string]string{"A": "b"},
			"expectedStatusCodes": []int{200, 700},
		}},
		{RefID: "3", Type: StageWait},
	}}
	want := []string{
		"stages[1].expectedStatusCodes[1]: must be an HTTP status code (100-599)",
	}
	if got := problemTexts(Validate(p, ValidateOptions{})); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestValidatePipelineExistsSkippedWhenNil(t *testing.T) {
	p := mustDecode(t, `{"application": "a", "name": "n", "stages": [{"refId": "1", "type": "pipeline", "application": "x", "pipeline": "y"}]}`)
	if ps := Validate(p, ValidateOptions{}); len(ps) > 0 {
		t.Fatalf("unexpected problems %v", ps)
	}
}

func TestProblemStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"problem", Problem{Path: "stages[2].requisiteStageRefIds[0]", Message: `unknown refId "7"`}.String(), `stages[2].requisiteStageRefIds[0]: unknown refId "7"`},
		{"problem without path", Problem{Message: "broken"}.String(), "broken"},
		{"list", strings.Join(ProblemStrings([]Problem{{Path: "name", Message: "required"}, {Path: "stages[0].type", Message: "required"}}), "; "),
			"name: required; stages[0].type: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

type testOnlySettings struct{ Manifest any }

func TestRegisterStageType(t *testing.T) {
	const name = "testOnlyDeploy"
	read := func(settings map[string]any, path string) (testOnlySettings, []Problem) {
		var ps problems
		f := newFields(settings, path, &ps)
		m, ok := f.get("manifest")
		if !ok {
			ps.add(f.at("manifest"), "required")
		}
		return testOnlySettings{Manifest: m}, ps
	}
	RegisterStageType(StageType[testOnlySettings]{Name: name, Read: read})
	t.Cleanup(func() {
		stageTypes.Lock()
		delete(stageTypes.byName, name)
		stageTypes.Unlock()
	})
	if types := StageTypes(); !slices.Contains(types, name) || !slices.IsSorted(types) {
		t.Errorf("StageTypes() = %v", StageTypes())
	}
	p := mustDecode(t, `{"application": "a", "name": "n", "stages": [{"refId": "1", "type": "testOnlyDeploy"}]}`)
	if got := problemTexts(Validate(p, ValidateOptions{})); !reflect.DeepEqual(got, []string{"stages[0].manifest: required"}) {
		t.Errorf("got %q", got)
	}
	for _, bad := range []StageType[testOnlySettings]{{Name: name, Read: read}, {Name: ""}, {Name: "noReader"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterStageType(%q) did not panic", bad.Name)
				}
			}()
			RegisterStageType(bad)
		}()
	}
}

// A stage type offered on several cloud providers is chosen by the stage's cloudProvider; without
// one, by the registration that claims the stage, else Spinnaker's default, aws. One that names a
// provider the type is not offered on is refused, saying which it runs on.
func TestStageTypeDispatchesOnCloudProvider(t *testing.T) {
	read := func(settings map[string]any, path string) (testOnlySettings, []Problem) {
		return testOnlySettings{}, nil
	}
	RegisterStageType(StageType[testOnlySettings]{Name: "testOnlyResize", CloudProvider: "kubernetes", Read: read,
		Claims: func(settings map[string]any) bool { return settings["location"] != nil }})
	RegisterStageType(StageType[testOnlySettings]{Name: "testOnlyResize", CloudProvider: "aws", Read: read})
	t.Cleanup(func() {
		stageTypes.Lock()
		delete(stageTypes.byName, "testOnlyResize")
		stageTypes.Unlock()
	})
	for _, tc := range []struct{ provider, want, wantErr string }{
		{"aws", "aws", ""},
		{"kubernetes", "kubernetes", ""},
		{"", "aws", ""},
		{"titus", "", `testOnlyResize on cloud provider "titus" is not offered; gennaker runs testOnlyResize on aws, kubernetes`},
	} {
		settings := map[string]any{}
		if tc.provider != "" {
			settings["cloudProvider"] = tc.provider
		}
		got, err := ResolveStageType("testOnlyResize", settings)
		if got.CloudProvider != tc.want || fmt.Sprint(err) != tc.wantErr && !(err == nil && tc.wantErr == "") {
			t.Errorf("cloudProvider %q: got %+v, %v; want %q, %q", tc.provider, got, err, tc.want, tc.wantErr)
		}
	}
	if got, err := ResolveStageType("testOnlyResize", map[string]any{"location": "prod"}); err != nil || got.CloudProvider != "kubernetes" {
		t.Errorf("a stage the kubernetes registration claims: %+v, %v", got, err)
	}
	if _, err := ResolveStageType("runJob", map[string]any{"cloudProvider": "titus"}); err == nil ||
		err.Error() != `runJob on cloud provider "titus" is not offered; gennaker runs runJob on kubernetes` {
		t.Errorf("runJob on titus: %v", err)
	}
}

func FuzzValidate(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "valid.yaml")); err == nil {
		f.Add(data)
	}
	for _, seed := range []string{
		`{"application":"a","name":"n","stages":[{"refId":"1","type":"wait","waitTime":1,"requisiteStageRefIds":["2"]},{"refId":"2","type":"wait","requisiteStageRefIds":["1"]}]}`,
		`{"application":"a","name":"n","stages":[{"refId":"1","type":"webhook","url":"${x","waitForCompletion":true}]}`,
		`{"application":"a","name":"n","triggers":[{"type":"cron","cronExpression":"0 0 12 ? * 2-6","timeZone":"UTC"}]}`,
		`{"stages":[{"refId":"1","type":"checkPreconditions","preconditions":[{"type":"expression","context":{"expression":"${#stage('x')}"}}]}]}`,
		`{"stages":[{"refId":"1","type":"wait","restrictExecutionDuringTimeWindow":true,"restrictedExecutionWindow":{"whitelist":[{"startHour":22,"endHour":2}],"days":[1,9]}}]}`,
		"application: a\nname: n\nstages:\n- refId: '1'\n  type: evaluateVariables\n  variables: [{key: a}]\n",
		`{"parameterConfig":[{"name":"e","hasOptions":true,"default":1,"options":[{"value":null}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		opts := ValidateOptions{PipelineExists: func(app, name string) bool { return app == name }}
		first := Validate(p, opts)
		if again := Validate(p, opts); !reflect.DeepEqual(first, again) {
			t.Fatalf("Validate is not deterministic:\n%v\n%v", first, again)
		}
		for _, problem := range first {
			if problem.Message == "" {
				t.Fatalf("problem without a message: %#v", problem)
			}
		}
		for _, s := range p.Stages {
			if s.RestrictedExecutionWindow != nil {
				_, _, _ = s.RestrictedExecutionWindow.Next(time.Date(2024, 3, 10, 5, 0, 0, 0, time.UTC))
			}
			_, _ = EvaluateContext(s.Context, ExprEnv{})
		}
		for _, tr := range p.Triggers {
			_, _ = CronSpec(tr.CronExpression, tr.TimeZone)
		}
		_, _ = ResolveParameters(p.ParameterConfig, map[string]any{"e": "1"})
	})
}
