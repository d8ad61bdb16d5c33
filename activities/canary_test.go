package activities

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/canary"
	"github.com/gennaker/gennaker/canary/metrics/prometheus"
	"github.com/gennaker/gennaker/canary/sources"
	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/pipeline"
)

// closedPort is the address of a local port nothing listens on: a Prometheus that is down. The port
// stays reserved until the test ends, so that nothing can (see freeport).
func closedPort(t *testing.T) string {
	t.Helper()
	port, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(port.Release)
	return port.Addr()
}

// judgeOneMetric runs JudgeCanaryInterval in an activity environment, with one Prometheus account
// at promURL (none when empty) and a config of one metric, over the last ten minutes.
func judgeOneMetric(t *testing.T, promURL string) error {
	t.Helper()
	acts := &Canary{}
	if promURL != "" {
		src, err := sources.New(sources.TypePrometheus, sources.Config{Prometheus: prometheus.Config{URL: promURL}})
		if err != nil {
			t.Fatal(err)
		}
		acts.Accounts = []MetricsAccount{{Name: "prometheus", Type: sources.TypePrometheus, Source: src}}
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	end := time.Now().Truncate(time.Second)
	_, err := env.ExecuteActivity(acts.JudgeCanaryInterval, JudgeCanaryIntervalInput{
		Config: canary.Config{Name: "web", Metrics: []canary.Metric{{Name: "http-errors", Groups: []string{"errors"},
			Query: canary.Query{Type: "prometheus", MetricName: "http_errors_total"}}}},
		Scopes: []pipeline.CanaryScope{{ScopeName: "default", ControlScope: `track="baseline"`, ExperimentScope: `track="canary"`, Step: 10 * time.Second}},
		Start:  end.Add(-10 * time.Minute), End: end, Thresholds: canary.Thresholds{Pass: 75, Marginal: 50},
	})
	return err
}

func TestJudgeCanaryIntervalErrorsSayWhatToFixAndWhetherToRetry(t *testing.T) {
	// The workflow retries JudgeCanaryInterval (12 attempts) unless the error is a non-retryable
	// application error: a Prometheus that is down, or overloaded, must be retried, and a query it
	// refuses, credentials it turns away, or a missing source, must fail the stage at once. Either way the message, which
	// becomes the stage's error, must tell a person what to look at.
	answering := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	down := closedPort(t)
	for _, tt := range []struct {
		name      string
		url       string
		retryable bool
		says      []string
	}{
		{"Prometheus unreachable", "http://" + down, true,
			[]string{`metric "http-errors" for the baseline`, "http://" + down + "/api/v1/query_range", "connection refused"}},
		{"Prometheus overloaded", answering(http.StatusServiceUnavailable, `{"status": "error", "errorType": "timeout", "error": "query timed out"}`), true,
			[]string{`metric "http-errors" for the baseline`, "503", "query timed out"}},
		{"a query Prometheus refuses", answering(http.StatusBadRequest, `{"status": "error", "errorType": "bad_data", "error": "parse error at char 7"}`), false,
			[]string{`metric "http-errors" for the baseline`, "parse error at char 7"}},
		{"credentials Prometheus refuses", answering(http.StatusUnauthorized, `Unauthorized`), false,
			[]string{`metric "http-errors" for the baseline`, "HTTP 401", "check the user and password"}},
		{"no Prometheus configured", "", false, []string{"--prometheus-url"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := judgeOneMetric(t, tt.url)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) {
				t.Fatalf("error %v, want an application error", err)
			}
			if appErr.NonRetryable() == tt.retryable {
				t.Errorf("error %q: retryable %v, want %v", appErr.Message(), !appErr.NonRetryable(), tt.retryable)
			}
			for _, s := range tt.says {
				if !strings.Contains(appErr.Message(), s) {
					t.Errorf("error %q does not say %q", appErr.Message(), s)
				}
			}
		})
	}
}
