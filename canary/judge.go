package canary

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gennaker/gennaker/canary/stats"
)

// JudgeName is the judge gennaker implements, by the name Kayenta's configs give it: Kayenta's
// NetflixACAJudge method.
const JudgeName = "NetflixACAJudge-v1.0"

// What NetflixACAJudge.classifyMetric builds its MannWhitneyClassifier with (tolerance = 0.25,
// confLevel = 0.98); neither can be configured there.
const (
	// confidenceLevel of the interval for the shift between canary and baseline.
	confidenceLevel = 0.98
	// tolerance: the interval must clear ±tolerance×|estimate| for a change to count, so a shift
	// that is tiny next to its own estimate does not fail a metric.
	tolerance = 0.25
)

// ErrInvalidInput marks a judge input that cannot be judged as given (no thresholds, a series
// for a metric the config does not have); retrying cannot help.
var ErrInvalidInput = errors.New("invalid canary judge input")

// MetricClassification is the verdict on one metric.
type MetricClassification string

// Metric classifications, as Kayenta names them.
const (
	// MetricPass: no significant change in a direction that fails the metric.
	MetricPass MetricClassification = "Pass"
	// MetricHigh: the canary is significantly higher than the baseline.
	MetricHigh MetricClassification = "High"
	// MetricLow: the canary is significantly lower than the baseline.
	MetricLow MetricClassification = "Low"
	// MetricNodata: the canary or the baseline had no data; not counted in the group score.
	MetricNodata MetricClassification = "Nodata"
	// MetricNodataFail: no data for a metric that must have data; counts as a failure.
	MetricNodataFail MetricClassification = "NodataFailMetric"
	// MetricError: the metric could not be judged; not counted in the group score.
	MetricError MetricClassification = "Error"
)

// ScoreClassification is the verdict on the whole canary.
type ScoreClassification string

// Score classifications.
const (
	ScorePass     ScoreClassification = "Pass"
	ScoreMarginal ScoreClassification = "Marginal"
	ScoreFail     ScoreClassification = "Fail"
)

// Thresholds turn the summary score into a verdict: at least Pass passes, at least Marginal is
// marginal, anything lower fails.
type Thresholds struct {
	Pass     float64 `json:"pass"`
	Marginal float64 `json:"marginal"`
}

// MetricSeries is what was measured for one metric of the config: the values of the baseline
// (control) and of the canary (experiment) over the analysis interval. NaN marks an interval
// without a sample.
type MetricSeries struct {
	// Metric is the metric's name in the config.
	Metric string `json:"metric"`
	// Scope is the scope the series were fetched for, echoed in the result.
	Scope      string    `json:"scope,omitempty"`
	Control    []float64 `json:"control"`
	Experiment []float64 `json:"experiment"`
}

// JudgeInput is everything a judgment needs. Series may hold NaN, which JSON cannot carry, so
// judge where the series are fetched rather than passing them around as JSON.
type JudgeInput struct {
	Config Config
	// Metrics holds at most one series pair per config metric; a config metric without one is
	// judged as having no data.
	Metrics []MetricSeries
	// Thresholds override the config's classifier.scoreThresholds; one of them is required.
	Thresholds *Thresholds
}

// Result is a canary judgment, compact enough to keep with an execution. It holds no NaN or
// infinite numbers, so it encodes as JSON.
type Result struct {
	JudgeName string `json:"judgeName"`
	// Score is the summary score, 0 to 100, rounded to two decimals.
	Score          float64             `json:"score"`
	Classification ScoreClassification `json:"classification"`
	// Reason explains the classification in a sentence.
	Reason     string         `json:"reason"`
	Thresholds Thresholds     `json:"thresholds"`
	Groups     []GroupResult  `json:"groups"`
	Metrics    []MetricResult `json:"metrics"`
}

// GroupResult is the score of one metric group.
type GroupResult struct {
	Name string `json:"name"`
	// Score is the percentage of the group's judged metrics that passed.
	Score float64 `json:"score"`
	// NoData is set when no metric of the group could be judged; the group then counts as 100
	// in the summary, as in Kayenta.
	NoData bool `json:"noData,omitempty"`
	// Weight is the group's share of the summary score, in percent.
	Weight float64 `json:"weight"`
	// Metrics counts the group's metrics that were not muted.
	Metrics int `json:"metrics"`
}

