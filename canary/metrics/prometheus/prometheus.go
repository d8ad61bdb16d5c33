// Package prometheus reads canary metrics from Prometheus' HTTP API (or anything that speaks it:
// Thanos, Mimir, VictoriaMetrics), one range query per metric and scope.
package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gennaker/gennaker/canary/metrics"
)

var _ metrics.Source = (*Source)(nil)

// defaultTimeout bounds a query when Config brings no client: a canary stage waiting forever on a
// stuck Prometheus would hold its deployment hostage, and a retry can try again.
const defaultTimeout = 60 * time.Second

// errorBodyLimit is how much of a response that is not Prometheus' JSON is kept for the message.
const errorBodyLimit = 512

// Config says where Prometheus is and how to authenticate to it.
type Config struct {
	// URL is Prometheus' base URL, e.g. http://prometheus:9090 or https://host/prometheus; the API
	// lives below it at /api/v1.
	URL string
	// HTTPClient makes the requests; a client with a 60s timeout when nil.
	HTTPClient *http.Client
	// BearerToken is sent as "Authorization: Bearer"; exclusive with Username.
	BearerToken string
	// Username and Password are sent as basic authentication when Username is set.
	Username, Password string
	// Headers are added to every request, e.g. a tenant header for Mimir or Cortex.
	Headers map[string]string
}

// Source runs canary queries against one Prometheus.
type Source struct {
	queryRange string
	client     *http.Client
	cfg        Config
}

