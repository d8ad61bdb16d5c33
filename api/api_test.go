package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/gennaker/gennaker/api"
	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/launch"
)

func TestHealth(t *testing.T) {
	e := needEnv(t)
	var body map[string]string
	e.get(t, "/healthz").expect(t, http.StatusOK, &body)
	if body["status"] != "ok" {
		t.Errorf("/healthz = %v", body)
	}
	e.get(t, "/readyz").expect(t, http.StatusOK, &body)
	if body["status"] != "ready" {
		t.Errorf("/readyz = %v", body)
	}
}

func TestReadyWithoutTemporal(t *testing.T) {
	e := needEnv(t)
	// A reserved port: nothing listens on it until the test ends (see freeport).
	port, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Release()
	addr := port.Addr()
	c, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(e.logger)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := &api.Server{Temporal: c, Namespace: "default", Logger: e.logger}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	dead := &testEnv{baseURL: hs.URL, logger: e.logger}

	dead.get(t, "/healthz").expect(t, http.StatusOK, nil)
	got := dead.get(t, "/readyz").expectError(t, http.StatusServiceUnavailable)
	if !strings.Contains(got.Error, "Temporal") {
		t.Errorf("503 does not say Temporal is the problem: %q", got.Error)
	}
}

// lifecycleConfig is a valid pipeline with fields gennaker does not model, at the top and in a stage.
const lifecycleConfig = `{
  "application": "lifecycle",
  "name": "deploy",
  "description": "first",
  "spinnakerOnly": {"keep": ["me", 1, true]},
  "stages": [
    {"refId": "1", "type": "wait", "name": "Pause", "waitTime": 1, "customField": {"nested": "value"}}
  ]
}`

// lifecycleYAML is the same pipeline as YAML, with another description.
const lifecycleYAML = `application: lifecycle
name: deploy
description: second
spinnakerOnly:
  keep: [me, 1, true]
stages:
  - refId: "1"
    type: wait
    name: Pause
    waitTime: 1
    customField:
      nested: value
`

