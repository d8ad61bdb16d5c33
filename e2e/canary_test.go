package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gennaker/gennaker/internal/promtest"
)

// canaryReport is the part of a canary stage's report these tests read.
type canaryReport struct {
	Result      string              `json:"result"`
	Deployments map[string][]string `json:"deployments"`
	Planned     int                 `json:"intervalsPlanned"`
	Intervals   []struct {
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
	// Enough requests that the error rate of identical servers hardly differs between 5-second
	// windows: at a few errors a window, chance alone can double it.
	healthy := promtest.AppConfig{ErrorRate: 0.05, LatencyMean: 50 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 1000}
	pairs := []pair{
		{"identical", healthy, healthy},
		{"worse", healthy, promtest.AppConfig{ErrorRate: 0.25, LatencyMean: 150 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 1000}},
		{"erring", healthy, promtest.AppConfig{ErrorRate: 0.25, LatencyMean: 50 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 1000}},
		{"slower", healthy, promtest.AppConfig{ErrorRate: 0.05, LatencyMean: 120 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 1000}},
	}
	var targets []promtest.Target
	for i, p := range pairs {
		p.baseline.Seed, p.canary.Seed = uint64(2*i+1), uint64(2*i+2)
		targets = append(targets,
			promtest.NewApp(t, p.baseline).Target(map[string]string{"case": p.name, "track": "baseline"}),
			promtest.NewApp(t, p.canary).Target(map[string]string{"case": p.name, "track": "canary"}))
	}
	prom := promtest.StartPrometheus(t, targets...)
	deployedCases := map[string]bool{"identical": true, "worse": true}

	dev := newDevProcess(t)
	dev.args = append(dev.args, "--prometheus-url", prom.URL())
	api := dev.start()

	// A canary stage naming a config the application does not have is refused when saved.
	canaryStage := func(name string) map[string]any {
		stage := map[string]any{"refId": "1", "type": "kayentaCanary", "name": "Canary",
			"canaryConfig": map[string]any{
				"canaryConfigName": "web-canary", "metricsAccountName": "prometheus",
				"scoreThresholds":  map[string]any{"pass": 75, "marginal": 40},
				"lifetimeDuration": "PT20S", "canaryAnalysisIntervalMins": "0.16",
				"scopes": []any{map[string]any{"scopeName": "default", "step": 1,
					"controlScope":    fmt.Sprintf(`case=%q,track="baseline"`, name),
					"experimentScope": fmt.Sprintf(`case=%q,track="canary"`, name)}},
			}}
		// The passing and the failing canary deploy their own baseline and canary server groups
		// to the local cluster, which must be gone once the stage ends.
		if deployedCases[name] {
			stage["deployments"] = map[string]any{"account": "local", "namespace": "default",
				"baseline": []any{canaryReplicaSet(name+"-baseline", "nginx:1.27")},
				"canary":   []any{canaryReplicaSet(name+"-canary", "nginx:1.28")}}
		}
		return stage
	}
	code, body := api.do(http.MethodPut, "/api/v1/applications/web/pipelines/too-early", map[string]any{
		"stages": []any{canaryStage("identical")}})
	if code != http.StatusOK || !strings.Contains(string(body), `no canary config \"web-canary\" yet`) {
		t.Errorf("a canary stage saved before its config should be kept with a warning: %d %s", code, body)
	}
	api.expect(http.StatusOK, http.MethodPut, "/api/v1/applications/web/canaryConfigs/web-canary", json.RawMessage(exampleFile(t, "web-canary-config.json")), nil)

	prom.WaitForScrapes(t, 8)
	ids := map[string]string{}
	for _, p := range pairs {
		api.savePipeline("web", "canary-"+p.name, map[string]any{"stages": []any{
			canaryStage(p.name),
			map[string]any{"refId": "2", "requisiteStageRefIds": []any{"1"}, "type": "wait", "name": "Promote", "waitTime": 0},
		}})
		ids[p.name] = api.startExecution("web", "canary-"+p.name, nil).ID
	}

	// While the analysis runs, the server groups it deployed are in the cluster and available.
	kube := localCluster(t, dev)
	api.waitForExecution(ids["identical"], time.Minute, "the canary's deployments", func(e execution) bool {
		s := e.stage("1")
		if s == nil {
			return false
		}
		report, _ := s.Outputs["canary"].(map[string]any)
		deployed, _ := report["deployments"].(map[string]any)
		return len(toStrings(deployed["canary"])) > 0
	})
	for _, name := range []string{"identical-baseline-v000", "identical-canary-v000"} {
		rs, err := kube.AppsV1().ReplicaSets("default").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil || rs.Status.AvailableReplicas != 1 {
			t.Errorf("during the analysis, replica set %s: %v %v", name, rs, err)
		}
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

	// Whatever the outcome, the stage deleted the server groups it deployed.
	for name := range deployedCases {
		for _, track := range []string{"baseline", "canary"} {
			rs := name + "-" + track + "-v000"
			if got := report(name).Deployments[track]; strings.Join(got, ",") != "replicaSet "+rs {
				t.Errorf("%s canary report, %s deployments: %v", name, track, got)
			}
			if _, err := kube.AppsV1().ReplicaSets("default").Get(t.Context(), rs, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("replica set %s after the %s canary ended: %v", rs, name, err)
			}
		}
	}

	// The report of a stage that is not a canary is a 404 that says so.
	if code, body := api.do(http.MethodGet, "/api/v1/executions/"+ids["identical"]+"/stages/2/canary", nil); code != http.StatusNotFound {
		t.Errorf("the canary report of a wait stage: %d %s", code, body)
	}
}

// canaryReplicaSet is a one-replica server group of the canary's service, named by its track.
func canaryReplicaSet(name, image string) map[string]any {
	labels := map[string]any{"app": "web", "track": name}
	return map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"replicas": 1, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": image}}}}}}
}
