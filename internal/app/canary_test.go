package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/canary"
	"github.com/gennaker/gennaker/canary/metrics"
	"github.com/gennaker/gennaker/internal/config"
	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/pipeline"
)

// fakePrometheus answers range queries at /api/v1/query_range with one series of a point a step,
// and records the basic-auth credentials of each request. With require ("user:password") set it
// refuses other credentials with a 401, as the proxy in front of a Prometheus would. A query
// containing "broken" is answered with a page that is not Prometheus' JSON, whose error message
// names the URL requested.
type fakePrometheus struct {
	*httptest.Server
	mu    sync.Mutex
	seen  []string // "user:password", or "-" without basic auth
	paths []string
}

func newFakePrometheus(t *testing.T, require string) *fakePrometheus {
	p := &fakePrometheus{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		got := "-"
		if ok {
			got = user + ":" + password
		}
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.Path)
		p.seen = append(p.seen, got)
		p.mu.Unlock()
		if require != "" && got != require {
			w.Header().Set("WWW-Authenticate", `Basic realm="prometheus"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/query_range" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if strings.Contains(r.FormValue("query"), "broken") {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
			return
		}
		start, err1 := strconv.ParseFloat(r.FormValue("start"), 64)
		end, err2 := strconv.ParseFloat(r.FormValue("end"), 64)
		step, err3 := strconv.ParseFloat(r.FormValue("step"), 64)
		if err1 != nil || err2 != nil || err3 != nil || step <= 0 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status": "error", "errorType": "bad_data", "error": "bad start, end or step"}`))
			return
		}
		// Values vary a little so that the judge has samples to compare.
		var values [][2]any
		for i, ts := 0, start; ts <= end; i, ts = i+1, ts+step {
			values = append(values, [2]any{ts, strconv.Itoa(100 + i%3)})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{
			"resultType": "matrix",
			"result":     []any{map[string]any{"metric": map[string]string{"__name__": "http_requests_total"}, "values": values}},
		}})
	}))
	t.Cleanup(p.Close)
	return p
}

// withUserinfo is the server's URL with userinfo (already escaped) put in front of its host.
func (p *fakePrometheus) withUserinfo(userinfo string) string {
	if userinfo == "" {
		return p.URL
	}
	return strings.Replace(p.URL, "http://", "http://"+userinfo+"@", 1)
}

// loadPrometheusURL reads --prometheus-url as gennaker does and builds the canary activities.
func loadPrometheusURL(t *testing.T, promURL string) *activities.Canary {
	t.Helper()
	cfg, err := config.Load(flag.NewFlagSet("gennaker", flag.ContinueOnError), []string{"--prometheus-url", promURL})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := canaryActivities(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts.Accounts) != 1 || acts.Accounts[0].Name != "prometheus" || acts.Accounts[0].Type != "prometheus" {
		t.Fatalf("accounts %+v, want the one named prometheus", acts.Accounts)
	}
	return acts
}

func fetch(src metrics.Source, query string) error {
	end := time.Now().Truncate(time.Second)
	_, err := src.Fetch(context.Background(), metrics.Query{Metric: "requests", Template: query},
		metrics.Scope{Scope: `track="canary"`, Start: end.Add(-time.Minute), End: end, Step: 10 * time.Second})
	return err
}

func TestPrometheusURLUserinfoIsBasicAuth(t *testing.T) {
	// `--prometheus-url https://user:password@…` is how basic auth is configured: the credentials
	// are sent as an Authorization header, decoded from the URL's escaping, and kept out of the
	// URL the source requests and names in its errors.
	for _, tt := range []struct {
		name     string
		userinfo string
		seen     string
	}{
		{"user and password", "alice:s3cret", "alice:s3cret"},
		{"escaped characters", "alice:p%40ss%3Aw%2Frd", "alice:p@ss:w/rd"},
		{"a user without a password", "alice", "alice:"},
		{"no userinfo: no basic auth", "", "-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prom := newFakePrometheus(t, "")
			acts := loadPrometheusURL(t, prom.withUserinfo(tt.userinfo))
			src := acts.Accounts[0].Source
			if err := fetch(src, `sum(rate(http_requests_total{${scope}}[1m]))`); err != nil {
				t.Fatal(err)
			}
			if len(prom.seen) != 1 || prom.seen[0] != tt.seen || prom.paths[0] != "/api/v1/query_range" {
				t.Errorf("Prometheus saw credentials %v on %v, want %s", prom.seen, prom.paths, tt.seen)
			}
			// The source names the URL it requested when the answer is not Prometheus'; that URL
			// carries neither the user nor the password.
			err := fetch(src, "broken")
			if err == nil {
				t.Fatal("a bad gateway page was read as Prometheus' answer")
			}
			host := strings.TrimPrefix(prom.URL, "http://")
			if !strings.Contains(err.Error(), "http://"+host+"/api/v1/query_range") {
				t.Errorf("error %q does not name the URL without its userinfo", err)
			}
			if tt.userinfo != "" && (strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "@"+host)) {
				t.Errorf("error %q shows the userinfo", err)
			}
		})
	}
}

func TestPrometheusURLPasswordStaysOutOfUnreachableErrors(t *testing.T) {
	// An unreachable Prometheus' error becomes the canary stage's error, in the execution that
	// every user of the application reads: it names the address but not the credentials.
	// A reserved port: nothing listens there until the test ends (see freeport).
	port, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Release()
	host := port.Addr()
	acts := loadPrometheusURL(t, "http://alice:s3cret@"+host)
	err = fetch(acts.Accounts[0].Source, "up")
	if err == nil {
		t.Fatal("a closed port answered")
	}
	if !strings.Contains(err.Error(), "http://"+host+"/api/v1/query_range") || strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q: want the address without the userinfo", err)
	}
}

func TestCanaryActivitiesJudgeThroughAnAuthenticatedPrometheus(t *testing.T) {
	// The whole path a worker takes: JudgeCanaryInterval with the activities built from the flag
	// queries both sides with the credentials and judges what came back.
	prom := newFakePrometheus(t, "alice:s3cret")
	acts := loadPrometheusURL(t, prom.withUserinfo("alice:s3cret"))
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	end := time.Now().Truncate(time.Second)
	v, err := env.ExecuteActivity(acts.JudgeCanaryInterval, activities.JudgeCanaryIntervalInput{
		Config: canary.Config{Name: "web", Metrics: []canary.Metric{{Name: "requests", Groups: []string{"traffic"},
			Query: canary.Query{Type: "prometheus", CustomInlineTemplate: "PromQL:sum(rate(http_requests_total{${scope}}[1m]))"}}}},
		Scopes: []pipeline.CanaryScope{{ScopeName: "default", ControlScope: `track="baseline"`, ExperimentScope: `track="canary"`, Step: 10 * time.Second}},
		Start:  end.Add(-10 * time.Minute), End: end, Thresholds: canary.Thresholds{Pass: 75, Marginal: 50},
	})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.JudgeCanaryIntervalResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(prom.seen); got != "[alice:s3cret alice:s3cret]" {
		t.Errorf("Prometheus saw %s, want the baseline's and the canary's queries with alice's credentials", got)
	}
	// Both sides answered the same series: the canary is as good as its baseline.
	if res.Result.Score != 100 || res.Queries["requests"][1] != `sum(rate(http_requests_total{track="canary"}[1m]))` {
		t.Errorf("judged %+v, queries %v", res.Result, res.Queries)
	}
}