func TestPipelineLifecycle(t *testing.T) {
	e := needEnv(t)
	path := pipelinePath("lifecycle", "deploy")

	var v1 pipelineRecord
	e.do(t, request{method: http.MethodPut, path: path, body: lifecycleConfig,
		headers: map[string]string{"X-Gennaker-User": "alice"}}).expect(t, http.StatusOK, &v1)
	if v1.Version != 1 || v1.SavedBy != "alice" || v1.ID == "" || v1.Application != "lifecycle" || v1.Name != "deploy" {
		t.Fatalf("first save = %+v", v1)
	}
	if len(v1.Warnings) > 0 {
		t.Errorf("first save warned: %v", v1.Warnings)
	}

	var v2 pipelineRecord
	e.do(t, request{method: http.MethodPut, path: path + "?user=bob", body: lifecycleYAML,
		headers: map[string]string{"Content-Type": "application/yaml"}}).expect(t, http.StatusOK, &v2)
	if v2.Version != 2 || v2.SavedBy != "bob" || v2.ID != v1.ID {
		t.Fatalf("YAML save = %+v, want version 2 by bob with id %s", v2, v1.ID)
	}

	var got pipelineRecord
	e.get(t, path).expect(t, http.StatusOK, &got)
	if got.Version != 2 {
		t.Errorf("GET version = %d, want 2", got.Version)
	}
	cfg, err := object(got.Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["description"] != "second" || cfg["id"] != v1.ID || cfg["application"] != "lifecycle" || cfg["name"] != "deploy" {
		t.Errorf("GET config = %s", got.Config)
	}
	keep, _ := json.Marshal(cfg["spinnakerOnly"])
	if string(keep) != `{"keep":["me",1,true]}` {
		t.Errorf("unknown top-level field came back as %s", keep)
	}
	stages, _ := cfg["stages"].([]any)
	if len(stages) != 1 {
		t.Fatalf("stages = %v", cfg["stages"])
	}
	custom, _ := json.Marshal(stages[0].(map[string]any)["customField"])
	if string(custom) != `{"nested":"value"}` {
		t.Errorf("unknown stage field came back as %s", custom)
	}

	var all []pipelineRecord
	e.get(t, "/api/v1/applications/lifecycle/pipelines").expect(t, http.StatusOK, &all)
	if len(all) != 1 || all[0].Name != "deploy" || all[0].Version != 2 {
		t.Errorf("list = %+v", all)
	}
	var apps []struct{ Name string }
	e.get(t, "/api/v1/applications").expect(t, http.StatusOK, &apps)
	if !slices.ContainsFunc(apps, func(a struct{ Name string }) bool { return a.Name == "lifecycle" }) {
		t.Errorf("applications = %+v, want lifecycle among them", apps)
	}

	var versions []struct {
		Version int       `json:"version"`
		SavedBy string    `json:"savedBy"`
		SavedAt time.Time `json:"savedAt"`
	}
	e.get(t, path+"/versions").expect(t, http.StatusOK, &versions)
	if len(versions) != 2 || versions[0].Version != 2 || versions[0].SavedBy != "bob" || versions[1].Version != 1 || versions[1].SavedBy != "alice" {
		t.Errorf("versions = %+v, want 2 by bob then 1 by alice", versions)
	}
	if len(versions) == 2 && (versions[0].SavedAt.IsZero() || versions[0].SavedAt.Before(versions[1].SavedAt)) {
		t.Errorf("savedAt not newest first: %+v", versions)
	}

	var old pipelineRecord
	e.get(t, path+"/versions/1").expect(t, http.StatusOK, &old)
	if old.Version != 1 || old.SavedBy != "alice" {
		t.Errorf("version 1 = %+v", old)
	}
	if same, err := jsonEqual(old.Config, v1.Config); err != nil || !same {
		t.Errorf("version 1 config %s differs from what the first save returned %s", old.Config, v1.Config)
	}

	var restored pipelineRecord
	e.do(t, request{method: http.MethodPost, path: path + "/versions/1/restore",
		headers: map[string]string{"X-Gennaker-User": "carol"}}).expect(t, http.StatusOK, &restored)
	if restored.Version != 3 || restored.SavedBy != "carol" {
		t.Errorf("restore = %+v, want version 3 by carol", restored)
	}
	if same, err := jsonEqual(restored.Config, old.Config); err != nil || !same {
		t.Errorf("restored config %s differs from version 1 %s", restored.Config, old.Config)
	}
	e.get(t, path).expect(t, http.StatusOK, &got)
	if got.Version != 3 {
		t.Errorf("after restore GET version = %d, want 3", got.Version)
	}
	e.get(t, path+"/versions/9").expectError(t, http.StatusNotFound)
	e.post(t, path+"/versions/9/restore", nil).expectError(t, http.StatusNotFound)

	e.do(t, request{method: http.MethodDelete, path: path}).expect(t, http.StatusNoContent, nil)
	e.get(t, path).expectError(t, http.StatusNotFound)
	e.get(t, path+"/versions").expectError(t, http.StatusNotFound)
	e.do(t, request{method: http.MethodDelete, path: path}).expectError(t, http.StatusNotFound)
	e.get(t, "/api/v1/applications/lifecycle/pipelines").expect(t, http.StatusOK, &all)
	if len(all) != 0 {
		t.Errorf("list after delete = %+v", all)
	}
}

func TestSaveInvalidConfigListsEveryProblem(t *testing.T) {
	e := needEnv(t)
	path := pipelinePath("invalid", "broken")
	e.savePipeline(t, "invalid", "broken", map[string]any{
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 1}},
	})

	bad := `{
	  "application": "someone-else",
	  "stages": [
	    {"refId": "1", "type": "teleport"},
	    {"refId": "1", "type": "wait", "waitTime": 1},
	    {"refId": "3", "type": "wait", "waitTime": 1, "requisiteStageRefIds": ["9"]},
	    {"refId": "4", "type": "wait", "waitTime": "soon", "requisiteStageRefIds": ["5"]},
	    {"refId": "5", "type": "wait", "waitTime": 1, "requisiteStageRefIds": ["4"]},
	    {"refId": "6", "type": "evaluateVariables", "variables": [{"key": "x", "value": "${ 1 + }"}]}
	  ]
	}`
	got := e.put(t, path, bad).expectError(t, http.StatusBadRequest)
	want := []string{
		"application: ",
		"stages[0].type: unknown stage type \"teleport\"",
		"stages[1].refId: duplicate refId \"1\"",
		"stages[2].requisiteStageRefIds[0]: unknown refId \"9\"",
		"stages[3].waitTime: must be a number of seconds",
		"stages[3].requisiteStageRefIds: ",
		"stages[5].variables[0].value: invalid expression",
	}
	for _, w := range want {
		if !slices.ContainsFunc(got.Details, func(d string) bool { return strings.HasPrefix(d, w) }) {
			t.Errorf("no detail starting %q in %q", w, got.Details)
		}
	}
	if !strings.Contains(got.Error, "problem") {
		t.Errorf("error = %q", got.Error)
	}
	cycle := slices.IndexFunc(got.Details, func(d string) bool { return strings.HasPrefix(d, "stages[3].requisiteStageRefIds: ") })
	if cycle >= 0 && !strings.Contains(got.Details[cycle], "4") || cycle >= 0 && !strings.Contains(got.Details[cycle], "5") {
		t.Errorf("cycle detail does not name both stages: %q", got.Details[cycle])
	}

	// The name in the body must match the URL too.
	got = e.put(t, path, `{"name": "other", "stages": [{"refId": "1", "type": "wait", "waitTime": 1}]}`).expectError(t, http.StatusBadRequest)
	if len(got.Details) != 1 || !strings.HasPrefix(got.Details[0], "name: ") {
		t.Errorf("name mismatch details = %q", got.Details)
	}

	var versions []map[string]any
	e.get(t, path+"/versions").expect(t, http.StatusOK, &versions)
	if len(versions) != 1 {
		t.Errorf("a refused save changed the history: %v", versions)
	}
	var rec pipelineRecord
	e.get(t, path).expect(t, http.StatusOK, &rec)
	if rec.Version != 1 {
		t.Errorf("latest version = %d after refused saves, want 1", rec.Version)
	}

	// A refused first save creates nothing.
	e.put(t, pipelinePath("invalid", "never"), bad).expectError(t, http.StatusBadRequest)
	e.get(t, pipelinePath("invalid", "never")).expectError(t, http.StatusNotFound)
}

