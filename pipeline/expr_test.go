package pipeline

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// testEnv is an execution midway: a deploy stage done, a judgment made, a judgment pending.
func testEnv() ExprEnv {
	return ExprEnv{
		Trigger: TriggerInfo{
			Type: "manual",
			User: "ann@example.com",
			Parameters: map[string]any{
				"env":   "prod",
				"count": "3",
				"flag":  "true",
				"list":  []any{"a", "b"},
				"empty": nil,
			},
			Payload: map[string]any{"ref": "refs/heads/main"},
			ResolvedExpectedArtifacts: []ExpectedArtifact{
				{ID: "image", MatchArtifact: Artifact{Type: "docker/image", Name: "shop"},
					BoundArtifact: &Artifact{Type: "docker/image", Name: "shop", Reference: "shop@sha256:abc"}},
				{ID: "manifests", MatchArtifact: Artifact{Type: "http/file"}},
			},
		},
		Execution: &Execution{
			ID:          "01H",
			Application: "shop",
			Name:        "release",
			Status:      StatusRunning,
			Stages: []StageExecution{
				{ID: "s1", RefID: "1", Name: "Deploy", Type: "wait", Status: StatusSucceeded,
					Context: map[string]any{"waitTime": int64(5)},
					Outputs: map[string]any{"replicas": int64(2), "image": "shop:1.2"}},
				{ID: "s2", RefID: "2", Name: "Approve", Type: "manualJudgment", Status: StatusSucceeded,
					Judgment: &Judgment{Status: JudgmentContinue, Input: "ship it", User: "bob", Time: 1}},
				{ID: "s3", RefID: "3", Name: "Second look", Type: "manualJudgment", Status: StatusRunning},
			},
		},
		Variables: map[string]any{"region": "eu-west-1", "trigger": "ignored: reserved"},
	}
}

func TestEvaluateValueStrings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
		// errs lists the expected reasons, in order.
		errs []string
	}{
		{"no expression", "plain text", "plain text", nil},
		{"lone dollar", "cost: $5 {x}", "cost: $5 {x}", nil},
		{"parameter", "${parameters.env}", "prod", nil},
		{"trigger parameter", "${trigger.parameters.env}", "prod", nil},
		{"trigger fields", "${trigger.type}/${trigger.user}/${trigger.payload.ref}", "manual/ann@example.com/refs/heads/main", nil},
		{"execution fields", "${execution.application}:${execution.name}:${execution.id}", "shop:release:01H", nil},
		{"variable", "${region}", "eu-west-1", nil},
		{"reserved variable ignored", "${trigger.type}", "manual", nil},
		{"interpolated", "deploy-${parameters.env}-${region}", "deploy-prod-eu-west-1", nil},
		{"whole keeps bool", "${parameters.env == 'prod'}", true, nil},
		{"whole keeps int", "${1 + 2}", int64(3), nil},
		{"whole keeps float", "${1.5 * 2.5}", 3.75, nil},
		{"whole keeps list", "${parameters.list}", []any{"a", "b"}, nil},
		{"whole keeps map", "${ {'a': 1} }", map[string]any{"a": int64(1)}, nil},
		{"whole null", "${parameters.empty}", nil, nil},
		{"list as JSON text", "items=${parameters.list}", `items=["a","b"]`, nil},
		{"map as JSON text", "m=${ {'b': 2, 'a': 1} }", `m={"a":1,"b":2}`, nil},
		{"null as nothing", "[${parameters.empty}]", "[]", nil},
		{"number as text", "n=${1.5 + 1}", "n=2.5", nil},
		{"bool as text", "ok=${true}", "ok=true", nil},
		{"nested braces", "${ {'a': {'b': 'c'}}.a.b }", "c", nil},
		{"brace inside string", "${ 'x}' + '{' }", "x}{", nil},
		{"missing key", "${parameters.nope}", "${parameters.nope}", []string{"parameters.nope: no such key"}},
		{"missing nested key", "${trigger.payload.a.b}", "${trigger.payload.a.b}", []string{"trigger.payload.a: no such key"}},
		{"optional chain", "${parameters?.nope}", nil, nil},
		{"nil coalescing", "${parameters.nope ?? 'dflt'}", "dflt", nil},
		{"elvis", "${parameters.nope ?: 'dflt'}", "dflt", nil},
		{"in operator", "${'nope' in parameters}", false, nil},
		{"index out of range", "${parameters.list[2]}", "${parameters.list[2]}", []string{"parameters.list[2]: index 2 is out of range (length 2)"}},
		{"negative index", "${parameters.list[-1]}", "b", nil},
		{"read of null", "${parameters.empty.x}", "${parameters.empty.x}", []string{`parameters.empty.x: cannot read "x" of null`}},
		{"unknown name", "${nope}", "${nope}", []string{"unknown name nope (1:1)"}},
		{"now is not available", "${now()}", "${now()}", []string{"unknown name now (1:1)"}},
		{"division by zero", "${1 / 0}", "${1 / 0}", []string{"+Inf is not a number JSON can hold"}},
		{"syntax error", "${1 +}", "${1 +}", []string{"unexpected token EOF (1:3)"}},
		{"empty", "${ }", "${ }", []string{"empty expression"}},
		{"unterminated", "a ${b", "a ${b", []string{"no closing } for ${"}},
		{"failed part stays", "${parameters.env}-${nope}-${region}", "prod-${nope}-eu-west-1", []string{"unknown name nope (1:1)"}},
		{"two failures", "${x}${y}", "${x}${y}", []string{"unknown name x (1:1)", "unknown name y (1:1)"}},
		{"null literal", "${parameters.empty == null}", true, nil},
		{"spel quote escape", "${'it''s'}", "it's", nil},
		{"keys sorted", "${keys({'b': 1, 'a': 2, 'c': 3})}", []any{"a", "b", "c"}, nil},
		{"values by key", "${values({'b': 1, 'a': 2})}", []any{int64(2), int64(1)}, nil},
		{"toPairs by key", "${toPairs({'b': 1, 'a': 2})}", []any{[]any{"a", int64(2)}, []any{"b", int64(1)}}, nil},
		{"predicate", "${filter(parameters.list, # != 'a')}", []any{"b"}, nil},
		{"date method", "${date('2024-03-05').Year()}", int64(2024), nil},
		{"result not text", "${date('2024-03-05')}", "2024-03-05T00:00:00Z", nil},
	}
	env := testEnv()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := EvaluateValue(tt.in, env)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if reasons := errorReasons(errs); !reflect.DeepEqual(reasons, tt.errs) {
				t.Errorf("errors %q, want %q", reasons, tt.errs)
			}
		})
	}
}

