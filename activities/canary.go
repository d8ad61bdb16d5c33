package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/canary"
	"github.com/gennaker/gennaker/canary/metrics"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
)

// CanaryConfigReader reads an application's canary configs; the store is one.
type CanaryConfigReader interface {
	GetCanaryConfig(ctx context.Context, app, name string) (store.CanaryConfigRecord, error)
}

// MetricsAccount is one metrics source canary analyses may read.
type MetricsAccount struct {
	Name string
	// Type is the source's type (prometheus); a canary config's metric queries must be of it.
	Type   string
	Source metrics.Source
}

// Canary runs canary analyses: it reads canary configs and measures and judges intervals.
type Canary struct {
	Configs CanaryConfigReader
	// Accounts are the metrics sources, the first the default; none refuses every analysis.
	Accounts []MetricsAccount
}

// LoadCanaryConfigInput names a canary config.
type LoadCanaryConfigInput struct {
	Application string `json:"application"`
	Name        string `json:"name"`
}

// LoadCanaryConfigResult is the config a canary stage judges by, fixed for the whole stage.
type LoadCanaryConfigResult struct {
	Config  canary.Config `json:"config"`
	Version int           `json:"version"`
}

// LoadCanaryConfig reads the canary config a stage names; a missing or unreadable one fails the
// stage for good.
func (c *Canary) LoadCanaryConfig(ctx context.Context, in LoadCanaryConfigInput) (LoadCanaryConfigResult, error) {
	if c.Configs == nil {
		return LoadCanaryConfigResult{}, temporal.NewNonRetryableApplicationError("canary configs are not available to this worker", "CanaryConfigNotFound", nil)
	}
	rec, err := c.Configs.GetCanaryConfig(ctx, in.Application, in.Name)
	if errors.Is(err, store.ErrCanaryConfigNotFound) {
		msg := fmt.Sprintf("application %q has no canary config %q", in.Application, in.Name)
		return LoadCanaryConfigResult{}, temporal.NewNonRetryableApplicationError(msg, "CanaryConfigNotFound", err)
	}
	if err != nil {
		return LoadCanaryConfigResult{}, err
	}
	cfg, problems := canary.DecodeStrict(rec.Config)
	if len(problems) > 0 {
		msg := fmt.Sprintf("canary config %q cannot be read: %s", in.Name, pipeline.ProblemStrings(problems)[0])
		return LoadCanaryConfigResult{}, temporal.NewNonRetryableApplicationError(msg, "BadCanaryConfig", nil)
	}
	return LoadCanaryConfigResult{Config: cfg, Version: rec.Version}, nil
}

// JudgeCanaryIntervalInput is one analysis: the config, where the metrics are, and the interval.
type JudgeCanaryIntervalInput struct {
	Config         canary.Config          `json:"config"`
	MetricsAccount string                 `json:"metricsAccount,omitempty"`
	Scopes         []pipeline.CanaryScope `json:"scopes"`
	Start          time.Time              `json:"start"`
	End            time.Time              `json:"end"`
	Thresholds     canary.Thresholds      `json:"thresholds"`
}

// JudgeCanaryIntervalResult is the judgment of one interval.
type JudgeCanaryIntervalResult struct {
	Result canary.Result `json:"result"`
	// Queries are the queries sent, by metric, baseline then canary, for the report.
	Queries map[string][2]string `json:"queries,omitempty"`
}