func TestMalformedInput(t *testing.T) {
	e := needEnv(t)
	e.savePipeline(t, "malformed", "p", map[string]any{
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 1}},
	})
	p := pipelinePath("malformed", "p")

	e.put(t, p, `{"stages": [`).expectError(t, http.StatusBadRequest)
	e.put(t, p, `{"stages": "many"}`).expectError(t, http.StatusBadRequest)
	// Nothing at all is not an empty pipeline: saving it would drop every stage.
	for _, empty := range []string{"null", " null ", "~", "---\n", "# only a comment\n", "[]"} {
		e.put(t, p, empty).expectError(t, http.StatusBadRequest)
	}
	var versions []map[string]any
	e.get(t, p+"/versions").expect(t, http.StatusOK, &versions)
	if len(versions) != 1 {
		t.Errorf("refused bodies were saved: %v", versions)
	}

	huge := `{"description": "` + strings.Repeat("x", api.MaxBodyBytes+10) + `", "stages": []}`
	e.put(t, p, huge).expectError(t, http.StatusRequestEntityTooLarge)
	e.post(t, p+"/executions", `{"parameters": {"x": "`+strings.Repeat("y", api.MaxBodyBytes)+`"}}`).expectError(t, http.StatusRequestEntityTooLarge)

	got := e.post(t, p+"/executions", `{"parameters": {}, "trigger": "me"}`).expectError(t, http.StatusBadRequest)
	if !strings.Contains(got.Error, "trigger") {
		t.Errorf("unknown field error does not name it: %q", got.Error)
	}
	e.post(t, p+"/executions", `{"user": "a"} {"user": "b"}`).expectError(t, http.StatusBadRequest)

	e.get(t, p+"/versions/abc").expectError(t, http.StatusBadRequest)
	e.get(t, p+"/versions/0").expectError(t, http.StatusBadRequest)
	e.get(t, p+"/versions/-1").expectError(t, http.StatusBadRequest)
	e.post(t, p+"/versions/1.5/restore", nil).expectError(t, http.StatusBadRequest)

	e.get(t, "/api/v1/nothing-here").expectError(t, http.StatusNotFound)
	e.get(t, "/").expectError(t, http.StatusNotFound)
	e.do(t, request{method: http.MethodPatch, path: p}).expectError(t, http.StatusMethodNotAllowed)
	e.do(t, request{method: http.MethodDelete, path: "/api/v1/executions"}).expectError(t, http.StatusMethodNotAllowed)
	e.get(t, "/api/v1/executions/x/cancel").expectError(t, http.StatusMethodNotAllowed)
}

// TestHostileInputNeverFails500 sends inputs a careless or hostile client might; every answer must
// be the caller's fault (4xx) or a success, never a server error.
func TestHostileInputNeverFails500(t *testing.T) {
	e := needEnv(t)
	e.savePipeline(t, "hostile", "p", map[string]any{
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 0}},
	})
	p := pipelinePath("hostile", "p")
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	laughs := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 'b', 'a'; i <= 'i'; i, prev = i+1, i {
		laughs += string(i) + ": &" + string(i) + " [" + strings.Repeat("*"+string(prev)+", ", 8) + "*" + string(prev) + "]\n"
	}
	unicodeApp := url.PathEscape("приложение")
	unicodeName := url.PathEscape("🚀 launch")

	cases := []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{"empty pipeline body", http.MethodPut, p, ""},
		{"null pipeline", http.MethodPut, p, "null"},
		{"array pipeline", http.MethodPut, p, "[]"},
		{"array of numbers", http.MethodPut, p, "[1, 2, 3]"},
		{"string pipeline", http.MethodPut, p, `"pipeline"`},
		{"number pipeline", http.MethodPut, p, "42"},
		{"huge number", http.MethodPut, p, `{"stages": [{"refId": "1", "type": "wait", "waitTime": 1e400}]}`},
		{"huge integer", http.MethodPut, p, `{"maxConcurrentExecutions": 99999999999999999999999, "stages": []}`},
		{"huge timeout", http.MethodPut, p, `{"stages": [{"refId": "1", "type": "wait", "waitTime": 1, "stageTimeoutMs": 9223372036854775807}]}`},
		{"negative wait", http.MethodPut, p, `{"stages": [{"refId": "1", "type": "wait", "waitTime": -5}]}`},
		{"null stages", http.MethodPut, p, `{"stages": [null, null]}`},
		{"stage is a string", http.MethodPut, p, `{"stages": ["wait"]}`},
		{"deep nesting", http.MethodPut, p, `{"x": ` + deep + `}`},
		{"yaml aliases", http.MethodPut, p, laughs},
		{"yaml garbage", http.MethodPut, p, "::\n\t- : - :"},
		{"invalid utf-8", http.MethodPut, p, "{\"description\": \"\xff\xfe\", \"stages\": []}"},
		{"unicode names in body", http.MethodPut, pipelinePath(unicodeApp, unicodeName), `{"application": "приложение", "name": "🚀 launch", "stages": []}`},
		{"unicode stage names", http.MethodPut, p, `{"stages": [{"refId": "✓", "type": "wait", "waitTime": 1, "name": "ожидание 🚀"}]}`},
		{"pipeline name with slash", http.MethodPut, pipelinePath("hostile", "a%2Fb"), `{"stages": []}`},
		{"start with null", http.MethodPost, p + "/executions", "null"},
		{"start with array", http.MethodPost, p + "/executions", "[]"},
		{"start with parameters array", http.MethodPost, p + "/executions", `{"parameters": []}`},
		{"start with huge parameter", http.MethodPost, p + "/executions", `{"parameters": {"n": 1e400}}`},
		{"start unicode pipeline", http.MethodPost, pipelinePath(unicodeApp, unicodeName) + "/executions", `{}`},
		{"start with deep parameters", http.MethodPost, p + "/executions", `{"parameters": {"x": ` + deep + `}}`},
		{"get odd execution id", http.MethodGet, "/api/v1/executions/" + url.PathEscape("'; DROP TABLE x; --"), ""},
		{"get long execution id", http.MethodGet, "/api/v1/executions/" + strings.Repeat("a", 300), ""},
		{"get unknown execution", http.MethodGet, "/api/v1/executions/" + ulid.Make().String(), ""},
		{"cancel unknown execution", http.MethodPost, "/api/v1/executions/" + ulid.Make().String() + "/cancel", `{}`},
		{"judge unknown execution", http.MethodPost, "/api/v1/executions/" + ulid.Make().String() + "/stages/1/judgment", `{"judgmentStatus": "continue"}`},
		{"judge with number", http.MethodPost, "/api/v1/executions/x/stages/1/judgment", `{"judgmentStatus": 1}`},
		{"skip with null", http.MethodPost, "/api/v1/executions/x/stages/1/skip", `null`},
		{"list with odd application", http.MethodGet, "/api/v1/executions?application=" + url.QueryEscape("x' OR '1'='1"), ""},
		{"list with unicode application", http.MethodGet, "/api/v1/executions?application=" + url.QueryEscape("приложение"), ""},
		{"list with invalid utf-8", http.MethodGet, "/api/v1/executions?application=%FF%FE", ""},
		{"list with control character", http.MethodGet, "/api/v1/executions?pipeline=a%00b", ""},
		{"list with backslash", http.MethodGet, "/api/v1/executions?pipeline=" + url.QueryEscape(`a\' OR 1=1 --`), ""},
		{"list with huge page size", http.MethodGet, "/api/v1/executions?pageSize=99999999999999999999", ""},
		{"list with negative page size", http.MethodGet, "/api/v1/executions?pageSize=-1", ""},
		{"list with odd token", http.MethodGet, "/api/v1/executions?pageToken=%21%21", ""},
		{"list with forged token", http.MethodGet, "/api/v1/executions?pageToken=AAAAAAAA", ""},
		{"list with empty status", http.MethodGet, "/api/v1/executions?status=,", ""},
		{"version overflow", http.MethodGet, p + "/versions/99999999999999999999", ""},
		{"unicode version", http.MethodGet, p + "/versions/" + url.PathEscape("٣"), ""},
		{"schedules of unknown pipeline", http.MethodGet, pipelinePath("hostile", "nope") + "/schedules", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request{method: tc.method, path: tc.path}
			if tc.body != "" {
				r.body = tc.body
			}
			got := e.do(t, r)
			if got.status >= 500 {
				t.Fatalf("%s %s: status %d: %s", tc.method, tc.path, got.status, got.body)
			}
			if got.status >= 400 {
				got.expectError(t, got.status)
			}
			t.Logf("%d %.200s", got.status, got.body)
		})
	}
}

