package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gennaker/gennaker/canary/metrics"
	"github.com/gennaker/gennaker/canary/metrics/prometheus"
	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/internal/promtest"
)

const (
	baseline = `app="web",track="baseline"`
	canary   = `app="web",track="canary"`
	silent   = `app="web",track="silent"`
	// errorRate and medianLatency are the kind of templates a canary config holds; a 10s window
	// spans ~9 scrapes, enough requests for a steady ratio.
	errorRate     = `PromQL: sum(rate(http_requests_total{${scope},code="500"}[10s])) / sum(rate(http_requests_total{${scope}}[10s]))`
	medianLatency = `histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{${scope}}[10s])))`
	meanLatency   = `sum(rate(http_request_duration_seconds_sum{${scope}}[10s])) / sum(rate(http_request_duration_seconds_count{${scope}}[10s]))`
)

// TestFetchFromPrometheus runs every query against one real Prometheus scraping a baseline app
// (1% errors, 50 ms), a canary app (10% errors, 120 ms) and an app exposing no request series.
func TestFetchFromPrometheus(t *testing.T) {
	started := time.Now()
	control := promtest.NewApp(t, promtest.AppConfig{
		ErrorRate: 0.01, LatencyMean: 50 * time.Millisecond, LatencyJitter: 10 * time.Millisecond,
		RequestRate: 200, Seed: 1,
	})
	experiment := promtest.NewApp(t, promtest.AppConfig{
		ErrorRate: 0.10, LatencyMean: 120 * time.Millisecond, LatencyJitter: 10 * time.Millisecond,
		RequestRate: 200, Seed: 2,
	})
	quiet := promtest.NewApp(t, promtest.AppConfig{Hidden: true})
	prom := promtest.StartPrometheus(t,
		control.Target(map[string]string{"app": "web", "track": "baseline"}),
		experiment.Target(map[string]string{"app": "web", "track": "canary"}),
		quiet.Target(map[string]string{"app": "web", "track": "silent"}),
	)
	prom.WaitForScrapes(t, 15)
	t.Logf("Prometheus had 15 scrapes of every app %s after the start", time.Since(started).Round(time.Millisecond))

	src, err := prometheus.New(prometheus.Config{URL: prom.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	end := time.Now()
	// The last 5s: every point's 10s window lies within the scraped data.
	recent := func(scope string) metrics.Scope {
		return metrics.Scope{Scope: scope, Start: end.Add(-5 * time.Second), End: end, Step: time.Second}
	}

	t.Run("error rate", func(t *testing.T) {
		for _, tc := range []struct {
			scope    string
			min, max float64
		}{
			{baseline, 0.002, 0.025},
			{canary, 0.07, 0.13},
		} {
			res := fetch(t, src, metrics.Query{Metric: "error-rate", Template: errorRate}, recent(tc.scope))
			wantQuery := `sum(rate(http_requests_total{` + tc.scope + `,code="500"}[10s])) / sum(rate(http_requests_total{` + tc.scope + `}[10s]))`
			if res.Query != wantQuery {
				t.Errorf("resolved query %s, want %s", res.Query, wantQuery)
			}
			got := oneSeriesMean(t, res, 6)
			t.Logf("%s: mean error rate %.4f", tc.scope, got)
			if got < tc.min || got > tc.max {
				t.Errorf("%s: mean error rate %.4f, want between %v and %v", tc.scope, got, tc.min, tc.max)
			}
		}
	})

	t.Run("latency", func(t *testing.T) {
		for _, tc := range []struct {
			scope string
			want  float64
		}{
			{baseline, 0.050},
			{canary, 0.120},
		} {
			median := oneSeriesMean(t, fetch(t, src, metrics.Query{Metric: "p50", Template: medianLatency}, recent(tc.scope)), 6)
			if math.Abs(median-tc.want) > 0.005 {
				t.Errorf("%s: median latency %.4fs, want %.3fs ± 5ms", tc.scope, median, tc.want)
			}
			mean := oneSeriesMean(t, fetch(t, src, metrics.Query{Metric: "mean", Template: meanLatency}, recent(tc.scope)), 6)
			t.Logf("%s: median latency %.4fs, mean %.4fs", tc.scope, median, mean)
			if math.Abs(mean-tc.want) > 0.002 {
				t.Errorf("%s: mean latency %.4fs, want %.3fs ± 2ms", tc.scope, mean, tc.want)
			}
		}
	})

	t.Run("grid", func(t *testing.T) {
		// An odd start, not a multiple of the step, 30s before Prometheus existed: the grid starts
		// where asked and the points before the first scrape are gaps.
		s := metrics.Scope{
			Start: started.Add(-30 * time.Second).Truncate(time.Second).Add(123 * time.Millisecond),
			End:   end,
			Step:  5 * time.Second,
		}
		clock := fetch(t, src, metrics.Query{Metric: "clock", Template: "time()"}, s)
		if !clock.Start.Equal(s.Start) || clock.Step != s.Step {
			t.Errorf("grid %s every %s, want %s every %s", clock.Start, clock.Step, s.Start, s.Step)
		}
		points := int(s.End.Sub(s.Start)/s.Step) + 1
		if len(clock.Series) != 1 || len(clock.Series[0].Values) != points {
			t.Fatalf("time(): %+v, want one series of %d points", clock.Series, points)
		}
		// time() is each point's own evaluation time, so it shows where every value was placed.
		for i, v := range clock.Series[0].Values {
			want := float64(s.Start.Add(time.Duration(i)*s.Step).UnixMilli()) / 1000
			if v != want {
				t.Errorf("time() at point %d = %.3f, want %.3f", i, v, want)
			}
		}

		s.Scope = baseline
		up := fetch(t, src, metrics.Query{Metric: "up", Template: "up{${scope}}"}, s)
		if len(up.Series) != 1 || up.Series[0].Labels["track"] != "baseline" {
			t.Fatalf("up{%s}: %+v, want the baseline's series", baseline, up.Series)
		}
		values := up.Series[0].Values
		for i := range 6 { // the first 30s
			if !math.IsNaN(values[i]) {
				t.Errorf("up at point %d, before Prometheus started: %v, want NaN", i, values[i])
			}
		}
		if last := values[len(values)-1]; last != 1 {
			t.Errorf("up at the last point: %v, want 1", last)
		}
	})

	t.Run("NaN and infinity from Prometheus", func(t *testing.T) {
		for template, check := range map[string]func(float64) bool{
			"vector(0) / 0":  math.IsNaN,
			"vector(1) / 0":  func(v float64) bool { return math.IsInf(v, 1) },
			"vector(-1) / 0": func(v float64) bool { return math.IsInf(v, -1) },
		} {
			res := fetch(t, src, metrics.Query{Metric: "odd", Template: template}, recent(""))
			if len(res.Series) != 1 {
				t.Fatalf("%s: %d series, want 1", template, len(res.Series))
			}
			for i, v := range res.Series[0].Values {
				if !check(v) {
					t.Errorf("%s at point %d = %v", template, i, v)
				}
			}
		}
	})

	t.Run("metric name form", func(t *testing.T) {
		q := metrics.Query{Metric: "errors", MetricName: "http_requests_total", Filter: `code="500"`}
		res := fetch(t, src, q, recent(canary))
		if want := `http_requests_total{app="web",track="canary",code="500"}`; res.Query != want {
			t.Errorf("resolved query %s, want %s", res.Query, want)
		}
		if len(res.Series) != 1 {
			t.Fatalf("%d series, want only the canary's 500s: %+v", len(res.Series), res.Series)
		}
		if l := res.Series[0].Labels; l["track"] != "canary" || l["code"] != "500" || l["__name__"] != "http_requests_total" {
			t.Errorf("labels %v, want the canary's http_requests_total with code 500", l)
		}
	})

	t.Run("no data", func(t *testing.T) {
		res := fetch(t, src, metrics.Query{Metric: "error-rate", Template: errorRate}, recent(silent))
		if len(res.Series) != 0 {
			t.Errorf("an app exposing no request series gave %+v, want no series", res.Series)
		}
	})

	t.Run("query Prometheus cannot parse", func(t *testing.T) {
		_, err := src.Fetch(ctx, metrics.Query{Metric: "broken", Template: "sum(rate(http_requests_total{${scope}}[1m])"}, recent(canary))
		if !errors.Is(err, metrics.ErrBadQuery) {
			t.Fatalf("err = %v, want an ErrBadQuery", err)
		}
		t.Log(err)
		// The metric's name is for the caller to add; the source shows the query it sent.
		for _, s := range []string{"400 bad_data", "parse error", `http_requests_total{app="web",track="canary"}`} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %s", err, s)
			}
		}
	})

	t.Run("query Prometheus cannot execute", func(t *testing.T) {
		// Parses, but each side has two series with nothing to match them by.
		q := metrics.Query{Metric: "ambiguous", Template: "http_requests_total{${scope}} * on() http_requests_total{${scope}}"}
		_, err := src.Fetch(ctx, q, recent(canary))
		if !errors.Is(err, metrics.ErrBadQuery) || !strings.Contains(err.Error(), "422 execution") ||
			!strings.Contains(err.Error(), "many-to-many") {
			t.Errorf("err = %v, want an ErrBadQuery with Prometheus' 422 execution error", err)
		}
	})

	t.Run("unbound placeholder", func(t *testing.T) {
		q := metrics.Query{Metric: "regional", Template: `up{${scope},region="${region}"}`}
		_, err := src.Fetch(ctx, q, recent(canary))
		if !errors.Is(err, metrics.ErrBadQuery) || !strings.Contains(err.Error(), "${region}") {
			t.Errorf("err = %v, want an ErrBadQuery naming ${region}", err)
		}
	})
}