// MetricResult is the verdict on one metric with the numbers behind it.
type MetricResult struct {
	Name           string               `json:"name"`
	Scope          string               `json:"scope,omitempty"`
	Groups         []string             `json:"groups"`
	Classification MetricClassification `json:"classification"`
	// Reason says what was found, in a sentence a person can act on.
	Reason string `json:"reason"`
	// Critical is set when this result alone fails the canary: a critical metric failed beyond
	// its critical effect size, or had no data.
	Critical bool `json:"critical,omitempty"`
	// Muted metrics are judged and shown but do not count in any score.
	Muted bool `json:"muted,omitempty"`
	// Test is the Mann-Whitney test of canary against baseline; nil when the verdict needed none
	// (no data, identical data).
	Test *stats.MannWhitneyResult `json:"test,omitempty"`
	// EffectSize is the configured measure of the change; nil when no test was run.
	EffectSize *EffectSizeResult `json:"effectSize,omitempty"`
	// MeanRatio is mean(canary) / mean(baseline); nil when a mean is 0 or a series is empty.
	MeanRatio  *float64      `json:"meanRatio,omitempty"`
	Control    stats.Summary `json:"control"`
	Experiment stats.Summary `json:"experiment"`
}

// EffectSizeResult is the size of a change by the metric's measure.
type EffectSizeResult struct {
	Measure EffectMeasure `json:"measure"`
	// Value is nil when it cannot be computed (a mean ratio with a zero mean); the judge then
	// decides on the test alone, as Kayenta does.
	Value *float64 `json:"value,omitempty"`
}

// Judge judges a canary by Kayenta's NetflixACAJudge method: each metric's series are cleaned
// (NaNs, outliers) and compared with a Mann-Whitney test and an effect size, then metric
// verdicts become group scores and a weighted summary score, which the thresholds classify.
// Metric results follow the config's metric order. An error wraps ErrInvalidInput.
func Judge(in JudgeInput) (Result, error) {
	th, err := judgeThresholds(in)
	if err != nil {
		return Result{}, err
	}
	series := make(map[string]MetricSeries, len(in.Metrics))
	for _, s := range in.Metrics {
		if _, ok := in.Config.Metric(s.Metric); !ok {
			return Result{}, fmt.Errorf("%w: series for metric %q, which the config does not have", ErrInvalidInput, s.Metric)
		}
		if _, dup := series[s.Metric]; dup {
			return Result{}, fmt.Errorf("%w: two series for metric %q", ErrInvalidInput, s.Metric)
		}
		series[s.Metric] = s
	}
	results := make([]MetricResult, len(in.Config.Metrics))
	for i, m := range in.Config.Metrics {
		results[i] = judgeMetric(m, m.Settings(), series[m.Name])
	}
	res := score(results, in.Config.Classifier.GroupWeights, th)
	res.JudgeName = JudgeName
	res.Thresholds = th
	res.Metrics = results
	return res, nil
}

func judgeThresholds(in JudgeInput) (Thresholds, error) {
	th, ok := in.Config.Classifier.ScoreThresholds.Thresholds()
	if in.Thresholds != nil {
		th, ok = *in.Thresholds, true
	}
	if !ok {
		return Thresholds{}, fmt.Errorf("%w: no score thresholds: give them with the stage or in the config's classifier.scoreThresholds", ErrInvalidInput)
	}
	if ps := ValidateThresholds(th, "scoreThresholds"); len(ps) > 0 {
		return Thresholds{}, fmt.Errorf("%w: %s", ErrInvalidInput, ps[0])
	}
	return th, nil
}