func TestExecutionWithJudgment(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	hello := readJSON(t, "../examples/hello.json")
	e.savePipeline(t, "hello", "hello", hello)

	s := e.start(t, "hello", "hello", nil)
	if len(s.ID) != 26 {
		t.Errorf("execution id %q is not 26 characters", s.ID)
	}
	if _, err := ulid.ParseStrict(s.ID); err != nil {
		t.Errorf("execution id %q is not a ULID: %v", s.ID, err)
	}
	if s.Application != "hello" || s.Name != "hello" || s.PipelineVersion != 1 {
		t.Errorf("start = %+v", s)
	}
	if want := workflowURL("default", s.ID); s.Links["temporalUI"] != want {
		t.Errorf("links.temporalUI = %q, want %q", s.Links["temporalUI"], want)
	}
	if s.Links["self"] != "/api/v1/executions/"+s.ID {
		t.Errorf("links.self = %q", s.Links["self"])
	}
	exec := e.getExecution(t, s.ID)
	if exec.ID != s.ID || exec.Application != "hello" || exec.Name != "hello" || exec.PipelineVersion != 1 {
		t.Errorf("execution = %+v", exec)
	}
	// The execution's JSON itself, as Spinnaker's clients read it, with the links beside its fields.
	var raw map[string]any
	e.get(t, "/api/v1/executions/"+s.ID).expect(t, http.StatusOK, &raw)
	if links, _ := raw["links"].(map[string]any); raw["id"] != s.ID || raw["stages"] == nil || links["temporalUI"] != workflowURL("default", s.ID) {
		t.Errorf("GET execution answered %v", raw)
	}
	if len(exec.Stages) != 5 {
		t.Fatalf("execution has %d stages, want 5", len(exec.Stages))
	}
	if exec.Trigger.Type != "manual" || exec.Trigger.User != "anonymous" {
		t.Errorf("trigger = %+v, want manual by anonymous", exec.Trigger)
	}
	if exec.Trigger.Parameters["version"] != "1.0.0" {
		t.Errorf("parameters = %v, want the default version 1.0.0", exec.Trigger.Parameters)
	}

	judge := func(ref string, body any) response {
		return e.post(t, "/api/v1/executions/"+s.ID+"/stages/"+ref+"/judgment", body)
	}
	// While stage 1 waits, the judgment stage has not started.
	if st := exec.stage(t, "2"); st.Status == "NOT_STARTED" {
		judge("2", map[string]string{"judgmentStatus": "continue"}).expectError(t, http.StatusConflict)
	}
	judge("1", map[string]string{"judgmentStatus": "continue"}).expectError(t, http.StatusConflict)
	judge("2", map[string]string{"judgmentStatus": "maybe"}).expectError(t, http.StatusBadRequest)
	judge("99", map[string]string{"judgmentStatus": "continue"}).expectError(t, http.StatusNotFound)

	e.waitFor(t, s.ID, 20*time.Second, "stage 2 waits for a judgment", stageIs("2", "RUNNING"))

	got := judge("2", map[string]string{"judgmentStatus": "continue", "judgmentInput": "ship it"}).expectError(t, http.StatusBadRequest)
	if !strings.Contains(got.Error, "ship it") {
		t.Errorf("bad input error = %q", got.Error)
	}

	eventually(t, 20*time.Second, "the listing shows the execution awaiting judgment", func() (bool, string) {
		l := e.list(t, "application=hello&status=AWAITING_JUDGMENT")
		i := slices.IndexFunc(l.Executions, func(x summary) bool { return x.ID == s.ID })
		if i < 0 {
			return false, string(mustJSON(l))
		}
		x := l.Executions[i]
		return x.Status == "AWAITING_JUDGMENT" && x.Name == "hello" && x.TriggerType == "manual", string(mustJSON(x))
	})

	var ack map[string]string
	judge("2", map[string]string{"judgmentStatus": "Continue", "judgmentInput": "ship", "user": "carol"}).expect(t, http.StatusAccepted, &ack)
	if ack["user"] != "carol" || ack["judgmentStatus"] != "continue" || ack["refId"] != "2" {
		t.Errorf("judgment answer = %v", ack)
	}

	exec = e.waitFor(t, s.ID, 30*time.Second, "the execution succeeds", func(x execution) bool {
		return x.Status != "RUNNING" && x.Status != "NOT_STARTED"
	})
	if exec.Status != "SUCCEEDED" {
		t.Fatalf("execution ended %s: %+v", exec.Status, exec)
	}
	j := exec.stage(t, "2").Judgment
	if j == nil || j.Status != "continue" || j.Input != "ship" || j.User != "carol" {
		t.Errorf("recorded judgment = %+v", j)
	}
	if msg, _ := exec.stage(t, "3").Outputs["message"].(string); msg != "ship 1.0.0, approved by carol" {
		t.Errorf("stage 3 message = %q", msg)
	}
	for _, st := range exec.Stages {
		if st.Status != "SUCCEEDED" {
			t.Errorf("stage %s ended %s (%s)", st.RefID, st.Status, st.Error)
		}
	}
	judge("2", map[string]string{"judgmentStatus": "continue", "judgmentInput": "ship"}).expectError(t, http.StatusConflict)
	e.post(t, "/api/v1/executions/"+s.ID+"/cancel", nil).expectError(t, http.StatusConflict)

	eventually(t, 20*time.Second, "the listing shows the execution succeeded", func() (bool, string) {
		l := e.list(t, "application=hello&status=SUCCEEDED")
		return slices.ContainsFunc(l.Executions, func(x summary) bool { return x.ID == s.ID }), string(mustJSON(l))
	})
}

