package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gennaker/gennaker/internal/promtest"
)

// canaryReport is the part of a canary stage's report these tests read.
type canaryReport struct {
	Result    string `json:"result"`
	Planned   int    `json:"intervalsPlanned"`
	Intervals []struct {
		Interval       int     `json:"interval"`
		Score          float64 `json:"score"`
		Classification string  `json:"classification"`
		Metrics        []struct {
			Name           string   `json:"name"`
			Classification string   `json:"classification"`
			Critical       bool     `json:"critical"`
			MeanRatio      *float64 `json:"meanRatio"`
			Test           *struct {
				PValue float64 `json:"pValue"`
			} `json:"test"`
			Control struct {
				Count int `json:"count"`
			} `json:"control"`
		} `json:"metrics"`
	} `json:"intervals"`
}

func (r canaryReport) metric(name string) (classification string, critical bool) {
	last := r.Intervals[len(r.Intervals)-1]
	for _, m := range last.Metrics {
		if m.Name == name {
			return m.Classification, m.Critical
		}
	}
	return "", false
}

// TestCanaryAnalysis runs Prometheus (Debian's package) scraping small HTTP servers that stand in
// for a baseline and a canary of a service, with error rates and latencies the test sets, and
// runs canary stages against it through the real binary: an identical canary passes and the
// pipeline goes on; one with a higher error rate and latency fails and the pipeline halts; a
// canary failing only its critical metric fails alone; one slower but not erring is marginal; and
// a metric no server exposes is judged as having no data in every case.
func TestCanaryAnalysis(t *testing.T) {
	skipShort(t)
	t.Parallel()
	type pair struct {
		name             string
		baseline, canary promtest.AppConfig
	}
	healthy := promtest.AppConfig{ErrorRate: 0.01, LatencyMean: 50 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 100}
	pairs := []pair{
		{"identical", healthy, healthy},
		{"worse", healthy, promtest.AppConfig{ErrorRate: 0.25, LatencyMean: 150 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 100}},
		{"erring", healthy, promtest.AppConfig{ErrorRate: 0.25, LatencyMean: 50 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 100}},
		{"slower", healthy, promtest.AppConfig{ErrorRate: 0.01, LatencyMean: 120 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 100}},
	}
	var targets []promtest.Target
	for i, p := range pairs {
		p.baseline.Seed, p.canary.Seed = uint64(2*i+1), uint64(2*i+2)
		targets = append(targets,
			promtest.NewApp(t, p.baseline).Target(map[string]string{"case": p.name, "track": "baseline"}),
			promtest.NewApp(t, p.canary).Target(map[string]string{"case": p.name, "track": "canary"}))
	}
	prom := promtest.StartPrometheus(t, targets...)

	dev := newDevProcess(t)
	dev.args = append(dev.args, "--prometheus-url", prom.URL())
	api := dev.start()

	// A canary stage naming a config the application does not have is refused when saved.
	canaryStage := func(name string) map[string]any {
		return map[string]any{"refId": "1", "type": "kayentaCanary", "name": "Canary",
			"canaryConfig": map[string]any{
				"canaryConfigName": "web-canary", "metricsAccountName": "prometheus",
				"scoreThresholds":  map[string]any{"pass": 75, "marginal": 40},
				"lifetimeDuration": "PT20S", "canaryAnalysisIntervalMins": "0.16",
				"scopes": []any{map[string]any{"scopeName": "default", "step": 1,
					"controlScope":    fmt.Sprintf(`case=%q,track="baseline"`, name),
					"experimentScope": fmt.Sprintf(`case=%q,track="canary"`, name)}},
			}}
	}
	code, body := api.do(http.MethodPut, "/api/v1/applications/web/pipelines/too-early", map[string]any{
		"stages": []any{canaryStage("identical")}})
	if code != http.StatusBadRequest || !strings.Contains(string(body), `no canary config`) {
		t.Errorf("a canary stage before its config: %d %s", code, body)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(root, "examples", "web-canary-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	api.expect(http.StatusOK, http.MethodPut, "/api/v1/applications/web/canaryConfigs/web-canary", json.RawMessage(config), nil)

	prom.WaitForScrapes(t, 8)
	ids := map[string]string{}
	for _, p := range pairs {
		api.savePipeline("web", "canary-"+p.name, map[string]any{"stages": []any{
			canaryStage(p.name),
			map[string]any{"refId": "2", "requisiteStageRefIds": []any{"1"}, "type": "wait", "name": "Promote", "waitTime": 0},
		}})
		ids[p.name] = api.startExecution("web", "canary-"+p.name, nil).ID
	}

	results := map[string]execution{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := api.waitUntilDone(id, 2*time.Minute)
			mu.Lock()
			results[name] = done
			mu.Unlock()
		}()
	}
	wg.Wait()
	report := func(name string) canaryReport {
		t.Helper()
		var r canaryReport
		api.expect(http.StatusOK, http.MethodGet, "/api/v1/executions/"+ids[name]+"/stages/1/canary", nil, &r)
		if len(r.Intervals) == 0 {
			t.Fatalf("%s: no interval judged: %+v", name, r)
		}
		return r
	}

	identical := results["identical"]
	if identical.Status != "SUCCEEDED" || identical.mustStage(t, "2").Status != "SUCCEEDED" {
		t.Errorf("identical canary: %s", identical.describe())
	}
	if r := report("identical"); r.Result != "Pass" || r.Planned != 2 || len(r.Intervals) != 2 {
		t.Errorf("identical canary report: %+v", r)
	} else if c, _ := r.metric("queue-depth"); c != "Nodata" {
		t.Errorf("a metric no server exposes: %s, want Nodata", c)
	}

	worse := results["worse"]
	if worse.Status != "TERMINAL" || worse.mustStage(t, "2").Status != "NOT_STARTED" || !strings.Contains(worse.mustStage(t, "1").Error, "marginal threshold") {
		t.Errorf("worse canary: %s", worse.describe())
	}
	if r := report("worse"); r.Result != "Fail" || len(r.Intervals) != 1 {
		t.Errorf("worse canary report (ends after its first interval): %+v", r)
	} else if c, _ := r.metric("latency"); c != "High" {
		t.Errorf("worse canary latency: %s", c)
	}

	erring := results["erring"]
	if erring.Status != "TERMINAL" {
		t.Errorf("erring canary: %s", erring.describe())
	}
	if r := report("erring"); r.Intervals[0].Score != 0 {
		t.Errorf("a critical metric failing alone fails the canary: %+v", r)
	} else {
		if c, critical := r.metric("error-rate"); c != "High" || !critical {
			t.Errorf("erring canary error rate: %s critical %v", c, critical)
		}
		if c, _ := r.metric("latency"); c != "Pass" {
			t.Errorf("erring canary latency: %s", c)
		}
	}

	slower := results["slower"]
	if slower.Status != "TERMINAL" || !strings.Contains(slower.mustStage(t, "1").Error, "marginal") {
		t.Errorf("slower canary: %s", slower.describe())
	}
	if r := report("slower"); r.Result != "Marginal" || r.Intervals[len(r.Intervals)-1].Score != 50 {
		t.Errorf("slower canary report: %+v", r)
	}

	// The report of a stage that is not a canary is a 404 that says so.
	if code, body := api.do(http.MethodGet, "/api/v1/executions/"+ids["identical"]+"/stages/2/canary", nil); code != http.StatusNotFound {
		t.Errorf("the canary report of a wait stage: %d %s", code, body)
	}
}
