package canary

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// wave is a deterministic noisy series: n values spread evenly over center ± spread, in an
// order set by step.
func wave(n int, center, spread float64, step int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = center + spread*(float64((i*step+7)%23)/11-1)
	}
	return out
}

func scaled(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * f
	}
	return out
}

func with(v []float64, extra ...float64) []float64 {
	return append(append([]float64(nil), v...), extra...)
}

func ptr[T any](v T) *T { return &v }

var (
	baseline = wave(60, 100, 10, 5)
	similar  = wave(60, 100.5, 10, 7) // not identical, no real change
	higher   = scaled(baseline, 1.5)
	lower    = scaled(baseline, 0.5)
	// long is long enough for its 99th percentile to fall below three spikes added to it.
	long = wave(400, 100, 10, 5)
)

// oneMetric is a config with one metric judged by a.
func oneMetric(a *CanaryAnalysis) Config {
	return Config{
		Name: "c",
		Metrics: []Metric{{
			Name: "m", Query: Query{Type: "prometheus", MetricName: "up"}, Groups: []string{"g"},
			AnalysisConfigurations: &AnalysisConfigurations{Canary: a},
		}},
	}
}

var thresholds = &Thresholds{Pass: 75, Marginal: 50}

func TestMetricClassification(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name                string
		analysis            *CanaryAnalysis
		control, experiment []float64
		want                MetricClassification
		critical            bool
		reason              string // a part of the reason
	}{
		{"either, higher", nil, baseline, higher, MetricHigh, false, "the canary is higher"},
		{"increase, higher", &CanaryAnalysis{Direction: DirectionIncrease}, baseline, higher, MetricHigh, false, "mean ratio 1.5 ≥ allowed increase 1"},
		{"decrease, higher", &CanaryAnalysis{Direction: DirectionDecrease}, baseline, higher, MetricPass, false, "only a decrease fails this metric"},
		{"either, lower", nil, baseline, lower, MetricLow, false, "the canary is lower"},
		{"decrease, lower", &CanaryAnalysis{Direction: DirectionDecrease}, baseline, lower, MetricLow, false, "mean ratio 0.5 ≤ allowed decrease 1"},
		{"increase, lower", &CanaryAnalysis{Direction: DirectionIncrease}, baseline, lower, MetricPass, false, "only an increase fails this metric"},
		{"no change", nil, baseline, similar, MetricPass, false, "no significant difference"},

		{"increase below allowed", &CanaryAnalysis{EffectSize: &EffectSize{AllowedIncrease: ptr(1.6)}}, baseline, higher, MetricPass, false, "by less than allowed: mean ratio 1.5 < allowed increase 1.6"},
		{"increase at allowed", &CanaryAnalysis{EffectSize: &EffectSize{AllowedIncrease: ptr(1.5)}}, baseline, higher, MetricHigh, false, "≥ allowed increase 1.5"},
		{"decrease above allowed", &CanaryAnalysis{EffectSize: &EffectSize{AllowedDecrease: ptr(0.4)}}, baseline, lower, MetricPass, false, "mean ratio 0.5 > allowed decrease 0.4"},
		{"decrease below allowed", &CanaryAnalysis{EffectSize: &EffectSize{AllowedDecrease: ptr(0.6)}}, baseline, lower, MetricLow, false, "≤ allowed decrease 0.6"},
		{"cles high", &CanaryAnalysis{EffectSize: &EffectSize{Measure: MeasureCLES, AllowedIncrease: ptr(0.9)}}, baseline, higher, MetricHigh, false, "CLES 1 ≥ allowed increase 0.9"},
		{"cles below allowed", &CanaryAnalysis{EffectSize: &EffectSize{Measure: MeasureCLES, AllowedIncrease: ptr(0.9)}}, baseline, scaled(baseline, 1.08), MetricPass, false, "< allowed increase 0.9"},

		{"critical high, default bound", &CanaryAnalysis{Critical: ptr(true)}, baseline, higher, MetricHigh, true, "a critical failure"},
		{"critical high below critical bound", &CanaryAnalysis{Critical: ptr(true), EffectSize: &EffectSize{CriticalIncrease: ptr(2.0)}}, baseline, higher, MetricHigh, false, "below the critical increase 2, so only this metric fails"},
		{"critical low beyond critical bound", &CanaryAnalysis{Critical: ptr(true), EffectSize: &EffectSize{CriticalDecrease: ptr(0.6)}}, baseline, lower, MetricLow, true, "critical decrease 0.6"},
		{"critical low above critical bound", &CanaryAnalysis{Critical: ptr(true), EffectSize: &EffectSize{CriticalDecrease: ptr(0.4)}}, baseline, lower, MetricLow, false, "above the critical decrease 0.4"},
		{"critical pass", &CanaryAnalysis{Critical: ptr(true)}, baseline, similar, MetricPass, false, "no significant difference"},

		{"no data", nil, baseline, nil, MetricNodata, false, "no data for the canary (the query returned no values); check the query"},
		{"no data, all NaN", nil, []float64{nan, nan}, baseline, MetricNodata, false, "no data for the baseline (all 2 values were NaN)"},
		{"no data on both sides", nil, nil, nil, MetricNodata, false, "no data for the canary (the query returned no values) nor the baseline"},
		{"no data, critical", &CanaryAnalysis{Critical: ptr(true)}, baseline, nil, MetricNodata, true, "the metric is critical, so the canary fails"},
		{"no data, must have data", &CanaryAnalysis{MustHaveData: ptr(true)}, baseline, nil, MetricNodataFail, false, "must have data"},
		{"no data, must have data and critical", &CanaryAnalysis{MustHaveData: ptr(true), Critical: ptr(true)}, baseline, nil, MetricNodata, true, "critical"},
		{"no data, NaNs replaced", &CanaryAnalysis{NaNStrategy: NaNReplace, Critical: ptr(true)}, baseline, nil, MetricPass, false, "counted as a pass because nanStrategy is replace"},
		// The same counts: as NaNs are removed, the canary is higher; replaced by zeros, they
		// overlap the baseline's zeros and the interval reaches down to 0.
		{"NaNs removed from counts", nil, []float64{0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0}, []float64{nan, 3, 4, nan, 5, 3, 4, 6, 5, nan, 4, 3}, MetricHigh, false, "higher"},
		{"NaNs in counts replaced by zeros", &CanaryAnalysis{NaNStrategy: NaNReplace}, []float64{0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0}, []float64{nan, 3, 4, nan, 5, 3, 4, 6, 5, nan, 4, 3}, MetricPass, false, "no significant difference"},
		{"NaNs removed", nil, []float64{1, 2, 3, nan, 2}, []float64{nan, nan, 2, 1, 3, 2}, MetricPass, false, "identical"},

		{"identical", nil, baseline, with(baseline), MetricPass, false, "the canary and baseline data are identical"},
		{"one value throughout", nil, []float64{4, 4, 4}, []float64{4, 4}, MetricPass, false, "every canary and baseline value is 4"},
		{"constant, different", nil, []float64{4, 4, 4}, []float64{5, 5}, MetricHigh, false, "shift 1, 98% interval [1, 1]"},
		{"zero mean baseline", nil, []float64{0, 0, 0, 0, 0, 0, 0, 0}, []float64{1, 2, 1, 3, 2, 1, 2, 2}, MetricHigh, false, "mean ratio undefined (a mean is 0), so the test alone decides"},
		{"infinite values", nil, baseline, with(similar, math.Inf(1)), MetricError, false, "the canary series has infinite values"},
		{"outlier factor zero", &CanaryAnalysis{Outliers: &Outliers{Strategy: OutliersRemove, OutlierFactor: ptr(0.0)}}, baseline, similar, MetricError, false, "outliers.outlierFactor must be greater than 0, not 0"},
		{"spikes kept", &CanaryAnalysis{EffectSize: &EffectSize{AllowedIncrease: ptr(1.1)}}, long, with(scaled(long, 1.05), 900, 1000, 1100), MetricHigh, false, "higher"},
		{"spikes removed", &CanaryAnalysis{EffectSize: &EffectSize{AllowedIncrease: ptr(1.1)}, Outliers: &Outliers{Strategy: OutliersRemove}}, long, with(scaled(long, 1.05), 900, 1000, 1100), MetricPass, false, "by less than allowed: mean ratio 1.05 < allowed increase 1.1"},
		{"muted", &CanaryAnalysis{Muted: ptr(true)}, baseline, higher, MetricHigh, false, "(muted: not counted in the score)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Judge(JudgeInput{
				Config:     oneMetric(c.analysis),
				Metrics:    []MetricSeries{{Metric: "m", Control: c.control, Experiment: c.experiment}},
				Thresholds: thresholds,
			})
			if err != nil {
				t.Fatal(err)
			}
			m := res.Metrics[0]
			if m.Classification != c.want || m.Critical != c.critical || !strings.Contains(m.Reason, c.reason) {
				t.Errorf("got %s (critical %v): %s\nwant %s (critical %v) with %q", m.Classification, m.Critical, m.Reason, c.want, c.critical, c.reason)
			}
			if _, err := json.Marshal(res); err != nil {
				t.Errorf("result does not encode: %v", err)
			}
		})
	}
}