func TestStartParameters(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	e.savePipeline(t, "params", "release", map[string]any{
		"parameterConfig": []any{
			map[string]any{"name": "env", "required": true, "hasOptions": true, "options": []any{map[string]any{"value": "dev"}, map[string]any{"value": "prod"}}},
			map[string]any{"name": "region", "default": "eu-west-1"},
			map[string]any{"name": "replicas", "default": 3},
		},
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
			"variables": []any{map[string]any{"key": "where", "value": "${parameters.env}/${parameters.region}"}}}},
	})
	starts := pipelinePath("params", "release") + "/executions"

	got := e.post(t, starts, map[string]any{}).expectError(t, http.StatusBadRequest)
	if !slices.Contains(got.Details, "parameters.env: required") {
		t.Errorf("missing required parameter details = %q", got.Details)
	}
	got = e.post(t, starts, map[string]any{"parameters": map[string]any{"env": "qa"}}).expectError(t, http.StatusBadRequest)
	if len(got.Details) != 1 || !strings.HasPrefix(got.Details[0], "parameters.env: ") || !strings.Contains(got.Details[0], "qa") {
		t.Errorf("bad option details = %q", got.Details)
	}

	s := e.start(t, "params", "release", map[string]any{"parameters": map[string]any{"env": "prod", "extra": "kept"}, "user": "erin"})
	exec := e.waitFor(t, s.ID, 20*time.Second, "the execution ends", func(x execution) bool { return x.Status == "SUCCEEDED" || x.Status == "TERMINAL" })
	want := map[string]any{"env": "prod", "region": "eu-west-1", "replicas": "3", "extra": "kept"}
	for k, v := range want {
		if exec.Trigger.Parameters[k] != v {
			t.Errorf("parameters[%s] = %#v, want %#v (all: %v)", k, exec.Trigger.Parameters[k], v, exec.Trigger.Parameters)
		}
	}
	if exec.Trigger.User != "erin" {
		t.Errorf("trigger.user = %q, want erin", exec.Trigger.User)
	}
	if exec.Status != "SUCCEEDED" || exec.stage(t, "1").Outputs["where"] != "prod/eu-west-1" {
		t.Errorf("execution = %+v", exec)
	}

	// The header names the user when the body does not.
	var h started
	e.do(t, request{method: http.MethodPost, path: starts, body: `{"parameters": {"env": "dev"}}`,
		headers: map[string]string{"X-Gennaker-User": "frank"}}).expect(t, http.StatusCreated, &h)
	if exec := e.getExecution(t, h.ID); exec.Trigger.User != "frank" {
		t.Errorf("trigger.user = %q, want frank from the header", exec.Trigger.User)
	}
	// So does ?user=, as on every endpoint.
	e.do(t, request{method: http.MethodPost, path: starts + "?user=gus", body: `{"parameters": {"env": "dev"}}`}).expect(t, http.StatusCreated, &h)
	if exec := e.getExecution(t, h.ID); exec.Trigger.User != "gus" {
		t.Errorf("trigger.user = %q, want gus from the query", exec.Trigger.User)
	}

	e.savePipeline(t, "params", "off", map[string]any{"disabled": true,
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 1}}})
	e.post(t, pipelinePath("params", "off")+"/executions", nil).expectError(t, http.StatusConflict)
	e.post(t, pipelinePath("params", "missing")+"/executions", nil).expectError(t, http.StatusNotFound)
	e.post(t, pipelinePath("nowhere", "release")+"/executions", nil).expectError(t, http.StatusNotFound)
}

