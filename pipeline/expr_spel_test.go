package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

// selectionEnv is testEnv with a stage whose context holds artifacts of different shapes, as a
// "Get Info" stage of Spinnaker's canary examples has, and variables to select from.
func selectionEnv(getInfoStatus Status) ExprEnv {
	env := testEnv()
	env.Execution.Stages = append(env.Execution.Stages, StageExecution{
		ID: "s4", RefID: "4", Name: "Get Info", Type: "findArtifactsFromResource", Status: getInfoStatus,
		Context: map[string]any{"artifacts": []any{
			map[string]any{"type": "kubernetes/deployment", "name": "hello", "reference": "hello-deploy"},
			map[string]any{"name": "no-type"},
			map[string]any{"type": "docker/image", "name": "away168/hello-metrics", "reference": "away168/hello-metrics:v2"},
			map[string]any{"type": "docker/image", "name": "sidecar", "reference": "sidecar:1"},
		}},
	})
	env.Variables = map[string]any{
		"region": "eu-west-1",
		"nums":   []any{int64(1), int64(2), int64(3)},
		"words":  []any{"apple", "kiwi", "banana"},
		"servers": map[string]any{
			"b": map[string]any{"region": "us-east-1", "size": int64(2)},
			"a": map[string]any{"region": "eu-west-1", "size": int64(3)},
			"c": map[string]any{"region": "eu-west-1", "size": int64(1)},
		},
		"hosts": []any{
			map[string]any{"name": "h1", "region": "us-east-1", "tags": []any{"web"}},
			map[string]any{"name": "h2", "tags": []any{"db", "web"}},
		},
		"nothing": nil,
		"mixed":   []any{map[string]any{"a": int64(1)}, "text"},
	}
	return env
}

// getInfoArtifacts are the artifacts of the "Get Info" stage, selected by the tests.
func getInfoArtifacts() []any {
	return selectionEnv(StatusSucceeded).Execution.Stages[3].Context["artifacts"].([]any)
}

