package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeKeepsUnknownFields(t *testing.T) {
	in := `{"application": "shop", "name": "deploy", "spelEvaluator": "v4", "appConfig": {"x": 1},
		"stages": [{"refId": "1", "type": "wait", "waitTime": 30, "comments": "keep me", "big": 12345678901234567}],
		"triggers": [{"type": "cron", "cronExpression": "0 0 * * * ?", "runAsUser": "svc"}],
		"parameterConfig": [{"name": "env", "default": "qa", "pinned": true, "customThing": [1, 2]}]}`
	p, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if p.Stages[0].Context["waitTime"] != int64(30) || p.Stages[0].RefID != "1" {
		t.Errorf("stage: %+v", p.Stages[0])
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	_ = json.Unmarshal([]byte(in), &want)
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"spelEvaluator", "appConfig"} {
		if got[key] == nil {
			t.Errorf("top-level %q lost: %s", key, out)
		}
	}
	for _, s := range []string{`"comments":"keep me"`, `"big":12345678901234567`, `"runAsUser":"svc"`, `"customThing":[1,2]`} {
		if !strings.Contains(string(out), s) {
			t.Errorf("%s lost in %s", s, out)
		}
	}
}

func TestDecodeYAML(t *testing.T) {
	p, err := Decode([]byte("application: shop\nname: deploy\nstages:\n  - refId: '1'\n    type: wait\n    waitTime: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Application != "shop" || len(p.Stages) != 1 || p.Stages[0].Context["waitTime"] != int64(5) {
		t.Errorf("decoded %+v", p)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "empty"},
		{"null", "empty"},
		{`{"application": 3}`, "application: expected string"},
		{`{"stages": [{"refId": "1", "requisiteStageRefIds": "2"}]}`, "requisiteStageRefIds"},
		{"{", "unexpected end"},
		{"a: [", "YAML"},
	} {
		_, err := Decode([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

// A saved pipeline comes back as it was sent: fields at their zero value included, as Front50
// keeps them, and each typed field in the form it was written.
func TestPipelineRoundTripKeepsWhatWasWritten(t *testing.T) {
	in := `{"application": "web", "name": "deploy", "id": "c0ffee", "keepWaitingPipelines": false, "limitConcurrent": false,
		"maxConcurrentExecutions": 0, "disabled": false, "description": "", "triggers": [], "notifications": [],
		"parameterConfig": [{"name": "env", "default": "", "required": false, "hasOptions": false, "options": [], "pinned": false, "label": ""}],
		"expectedArtifacts": [], "spelEvaluator": "v4", "index": 0, "updateTs": "1580000000000",
		"stages": [{"refId": "1", "type": "wait", "name": "Wait", "waitTime": 30, "requisiteStageRefIds": [], "failPipeline": true,
			"continuePipeline": false, "stageTimeoutMs": 0, "restrictExecutionDuringTimeWindow": false,
			"restrictedExecutionWindow": {"whitelist": [], "days": []}, "stageEnabled": null, "comments": ""}]}`
	p, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("came back as\n%s\nwant\n%s", out, in)
	}

	// A typed field changed since is written as it is now.
	p.KeepWaitingPipelines, p.Stages[0].FailPipeline = true, nil
	p.ParameterConfig[0].Required = true
	out, _ = json.Marshal(p)
	var changed map[string]any
	if err := json.Unmarshal(out, &changed); err != nil {
		t.Fatal(err)
	}
	stage := changed["stages"].([]any)[0].(map[string]any)
	param := changed["parameterConfig"].([]any)[0].(map[string]any)
	if changed["keepWaitingPipelines"] != true || param["required"] != true || stage["waitTime"] != float64(30) {
		t.Errorf("after changes: %s", out)
	}
}