func errorReasons(errs []ExpressionError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Reason)
	}
	return out
}

func TestEvaluateValueHelpers(t *testing.T) {
	tests := []struct {
		in   string
		want any
		err  string
	}{
		{"${#stage('Deploy').outputs.replicas + 1}", int64(3), ""},
		{"${#stage('Deploy').context.waitTime}", int64(5), ""},
		{"${#stage('Deploy').status}", "SUCCEEDED", ""},
		{"${#stage('Deploy').refId}-${#stage('Deploy').type}", "1-wait", ""},
		{"${#stage('Deploy').outputs.nope}", "${#stage('Deploy').outputs.nope}", `stage("Deploy").outputs.nope: no such key`},
		{"${#stage('Nope')}", "${#stage('Nope')}", `no stage named "Nope"`},
		{"${#stage('Approve').judgmentStatus}", "continue", ""},
		{"${#stage('Approve').judgmentInput}", "ship it", ""},
		{"${#stage('Approve').lastModifiedBy}", "bob", ""},
		{"${#stage('Second look').outputs}", map[string]any{}, ""},
		{"${#stage('Second look')?.judgmentStatus}", nil, ""},
		{"${#stageByRefId('2').name}", "Approve", ""},
		{"${#stageByRefId('9')}", "${#stageByRefId('9')}", `no stage with refId "9"`},
		{"${#stageExists('Deploy') && #stageExists('3') && !#stageExists('x')}", true, ""},
		{"${#judgment('Approve')}", "ship it", ""},
		{"${#judgement('Approve') == 'ship it'}", true, ""},
		{"${#judgment('Second look')}", "", ""},
		{"${#judgment('Deploy')}", "${#judgment('Deploy')}", `no manual judgment stage named "Deploy"`},
		{"${#triggerResolvedArtifact('shop').reference}", "shop@sha256:abc", ""},
		{"${#triggerResolvedArtifactByType('docker/image').name}", "shop", ""},
		{"${trigger.resolvedExpectedArtifacts[0].boundArtifact.reference}", "shop@sha256:abc", ""},
		{"${#triggerResolvedArtifact('web')}", "${#triggerResolvedArtifact('web')}", `no expected artifact of the trigger was bound to an artifact with name "web"`},
		{"${#toJson(parameters.list)}", `["a","b"]`, ""},
		{"${#toJson({'b': [1, 2], 'a': null})}", `{"a":null,"b":[1,2]}`, ""},
		{`${#readJson('{"a": [1, 2.5]}').a}`, []any{int64(1), 2.5}, ""},
		{"${#readJson('{')}", "${#readJson('{')}", "readJson: unexpected EOF"},
		{"${#toInt(parameters.count) * 2}", int64(6), ""},
		{"${#toInt(' 42 ')}", int64(42), ""},
		{"${#toInt(4.0)}", int64(4), ""},
		{"${#toInt('4.5')}", "${#toInt('4.5')}", `toInt: "4.5" is not a whole number`},
		{"${#toFloat('2.5') + 1}", 3.5, ""},
		{"${#toFloat('x')}", "${#toFloat('x')}", `toFloat: "x" is not a number`},
		{"${#toBoolean(parameters.flag)}", true, ""},
		{"${#toBoolean('yes')}", false, ""},
		{"${#alphanumerical('Feature/ABC-12_x')}", "FeatureABC12x", ""},
		{"${#toBase64('hi')}", "aGk=", ""},
		{"${#fromBase64('aGk=')}", "hi", ""},
		{"${#nope('x')}", "${#nope('x')}", "unknown function #nope; known functions: " + helperNames()},
	}
	env := testEnv()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, errs := EvaluateValue(tt.in, env)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			checkOneReason(t, errs, tt.err)
		})
	}
}