func TestSelectionAndProjection(t *testing.T) {
	artifacts := getInfoArtifacts()
	tests := []struct {
		name, in string
		want     any
		err      string
	}{
		// Lists.
		{"select", "${nums.?[#this > 1]}", []any{int64(2), int64(3)}, ""},
		{"select none", "${nums.?[#this > 5]}", []any{}, ""},
		{"first", "${nums.^[#this > 1]}", int64(2), ""},
		{"first none", "${nums.^[#this > 5]}", nil, ""},
		{"last", "${nums.$[#this < 3]}", int64(2), ""},
		{"last none", "${nums.$[#this > 5]}", nil, ""},
		{"last inside a list", "${['x', nums.$[#this < 3]]}", []any{"x", int64(2)}, ""},
		{"project", "${nums.![#this * 10]}", []any{int64(10), int64(20), int64(30)}, ""},
		{"project maps", "${nums.![{'n': #this}]}", []any{map[string]any{"n": int64(1)}, map[string]any{"n": int64(2)}, map[string]any{"n": int64(3)}}, ""},
		{"select by key", "${#stage('Get Info').context.artifacts.?[type == 'docker/image']}", []any{artifacts[2], artifacts[3]}, ""},
		{"first by key", `${#stage("Get Info").context.artifacts.^[type== "docker/image"].reference}`, "away168/hello-metrics:v2", ""},
		{"last by key", "${#stage('Get Info').context.artifacts.$[type == 'docker/image'].name}", "sidecar", ""},
		{"project key", "${#stage('Get Info').context.artifacts.![name]}", []any{"hello", "no-type", "away168/hello-metrics", "sidecar"}, ""},
		{"project missing key is null", "${#stage('Get Info').context.artifacts.![type]}", []any{"kubernetes/deployment", nil, "docker/image", "docker/image"}, ""},
		{"spaces after the dot", "${nums. ?[#this > 2]}", []any{int64(3)}, ""},

		// Chaining and combining.
		{"select then project", "${#stage('Get Info').context.artifacts.?[type == 'docker/image'].![reference]}", []any{"away168/hello-metrics:v2", "sidecar:1"}, ""},
		{"execution stages", "${execution.stages.?[type == 'manualJudgment'].![name]}", []any{"Approve", "Second look"}, ""},
		{"size of a selection", "${(nums.?[#this > 1]).size()}", int64(2), ""},
		{"method after a selection", "${nums.?[#this > 1].size()}", int64(2), ""},
		{"index after a selection", "${nums.?[#this > 1][0]}", int64(2), ""},
		{"index after a projection", "${words.![toUpperCase()][-1]}", "BANANA", ""},
		{"in a condition", "${nums.?[#this > 1].size() == 2 ? 'two' : 'other'}", "two", ""},
		{"interpolated as JSON", "n=${nums.?[#this != 2]}", "n=[1,3]", ""},
		{"nested projection", "${ {'a': [1, 2], 'b': [3]}.![value.![#this + 1]] }", []any{[]any{int64(2), int64(3)}, []any{int64(4)}}, ""},
		{"nested selection", "${hosts.?[tags.?[#this == 'db'].size() > 0].![name]}", []any{"h2"}, ""},
		{"selection in a condition", "${nums.?[nums.?[#this > 1].size() > 1].size()}", int64(3), ""},
		{"expr closure inside", "${hosts.?[any(tags, # == 'web' && name == 'h1')].![name]}", []any{"h1"}, ""},
		{"helpers inside", "${words.![#toJson(#this)]}", []any{`"apple"`, `"kiwi"`, `"banana"`}, ""},
		{"bare method call on the element", "${words.?[length() > 4]}", []any{"apple", "banana"}, ""},
		{"null-safe selection of null", "${nothing?.?[#this > 1]}", nil, ""},
		{"null-safe selection", "${nums?.?[#this > 1]}", []any{int64(2), int64(3)}, ""},

		// Maps: entries in key order, read as key and value.
		{"select map", "${servers.?[value.region == 'eu-west-1']}", map[string]any{
			"a": map[string]any{"region": "eu-west-1", "size": int64(3)},
			"c": map[string]any{"region": "eu-west-1", "size": int64(1)}}, ""},
		{"select map none", "${servers.?[key == 'z']}", map[string]any{}, ""},
		{"first of map", "${servers.^[value.region == 'eu-west-1']}", map[string]any{"a": map[string]any{"region": "eu-west-1", "size": int64(3)}}, ""},
		{"last of map", "${servers.$[value.region == 'eu-west-1']}", map[string]any{"c": map[string]any{"region": "eu-west-1", "size": int64(1)}}, ""},
		{"first of map none", "${servers.^[key == 'z']}", nil, ""},
		{"project map", "${servers.![key + '=' + value.region]}", []any{"a=eu-west-1", "b=us-east-1", "c=eu-west-1"}, ""},
		{"project map entry", "${ {'y': 1, 'x': 2}.![#this] }", []any{map[string]any{"key": "x", "value": int64(2)}, map[string]any{"key": "y", "value": int64(1)}}, ""},
		{"entry through this", "${parameters.?[#this.key == 'env']}", map[string]any{"env": "prod"}, ""},
		{"keys of a selection", "${keys(parameters.?[value == 'prod'])}", []any{"env"}, ""},
		{"size of a map selection", "${servers.?[value.size > 1].size()}", int64(2), ""},

		// Names inside the brackets.
		{"root name", "${hosts.?[region == parameters.env].size()}", int64(0), ""},
		{"variable", "${servers.?[value.region == region].![key]}", []any{"a", "c"}, ""},
		{"key shadows variable", "${hosts.?[region == 'us-east-1'].![name]}", []any{"h1"}, ""},
		{"key of some elements shadows variable", "${hosts.![region]}", []any{"us-east-1", nil}, ""},
		{"root reaches a shadowed name", "${hosts.![#root.region]}", []any{"eu-west-1", "eu-west-1"}, ""},
		{"root trigger", "${nums.?[#root.trigger.type == 'manual'].size()}", int64(3), ""},
		{"root at the top", "${#root.parameters.env}", "prod", ""},
		{"stage helper inside", "${nums.?[#stage('Deploy').outputs.replicas == #this]}", []any{int64(2)}, ""},
		{"missing key is null", "${hosts.?[region == null].![name]}", []any{"h2"}, ""},
		{"misspelt key selects nothing", "${hosts.?[regoin == 'us-east-1']}", []any{}, ""},
		{"missing condition key is false", "${hosts.?[primary].size()}", int64(0), ""},
		{"string condition", "${hosts.?[region].size()}", "${hosts.?[region].size()}", `hosts.?[...]: the condition gave the string "us-east-1", not true or false`},
		{"optional read of a missing key", "${hosts.?[region?.startsWith('us')].![name]}", []any{"h1"}, ""},
		{"nested read stays strict", "${hosts.?[region.size() > 0]}", "${hosts.?[region.size() > 0]}", "cannot call size() on null"},
		{"this read stays strict", "${hosts.?[#this.region == 'x']}", "${hosts.?[#this.region == 'x']}", "#this.region: no such key"},
		{"this optional read", "${hosts.?[#this?.region == 'us-east-1'].![name]}", []any{"h1"}, ""},
		{"name on a non-map element", "${mixed.![a]}", "${mixed.![a]}", `a: the element is the string "text", which has no "a"`},
		{"root name on a non-map element", "${words.![region]}", []any{"eu-west-1", "eu-west-1", "eu-west-1"}, ""},
		{"not a boolean", "${nums.?[#this]}", "${nums.?[#this]}", "nums.?[...]: the condition gave 1, not true or false"},
		{"select from null", "${nothing.?[x]}", "${nothing.?[x]}", "nothing.?[...]: cannot select from null"},
		{"project null", "${nothing.![x]}", "${nothing.![x]}", "nothing.![...]: cannot project null"},
		{"select from a string", "${parameters.env.?[x]}", "${parameters.env.?[x]}", `parameters.env.?[...]: cannot select from the string "prod"; only from a list or a map`},
		{"read after no match", "${hosts.^[name == 'h9'].name}", "${hosts.^[name == 'h9'].name}", `hosts.^[name == "h9"].name: cannot read "name" of null`},
	}
	env := selectionEnv(StatusSucceeded)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := EvaluateValue(tt.in, env)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			checkOneReason(t, errs, tt.err)
		})
	}
}