// New checks cfg and returns a Source for it; nothing is contacted yet.
func New(cfg Config) (*Source, error) {
	if cfg.URL == "" {
		return nil, errors.New("prometheus: a URL is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("prometheus: URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus: URL %q: want http(s)://host[:port][/path]", u.Redacted())
	}
	if cfg.BearerToken != "" && cfg.Username != "" {
		return nil, errors.New("prometheus: a bearer token and basic authentication are exclusive")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1/query_range"
	u.RawQuery, u.Fragment = "", ""
	return &Source{queryRange: u.String(), client: client, cfg: cfg}, nil
}

// Fetch resolves q for s and runs it as a range query over s's interval. Values are placed on the
// grid Start, Start+Step, ... up to End (Start at millisecond precision, as Prometheus evaluates it).
func (src *Source) Fetch(ctx context.Context, q metrics.Query, s metrics.Scope) (metrics.Result, error) {
	query, err := Resolve(q, s)
	if err != nil {
		return metrics.Result{}, fmt.Errorf("prometheus: %w", err)
	}
	g, err := newGrid(s)
	if err != nil {
		return metrics.Result{}, fmt.Errorf("prometheus: %w", err)
	}
	res := metrics.Result{Query: query, Start: g.start(), Step: g.step()}

	form := url.Values{
		"query": {query},
		"start": {formatMillis(g.startMs)},
		"end":   {formatMillis(g.endMs)},
		"step":  {formatMillis(g.stepMs)},
	}
	// POST, which Prometheus accepts since 2.1, keeps long queries clear of URL length limits.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, src.queryRange, strings.NewReader(form.Encode()))
	if err != nil {
		return res, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	for k, v := range src.cfg.Headers {
		req.Header.Set(k, v)
	}
	switch {
	case src.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+src.cfg.BearerToken)
	case src.cfg.Username != "":
		req.SetBasicAuth(src.cfg.Username, src.cfg.Password)
	}

	resp, err := src.client.Do(req)
	if err != nil {
		return res, fmt.Errorf("prometheus: query %s: %w", query, err)
	}
	defer resp.Body.Close()
	series, err := decode(resp, g)
	if err != nil {
		return res, fmt.Errorf("prometheus: query %s: %w", query, err)
	}
	res.Series = series
	return res, nil
}

// Resolve builds the PromQL that Fetch sends for q and s: the expanded Template, or, without one,
// MetricName{<scope>,<filter>}. It is exported so a config check or a report can show the query.
// Unlike Kayenta's default form it adds no avg(): series come back raw and judging aggregates.
func Resolve(q metrics.Query, s metrics.Scope) (string, error) {
	if tmpl := strings.TrimSpace(q.Template); tmpl != "" {
		tmpl = strings.TrimSpace(strings.TrimPrefix(tmpl, "PromQL:"))
		if tmpl == "" {
			return "", fmt.Errorf("%w: the template holds only the PromQL: prefix", metrics.ErrBadQuery)
		}
		return metrics.Expand(tmpl, s)
	}
	name := strings.TrimSpace(q.MetricName)
	if name == "" {
		return "", fmt.Errorf("%w: neither a query template nor a metric name is set", metrics.ErrBadQuery)
	}
	var matchers []string
	if m := strings.Trim(strings.TrimSpace(s.Scope), ","); m != "" {
		matchers = append(matchers, m)
	}
	if f := strings.TrimSpace(q.Filter); f != "" {
		f, err := metrics.Expand(f, s)
		if err != nil {
			return "", err
		}
		if f = strings.Trim(strings.TrimSpace(f), ","); f != "" {
			matchers = append(matchers, f)
		}
	}
	if len(matchers) == 0 {
		return name, nil
	}
	return name + "{" + strings.Join(matchers, ",") + "}", nil
}

// grid is the evaluation times of a range query in milliseconds, Prometheus' own precision.
type grid struct {
	startMs, endMs, stepMs int64
}

func newGrid(s metrics.Scope) (grid, error) {
	if s.Start.IsZero() || s.End.IsZero() {
		return grid{}, fmt.Errorf("%w: the interval needs a start and an end", metrics.ErrBadQuery)
	}
	if s.End.Before(s.Start) {
		return grid{}, fmt.Errorf("%w: the interval ends (%s) before it starts (%s)", metrics.ErrBadQuery,
			s.End.Format(time.RFC3339), s.Start.Format(time.RFC3339))
	}
	step := s.Step
	if step == 0 {
		step = metrics.DefaultStep
	}
	if step < time.Millisecond {
		return grid{}, fmt.Errorf("%w: step %s is below Prometheus' resolution of 1ms", metrics.ErrBadQuery, step)
	}
	return grid{startMs: s.Start.UnixMilli(), endMs: s.End.UnixMilli(), stepMs: step.Milliseconds()}, nil
}

func (g grid) start() time.Time    { return time.UnixMilli(g.startMs) }
func (g grid) step() time.Duration { return time.Duration(g.stepMs) * time.Millisecond }
func (g grid) points() int         { return int((g.endMs-g.startMs)/g.stepMs) + 1 }

// index is the grid point nearest to the millisecond ms; Prometheus answers exactly on the grid,
// rounding only absorbs the float seconds of its JSON.
func (g grid) index(ms int64) (int, bool) {
	i := int(math.Round(float64(ms-g.startMs) / float64(g.stepMs)))
	return i, i >= 0 && i < g.points()
}

// formatMillis writes a time or duration in the float seconds Prometheus' API reads.
func formatMillis(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64) }

// apiResponse is Prometheus' envelope around every API answer.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			// Each point is [<unix seconds>, "<value>"]: a number, then a string.
			Values [][2]any `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// decode reads a query_range answer and classes its failure: Prometheus answers 400 (bad_data)
// when it cannot parse the query and 422 (execution) when the query cannot run on the data, e.g.
// many-to-many matching or too many samples; neither improves by asking again. Timeouts and
// cancellations come as 503 and storage trouble as 500, which a retry may get past. A 401 or 403,
// from Prometheus or a proxy in front of it, is an ErrRefused.
func decode(resp *http.Response, g grid) ([]metrics.Series, error) {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading Prometheus' answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("%w: %s answered HTTP %d: check the user and password (or token) given for it: %s",
			metrics.ErrRefused, resp.Request.URL.Redacted(), resp.StatusCode, snippet(body))
	}
	var r apiResponse
	err = json.Unmarshal(body, &r)
	if err == nil && r.Status == "" {
		err = errors.New("no status")
	}
	if err != nil {
		// Not Prometheus speaking: a proxy, a login page, the wrong URL.
		return nil, fmt.Errorf("HTTP %d from %s is not a Prometheus API answer (%v): %s",
			resp.StatusCode, resp.Request.URL.Redacted(), err, snippet(body))
	}
	if r.Status != "success" {
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity ||
			r.ErrorType == "bad_data" || r.ErrorType == "execution" {
			return nil, fmt.Errorf("%w: Prometheus answered %d %s: %s", metrics.ErrBadQuery,
				resp.StatusCode, r.ErrorType, r.Error)
		}
		return nil, fmt.Errorf("the Prometheus server answered %d %s: %s", resp.StatusCode, r.ErrorType, r.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the Prometheus server answered HTTP %d with status success", resp.StatusCode)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("the Prometheus server answered a range query with a %q, not a matrix", r.Data.ResultType)
	}
	n := g.points()
	series := make([]metrics.Series, 0, len(r.Data.Result))
	for _, rs := range r.Data.Result {
		values := make([]float64, n)
		for i := range values {
			values[i] = math.NaN()
		}
		for _, p := range rs.Values {
			ts, tsOK := p[0].(float64)
			// Prometheus writes values as strings so that NaN and ±Inf survive JSON;
			// ParseFloat reads "NaN", "+Inf" and "-Inf" as they are.
			text, textOK := p[1].(string)
			v, err := strconv.ParseFloat(text, 64)
			if !tsOK || !textOK || err != nil {
				return nil, fmt.Errorf("series %v: unreadable point %v", rs.Metric, p)
			}
			if i, ok := g.index(int64(math.Round(ts * 1000))); ok {
				values[i] = v
			}
		}
		labels := rs.Metric
		if labels == nil {
			labels = map[string]string{}
		}
		series = append(series, metrics.Series{Labels: labels, Values: values})
	}
	return series, nil
}

// snippet is the start of a body for an error message, enough to recognise what answered.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > errorBodyLimit {
		s = strings.ToValidUTF8(s[:errorBodyLimit], "") + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
