package canary

import (
	"fmt"
	"math"
	"testing"
)

// BenchmarkJudge judges 100 metrics of 1,000 points per series (the goal is under 100 ms per
// judgment). The metrics mix directions, effect measures, outlier removal and NaNs, and a third
// of them differ between canary and baseline.
func BenchmarkJudge(b *testing.B) {
	const metrics, points = 100, 1000
	cfg := Config{Name: "bench", Classifier: Classifier{GroupWeights: map[string]float64{"a": 50, "b": 30, "c": 20}}}
	in := JudgeInput{Thresholds: &Thresholds{Pass: 75, Marginal: 50}}
	for i := range metrics {
		name := fmt.Sprintf("metric-%03d", i)
		a := &CanaryAnalysis{Direction: []Direction{DirectionIncrease, DirectionDecrease, DirectionEither}[i%3]}
		if i%4 == 0 {
			a.Outliers = &Outliers{Strategy: OutliersRemove}
		}
		if i%5 == 0 {
			a.EffectSize = &EffectSize{Measure: MeasureCLES}
		}
		cfg.Metrics = append(cfg.Metrics, Metric{
			Name: name, Query: Query{Type: "prometheus", MetricName: name},
			Groups: []string{string(rune('a' + i%3))}, AnalysisConfigurations: &AnalysisConfigurations{Canary: a},
		})
		control := wave(points, 100+float64(i), 10, 5+i%7)
		experiment := wave(points, 100+float64(i), 10, 7+i%5)
		if i%3 == 0 {
			experiment = scaled(experiment, 1+float64(i%7)/100)
		}
		for j := i % 50; j < points; j += 97 {
			experiment[j] = math.NaN()
		}
		in.Metrics = append(in.Metrics, MetricSeries{Metric: name, Control: control, Experiment: experiment})
	}
	in.Config = cfg
	for b.Loop() {
		if _, err := Judge(in); err != nil {
			b.Fatal(err)
		}
	}
}