// TestSelectionCorpusExpression evaluates an expression from a Spinnaker canary pipeline: the image
// found by a "Get Info" stage, or a fixed one when that stage failed and the pipeline went on.
func TestSelectionCorpusExpression(t *testing.T) {
	const expression = `${#stage("Get Info").status == "FAILED_CONTINUE" ? "away168/hello-metrics:v1" : #stage("Get Info").context.artifacts.^[type== "docker/image"].reference}`
	for status, want := range map[Status]string{
		StatusSucceeded:      "away168/hello-metrics:v2",
		StatusFailedContinue: "away168/hello-metrics:v1",
	} {
		got, errs := EvaluateValue(expression, selectionEnv(status))
		if got != want || len(errs) > 0 {
			t.Errorf("with Get Info %s: got %#v, %v; want %q", status, got, errs, want)
		}
	}
	if problems := CheckExpressions(map[string]any{"image": expression}, "stages[0]"); len(problems) > 0 {
		t.Errorf("check: %v", problems)
	}
}

func TestSelectionErrorsInWords(t *testing.T) {
	tests := []struct{ in, err string }{
		{"${nums.?[#this > 1}", "no closing ] for .?[ (1:5)"},
		{"${nums.![#this.?[x] }", "no closing ] for .![ (1:5)"},
		{"${nums.?x}", ".? must be followed by [, as in list.?[condition] (1:5)"},
		{"${nums.!x}", ".! must be followed by [, as in list.![expression] (1:5)"},
		{"${nums.?[]}", `unexpected token Bracket("]") (1:8)`},
		{"${nums.?[#this >]}", `unexpected token Bracket("]") (1:15)`},
		{"${nums.?[(#this]}", `unexpected token Bracket("]") (1:14)`},
		{"${nums.?[1:2]}", ".?[...] must hold one expression (1:6)"},
		{"${1.?[#this]}", ".?[ must follow a list or a map, not a number (1:2)"},
		{"${#this}", "#this is only defined inside .?[...], .^[...], .$[...] and .![...], where it is the element (1:1)"},
		{"${#root}", "#root must be followed by a name, such as #root.trigger (1:1)"},
		{"${#root.nope}", "unknown name nope (1:7)"},
		{"${nums.?[x > 1].![y] + nope}", "unknown name nope (1:22)"},
		{"${nums.?[#this > 1].size() + nope}", "unknown name nope (1:28)"},
		{"${'é' + nums.?[#this >]}", `unexpected token Bracket("]") (1:21)`},
		{"${nums.?[#this > 1]\n + nope}", "unknown name nope (2:4)"},
	}
	env := selectionEnv(StatusSucceeded)
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, errs := EvaluateValue(tt.in, env)
			checkOneReason(t, errs, tt.err)
			for _, e := range errs {
				if strings.Contains(e.Reason, "$") && !strings.Contains(tt.err, "$") {
					t.Errorf("the reason %q shows the translated expression", e.Reason)
				}
			}
		})
	}
}