func checkOneReason(t *testing.T, errs []ExpressionError, want string) {
	t.Helper()
	switch {
	case want == "" && len(errs) > 0:
		t.Errorf("unexpected errors %v", errs)
	case want != "" && (len(errs) != 1 || errs[0].Reason != want):
		t.Errorf("errors %v, want one with reason %q", errs, want)
	}
}

func TestEvaluateValueJavaMethods(t *testing.T) {
	tests := []struct {
		in   string
		want any
		err  string
	}{
		{"${parameters.env.equals('prod')}", true, ""},
		{"${parameters.count.equals(3)}", false, ""},
		{"${#stage('Deploy').outputs.replicas.equals(2)}", true, ""},
		{"${parameters.env.equalsIgnoreCase('PROD')}", true, ""},
		{"${parameters.env.contains('ro')}", true, ""},
		{"${parameters.list.contains('b')}", true, ""},
		{"${parameters.list.contains('z')}", false, ""},
		{"${parameters.containsKey('env')}", true, ""},
		{"${parameters.env.startsWith('pr') && parameters.env.endsWith('od')}", true, ""},
		{"${parameters.env.toUpperCase()}", "PROD", ""},
		{"${'MiXed'.toLowerCase()}", "mixed", ""},
		{"${'  x '.trim()}", "x", ""},
		{"${'héllo'.length()}", int64(5), ""},
		{"${parameters.list.size()}", int64(2), ""},
		{"${parameters.size()}", int64(5), ""},
		{"${''.isEmpty() && !parameters.list.isEmpty()}", true, ""},
		{"${'a,b,,c,,'.split(',')}", []any{"a", "b", "", "c"}, ""},
		{"${'a1b22c'.split('[0-9]+')}", []any{"a", "b", "c"}, ""},
		{"${'abc'.split(',')}", []any{"abc"}, ""},
		{"${'abcdef'.substring(2)}", "cdef", ""},
		{"${'abcdef'.substring(1, 3)}", "bc", ""},
		{"${'abc'.substring(2, 9)}", "${'abc'.substring(2, 9)}", "substring(2, 9) is out of range for a string of length 3"},
		{"${'a.b.c'.replace('.', '-')}", "a-b-c", ""},
		{"${'hello'.indexOf('l')}", int64(2), ""},
		{"${parameters.list.indexOf('b')}", int64(1), ""},
		{"${parameters.list.get(0)}", "a", ""},
		{"${parameters.get('env')}", "prod", ""},
		{"${(1 + 1).toString()}", "2", ""},
		{"${parameters.env.nope()}", "${parameters.env.nope()}", "cannot call nope() on a string"},
		{"${parameters.empty.equals('x')}", "${parameters.empty.equals('x')}", "cannot call equals() on null"},
		{"${parameters.list.toUpperCase()}", "${parameters.list.toUpperCase()}", `cannot call toUpperCase() on the list ["a","b"]`},
		{"${parameters.env.startsWith(1)}", "${parameters.env.startsWith(1)}", "wrong arguments for startsWith()"},
	}
	env := testEnv()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, errs := EvaluateValue(tt.in, env)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			checkOneReason(t, errs, tt.err)
		})
	}
}