// judgeMetric classifies one metric as Kayenta's MannWhitneyClassifier.classify does, in the same
// order of checks.
func judgeMetric(m Metric, s Settings, series MetricSeries) MetricResult {
	r := MetricResult{Name: m.Name, Scope: series.Scope, Groups: m.Groups, Muted: s.Muted}
	if r.Groups == nil {
		r.Groups = []string{}
	}
	if s.OutlierStrategy == OutliersRemove && !(s.OutlierFactor > 0) {
		// Kayenta's IQR detector throws here, failing the whole judgment; failing the metric is
		// enough.
		r.Classification = MetricError
		r.Reason = fmt.Sprintf("outliers.outlierFactor must be greater than 0, not %g", s.OutlierFactor)
		return finish(r)
	}
	experiment, expErr := prepare(series.Experiment, s)
	control, ctlErr := prepare(series.Control, s)
	r.Experiment = stats.Describe(experiment)
	r.Control = stats.Describe(control)
	if err := errors.Join(sideError("canary", expErr), sideError("baseline", ctlErr)); err != nil {
		// Kayenta would produce meaningless numbers from infinities.
		r.Classification = MetricError
		r.Reason = strings.ReplaceAll(err.Error(), "\n", "; ")
		return finish(r)
	}
	if len(experiment) > 0 && len(control) > 0 {
		r.MeanRatio = finitePtr(stats.MeanRatio(control, experiment))
	}

	if len(experiment) == 0 || len(control) == 0 {
		missing := missingData(series, len(experiment) == 0, len(control) == 0)
		switch {
		case s.NaNStrategy == NaNReplace:
			// Kayenta passes a metric without data when NaNs are replaced: the store reporting
			// nothing means nothing happened.
			r.Classification = MetricPass
			r.Reason = missing + "; counted as a pass because nanStrategy is replace"
		case s.MustHaveData && !s.Critical:
			r.Classification = MetricNodataFail
			r.Reason = missing + "; the metric fails because it must have data (mustHaveData)"
		default:
			r.Classification = MetricNodata
			r.Critical = s.Critical
			r.Reason = missing + "; check the query and the scope's labels"
			if s.Critical {
				r.Reason += "; the metric is critical, so the canary fails"
			}
		}
		return finish(r)
	}
	if slices.Equal(experiment, control) {
		r.Classification = MetricPass
		r.Reason = "the canary and baseline data are identical"
		return finish(r)
	}
	if experiment[0] == experiment[len(experiment)-1] && control[0] == control[len(control)-1] && experiment[0] == control[0] {
		// One value throughout, in different numbers on each side: nothing to compare.
		r.Classification = MetricPass
		r.Reason = fmt.Sprintf("every canary and baseline value is %s", num(experiment[0]))
		return finish(r)
	}

	test, err := stats.MannWhitney(experiment, control, confidenceLevel)
	if err != nil {
		r.Classification = MetricError
		r.Reason = "the comparison failed: " + err.Error()
		return finish(r)
	}
	r.Test = &test
	effect := stats.MeanRatio(control, experiment)
	if s.Measure == MeasureCLES {
		effect = stats.CLES(control, experiment)
	}
	r.EffectSize = &EffectSizeResult{Measure: s.Measure, Value: finitePtr(effect)}
	classifyChange(&r, s, test, effect)
	return finish(r)
}

// classifyChange decides High, Low or Pass from the test and the effect size (Kayenta's
// MannWhitneyClassifier.compare), then whether a failure is critical.
func classifyChange(r *MetricResult, s Settings, test stats.MannWhitneyResult, effect float64) {
	// The interval must clear a band of ±25% of the estimate around zero.
	band := tolerance * math.Abs(test.Estimate)
	higher := test.Lower > band
	lower := test.Upper < -band
	// An effect size that cannot be computed does not stand in the way of a failure.
	unknown := math.IsNaN(effect)
	checksHigh := s.Direction == DirectionIncrease || s.Direction == DirectionEither
	checksLow := s.Direction == DirectionDecrease || s.Direction == DirectionEither

	shift := fmt.Sprintf("shift %s, %g%% interval [%s, %s]", num(test.Estimate), confidenceLevel*100, num(test.Lower), num(test.Upper))
	measure := effectName(s.Measure)
	switch {
	case higher && checksHigh && (unknown || effect >= s.AllowedIncrease):
		r.Classification = MetricHigh
		r.Reason = fmt.Sprintf("the canary is higher than the baseline (%s; %s)", shift, effectVsBound(measure, effect, "≥ allowed increase", s.AllowedIncrease))
	case lower && checksLow && (unknown || effect <= s.AllowedDecrease):
		r.Classification = MetricLow
		r.Reason = fmt.Sprintf("the canary is lower than the baseline (%s; %s)", shift, effectVsBound(measure, effect, "≤ allowed decrease", s.AllowedDecrease))
	case higher && !checksHigh:
		r.Classification = MetricPass
		r.Reason = fmt.Sprintf("the canary is higher than the baseline (%s), which passes: only a decrease fails this metric", shift)
	case lower && !checksLow:
		r.Classification = MetricPass
		r.Reason = fmt.Sprintf("the canary is lower than the baseline (%s), which passes: only an increase fails this metric", shift)
	case higher:
		r.Classification = MetricPass
		r.Reason = fmt.Sprintf("the canary is higher than the baseline (%s), but by less than allowed: %s %s < allowed increase %s", shift, measure, num(effect), num(s.AllowedIncrease))
	case lower:
		r.Classification = MetricPass
		r.Reason = fmt.Sprintf("the canary is lower than the baseline (%s), but by less than allowed: %s %s > allowed decrease %s", shift, measure, num(effect), num(s.AllowedDecrease))
	default:
		r.Classification = MetricPass
		r.Reason = fmt.Sprintf("no significant difference between canary and baseline (%s)", shift)
	}
	if !s.Critical {
		return
	}
	// Kayenta's critical check: the failure must also reach the critical effect size.
	switch {
	case r.Classification == MetricHigh && (unknown || effect >= s.CriticalIncrease):
		r.Critical = true
		r.Reason += fmt.Sprintf("; a critical failure (critical increase %s), so the canary fails", num(s.CriticalIncrease))
	case r.Classification == MetricLow && (unknown || effect <= s.CriticalDecrease):
		r.Critical = true
		r.Reason += fmt.Sprintf("; a critical failure (critical decrease %s), so the canary fails", num(s.CriticalDecrease))
	case r.Classification == MetricHigh:
		r.Reason += fmt.Sprintf("; below the critical increase %s, so only this metric fails", num(s.CriticalIncrease))
	case r.Classification == MetricLow:
		r.Reason += fmt.Sprintf("; above the critical decrease %s, so only this metric fails", num(s.CriticalDecrease))
	}
}