func TestSkipWait(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	e.savePipeline(t, "skipping", "long", map[string]any{
		"stages": []any{
			map[string]any{"refId": "1", "type": "wait", "name": "Soak", "waitTime": 3600},
			map[string]any{"refId": "2", "type": "manualJudgment", "name": "Approve"},
			map[string]any{"refId": "3", "type": "wait", "waitTime": 1, "requisiteStageRefIds": []string{"1", "2"}},
		},
	})
	s := e.start(t, "skipping", "long", nil)
	e.waitFor(t, s.ID, 20*time.Second, "both stages run", func(x execution) bool {
		return stageIs("1", "RUNNING")(x) && stageIs("2", "RUNNING")(x)
	})
	skip := func(ref string) response {
		return e.do(t, request{method: http.MethodPost, path: "/api/v1/executions/" + s.ID + "/stages/" + ref + "/skip",
			headers: map[string]string{"X-Gennaker-User": "gina"}})
	}
	skip("2").expectError(t, http.StatusConflict)
	skip("3").expectError(t, http.StatusConflict)
	skip("7").expectError(t, http.StatusNotFound)

	var ack map[string]string
	skip("1").expect(t, http.StatusAccepted, &ack)
	if ack["skippedBy"] != "gina" {
		t.Errorf("skip answer = %v", ack)
	}
	exec := e.waitFor(t, s.ID, 20*time.Second, "the wait ends", stageIs("1", "SUCCEEDED"))
	if st := exec.stage(t, "1"); st.Outputs["skippedBy"] != "gina" || st.Outputs["skipRemainingWait"] != true {
		t.Errorf("skipped stage outputs = %v", st.Outputs)
	}
	skip("1").expectError(t, http.StatusConflict)

	e.post(t, "/api/v1/executions/"+s.ID+"/stages/2/judgment", map[string]string{"judgmentStatus": "continue"}).expect(t, http.StatusAccepted, nil)
	exec = e.waitFor(t, s.ID, 20*time.Second, "the execution ends", func(x execution) bool { return x.Status != "RUNNING" })
	if exec.Status != "SUCCEEDED" {
		t.Errorf("execution ended %s: %+v", exec.Status, exec)
	}
}

func TestCancel(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	e.savePipeline(t, "canceling", "long", map[string]any{
		"stages": []any{
			map[string]any{"refId": "1", "type": "wait", "waitTime": 3600},
			map[string]any{"refId": "2", "type": "wait", "waitTime": 1, "requisiteStageRefIds": []string{"1"}},
		},
	})
	s := e.start(t, "canceling", "long", nil)
	e.waitFor(t, s.ID, 20*time.Second, "the wait runs", stageIs("1", "RUNNING"))

	var ack map[string]any
	e.post(t, "/api/v1/executions/"+s.ID+"/cancel", map[string]string{"user": "henry", "reason": "wrong build"}).expect(t, http.StatusAccepted, &ack)
	if ack["canceledBy"] != "henry" {
		t.Errorf("cancel answer = %v", ack)
	}
	exec := e.waitFor(t, s.ID, 20*time.Second, "the execution ends", func(x execution) bool { return x.Status != "RUNNING" })
	if exec.Status != "CANCELED" || !exec.Canceled || exec.CanceledBy != "henry" || exec.CancellationReason != "wrong build" {
		t.Errorf("canceled execution = %+v", exec)
	}
	if st := exec.stage(t, "1"); st.Status != "CANCELED" {
		t.Errorf("stage 1 = %s", st.Status)
	}
	if st := exec.stage(t, "2"); st.Status != "NOT_STARTED" {
		t.Errorf("stage 2 = %s, want NOT_STARTED", st.Status)
	}
	e.post(t, "/api/v1/executions/"+s.ID+"/cancel", map[string]string{"user": "henry"}).expectError(t, http.StatusConflict)
	e.post(t, "/api/v1/executions/"+s.ID+"/stages/1/skip", nil).expectError(t, http.StatusConflict)

	eventually(t, 20*time.Second, "the listing shows the execution canceled", func() (bool, string) {
		l := e.list(t, "application=canceling&status=CANCELED")
		return slices.ContainsFunc(l.Executions, func(x summary) bool { return x.ID == s.ID && x.Status == "CANCELED" }), string(mustJSON(l))
	})
}