func TestFetchUnreachable(t *testing.T) {
	// A reserved port: nothing listens there until the test ends (see freeport).
	port, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Release()
	addr := port.Addr()
	src, err := prometheus.New(prometheus.Config{URL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(context.Background(), metrics.Query{Metric: "up", Template: "up"}, window())
	if err == nil || errors.Is(err, metrics.ErrBadQuery) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say why", err)
	}
}

func TestFetchThroughFailingProxy(t *testing.T) {
	// Not a fake Prometheus: a proxy in front of it that fails, answering HTML.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	}))
	defer proxy.Close()
	src, err := prometheus.New(prometheus.Config{URL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(context.Background(), metrics.Query{Metric: "up", Template: "up"}, window())
	if err == nil || errors.Is(err, metrics.ErrBadQuery) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "HTTP 502") || !strings.Contains(err.Error(), "502 Bad Gateway</body>") {
		t.Errorf("error %q does not show the proxy's answer", err)
	}
}

func TestFetchRefusedCredentials(t *testing.T) {
	// A proxy in front of Prometheus turning the caller away; asking again would not help.
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "not for you")
		}))
		src, err := prometheus.New(prometheus.Config{URL: proxy.URL, Username: "alice", Password: "wrong"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Fetch(context.Background(), metrics.Query{Metric: "up", Template: "up"}, window())
		proxy.Close()
		if !errors.Is(err, metrics.ErrRefused) || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", status)) ||
			!strings.Contains(err.Error(), "not for you") {
			t.Errorf("HTTP %d: err = %v, want an ErrRefused showing the answer", status, err)
		}
	}
}

