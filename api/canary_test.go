package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gennaker/gennaker/api"
	"github.com/gennaker/gennaker/store"
)

// The canary config endpoints use only the store, so these tests run an API of their own, with no
// Temporal, even under -short.

// webCanaryFile is a complete Kayenta canary config, named web-golden-signals, for application web.
var webCanaryFile = filepath.Join("..", "canary", "testdata", "web-canary.json")

// canaryRecord is a saved canary config as the API returns it.
type canaryRecord struct {
	Application string          `json:"application"`
	Name        string          `json:"name"`
	Version     int             `json:"version"`
	SavedBy     string          `json:"savedBy"`
	SavedAt     time.Time       `json:"savedAt"`
	Config      json.RawMessage `json:"config"`
}

// canarySummary is one entry of a canary config list.
type canarySummary struct {
	Application string    `json:"application"`
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	SavedBy     string    `json:"savedBy"`
	SavedAt     time.Time `json:"savedAt"`
	Description string    `json:"description"`
	MetricCount int       `json:"metricCount"`
}

// newCanaryAPI serves the API over a fresh SQLite file; sourceTypes become CanarySourceTypes.
func newCanaryAPI(t *testing.T, sourceTypes []string) (*testEnv, *store.SQLite) {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "gennaker.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	logger := slog.New(slog.DiscardHandler)
	srv := &api.Server{Store: st, Logger: logger, CanarySourceTypes: sourceTypes}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testEnv{baseURL: hs.URL, logger: logger}, st
}