func TestEvaluateValueWalksContainers(t *testing.T) {
	in := map[string]any{
		"url":   "https://${region}.example.com",
		"count": int64(3),
		"payload": map[string]any{
			"items":   []any{"${parameters.env}", "${nope}", int64(1), true, nil},
			"weird.k": "${missing}",
		},
		"headers": map[string]string{"X-Env": "${parameters.env}"},
		"tags":    []string{"${region}"},
	}
	got, errs := EvaluateValue(in, testEnv())
	want := map[string]any{
		"url":   "https://eu-west-1.example.com",
		"count": int64(3),
		"payload": map[string]any{
			"items":   []any{"prod", "${nope}", int64(1), true, nil},
			"weird.k": "${missing}",
		},
		"headers": map[string]any{"X-Env": "prod"},
		"tags":    []any{"eu-west-1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	wantErrs := []ExpressionError{
		{Path: "payload.items[1]", Expression: "${nope}", Reason: "unknown name nope (1:1)"},
		{Path: `payload["weird.k"]`, Expression: "${missing}", Reason: "unknown name missing (1:1)"},
	}
	if !reflect.DeepEqual(errs, wantErrs) {
		t.Errorf("errors %#v\nwant %#v", errs, wantErrs)
	}
	if in["url"] != "https://${region}.example.com" || in["payload"].(map[string]any)["items"].([]any)[0] != "${parameters.env}" {
		t.Errorf("input was modified: %#v", in)
	}
}

func TestEvaluateContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]any
		skip []string
		want map[string]any
		errs []string
	}{
		{
			name: "evaluates every key",
			ctx:  map[string]any{"a": "${parameters.env}", "b": []any{"${1 + 1}"}},
			want: map[string]any{"a": "prod", "b": []any{int64(2)}},
		},
		{
			name: "skips listed keys",
			ctx:  map[string]any{"a": "${parameters.env}", "later": "${#judgment('Approve')}"},
			skip: []string{"later"},
			want: map[string]any{"a": "prod", "later": "${#judgment('Approve')}"},
		},
		{
			name: "skipExpressionEvaluation",
			ctx:  map[string]any{"a": "${parameters.env}", "skipExpressionEvaluation": true},
			want: map[string]any{"a": "${parameters.env}", "skipExpressionEvaluation": true},
		},
		{
			name: "errors in key order with paths",
			ctx:  map[string]any{"z": "${zz}", "a": map[string]any{"b": "${bb}"}},
			want: map[string]any{"z": "${zz}", "a": map[string]any{"b": "${bb}"}},
			errs: []string{"a.b: expression \"${bb}\": unknown name bb (1:1)", "z: expression \"${zz}\": unknown name zz (1:1)"},
		},
		{name: "nil", ctx: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprint(tt.ctx)
			got, errs := EvaluateContext(tt.ctx, testEnv(), tt.skip...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			var texts []string
			for _, e := range errs {
				texts = append(texts, e.Error())
			}
			if !reflect.DeepEqual(texts, tt.errs) {
				t.Errorf("errors %q, want %q", texts, tt.errs)
			}
			if fmt.Sprint(tt.ctx) != before {
				t.Errorf("input changed to %v", tt.ctx)
			}
		})
	}
}

func TestEvaluateContextCopiesSkippedKeys(t *testing.T) {
	ctx := map[string]any{"keep": map[string]any{"x": "${a}"}}
	got, _ := EvaluateContext(ctx, ExprEnv{}, "keep")
	got["keep"].(map[string]any)["x"] = "changed"
	if ctx["keep"].(map[string]any)["x"] != "${a}" {
		t.Fatal("the skipped key shares its map with the input")
	}
}