func TestSelectionCheckExpressions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"${artifacts.?[type == 'docker/image'].![reference][0]}", nil},
		{"${#stage('x').context.artifacts.^[type == 'docker/image'].reference}", nil},
		{"${servers.?[value.region == region && #root.trigger.type == 'manual']}", nil},
		{"${list.$[#this.x > 1] ?: 'none'}", nil},
		{"${list.?[#this > 1}", []string{`x: invalid expression "${list.?[#this > 1}": no closing ] for .?[ (1:5)`}},
		{"${#this.x}", []string{`x: invalid expression "${#this.x}": #this is only defined inside .?[...], .^[...], .$[...] and .![...], where it is the element (1:1)`}},
		{"${list.?[a +]}", []string{`x: invalid expression "${list.?[a +]}": unexpected token Bracket("]") (1:11)`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got []string
			for _, p := range CheckExpressions(map[string]any{"x": tt.in}, "") {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestSelectionIsRepeatable checks that maps are gone through in key order every time.
func TestSelectionIsRepeatable(t *testing.T) {
	m := map[string]any{}
	for _, k := range strings.Split("q w e r t y u i o p a s d f g h j k l z x c v b n m", " ") {
		m[k] = k
	}
	env := selectionEnv(StatusSucceeded)
	env.Variables["letters"] = m
	in := "${letters.![key]}|${letters.^[true]}|${letters.$[true]}|${letters.?[value > 'w'].![value]}"
	want := `["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","s","t","u","v","w","x","y","z"]|{"a":"a"}|{"z":"z"}|["x","y","z"]`
	for range 20 {
		if got, errs := EvaluateValue(in, env); got != want || len(errs) > 0 {
			t.Fatalf("got %v, %v; want %v", got, errs, want)
		}
	}
}

func TestOptionalMethodCall(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"${parameters.env?.toUpperCase()}", "PROD"},
		{"${parameters.empty?.toUpperCase()}", nil},
		{"${parameters?.nope?.toUpperCase()}", nil},
		{"${parameters.list?.size()}", int64(2)},
	}
	for _, tt := range tests {
		got, errs := EvaluateValue(tt.in, testEnv())
		if !reflect.DeepEqual(got, tt.want) || len(errs) > 0 {
			t.Errorf("%s: got %#v, %v; want %#v", tt.in, got, errs, tt.want)
		}
	}
}

func TestPipelineID(t *testing.T) {
	env := testEnv()
	env.PipelineIDs = map[string]string{"my-double-wait": "01HPIPE", "other": "01HOTHER"}
	tests := []struct {
		name string
		env  ExprEnv
		in   string
		want any
		err  string
	}{
		{"known", env, `${#pipelineId("my-double-wait")}`, "01HPIPE", ""},
		{"in text", env, "id=${#pipelineId('other')}", "id=01HOTHER", ""},
		{"unknown", env, "${#pipelineId('nope')}", "${#pipelineId('nope')}", `no pipeline named "nope" in application "shop"`},
		{"no ids", testEnv(), "${#pipelineId('nope')}", "${#pipelineId('nope')}", `no pipeline named "nope" in application "shop"`},
		{"no execution", ExprEnv{}, "${#pipelineId('nope')}", "${#pipelineId('nope')}", `no pipeline named "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := EvaluateValue(tt.in, tt.env)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			checkOneReason(t, errs, tt.err)
		})
	}
	stage := map[string]any{"application": "app", "pipeline": `${#pipelineId("my-double-wait")}`}
	if problems := CheckExpressions(stage, "stages[0]"); len(problems) > 0 {
		t.Errorf("check: %v", problems)
	}
	if problems := CheckExpressions("${#pipelineId(1)}", "p"); len(problems) != 1 {
		t.Errorf("check of a number argument: %v", problems)
	}
}

func TestCurrentStage(t *testing.T) {
	env := testEnv()
	env.Stage = &env.Execution.Stages[1]
	for _, in := range []string{"${#currentStage()}", "${#currentStage().judgmentInput}", "${#currentStage().context}"} {
		byName := strings.Replace(in, "#currentStage()", "#stage('Approve')", 1)
		got, errs := EvaluateValue(in, env)
		want, _ := EvaluateValue(byName, env)
		if !reflect.DeepEqual(got, want) || len(errs) > 0 {
			t.Errorf("%s: got %#v, %v; want %#v as %s gives", in, got, errs, want, byName)
		}
	}
	env.Stage = &StageExecution{Name: "Running", Type: "wait", Status: StatusRunning, Context: map[string]any{"waitTime": int64(30)}}
	if got, errs := EvaluateValue("${#currentStage().context.waitTime * 2}-${#currentStage().name}", env); got != "60-Running" || len(errs) > 0 {
		t.Errorf("got %#v, %v", got, errs)
	}
	got, errs := EvaluateValue("${#currentStage().name}", testEnv())
	checkOneReason(t, errs, "#currentStage(): there is no current stage here; only a stage's own expressions have one")
	if got != "${#currentStage().name}" {
		t.Errorf("got %#v", got)
	}
	if problems := CheckExpressions("${#currentStage().context.x}", "p"); len(problems) > 0 {
		t.Errorf("check: %v", problems)
	}
}

func TestHelperNamesListsNewHelpers(t *testing.T) {
	names := helperNames()
	for _, want := range []string{"#currentStage", "#pipelineId"} {
		if !strings.Contains(names, want) {
			t.Errorf("%q does not list %s", names, want)
		}
	}
	for _, name := range []string{"currentStage", "pipelineId"} {
		if !reservedName(name) {
			t.Errorf("a variable named %s could replace the helper", name)
		}
	}
}

func TestTranslateSelections(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.?[x > 1]", "a.$select()[x > 1]"},
		{"a.^[x].b", "a.$selectFirst()[x].b"},
		{"a.$[x]", "a.$selectLast()[x]"},
		{"a.![x]", "a.$project()[x]"},
		{"a?.?[x]", "a?.$select()[x]"},
		{"a.?[#this == null]", "a.$select()[$this == nil ]"},
		{"#root.trigger", "$root.trigger"},
		{"'a.?[x]' + #thisOne", "'a.?[x]' + #thisOne"},
		{"a.$x", "a.$x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			tr, err := translateSpELMapped(tt.in)
			if err != nil || tr.text != tt.want {
				t.Fatalf("got %q, %v; want %q", tr.text, err, tt.want)
			}
			if got := spelText(tr.text); got != tt.in && !strings.Contains(tt.in, "null") {
				t.Errorf("back to SpEL: got %q, want %q", got, tt.in)
			}
			// Every byte of the translation maps to a byte of the source that it came from.
			for i := range tr.text {
				if tr.from[i] < 0 || tr.from[i] >= len(tt.in) {
					t.Fatalf("byte %d maps to %d", i, tr.from[i])
				}
			}
			if end := tr.from[len(tr.text)]; end != len(tt.in) {
				t.Errorf("the end maps to %d, not %d", end, len(tt.in))
			}
		})
	}
}

func TestDeployedServerGroups(t *testing.T) {
	env := ExprEnv{Execution: &Execution{Application: "web", Stages: []StageExecution{
		{RefID: "1", Name: "Deploy to AWS", Outputs: map[string]any{"deploy.account.name": "prod",
			"deploy.server.groups": map[string]any{"us-east-1": []any{"web-prod-v003"}, "eu-west-1": []any{"web-prod-v001"}}}},
		{RefID: "2", Name: "Deploy manifests", Outputs: map[string]any{"deploy.account.name": "local",
			"manifestNamesByNamespace": map[string]any{"prod": []any{"configMap web-config-v002", "replicaSet web-v002"}}}},
		{RefID: "3", Name: "Wait"},
	}}}
	got, errs := EvaluateValue("${#deployedServerGroups().![serverGroup + '@' + region + '/' + account]}", env)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []any{"web-prod-v001@eu-west-1/prod", "web-prod-v003@us-east-1/prod", "replicaSet web-v002@prod/local"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, errs := EvaluateValue("${#deployedServerGroups()[0].parentStage}", env); len(errs) > 0 || got != "1" {
		t.Errorf("parentStage: %v, %v", got, errs)
	}
}