func TestListExecutions(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	quick := map[string]any{"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
		"variables": []any{map[string]any{"key": "k", "value": "v"}}}}}
	e.savePipeline(t, "listing", "a", quick)
	e.savePipeline(t, "listing", "b", quick)
	var ids []string
	for range 3 {
		ids = append(ids, e.start(t, "listing", "a", nil).ID)
	}
	idB := e.start(t, "listing", "b", nil).ID
	ids = append(ids, idB)

	eventually(t, 30*time.Second, "all four executions are listed as succeeded", func() (bool, string) {
		l := e.list(t, "application=listing&status=SUCCEEDED")
		return len(l.Executions) == 4, string(mustJSON(l))
	})
	l := e.list(t, "application=listing")
	if len(l.Executions) != 4 || l.NextPageToken != "" {
		t.Errorf("application filter = %s", mustJSON(l))
	}
	for i := 1; i < len(l.Executions); i++ {
		if l.Executions[i-1].ID < l.Executions[i].ID {
			t.Errorf("listing not newest first: %s", mustJSON(l))
		}
	}
	for _, x := range l.Executions {
		if x.Application != "listing" || x.TriggerType != "manual" || x.Links["temporalUI"] != workflowURL("default", x.ID) {
			t.Errorf("row = %+v", x)
		}
	}
	l = e.list(t, "application=listing&pipeline=a")
	if len(l.Executions) != 3 || slices.ContainsFunc(l.Executions, func(x summary) bool { return x.Name != "a" }) {
		t.Errorf("pipeline filter = %s", mustJSON(l))
	}
	l = e.list(t, "pipeline=b&application=listing&status=succeeded,terminal")
	if len(l.Executions) != 1 || l.Executions[0].ID != idB {
		t.Errorf("pipeline and status filter = %s", mustJSON(l))
	}
	l = e.list(t, "application=listing&status=RUNNING")
	if len(l.Executions) != 0 {
		t.Errorf("status RUNNING = %s", mustJSON(l))
	}
	got := e.get(t, "/api/v1/executions?status=DONE").expectError(t, http.StatusBadRequest)
	if !strings.Contains(got.Error, "SUCCEEDED") {
		t.Errorf("bad status error does not list the values: %q", got.Error)
	}
	e.get(t, "/api/v1/executions?pageSize=0").expectError(t, http.StatusBadRequest)
	e.get(t, "/api/v1/executions?pageSize=501").expectError(t, http.StatusBadRequest)
	e.get(t, "/api/v1/executions?pageToken=not%20base64").expectError(t, http.StatusBadRequest)

	seen := map[string]bool{}
	token := ""
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatalf("paging did not end")
		}
		q := "application=listing&pageSize=3"
		if token != "" {
			q += "&pageToken=" + url.QueryEscape(token)
		}
		l := e.list(t, q)
		if len(l.Executions) > 3 {
			t.Fatalf("page %d has %d rows", page, len(l.Executions))
		}
		for _, x := range l.Executions {
			if seen[x.ID] {
				t.Errorf("%s listed twice", x.ID)
			}
			seen[x.ID] = true
		}
		if page == 0 && (len(l.Executions) != 3 || l.NextPageToken == "") {
			t.Fatalf("first page = %s, want 3 rows and a token", mustJSON(l))
		}
		if l.NextPageToken == "" {
			break
		}
		token = l.NextPageToken
		// A token belongs to the filters it was issued for.
		e.get(t, "/api/v1/executions?application=other&pageSize=3&pageToken="+url.QueryEscape(token)).expectError(t, http.StatusBadRequest)
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("paging never listed %s", id)
		}
	}
}

// TestListingNamesInAnyScript lists executions of an application and a pipeline whose names are not
// plain ASCII, one with a quote in it.
func TestListingNamesInAnyScript(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	app, name := "приложение", "o'brien 🚀"
	e.savePipeline(t, url.PathEscape(app), url.PathEscape(name), map[string]any{
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 0}}})
	s := e.start(t, url.PathEscape(app), url.PathEscape(name), nil)
	q := "application=" + url.QueryEscape(app) + "&pipeline=" + url.QueryEscape(name)
	eventually(t, 20*time.Second, "the execution is listed", func() (bool, string) {
		l := e.list(t, q)
		return len(l.Executions) == 1 && l.Executions[0].ID == s.ID && l.Executions[0].Name == name, string(mustJSON(l))
	})
	if l := e.list(t, "application="+url.QueryEscape(app)+"&pipeline="+url.QueryEscape("o'brien")); len(l.Executions) != 0 {
		t.Errorf("a prefix of the name matched: %s", mustJSON(l))
	}
	e.get(t, "/api/v1/executions?pipeline="+url.QueryEscape(`o\'brien`)).expectError(t, http.StatusBadRequest)
}

// TestHugeStageTimeout runs stages whose stageTimeoutMs is Java's Long.MAX_VALUE, which Spinnaker
// configs use for "no limit"; the stages must run, not time out at once.
func TestHugeStageTimeout(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	const longMax = int64(9223372036854775807)
	e.savePipeline(t, "timeouts", "unbounded", map[string]any{"stages": []any{
		map[string]any{"refId": "1", "type": "wait", "waitTime": 1, "stageTimeoutMs": longMax},
		map[string]any{"refId": "2", "type": "manualJudgment", "stageTimeoutMs": longMax, "requisiteStageRefIds": []string{"1"}},
	}})
	s := e.start(t, "timeouts", "unbounded", nil)
	exec := e.waitFor(t, s.ID, 20*time.Second, "the judgment waits", func(x execution) bool {
		return x.Status != "RUNNING" || stageIs("2", "RUNNING")(x)
	})
	if exec.Status != "RUNNING" || exec.stage(t, "1").Status != "SUCCEEDED" {
		t.Fatalf("execution = %+v", exec)
	}
	e.post(t, "/api/v1/executions/"+s.ID+"/stages/2/judgment", map[string]string{"judgmentStatus": "continue"}).expect(t, http.StatusAccepted, nil)
	e.waitFor(t, s.ID, 20*time.Second, "the execution succeeds", statusIs("SUCCEEDED"))
}