func canaryPath(app, name string) string {
	return "/api/v1/applications/" + app + "/canaryConfigs/" + name
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// hasDetail reports whether a detail starts with prefix.
func hasDetail(details []string, prefix string) bool {
	return slices.ContainsFunc(details, func(d string) bool { return strings.HasPrefix(d, prefix) })
}

func TestCanaryConfigLifecycle(t *testing.T) {
	e, _ := newCanaryAPI(t, []string{"prometheus"})
	file := readFile(t, webCanaryFile)
	path := canaryPath("web", "web-golden-signals")

	before := time.Now().Add(-time.Second)
	var v1 canaryRecord
	e.do(t, request{method: http.MethodPut, path: path, body: file,
		headers: map[string]string{"X-Gennaker-User": "alice"}}).expect(t, http.StatusOK, &v1)
	if v1.Application != "web" || v1.Name != "web-golden-signals" || v1.Version != 1 || v1.SavedBy != "alice" ||
		v1.SavedAt.Before(before) || v1.SavedAt.After(time.Now()) {
		t.Fatalf("first save = %+v", v1)
	}
	// Everything the file says comes back, the query's source-specific fields included.
	if same, err := jsonEqual(v1.Config, file); err != nil || !same {
		t.Errorf("saved config differs from the file (%v):\n%s", err, v1.Config)
	}

	var got canaryRecord
	e.get(t, path).expect(t, http.StatusOK, &got)
	if got.Version != 1 || got.SavedBy != "alice" || !got.SavedAt.Equal(v1.SavedAt) || string(got.Config) != string(v1.Config) {
		t.Errorf("GET = %+v, want the saved record %+v", got, v1)
	}

	// A second save of the same name is version 2, by the ?user= of the request.
	var doc map[string]any
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	// <, > and & are stored as written; an escaped backslash before "u003c" stays one.
	description := `second: errors > 0 && p99 < 1s, not \u003c`
	doc["description"] = description
	doc["metrics"] = doc["metrics"].([]any)[:3]
	query := "PromQL:sum(rate(http_requests_total{${scope}}[1m])) > 0"
	doc["metrics"].([]any)[0].(map[string]any)["query"].(map[string]any)["customInlineTemplate"] = query
	// The classifier must still add up to 100 with the saturation metric gone.
	doc["classifier"].(map[string]any)["groupWeights"] = map[string]any{"errors": 60, "latency": 40}
	var v2 canaryRecord
	e.put(t, path+"?user=bob", doc).expect(t, http.StatusOK, &v2)
	if v2.Version != 2 || v2.SavedBy != "bob" {
		t.Fatalf("second save = %+v, want version 2 by bob", v2)
	}
	e.get(t, path).expect(t, http.StatusOK, &got)
	if got.Version != 2 {
		t.Errorf("GET after the second save has version %d", got.Version)
	}
	var saved struct {
		Description string
		Metrics     []struct {
			Query struct{ CustomInlineTemplate string }
		}
	}
	if err := json.Unmarshal(got.Config, &saved); err != nil {
		t.Fatal(err)
	}
	if saved.Description != description || len(saved.Metrics) != 3 || saved.Metrics[0].Query.CustomInlineTemplate != query {
		t.Errorf("second save came back as %+v", saved)
	}
	if !strings.Contains(string(got.Config), `errors > 0 && p99 < 1s, not \\u003c`) || !strings.Contains(string(got.Config), `[1m])) > 0"`) {
		t.Errorf("stored text is escaped: %s", got.Config)
	}

	// Without a name or applications, the config gets the URL's.
	delete(doc, "name")
	delete(doc, "applications")
	var bare canaryRecord
	e.put(t, canaryPath("web", "bare"), doc).expect(t, http.StatusOK, &bare)
	cfg, err := object(bare.Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["name"] != "bare" || !slices.Equal(anyStrings(cfg["applications"]), []string{"web"}) {
		t.Errorf("config saved without name and applications = name %v, applications %v", cfg["name"], cfg["applications"])
	}
	if bare.SavedBy != "anonymous" {
		t.Errorf("saved by %q without a user, want anonymous", bare.SavedBy)
	}

	var list []canarySummary
	e.get(t, "/api/v1/applications/web/canaryConfigs").expect(t, http.StatusOK, &list)
	if len(list) != 2 {
		t.Fatalf("list = %+v, want bare and web-golden-signals", list)
	}
	if l := list[1]; l.Name != "web-golden-signals" || l.Application != "web" || l.Version != 2 || l.SavedBy != "bob" ||
		!l.SavedAt.Equal(v2.SavedAt) || l.Description != description || l.MetricCount != 3 {
		t.Errorf("list entry = %+v", l)
	}
	if list[0].Name != "bare" {
		t.Errorf("list is not by name: %+v", list)
	}
	var other []canarySummary
	e.get(t, "/api/v1/applications/api/canaryConfigs").expect(t, http.StatusOK, &other)
	if other == nil || len(other) != 0 {
		t.Errorf("list of an application without configs = %+v, want []", other)
	}

	e.do(t, request{method: http.MethodDelete, path: path}).expect(t, http.StatusNoContent, nil)
	e.get(t, path).expectError(t, http.StatusNotFound)
	e.get(t, "/api/v1/applications/web/canaryConfigs").expect(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].Name != "bare" {
		t.Errorf("list after delete = %+v", list)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestCanaryConfigRefused(t *testing.T) {
	e, _ := newCanaryAPI(t, []string{"prometheus"})
	file := readFile(t, webCanaryFile)
	var valid map[string]any
	if err := json.Unmarshal(file, &valid); err != nil {
		t.Fatal(err)
	}
	// with returns the valid config with some top-level fields replaced.
	with := func(fields map[string]any) []byte {
		doc := map[string]any{}
		for k, v := range valid {
			doc[k] = v
		}
		for k, v := range fields {
			doc[k] = v
		}
		return mustJSON(doc)
	}

	for _, tc := range []struct {
		name string
		path string
		body []byte
		// want are the details expected, each by its start; exactly these when only is set.
		want []string
		only bool
	}{
		{
			name: "name differs from the URL",
			path: canaryPath("web", "other-name"),
			body: file,
			want: []string{`name: "web-golden-signals" does not match`},
			only: true,
		},
		{
			name: "applications lack the URL's",
			path: canaryPath("api", "web-golden-signals"),
			body: file,
			want: []string{`applications: must include the application in the URL, "api"`},
			only: true,
		},
		{
			name: "name not a path segment",
			path: canaryPath("web", "two%20words"),
			body: with(map[string]any{"name": nil}),
			want: []string{"name: must contain only letters, digits"},
			only: true,
		},
		{
			name: "unknown metric source",
			path: canaryPath("web", "web-golden-signals"),
			body: []byte(`{"metrics": [{"name": "errors", "query": {"type": "datadog", "metricName": "errors"}, "groups": ["errors"]}]}`),
			want: []string{`metrics[0].query.type: unknown metric source type "datadog" (known: prometheus)`},
			only: true,
		},
		{
			name: "wrong types are reported without the noise of what they hide",
			path: canaryPath("web", "typed"),
			body: []byte(`{"metrics": [{"name": "m", "query": {"type": "prometheus", "metricName": 5}, "groups": ["g"]}], "description": 7}`),
			want: []string{"description: expected a string", "metrics[0].query.metricName: expected a string"},
			only: true,
		},
		{
			name: "a wrongly typed application is not also missing",
			path: canaryPath("web", "typed"),
			body: []byte(`{"applications": [5], "metrics": [{"name": "m", "query": {"type": "prometheus", "metricName": "m"}, "groups": ["g"]}]}`),
			want: []string{"applications[0]: expected a string, got a number"},
			only: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.put(t, tc.path, tc.body).expectError(t, http.StatusBadRequest)
			for _, w := range tc.want {
				if !hasDetail(got.Details, w) {
					t.Errorf("no detail starting %q in %q", w, got.Details)
				}
			}
			if tc.only && len(got.Details) != len(tc.want) {
				t.Errorf("details = %q, want only %q", got.Details, tc.want)
			}
			if !strings.Contains(got.Error, "problem") {
				t.Errorf("error = %q", got.Error)
			}
		})
	}

	// Nothing refused was saved.
	var list []canarySummary
	for _, app := range []string{"web", "api"} {
		e.get(t, "/api/v1/applications/"+app+"/canaryConfigs").expect(t, http.StatusOK, &list)
		if len(list) != 0 {
			t.Errorf("refused configs were saved in %s: %+v", app, list)
		}
	}
}

// TestCanaryConfigManyProblems checks that one answer lists every problem of a config, each by
// its JSON path, with nothing else.
func TestCanaryConfigManyProblems(t *testing.T) {
	e, _ := newCanaryAPI(t, []string{"prometheus"})
	body := `{
	  "name": "many",
	  "applications": ["web", "api"],
	  "judge": {"name": "SomeOtherJudge"},
	  "metrics": [
	    {"name": "errors", "query": {"type": "prometheus", "metricName": "errors_total"}, "groups": ["errors"],
	     "analysisConfigurations": {"canary": {"direction": "sideways", "mustHavedata": true,
	       "effectSize": {"allowedIncrease": 0.5}}}},
	    {"name": "errors", "query": {"metricName": "more_errors_total"}, "groups": ["errors"]},
	    {"name": "latency", "query": {"type": "influxdb", "metricName": "latency", "customFilter": "x"}, "groups": ["latency"]}
	  ],
	  "classifier": {"groupWeights": {"errors": 50, "latency": 20}, "scoreThresholds": {"pass": 40, "marginal": 60}}
	}`
	got := e.put(t, canaryPath("web", "many"), body).expectError(t, http.StatusBadRequest)
	want := []string{
		`metrics[0].analysisConfigurations.canary.mustHavedata: unknown field (did you mean "mustHaveData"?)`,
		`judge.name: unknown judge "SomeOtherJudge"`,
		`metrics[0].analysisConfigurations.canary.direction: must be increase, decrease or either`,
		`metrics[0].analysisConfigurations.canary.effectSize.allowedIncrease: must be at least 1`,
		`metrics[1].name: duplicate metric name "errors"`,
		`metrics[1].query.type: required`,
		`metrics[2].query.type: unknown metric source type "influxdb"`,
		`metrics[2].query.customFilter: no longer supported`,
		`classifier.groupWeights: weights must add up to 100, not 70`,
		`classifier.scoreThresholds.pass: must not be below marginal`,
	}
	for _, w := range want {
		if !hasDetail(got.Details, w) {
			t.Errorf("no detail starting %q in %q", w, got.Details)
		}
	}
	if len(got.Details) != len(want) {
		t.Errorf("%d details, want %d: %q", len(got.Details), len(want), got.Details)
	}
	if !strings.Contains(got.Error, "10 problem(s)") {
		t.Errorf("error = %q", got.Error)
	}
}

// TestCanaryConfigWrongTypesAndContentProblems checks that a wrongly typed value does not hide
// the rest of the config's problems, and is reported once, as wrongly typed.
func TestCanaryConfigWrongTypesAndContentProblems(t *testing.T) {
	e, _ := newCanaryAPI(t, []string{"prometheus"})
	// metricName has the wrong type inside the first query, which used to stop the decoding of
	// everything after it; the problems after it are independent of it.
	body := `{
	  "name": "mixed",
	  "metrics": [
	    {"name": "errors", "query": {"type": "prometheus", "metricName": 5}, "groups": ["errors"]},
	    {"query": {"type": "prometheus", "metricName": "latency_seconds"}, "groups": ["latency"],
	     "analysisConfigurations": {"canary": {"nanStrategy": "zero"}}}
	  ],
	  "classifier": {"groupWeights": {"errors": 50, "latency": 30}}
	}`
	got := e.put(t, canaryPath("web", "mixed"), body).expectError(t, http.StatusBadRequest)
	want := []string{
		"metrics[0].query.metricName: expected a string, got a number",
		"metrics[1].name: required",
		`metrics[1].analysisConfigurations.canary.nanStrategy: must be remove or replace, not "zero"`,
		"classifier.groupWeights: weights must add up to 100, not 80",
	}
	if !slices.Equal(got.Details, want) {
		t.Errorf("details =\n%s\nwant\n%s", strings.Join(got.Details, "\n"), strings.Join(want, "\n"))
	}
	// The left-out metricName is not also missing.
	if hasDetail(got.Details, "metrics[0].query:") || hasDetail(got.Details, "metrics[0].query.metricName: required") {
		t.Errorf("the wrongly typed metricName is reported twice: %q", got.Details)
	}
	if got.Error != "the canary config has 4 problem(s)" {
		t.Errorf("error = %q", got.Error)
	}
	e.get(t, canaryPath("web", "mixed")).expectError(t, http.StatusNotFound)
}

func TestCanaryConfigMalformed(t *testing.T) {
	e, _ := newCanaryAPI(t, nil)
	path := canaryPath("web", "web-golden-signals")
	for _, body := range []string{`{"metrics": [`, `{"name": "a"} {"name": "b"}`, "", "null", "[]", `"config"`, "~", "{: :"} {
		got := e.put(t, path, body).expectError(t, http.StatusBadRequest)
		if !strings.Contains(got.Error, "not a canary config") {
			t.Errorf("body %q: error = %q", body, got.Error)
		}
	}
	huge := `{"description": "` + strings.Repeat("x", api.MaxBodyBytes+10) + `"}`
	e.put(t, path, huge).expectError(t, http.StatusRequestEntityTooLarge)
	e.get(t, path).expectError(t, http.StatusNotFound)

	// Without CanarySourceTypes any source type is accepted.
	e.put(t, path, `{"metrics": [{"name": "m", "query": {"type": "datadog", "metricName": "m"}, "groups": ["g"]}]}`).expect(t, http.StatusOK, nil)
}

func TestCanaryConfigMissing(t *testing.T) {
	e, _ := newCanaryAPI(t, nil)
	got := e.get(t, canaryPath("web", "nothing")).expectError(t, http.StatusNotFound)
	if !strings.Contains(got.Error, `"nothing"`) || !strings.Contains(got.Error, `"web"`) {
		t.Errorf("404 does not name the config and application: %q", got.Error)
	}
	e.do(t, request{method: http.MethodDelete, path: canaryPath("web", "nothing")}).expectError(t, http.StatusNotFound)
}

func TestDeleteCanaryConfigInUse(t *testing.T) {
	e, st := newCanaryAPI(t, nil)
	ctx := context.Background()
	path := canaryPath("web", "web-golden-signals")
	e.put(t, path, readFile(t, webCanaryFile)).expect(t, http.StatusOK, nil)

	// Saved through the store: the API's pipeline validation may not know the stage type.
	canaryStage := func(config string) map[string]any {
		return map[string]any{"refId": "2", "type": "kayentaCanary", "name": "Canary",
			"canaryConfig": map[string]any{"canaryConfigName": config, "scoreThresholds": map[string]any{"pass": 75, "marginal": 50}}}
	}
	wait := map[string]any{"refId": "1", "type": "wait", "waitTime": 1}
	savePipeline := func(app, name string, stages ...any) {
		t.Helper()
		cfg := mustJSON(map[string]any{"application": app, "name": name, "stages": stages})
		if _, err := st.Save(ctx, cfg, app, name, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	savePipeline("web", "release", wait, canaryStage("web-golden-signals"))
	// Spinnaker's stages name the config by canaryConfigId, which holds it as much.
	savePipeline("web", "deploy", map[string]any{"refId": "2", "type": "kayentaCanary", "name": "Canary",
		"canaryConfig": map[string]any{"canaryConfigId": "web-golden-signals", "scoreThresholds": nil}})
	savePipeline("web", "other-config", canaryStage("something-else"))
	savePipeline("web", "plain", wait)
	// Another application's pipeline does not hold this application's config.
	savePipeline("api", "deploy", canaryStage("web-golden-signals"))

	got := e.do(t, request{method: http.MethodDelete, path: path}).expectError(t, http.StatusConflict)
	if !strings.Contains(got.Error, "used by pipelines deploy, release;") {
		t.Errorf("409 = %q, want it to name deploy and release", got.Error)
	}
	e.get(t, path).expect(t, http.StatusOK, nil)

	// Once the pipelines use it no more, the config can go.
	savePipeline("web", "release", wait)
	got = e.do(t, request{method: http.MethodDelete, path: path}).expectError(t, http.StatusConflict)
	if !strings.Contains(got.Error, "used by pipelines deploy;") {
		t.Errorf("409 = %q, want it to name deploy only", got.Error)
	}
	if err := st.Delete(ctx, "web", "deploy", "alice"); err != nil {
		t.Fatal(err)
	}
	e.do(t, request{method: http.MethodDelete, path: path}).expect(t, http.StatusNoContent, nil)
	e.get(t, path).expectError(t, http.StatusNotFound)
}

func TestCanaryConfigStoreUnavailable(t *testing.T) {
	e, st := newCanaryAPI(t, nil)
	path := canaryPath("web", "web-golden-signals")
	file := readFile(t, webCanaryFile)
	e.put(t, path, file).expect(t, http.StatusOK, nil)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e.get(t, "/api/v1/applications/web/canaryConfigs").expectError(t, http.StatusServiceUnavailable)
	e.get(t, path).expectError(t, http.StatusServiceUnavailable)
	e.put(t, path, file).expectError(t, http.StatusServiceUnavailable)
	e.do(t, request{method: http.MethodDelete, path: path}).expectError(t, http.StatusServiceUnavailable)
}
