package promtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultRequestRate is the simulated traffic of an App whose config leaves RequestRate zero.
const DefaultRequestRate = 50

// LatencyBuckets are the upper bounds (seconds) of an App's latency histogram: 10 ms apart up to
// 200 ms, so that histogram_quantile, which interpolates within a bucket, lands within a few
// milliseconds of the true quantile for the latencies tests use.
var LatencyBuckets = []float64{
	0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1,
	0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19, 0.2,
	0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10,
}

// tick is how often the simulation advances; requests due in between are all counted at once.
const tick = 20 * time.Millisecond

// AppConfig is the behaviour an App simulates.
type AppConfig struct {
	// ErrorRate is the fraction of requests answered 500, between 0 and 1.
	ErrorRate float64
	// Latencies are uniform in [LatencyMean-LatencyJitter, LatencyMean+LatencyJitter], never below 0.
	LatencyMean, LatencyJitter time.Duration
	// RequestRate is the simulated requests per second; DefaultRequestRate when zero, none when
	// negative.
	RequestRate float64
	// Seed seeds the draws of errors and latencies, so that every run simulates the same sequence of
	// requests (how many fall in each scrape still depends on timing).
	Seed uint64
	// Hidden starts the app exposing no request series, as an app not yet instrumented.
	Hidden bool
}

// App is an HTTP server exposing, at /metrics in Prometheus' text format, the metrics of a service
// that a background goroutine feeds with simulated requests:
//
//	http_requests_total{code="200"|"500"}  counter; both codes are always exposed, so an error
//	                                       rate is 0 rather than missing when nothing failed
//	http_request_duration_seconds          histogram with LatencyBuckets, _sum and _count
//
// It is stopped when the test ends.
type App struct {
	srv  *httptest.Server
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	cfg     AppConfig
	rng     *rand.Rand
	due     float64 // requests owed by elapsed time, carried between ticks
	ok      uint64
	failed  uint64
	buckets []uint64 // cumulative counts are computed when exposed
	sum     float64
}

// NewApp starts an app on a loopback port with the behaviour cfg describes.
func NewApp(t testing.TB, cfg AppConfig) *App {
	t.Helper()
	if cfg.ErrorRate < 0 || cfg.ErrorRate > 1 {
		t.Fatalf("promtest: error rate %v is not between 0 and 1", cfg.ErrorRate)
	}
	a := &App{
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		buckets: make([]uint64, len(LatencyBuckets)),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", a.serveMetrics)
	a.srv = httptest.NewServer(mux)
	go a.simulate()
	t.Cleanup(func() {
		close(a.stop)
		<-a.done
		a.srv.Close()
	})
	return a
}

// Addr is the app's host:port, as Prometheus scrapes it.
func (a *App) Addr() string { return strings.TrimPrefix(a.srv.URL, "http://") }

// Target is the app as a scrape target carrying labels, for StartPrometheus or AddTargets.
func (a *App) Target(labels map[string]string) Target {
	return Target{Addr: a.Addr(), Labels: labels}
}

// SetErrorRate changes the fraction of requests answered 500 from now on.
func (a *App) SetErrorRate(rate float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg.ErrorRate = rate
}

// SetLatency changes the latency of requests from now on.
func (a *App) SetLatency(mean, jitter time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg.LatencyMean, a.cfg.LatencyJitter = mean, jitter
}

// SetRequestRate changes the simulated requests per second; 0 stops traffic, which leaves the
// counters flat and makes a ratio of rates NaN (0/0), another face of "no data".
func (a *App) SetRequestRate(perSecond float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if perSecond <= 0 {
		perSecond = -1
	}
	a.cfg.RequestRate = perSecond
}

// SetHidden stops (or resumes) exposing the request series; Prometheus marks hidden series stale
// at the next scrape, so queries find no series from then on.
func (a *App) SetHidden(hidden bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg.Hidden = hidden
}

// Requests is how many simulated requests succeeded and failed so far.
func (a *App) Requests() (ok, failed uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ok, a.failed
}

// simulate counts the requests due at the configured rate, tick after tick, until the app stops.
func (a *App) simulate() {
	defer close(a.done)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	last := time.Now()
	for {
		select {
		case <-a.stop:
			return
		case now := <-ticker.C:
			a.advance(now.Sub(last))
			last = now
		}
	}
}

// advance counts the requests due over elapsed, from the wall clock rather than tick counts so
// that a slow tick does not lower the rate.
func (a *App) advance(elapsed time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rate := a.cfg.RequestRate
	switch {
	case rate == 0:
		rate = DefaultRequestRate
	case rate < 0:
		return
	}
	a.due += rate * elapsed.Seconds()
	for ; a.due >= 1; a.due-- {
		if a.rng.Float64() < a.cfg.ErrorRate {
			a.failed++
		} else {
			a.ok++
		}
		latency := a.cfg.LatencyMean.Seconds() + (2*a.rng.Float64()-1)*a.cfg.LatencyJitter.Seconds()
		latency = max(latency, 0)
		a.sum += latency
		for i, le := range LatencyBuckets {
			if latency <= le {
				a.buckets[i]++
				break
			}
		}
	}
}

// serveMetrics writes the text exposition format by hand; its grammar is small enough that a
// client library would only add a dependency.
func (a *App) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	a.mu.Lock()
	if !a.cfg.Hidden {
		b.WriteString("# HELP http_requests_total Requests handled, by status code.\n")
		b.WriteString("# TYPE http_requests_total counter\n")
		fmt.Fprintf(&b, "http_requests_total{code=\"200\"} %d\n", a.ok)
		fmt.Fprintf(&b, "http_requests_total{code=\"500\"} %d\n", a.failed)
		b.WriteString("# HELP http_request_duration_seconds Time taken to answer requests.\n")
		b.WriteString("# TYPE http_request_duration_seconds histogram\n")
		var cumulative uint64
		for i, le := range LatencyBuckets {
			cumulative += a.buckets[i]
			fmt.Fprintf(&b, "http_request_duration_seconds_bucket{le=%q} %d\n", formatFloat(le), cumulative)
		}
		total := a.ok + a.failed
		fmt.Fprintf(&b, "http_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", total)
		fmt.Fprintf(&b, "http_request_duration_seconds_sum %s\n", formatFloat(a.sum))
		fmt.Fprintf(&b, "http_request_duration_seconds_count %d\n", total)
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// formatFloat writes a sample value as the text exposition format expects.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