func TestCronTrigger(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	path := pipelinePath("crony", "tick")
	stages := []any{map[string]any{"refId": "1", "type": "evaluateVariables",
		"variables": []any{map[string]any{"key": "k", "value": "${trigger.type}"}}}}
	cron := []any{map[string]any{"type": "cron", "cronExpression": "* * * * * ?", "enabled": true}}

	rec := e.savePipeline(t, "crony", "tick", map[string]any{"stages": stages, "triggers": cron})
	if len(rec.Warnings) > 0 {
		t.Fatalf("save warned: %v", rec.Warnings)
	}
	scheduleID := launch.ScheduleID("crony", "tick", "0")
	var scheds []launch.ScheduleInfo
	eventually(t, 15*time.Second, "the schedule is listed", func() (bool, string) {
		e.get(t, path+"/schedules").expect(t, http.StatusOK, &scheds)
		return len(scheds) == 1, string(mustJSON(scheds))
	})
	if scheds[0].ID != scheduleID || scheds[0].Paused || len(scheds[0].NextRuns) == 0 || !slices.Equal(scheds[0].CronExpressions, []string{"* * * * * ?"}) {
		t.Errorf("schedule = %+v", scheds[0])
	}
	for _, next := range scheds[0].NextRuns {
		if next.Before(time.Now().Add(-time.Minute)) || next.After(time.Now().Add(time.Minute)) {
			t.Errorf("next run %s is not within a minute of now", next)
		}
	}

	var cronID string
	eventually(t, 30*time.Second, "the schedule starts an execution", func() (bool, string) {
		l := e.list(t, "application=crony&pipeline=tick")
		i := slices.IndexFunc(l.Executions, func(x summary) bool { return x.TriggerType == "cron" })
		if i < 0 {
			return false, string(mustJSON(l))
		}
		cronID = l.Executions[i].ID
		return true, ""
	})
	if _, err := ulid.ParseStrict(cronID); err != nil {
		t.Errorf("cron execution id %q is not a ULID", cronID)
	}
	exec := e.getExecution(t, cronID)
	if exec.Trigger.Type != "cron" || exec.Trigger.User != "cron" || exec.Trigger.Payload["cronExpression"] != "* * * * * ?" {
		t.Errorf("cron trigger = %+v", exec.Trigger)
	}

	rec = e.savePipeline(t, "crony", "tick", map[string]any{"stages": stages, "triggers": cron, "disabled": true})
	if len(rec.Warnings) > 0 {
		t.Fatalf("disabling warned: %v", rec.Warnings)
	}
	e.get(t, path+"/schedules").expect(t, http.StatusOK, &scheds)
	if len(scheds) != 1 || !scheds[0].Paused {
		t.Errorf("schedule of a disabled pipeline = %s, want paused", mustJSON(scheds))
	}

	rec = e.savePipeline(t, "crony", "tick", map[string]any{"stages": stages})
	if len(rec.Warnings) > 0 {
		t.Fatalf("removing the trigger warned: %v", rec.Warnings)
	}
	e.get(t, path+"/schedules").expect(t, http.StatusOK, &scheds)
	if len(scheds) != 0 {
		t.Errorf("schedules after the trigger was removed = %s", mustJSON(scheds))
	}
	expectNoSchedule(t, e, scheduleID)

	// Deleting a pipeline right after saving it removes the schedule the save created.
	e.savePipeline(t, "crony", "tock", map[string]any{"stages": stages,
		"triggers": []any{map[string]any{"type": "cron", "id": "nightly", "cronExpression": "0 0 3 * * ?"}}})
	tock := launch.ScheduleID("crony", "tock", "nightly")
	desc, err := e.client.ScheduleClient().GetHandle(t.Context(), tock).Describe(t.Context())
	if err != nil {
		t.Fatalf("schedule %s was not created: %v", tock, err)
	}
	// A short catch-up window, so that an outage does not replay a burst of deploys.
	if got := desc.Schedule.Policy.CatchupWindow; got != time.Minute {
		t.Errorf("catch-up window %s, want 1m", got)
	}
	e.do(t, request{method: http.MethodDelete, path: pipelinePath("crony", "tock")}).expect(t, http.StatusNoContent, nil)
	expectNoSchedule(t, e, tock)
	e.get(t, pipelinePath("crony", "tock")+"/schedules").expectError(t, http.StatusNotFound)

	// And deleting one saved a while ago.
	e.savePipeline(t, "crony", "tick", map[string]any{"stages": stages, "triggers": cron, "disabled": true})
	eventually(t, 15*time.Second, "the schedule is listed again", func() (bool, string) {
		e.get(t, path+"/schedules").expect(t, http.StatusOK, &scheds)
		return len(scheds) == 1, string(mustJSON(scheds))
	})
	e.do(t, request{method: http.MethodDelete, path: path}).expect(t, http.StatusNoContent, nil)
	expectNoSchedule(t, e, scheduleID)
}

// expectNoSchedule fails unless Temporal says it has no schedule with the id.
func expectNoSchedule(t *testing.T, e *testEnv, id string) {
	t.Helper()
	_, err := e.client.ScheduleClient().GetHandle(t.Context(), id).Describe(t.Context())
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("schedule %s still exists (describe error: %v)", id, err)
	}
}

func mustJSON(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}