// prepare applies the metric's NaN strategy and outlier strategy (Kayenta's
// NetflixACAJudge.transformMetric) and returns the values sorted, which every later step can
// use: the comparisons do not depend on the order of the values.
func prepare(values []float64, s Settings) ([]float64, error) {
	var out []float64
	if s.NaNStrategy == NaNReplace {
		out = stats.ReplaceNaN(values, 0)
	} else {
		out = stats.RemoveNaN(values)
	}
	for _, v := range out {
		if math.IsInf(v, 0) {
			return nil, errors.New("has infinite values, which cannot be compared; check the query for a division by zero")
		}
	}
	slices.Sort(out)
	if s.OutlierStrategy == OutliersRemove {
		out = stats.TrimOutliers(out, s.OutlierFactor)
	}
	return out, nil
}

func sideError(side string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("the %s series %w", side, err)
}

// missingData says which side had no data, and why.
func missingData(series MetricSeries, expEmpty, ctlEmpty bool) string {
	why := func(raw []float64) string {
		if len(raw) == 0 {
			return "the query returned no values"
		}
		return fmt.Sprintf("all %d values were NaN", len(raw))
	}
	switch {
	case expEmpty && ctlEmpty:
		return fmt.Sprintf("no data for the canary (%s) nor the baseline (%s)", why(series.Experiment), why(series.Control))
	case expEmpty:
		return fmt.Sprintf("no data for the canary (%s)", why(series.Experiment))
	}
	return fmt.Sprintf("no data for the baseline (%s)", why(series.Control))
}

// finish notes a muted metric in its reason and makes sure the result holds only finite
// numbers, which JSON can carry.
func finish(r MetricResult) MetricResult {
	if r.Muted {
		r.Reason += " (muted: not counted in the score)"
	}
	for _, sm := range []*stats.Summary{&r.Control, &r.Experiment} {
		if !allFinite(sm.Mean, sm.Median, sm.Min, sm.Max, sm.Stdev) {
			*sm = stats.Summary{Count: sm.Count}
		}
	}
	if r.Test != nil && !allFinite(r.Test.W, r.Test.PValue, r.Test.Lower, r.Test.Upper, r.Test.Estimate) {
		r.Test = nil
	}
	return r
}

func allFinite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func effectName(m EffectMeasure) string {
	if m == MeasureCLES {
		return "CLES"
	}
	return "mean ratio"
}

func effectVsBound(measure string, effect float64, relation string, bound float64) string {
	if math.IsNaN(effect) {
		return measure + " undefined (a mean is 0), so the test alone decides"
	}
	return fmt.Sprintf("%s %s %s %s", measure, num(effect), relation, num(bound))
}

// num formats a number for a reason: four significant digits are enough to act on.
func num(v float64) string {
	return fmt.Sprintf("%.4g", v)
}
