package stats

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestDescribeMatchesR(t *testing.T) {
	for _, c := range describeCases {
		got := Describe(c.v)
		if got.Count != len(c.v) || !agrees(got.Mean, c.mean) || !agrees(got.Stdev, c.stdev) ||
			!agrees(got.Median, c.median) || got.Min != c.min || got.Max != c.max {
			t.Errorf("%s: got %+v, want mean %v stdev %v median %v min %v max %v", c.name, got, c.mean, c.stdev, c.median, c.min, c.max)
		}
	}
}

func TestQuantileMatchesR(t *testing.T) {
	for _, c := range describeCases {
		sorted := slices.Sorted(slices.Values(c.v))
		for i, p := range []float64{0.01, 0.25, 0.5, 0.75, 0.99} {
			if got := Quantile(sorted, p); !agrees(got, c.q[i]) {
				t.Errorf("%s: Quantile(%v) = %v, want %v", c.name, p, got, c.q[i])
			}
		}
	}
}

func TestOutliersMatchR(t *testing.T) {
	for _, c := range describeCases {
		sorted := slices.Sorted(slices.Values(c.v))
		for _, f := range []struct {
			factor float64
			fences [2]float64
			kept   int
		}{{3, c.fence3, c.kept3}, {1.5, c.fence15, c.kept15}} {
			lo, hi := OutlierFences(sorted, f.factor)
			if !agrees(lo, f.fences[0]) || !agrees(hi, f.fences[1]) {
				t.Errorf("%s factor %v: fences %v, %v; want %v", c.name, f.factor, lo, hi, f.fences)
			}
			kept := RemoveOutliers(c.v, f.factor)
			if len(kept) != f.kept {
				t.Errorf("%s factor %v: RemoveOutliers kept %d, want %d", c.name, f.factor, len(kept), f.kept)
			}
			if trimmed := TrimOutliers(sorted, f.factor); !slices.Equal(trimmed, slices.Sorted(slices.Values(kept))) {
				t.Errorf("%s factor %v: TrimOutliers kept %v, RemoveOutliers %v", c.name, f.factor, trimmed, kept)
			}
		}
	}
}

func TestRemoveOutliersKeepsOrder(t *testing.T) {
	got := RemoveOutliers([]float64{5, 1, 250, 3, 2, 4, 3, 2, 4, 3, 5, 1, -90, 4}, 3)
	want := []float64{5, 1, 3, 2, 4, 3, 2, 4, 3, 5, 1, 4}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := RemoveOutliers(nil, 3); len(got) != 0 {
		t.Errorf("empty input gave %v", got)
	}
}

func TestEffectSizesMatchR(t *testing.T) {
	for _, c := range effectSizeCases {
		if got := MeanRatio(c.control, c.experiment); !agrees(got, c.meanRatio) {
			t.Errorf("%s: MeanRatio = %v, want %v", c.name, got, c.meanRatio)
		}
		if got := CLES(c.control, c.experiment); !agrees(got, c.cles) {
			t.Errorf("%s: CLES = %v, want %v", c.name, got, c.cles)
		}
	}
}

func TestMeanRatioZeroMeans(t *testing.T) {
	for _, c := range []struct {
		name                string
		control, experiment []float64
	}{
		{"zero control mean", []float64{0, 0, 0}, []float64{1, 2}},
		{"zero experiment mean", []float64{1, 2}, []float64{-1, 1}},
		{"empty control", nil, []float64{1}},
	} {
		if got := MeanRatio(c.control, c.experiment); !math.IsNaN(got) {
			t.Errorf("%s: got %v, want NaN (Kayenta then ignores the effect size)", c.name, got)
		}
	}
}

func TestNaNStrategies(t *testing.T) {
	in := []float64{1, math.NaN(), 2, math.NaN()}
	if got := RemoveNaN(in); !slices.Equal(got, []float64{1, 2}) {
		t.Errorf("RemoveNaN = %v", got)
	}
	if got := ReplaceNaN(in, 0); !slices.Equal(got, []float64{1, 0, 2, 0}) {
		t.Errorf("ReplaceNaN = %v", got)
	}
	if !math.IsNaN(in[1]) {
		t.Error("ReplaceNaN changed its input")
	}
}

func TestDescribeEmptyIsZero(t *testing.T) {
	if got := Describe(nil); got != (Summary{}) {
		t.Errorf("got %+v", got)
	}
}

func TestMannWhitneyDegenerate(t *testing.T) {
	// Both samples constant: R stops ("lower < upper is not fulfilled"); the exact shift is
	// the only sensible interval. The p-value still follows the normal approximation.
	got, err := MannWhitney([]float64{7, 7, 7}, []float64{5, 5}, 0.98)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lower != 2 || got.Upper != 2 || got.Estimate != 2 || got.W != 6 {
		t.Errorf("got %+v, want the shift 2 as interval and estimate", got)
	}
	if _, err := MannWhitney([]float64{3, 3}, []float64{3, 3, 3}, 0.98); !errors.Is(err, ErrAllTied) {
		t.Errorf("all tied: err = %v", err)
	}
	if _, err := MannWhitney(nil, []float64{1}, 0.98); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: err = %v", err)
	}
	if _, err := MannWhitney([]float64{1, math.Inf(1)}, []float64{1, 2}, 0.98); !errors.Is(err, ErrNotFinite) {
		t.Errorf("infinite: err = %v", err)
	}
	if _, err := MannWhitney([]float64{1, 2}, []float64{1, 3}, 1); err == nil {
		t.Error("confidence level 1 accepted")
	}
}

func TestMannWhitneyDoesNotChangeInput(t *testing.T) {
	x := []float64{3, 1, 2}
	y := []float64{9, 7, 8}
	if _, err := MannWhitney(x, y, 0.98); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x, []float64{3, 1, 2}) || !slices.Equal(y, []float64{9, 7, 8}) {
		t.Errorf("inputs changed: %v %v", x, y)
	}
}

func TestNormalQuantile(t *testing.T) {
	// R: qnorm(0.01) and qnorm(0.025), printed by reference.R.
	for _, c := range []struct{ p, want float64 }{{0.01, -2.3263478740408408}, {0.025, -1.9599639845400538}, {0.5, 0}, {0.975, 1.9599639845400538}} {
		if got := normalQuantile(c.p); !agrees(got, c.want) {
			t.Errorf("normalQuantile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}

func BenchmarkMannWhitney1000(b *testing.B) {
	x := genSeries(1000, 7919, 13, 1000003, 997, 0.25)
	y := genSeries(1000, 104729, 7, 1000033, 997, 0)
	for b.Loop() {
		if _, err := MannWhitney(x, y, 0.98); err != nil {
			b.Fatal(err)
		}
	}
}
