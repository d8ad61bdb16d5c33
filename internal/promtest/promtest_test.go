package promtest

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAppExposesSimulatedTraffic(t *testing.T) {
	app := NewApp(t, AppConfig{ErrorRate: 0.5, LatencyMean: 50 * time.Millisecond, RequestRate: 2000, Seed: 7})
	time.Sleep(300 * time.Millisecond)
	m := scrape(t, app)
	ok, failed := m[`http_requests_total{code="200"}`], m[`http_requests_total{code="500"}`]
	total := m["http_request_duration_seconds_count"]
	if total < 200 || ok+failed != total {
		t.Fatalf("200s %v + 500s %v != count %v, or too few requests for 300ms at 2000/s", ok, failed, total)
	}
	if math.Abs(failed/total-0.5) > 0.15 {
		t.Errorf("error ratio %v, want about 0.5", failed/total)
	}
	// Every latency is exactly 50 ms, so all fall in the bucket ending there.
	if m[`http_request_duration_seconds_bucket{le="0.04"}`] != 0 ||
		m[`http_request_duration_seconds_bucket{le="0.05"}`] != total ||
		m[`http_request_duration_seconds_bucket{le="+Inf"}`] != total {
		t.Errorf("buckets do not hold every request at 50ms: %v", m)
	}
	if sum := m["http_request_duration_seconds_sum"]; math.Abs(sum-0.05*total) > 1e-6*total {
		t.Errorf("latency sum %v, want %v", sum, 0.05*total)
	}

	app.SetRequestRate(0)
	before := scrape(t, app)["http_request_duration_seconds_count"]
	time.Sleep(100 * time.Millisecond)
	if after := scrape(t, app)["http_request_duration_seconds_count"]; after != before {
		t.Errorf("count went from %v to %v without traffic", before, after)
	}

	app.SetHidden(true)
	if m := scrape(t, app); len(m) != 0 {
		t.Errorf("a hidden app exposes %v", m)
	}
}

func TestPrometheusScrapesApps(t *testing.T) {
	a := NewApp(t, AppConfig{})
	b := NewApp(t, AppConfig{})
	prom := StartPrometheus(t, a.Target(map[string]string{"app": "a"}))
	prom.WaitForScrapes(t, 2)
	prom.AddTargets(t, b.Target(map[string]string{"app": "b"}))
	prom.WaitForSamples(t, `http_requests_total{app="b"}`, 2)
	prom.WaitForScrapes(t, 2)
	values, err := prom.instant(`count by (app) (up{job="promtest"})`)
	if err != nil || len(values) != 2 {
		t.Errorf("up series by app: %v, %v; want one for a and one for b", values, err)
	}
}

func TestMissingPrometheus(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "")
	t.Run("skipped", func(t *testing.T) {
		StartPrometheus(t)
		t.Error("StartPrometheus went on without a prometheus binary")
	})
}

// scrape reads the app's /metrics as a map from series to value, skipping comments.
func scrape(t *testing.T, app *App) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + app.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("unreadable line %q in:\n%s", line, body)
		}
		m[line[:i]] = v
	}
	return m
}