func TestMetricResultNumbers(t *testing.T) {
	res, err := Judge(JudgeInput{
		Config:     oneMetric(&CanaryAnalysis{Outliers: &Outliers{Strategy: OutliersRemove}}),
		Metrics:    []MetricSeries{{Metric: "m", Scope: "web", Control: with(baseline, math.NaN()), Experiment: with(higher, 5000)}},
		Thresholds: thresholds,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics[0]
	if m.Scope != "web" || m.Control.Count != 60 || m.Experiment.Count != 60 {
		t.Errorf("counts after NaN and outlier removal: %+v %+v", m.Control, m.Experiment)
	}
	if m.Test == nil || m.Test.Estimate != 50 || !(m.Test.Lower > 0) || m.Test.PValue > 1e-6 {
		t.Errorf("test: %+v", m.Test)
	}
	if m.MeanRatio == nil || math.Abs(*m.MeanRatio-1.5) > 1e-12 || m.EffectSize == nil || m.EffectSize.Measure != MeasureMeanRatio || *m.EffectSize.Value != *m.MeanRatio {
		t.Errorf("effect sizes: %v %+v", m.MeanRatio, m.EffectSize)
	}
	if m.Control.Min != 90 || m.Control.Max != 100+10*(22.0/11-1) || math.Abs(m.Experiment.Mean-1.5*m.Control.Mean) > 1e-9 {
		t.Errorf("summaries: %+v %+v", m.Control, m.Experiment)
	}
}

// result builds a metric result for the scoring tests.
func result(name string, c MetricClassification, groups ...string) MetricResult {
	return MetricResult{Name: name, Classification: c, Groups: groups}
}

func TestScoring(t *testing.T) {
	critical := func(r MetricResult) MetricResult { r.Critical = true; return r }
	muted := func(r MetricResult) MetricResult { r.Muted = true; return r }
	th := Thresholds{Pass: 75, Marginal: 50}
	for _, c := range []struct {
		name    string
		results []MetricResult
		weights map[string]float64
		score   float64
		class   ScoreClassification
		reason  string
	}{
		{"one pass", []MetricResult{result("a", MetricPass, "g")}, nil, 100, ScorePass, "score 100 reaches the pass threshold 75"},
		{"one high", []MetricResult{result("a", MetricHigh, "g")}, nil, 0, ScoreFail, `score 0 is below the marginal threshold 50; failed: "a" (High)`},
		{"one group, half pass", []MetricResult{result("a", MetricPass, "g"), result("b", MetricHigh, "g")}, nil, 50, ScoreMarginal, "below the pass threshold 75 but reaches the marginal threshold 50"},
		{"one group, a third pass", []MetricResult{result("a", MetricPass, "g"), result("b", MetricHigh, "g"), result("c", MetricLow, "g")}, nil, 33.33, ScoreFail, ""},
		{"two groups weighted 75/25", []MetricResult{result("a", MetricPass, "g1"), result("b", MetricPass, "g1"), result("c", MetricHigh, "g2")},
			map[string]float64{"g1": 75, "g2": 25}, 75, ScorePass, ""},
		{"two groups, equal weights", []MetricResult{result("a", MetricPass, "g1"), result("b", MetricHigh, "g1"), result("c", MetricHigh, "g2")},
			map[string]float64{"g1": 50, "g2": 50}, 25, ScoreFail, ""},
		{"no data is not counted in its group", []MetricResult{result("a", MetricPass, "g1"), result("b", MetricNodata, "g1"), result("c", MetricHigh, "g2")},
			map[string]float64{"g1": 50, "g2": 50}, 50, ScoreMarginal, ""},
		{"a group without data counts as 100", []MetricResult{result("a", MetricPass, "g1"), result("b", MetricPass, "g1"), result("c", MetricNodata, "g2")},
			nil, 100, ScorePass, ""},
		{"errors are not counted", []MetricResult{result("a", MetricPass, "g"), result("b", MetricError, "g")}, nil, 100, ScorePass, ""},
		{"no data when it must have data counts as a failure", []MetricResult{result("a", MetricPass, "g"), result("b", MetricNodataFail, "g")}, nil, 50, ScoreMarginal, `failed: "b" (NodataFailMetric)`},
		{"only metric without data", []MetricResult{result("a", MetricNodata, "g")}, nil, 0, ScoreFail, "1 of 1 metrics had no data"},
		{"half without data fails", []MetricResult{result("a", MetricPass, "g"), result("b", MetricPass, "g"), result("c", MetricNodata, "g"), result("d", MetricNodata, "h")},
			nil, 0, ScoreFail, "2 of 4 metrics had no data; with half or more without data the canary fails"},
		{"less than half without data", []MetricResult{result("a", MetricPass, "g"), result("b", MetricPass, "g"), result("c", MetricNodata, "g")},
			nil, 100, ScorePass, ""},
		{"critical failure", []MetricResult{result("a", MetricPass, "g"), critical(result("b", MetricHigh, "g"))}, nil, 0, ScoreFail, `critical metric "b" failed`},
		{"critical metric passing", []MetricResult{result("a", MetricLow, "g"), critical(result("b", MetricPass, "g"))}, nil, 50, ScoreMarginal, ""},
		{"critical failure beats the no-data rule", []MetricResult{result("a", MetricNodata, "g"), critical(result("b", MetricNodata, "g"))}, nil, 0, ScoreFail, `critical metric "b" failed`},
		{"muted failure ignored", []MetricResult{result("a", MetricPass, "g"), muted(result("b", MetricHigh, "g"))}, nil, 100, ScorePass, ""},
		{"muted critical failure ignored", []MetricResult{result("a", MetricPass, "g"), muted(critical(result("b", MetricHigh, "g")))}, nil, 100, ScorePass, ""},
		{"muted no-data ignored", []MetricResult{result("a", MetricPass, "g"), muted(result("b", MetricNodata, "g"))}, nil, 100, ScorePass, ""},
		{"everything muted", []MetricResult{muted(result("a", MetricPass, "g"))}, nil, 0, ScoreFail, "every metric is muted"},
		{"unweighted groups share the rest", []MetricResult{result("a", MetricPass, "a"), result("b", MetricHigh, "b"), result("c", MetricPass, "c")},
			map[string]float64{"a": 60}, 80, ScorePass, ""},
		{"weight of an absent group is lost", []MetricResult{result("a", MetricPass, "a")}, map[string]float64{"a": 50, "b": 50}, 50, ScoreMarginal, ""},
		{"rounded half up", []MetricResult{result("a", MetricPass, "a"), result("b", MetricPass, "b"), result("c", MetricHigh, "c")}, nil, 66.67, ScoreMarginal, ""},
		{"a metric in two groups", []MetricResult{result("a", MetricHigh, "g1", "g2"), result("b", MetricPass, "g2")}, nil, 25, ScoreFail, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := score(c.results, c.weights, th)
			if res.Score != c.score || res.Classification != c.class || !strings.Contains(res.Reason, c.reason) {
				t.Errorf("got %v %s: %s\nwant %v %s with %q", res.Score, res.Classification, res.Reason, c.score, c.class, c.reason)
			}
		})
	}
}

func TestGroupResults(t *testing.T) {
	res := score([]MetricResult{
		result("a", MetricPass, "errors"), result("b", MetricHigh, "errors"),
		result("c", MetricNodata, "latency"), result("d", MetricPass, "latency", "errors"),
	}, map[string]float64{"errors": 70, "latency": 30}, Thresholds{Pass: 75, Marginal: 50})
	passed, judged := 2.0, 3.0
	want := []GroupResult{
		{Name: "errors", Score: passed / judged * 100, Weight: 70, Metrics: 3},
		{Name: "latency", Score: 100, Weight: 30, Metrics: 2},
	}
	if len(res.Groups) != 2 || res.Groups[0] != want[0] || res.Groups[1] != want[1] {
		t.Errorf("groups: %+v", res.Groups)
	}
	if res.Score != 76.67 {
		t.Errorf("score %v, want 76.67", res.Score)
	}
	empty := score([]MetricResult{result("a", MetricNodata, "g"), result("b", MetricPass, "h"), result("c", MetricPass, "h")}, nil, Thresholds{Pass: 75, Marginal: 50})
	if g := empty.Groups[0]; !g.NoData || g.Score != 0 || g.Weight != 50 {
		t.Errorf("group without data: %+v", g)
	}
}

func TestThresholdBoundaries(t *testing.T) {
	// Four metrics in one group: 3 passing gives 75, 2 gives 50.
	results := func(passing int) []MetricResult {
		var rs []MetricResult
		for i := range 4 {
			c := MetricHigh
			if i < passing {
				c = MetricPass
			}
			rs = append(rs, result(string(rune('a'+i)), c, "g"))
		}
		return rs
	}
	for _, c := range []struct {
		passing int
		th      Thresholds
		want    ScoreClassification
	}{
		{3, Thresholds{Pass: 75, Marginal: 50}, ScorePass},        // score equal to pass
		{3, Thresholds{Pass: 75.01, Marginal: 50}, ScoreMarginal}, // just below pass
		{2, Thresholds{Pass: 75, Marginal: 50}, ScoreMarginal},    // score equal to marginal
		{2, Thresholds{Pass: 75, Marginal: 50.01}, ScoreFail},     // just below marginal
		{4, Thresholds{Pass: 100, Marginal: 100}, ScorePass},
		{3, Thresholds{Pass: 80, Marginal: 80}, ScoreFail},
		{0, Thresholds{Pass: 0, Marginal: 0}, ScorePass},
	} {
		if got := score(results(c.passing), nil, c.th).Classification; got != c.want {
			t.Errorf("%d of 4 passing with %+v: %s, want %s", c.passing, c.th, got, c.want)
		}
	}
}

func TestRoundHalfUp2(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{66.665, 66.67}, {1.005, 1.01}, {2.675, 2.68}, {33.333333333333336, 33.33}, {66.66666666666667, 66.67},
		{100, 100}, {0, 0}, {49.994999, 49.99}, {-1.005, -1.01},
	} {
		if got := roundHalfUp2(c.in); got != c.want {
			t.Errorf("roundHalfUp2(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestJudgeRealisticConfig(t *testing.T) {
	cfg, ps := DecodeStrict(readTestdata(t, "web-canary.json"))
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	nan := math.NaN()
	in := JudgeInput{
		Config: cfg,
		Metrics: []MetricSeries{
			// Errors are rare and reported as NaN when there were none.
			{Metric: "http-5xx-rate", Control: []float64{nan, 0.01, nan, nan, 0.02, nan}, Experiment: []float64{nan, nan, 0.01, nan, nan, 0.02}},
			{Metric: "http-request-errors", Control: nil, Experiment: nil},
			{Metric: "latency-p99", Control: with(baseline, 2000), Experiment: scaled(baseline, 1.3)},
			{Metric: "latency-p50", Control: baseline, Experiment: similar},
			{Metric: "cpu-seconds", Control: baseline, Experiment: higher},
		},
	}
	res, err := Judge(in)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]MetricClassification{}
	for _, m := range res.Metrics {
		classes[m.Name] = m.Classification
	}
	want := map[string]MetricClassification{
		"http-5xx-rate": MetricPass, "http-request-errors": MetricPass, "latency-p99": MetricHigh,
		"latency-p50": MetricPass, "cpu-seconds": MetricHigh,
	}
	for k, v := range want {
		if classes[k] != v {
			t.Errorf("%s: %s, want %s (%v)", k, classes[k], v, res.Metrics)
		}
	}
	// errors 100% × 50, latency 50% × 40, saturation (only muted metrics) absent but its
	// weight of 10 still counts in the total: 70.
	if res.Score != 70 || res.Classification != ScoreMarginal || res.Thresholds != (Thresholds{Pass: 75, Marginal: 50}) {
		t.Errorf("score %v %s %+v: %s", res.Score, res.Classification, res.Thresholds, res.Reason)
	}
	if res.JudgeName != JudgeName || len(res.Groups) != 2 {
		t.Errorf("result: %+v", res)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("result does not encode: %v", err)
	}
}

func TestJudgeInputErrors(t *testing.T) {
	cfg := oneMetric(nil)
	for _, c := range []struct {
		name string
		in   JudgeInput
		want string
	}{
		{"no thresholds", JudgeInput{Config: cfg}, "no score thresholds"},
		{"bad thresholds", JudgeInput{Config: cfg, Thresholds: &Thresholds{Pass: 50, Marginal: 60}}, "must not be below marginal"},
		{"unknown metric", JudgeInput{Config: cfg, Thresholds: thresholds, Metrics: []MetricSeries{{Metric: "x"}}}, `series for metric "x", which the config does not have`},
		{"two series", JudgeInput{Config: cfg, Thresholds: thresholds, Metrics: []MetricSeries{{Metric: "m"}, {Metric: "m"}}}, `two series for metric "m"`},
	} {
		_, err := Judge(c.in)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A metric without series has no data; the config's thresholds apply when the input has none.
	cfg.Classifier.ScoreThresholds = &ScoreThresholds{Pass: ptr(90.0), Marginal: ptr(10.0)}
	res, err := Judge(JudgeInput{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics[0].Classification != MetricNodata || res.Thresholds.Pass != 90 {
		t.Errorf("got %+v", res)
	}
}

func TestJudgeIsDeterministic(t *testing.T) {
	in := JudgeInput{
		Config:     oneMetric(nil),
		Metrics:    []MetricSeries{{Metric: "m", Control: []float64{3, 3, 3, 3}, Experiment: []float64{3.5, 3.5}}},
		Thresholds: thresholds,
	}
	first, err := Judge(in)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, _ := Judge(in)
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("judgments differ:\n%s\n%s", a, b)
		}
	}
}