func TestFetchSendsCredentials(t *testing.T) {
	tests := []struct {
		name    string
		cfg     prometheus.Config
		header  string
		want    string
		tenant  string
		pathFor string
	}{
		{"bearer", prometheus.Config{BearerToken: "s3cret"}, "Authorization", "Bearer s3cret", "", "/api/v1/query_range"},
		{"basic", prometheus.Config{Username: "u", Password: "p"}, "Authorization", "Basic dTpw", "", "/api/v1/query_range"},
		{"headers and a path", prometheus.Config{Headers: map[string]string{"X-Scope-OrgID": "team-a"}}, "X-Scope-OrgID", "team-a", "/prometheus/", "/prometheus/api/v1/query_range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A recorder of what Fetch sends, answering as Prometheus does when it finds nothing.
			var got *http.Request
			var form url.Values
			rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				got, form = r, r.PostForm
				_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
			}))
			defer rec.Close()
			tt.cfg.URL = rec.URL + tt.tenant
			src, err := prometheus.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := metrics.Scope{Start: time.UnixMilli(1_700_000_000_250), End: time.UnixMilli(1_700_000_060_250)}
			res, err := src.Fetch(context.Background(), metrics.Query{Metric: "up", Template: "up"}, s)
			if err != nil {
				t.Fatal(err)
			}
			if v := got.Header.Get(tt.header); v != tt.want {
				t.Errorf("%s: %q, want %q", tt.header, v, tt.want)
			}
			if got.Method != http.MethodPost || got.URL.Path != tt.pathFor {
				t.Errorf("%s %s, want POST %s", got.Method, got.URL.Path, tt.pathFor)
			}
			want := url.Values{"query": {"up"}, "start": {"1700000000.25"}, "end": {"1700000060.25"}, "step": {"60"}}
			if form.Encode() != want.Encode() {
				t.Errorf("form %v, want %v", form, want)
			}
			if res.Step != metrics.DefaultStep || len(res.Series) != 0 {
				t.Errorf("result %+v, want no series at the default step", res)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []prometheus.Config{
		{},
		{URL: "prometheus:9090"},
		{URL: "ftp://prometheus"},
		{URL: "http://prometheus:9090", BearerToken: "t", Username: "u"},
	} {
		if _, err := prometheus.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
}

func TestResolve(t *testing.T) {
	scope := metrics.Scope{Scope: canary, Location: "eu-west-1", Extended: map[string]string{"ns": "shop"}}
	tests := []struct {
		name string
		q    metrics.Query
		want string
	}{
		{"template", metrics.Query{Template: `up{${scope},region="${location}"}`}, `up{app="web",track="canary",region="eu-west-1"}`},
		{"PromQL prefix", metrics.Query{Template: ` PromQL:up{${scope}}`}, `up{app="web",track="canary"}`},
		{"template wins over metric name", metrics.Query{Template: "up", MetricName: "down"}, "up"},
		{"metric name", metrics.Query{MetricName: "up"}, `up{app="web",track="canary"}`},
		{"metric name and filter", metrics.Query{MetricName: "up", Filter: `ns="${ns}",zone=~"${location}.*"`},
			`up{app="web",track="canary",ns="shop",zone=~"eu-west-1.*"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prometheus.Resolve(tt.q, scope)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve = %s, want %s", got, tt.want)
			}
		})
	}
	if got, err := prometheus.Resolve(metrics.Query{MetricName: "up", Filter: `a="b"`}, metrics.Scope{}); err != nil || got != `up{a="b"}` {
		t.Errorf("Resolve without a scope = %s, %v; want up{a=\"b\"}", got, err)
	}
	for _, q := range []metrics.Query{{}, {Template: "PromQL:"}, {MetricName: "up", Filter: "${nothing}"}} {
		if got, err := prometheus.Resolve(q, scope); !errors.Is(err, metrics.ErrBadQuery) {
			t.Errorf("Resolve(%+v) = %s, %v; want an ErrBadQuery", q, got, err)
		}
	}
}

func TestFetchRejectsInterval(t *testing.T) {
	src, err := prometheus.New(prometheus.Config{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, s := range map[string]metrics.Scope{
		"no start":         {End: now},
		"end before start": {Start: now, End: now.Add(-time.Minute)},
		"sub-ms step":      {Start: now.Add(-time.Minute), End: now, Step: time.Microsecond},
	} {
		if _, err := src.Fetch(context.Background(), metrics.Query{Template: "up"}, s); !errors.Is(err, metrics.ErrBadQuery) {
			t.Errorf("%s: err = %v, want an ErrBadQuery", name, err)
		}
	}
}

func window() metrics.Scope {
	now := time.Now()
	return metrics.Scope{Start: now.Add(-time.Minute), End: now, Step: 10 * time.Second}
}

func fetch(t *testing.T, src metrics.Source, q metrics.Query, s metrics.Scope) metrics.Result {
	t.Helper()
	res, err := src.Fetch(context.Background(), q, s)
	if err != nil {
		t.Fatalf("Fetch %s for %s: %v", q.Metric, s.Scope, err)
	}
	return res
}

// oneSeriesMean checks that res holds one series with a value at every one of its n points and
// returns their mean.
func oneSeriesMean(t *testing.T, res metrics.Result, n int) float64 {
	t.Helper()
	if len(res.Series) != 1 || len(res.Series[0].Values) != n {
		t.Fatalf("%s: %+v, want one series of %d points", res.Query, res.Series, n)
	}
	var sum float64
	for i, v := range res.Series[0].Values {
		if math.IsNaN(v) {
			t.Fatalf("%s: no value at point %d: %v", res.Query, i, res.Series[0].Values)
		}
		sum += v
	}
	return sum / float64(n)
}