func TestEvaluateCondition(t *testing.T) {
	tests := []struct {
		expression string
		want       bool
		err        string
	}{
		{"true", true, ""},
		{"${true}", true, ""},
		{"  ${ parameters.env == 'prod' }  ", true, ""},
		{"parameters.env == 'dev'", false, ""},
		{"trigger.parameters.env.equals('prod') and #judgment('Approve') == 'ship it'", true, ""},
		{"'TRUE'", true, ""},
		{"' false '", false, ""},
		{"parameters.flag", true, ""},
		{"1", false, `expression "1": gave 1, not true or false`},
		{"'yes'", false, `expression "'yes'": gave the string "yes", not true or false`},
		{"parameters.nope", false, `expression "parameters.nope": parameters.nope: no such key`},
		{"", false, `expression "": empty expression`},
		{"${a} == ${b}", false, `expression "${a} == ${b}": a condition must be one expression, written with or without ${}`},
		{"1 +", false, `expression "1 +": unexpected token EOF (1:3)`},
	}
	for _, tt := range tests {
		t.Run(tt.expression, func(t *testing.T) {
			got, err := EvaluateCondition(tt.expression, testEnv())
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Errorf("error %v, want %q", err, tt.err)
			}
			var exprErr ExpressionError
			if err != nil && !errors.As(err, &exprErr) {
				t.Errorf("error %T is not an ExpressionError", err)
			}
		})
	}
}

func TestCheckExpressions(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want []string
	}{
		{"valid", map[string]any{"a": "${parameters.x}", "b": "${#stage('x').outputs.y}"}, nil},
		{"unknown names allowed", "${someUpstreamVariable.field}", nil},
		{"no expressions", []any{"a", int64(1), map[string]any{"b": "c"}}, nil},
		{"syntax", map[string]any{"url": "https://${a +}"}, []string{`stages[0].url: invalid expression "${a +}": unexpected token EOF (1:3)`}},
		{"helper arguments", map[string]any{"x": "${#stage(1)}"}, []string{`stages[0].x: invalid expression "${#stage(1)}": cannot use int as argument (type string) to call stage (1:8)`}},
		{"unknown helper", map[string]any{"x": "${#fromUrl('http://x')}"}, []string{`stages[0].x: invalid expression "${#fromUrl('http://x')}": unknown function #fromUrl; known functions: ` + helperNames()}},
		{"unterminated", map[string]any{"x": "ok ${'a'} ${b"}, []string{`stages[0].x: invalid expression "${b": no closing } for ${`}},
		{"paths and order", map[string]any{
			"z": []any{"${(}"},
			"a": map[string]any{"b c": "${)}"},
		}, []string{
			`stages[0].a["b c"]: invalid expression "${)}": unexpected token Bracket(")") (1:1)`,
			`stages[0].z[0]: invalid expression "${(}": unexpected token EOF (1:1)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range CheckExpressions(tt.in, "stages[0]") {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTranslateSpEL(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"#stage('a').x", " stage('a').x", ""},
		{"#toInt (x)", " toInt (x)", ""},
		{"'#stage(' + x", "'#stage(' + x", ""},
		{`"#stage(" + x`, `"#stage(" + x`, ""},
		{"x == null", "x == nil ", ""},
		{"nullable == 'null'", "nullable == 'null'", ""},
		{"a.null", "a.null", ""},
		{"a ?: b", "a ?? b", ""},
		{"a ? b : c", "a ? b : c", ""},
		{"'it''s'", `'it\'s'`, ""},
		{"'' + ''", "'' + ''", ""},
		{`'a\'b' + #toInt(1)`, `'a\'b' +  toInt(1)`, ""},
		{"filter(l, # > 1)", "filter(l, # > 1)", ""},
		{"#acc + #index", "#acc + #index", ""},
		{"#fromUrl('x')", "", "unknown function #fromUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := translateSpEL(tt.in)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Errorf("error %v, want prefix %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
			if len(got) != len(tt.in) {
				t.Errorf("length changed from %d to %d", len(tt.in), len(got))
			}
		})
	}
}