// JudgeCanaryInterval fetches every metric of the config for the baseline (control) and the
// canary (experiment) over the interval and judges them. The series stay here, never in the
// workflow's history: only the judgment, with a summary of each series, goes back. A query the
// metrics source refuses fails the stage for good with its message; an unreachable source is
// retried.
func (c *Canary) JudgeCanaryInterval(ctx context.Context, in JudgeCanaryIntervalInput) (JudgeCanaryIntervalResult, error) {
	account, err := c.account(in.MetricsAccount)
	if err != nil {
		return JudgeCanaryIntervalResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "NoMetricsAccount", nil)
	}
	res := JudgeCanaryIntervalResult{Queries: map[string][2]string{}}
	var series []canary.MetricSeries
	for _, m := range in.Config.Metrics {
		activity.RecordHeartbeat(ctx, m.Name)
		if m.Query.Type != "" && m.Query.Type != account.Type {
			msg := fmt.Sprintf("metric %q queries a %s source, but metrics account %q is %s", m.Name, m.Query.Type, account.Name, account.Type)
			return res, temporal.NewNonRetryableApplicationError(msg, "BadCanaryQuery", nil)
		}
		scope, err := scopeFor(m, in.Scopes)
		if err != nil {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), "BadCanaryQuery", nil)
		}
		filter, err := in.Config.FilterTemplate(m.Query)
		if err != nil {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("metric %q: %v", m.Name, err), "BadCanaryQuery", nil)
		}
		q := metrics.Query{Metric: m.Name, Template: m.Query.InlineQuery(), MetricName: m.Query.MetricName, Filter: filter}
		control, controlQuery, err := fetchValues(ctx, account.Source, q, metrics.Scope{Scope: scope.ControlScope, Location: scope.ControlLocation,
			Start: in.Start, End: in.End, Step: scope.Step, Extended: scope.Extended})
		if err != nil {
			return res, fetchError(m.Name, "baseline", err)
		}
		experiment, experimentQuery, err := fetchValues(ctx, account.Source, q, metrics.Scope{Scope: scope.ExperimentScope, Location: scope.ExperimentLocation,
			Start: in.Start, End: in.End, Step: scope.Step, Extended: scope.Extended})
		if err != nil {
			return res, fetchError(m.Name, "canary", err)
		}
		res.Queries[m.Name] = [2]string{controlQuery, experimentQuery}
		series = append(series, canary.MetricSeries{Metric: m.Name, Scope: scope.ScopeName, Control: control, Experiment: experiment})
	}
	th := in.Thresholds
	judged, err := canary.Judge(canary.JudgeInput{Config: in.Config, Metrics: series, Thresholds: &th})
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(err.Error(), "BadCanaryJudgeInput", nil)
	}
	res.Result = judged
	return res, nil
}

func (c *Canary) account(name string) (MetricsAccount, error) {
	if len(c.Accounts) == 0 {
		return MetricsAccount{}, errors.New("no metrics source is configured for canary analysis (start gennaker with --prometheus-url)")
	}
	if name == "" {
		return c.Accounts[0], nil
	}
	for _, a := range c.Accounts {
		if a.Name == name {
			return a, nil
		}
	}
	return MetricsAccount{}, fmt.Errorf("unknown metrics account %q", name)
}

// scopeFor finds the stage scope a metric is measured in: the one of its scopeName, or the only one.
func scopeFor(m canary.Metric, scopes []pipeline.CanaryScope) (pipeline.CanaryScope, error) {
	name := m.ScopeName
	if name == "" {
		name = "default"
	}
	for _, s := range scopes {
		if s.ScopeName == name {
			return s, nil
		}
	}
	if len(scopes) == 1 {
		return scopes[0], nil
	}
	return pipeline.CanaryScope{}, fmt.Errorf("metric %q is measured in scope %q, which the stage's scopes do not name", m.Name, name)
}

// fetchValues runs one query and pools the values of every series it returned: the judge
// compares samples, and a metric per pod is a sample of the deployment.
func fetchValues(ctx context.Context, src metrics.Source, q metrics.Query, s metrics.Scope) ([]float64, string, error) {
	r, err := src.Fetch(ctx, q, s)
	if err != nil {
		return nil, "", err
	}
	var values []float64
	for _, series := range r.Series {
		values = append(values, series.Values...)
	}
	return values, r.Query, nil
}

// fetchError names the metric and the side a fetch failed for; a source's error says what it asked.
func fetchError(metric, side string, err error) error {
	what := fmt.Sprintf("metric %q for the %s", metric, side)
	switch {
	case errors.Is(err, metrics.ErrBadQuery):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", what, err), "BadCanaryQuery", err)
	case errors.Is(err, metrics.ErrRefused):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", what, err), "MetricsSourceRefused", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