func TestSplitTemplate(t *testing.T) {
	tests := []struct {
		in    string
		parts []string // expressions are shown as {expr}
		err   bool
	}{
		{"", nil, false},
		{"plain", []string{"plain"}, false},
		{"${a}", []string{"{a}"}, false},
		{"x${a}y${b}", []string{"x", "{a}", "y", "{b}"}, false},
		{"${ {'k': '}'} }", []string{"{ {'k': '}'} }"}, false},
		{`${ "a\"}" }`, []string{`{ "a\"}" }`}, false},
		{"${a", []string{"${a"}, true},
		{"x${a}${b", []string{"x", "{a}", "${b"}, true},
		{"$ {a}", []string{"$ {a}"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			parts, err := splitTemplate(tt.in)
			var got []string
			for _, p := range parts {
				if p.isExpr {
					got = append(got, "{"+p.expr+"}")
				} else {
					got = append(got, p.text)
				}
			}
			if !reflect.DeepEqual(got, tt.parts) || (err != nil) != tt.err {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tt.parts, tt.err)
			}
		})
	}
}

func TestEvaluateWithoutExecution(t *testing.T) {
	env := ExprEnv{Trigger: TriggerInfo{Type: "cron"}}
	tests := []struct {
		in   string
		want any
		err  string
	}{
		{"${trigger.type}", "cron", ""},
		{"${trigger.user}", "", ""},
		{"${parameters}", map[string]any{}, ""},
		{"${execution}", map[string]any{}, ""},
		{"${#stage('x')}", "${#stage('x')}", `no stage named "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, errs := EvaluateValue(tt.in, env)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			checkOneReason(t, errs, tt.err)
		})
	}
}

func TestEvaluateUsesExecutionTrigger(t *testing.T) {
	env := ExprEnv{Execution: &Execution{Trigger: TriggerInfo{Type: "pipeline", Parameters: map[string]any{"p": "v"}}}}
	got, errs := EvaluateValue("${trigger.type}:${parameters.p}", env)
	if got != "pipeline:v" || len(errs) > 0 {
		t.Fatalf("got %v, %v", got, errs)
	}
}

// TestEvaluateConcurrently runs the same expressions from many goroutines, as workers do; the
// race detector, when on, checks the program cache.
func TestEvaluateConcurrently(t *testing.T) {
	env := testEnv()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("${parameters.env}-%d-${%d + 1}", i%4, i%4)
			want := fmt.Sprintf("prod-%d-%d", i%4, i%4+1)
			for range 50 {
				if got, errs := EvaluateValue(src, env); got != want || len(errs) > 0 {
					t.Errorf("got %v %v, want %v", got, errs, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestEvaluateIsRepeatable(t *testing.T) {
	in := map[string]any{"k": "${keys(parameters)} ${toJSON(parameters)} ${values({'b': 1, 'a': 2})}"}
	first, _ := EvaluateValue(in, testEnv())
	for range 20 {
		if got, _ := EvaluateValue(in, testEnv()); !reflect.DeepEqual(got, first) {
			t.Fatalf("got %v, then %v", first, got)
		}
	}
}

func FuzzEvaluateValue(f *testing.F) {
	for _, seed := range []string{
		"${parameters.env}", "x-${#stage('Deploy').outputs.replicas}-y", "${#judgment('Approve')}",
		"${ {'a': [1, 2, {'b': null}]} }", "${'it''s' ?: null}", "${parameters.list[-3]}", "${", "${}}",
		"${#toInt('9223372036854775808')}", "${1..1000000}", "${repeat('x', 1000000)}", "${'a'.split('(')}",
		"${'x'.substring(-1)}", "${#readJson('[1e400]')}", "${date('2024-01-01').Add(1)}", "${$env.x}",
		"${#stageByRefId(#toJson(parameters))}", "${reduce(1..5, #acc + #, 0)}", "${ {'a':1}?.b.c }",
		"${parameters.list.?[#this != 'a'].![#this + '!'][0]}", "${parameters.^[key == 'env'].env}",
		"${execution.stages.$[type == name].![#root.trigger.type]}", "${parameters?.?[value == null]}",
		"${parameters.list.?[x}", "${#this.?[#root]}", "${[1,2].![[3].?[#this > 1]]}",
	} {
		f.Add(seed)
	}
	env := testEnv()
	f.Fuzz(func(t *testing.T, s string) {
		out, errs := EvaluateValue(map[string]any{"v": s, "l": []any{s}}, env)
		if out == nil {
			t.Fatal("nil result for a map")
		}
		for _, e := range errs {
			if e.Reason == "" {
				t.Fatalf("error without a reason: %#v", e)
			}
		}
		_ = CheckExpressions(s, "x")
		_, _ = EvaluateCondition(s, env)
	})
}
