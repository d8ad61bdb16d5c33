package stats

import (
	"math"
	"testing"
)

// The expected values in this file come from R, an independent implementation of the same
// statistics: R version 4.2.2 Patched (2022-11-10 r83330), running canary/testdata/reference.R from the repository root with
//
//	Rscript canary/testdata/reference.R > /tmp/reference.out
//
// and pasting the composite literals it prints. R is needed only to regenerate them.

// genSeries builds the long test series; the R script has the same function. Integer
// arithmetic followed by a single correctly rounded division gives the same doubles in both.
func genSeries(n int, mult, add, mod, div int64, offset float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64((int64(i)*mult+add)%mod)/float64(div) + offset
	}
	return out
}

// kayentaControl and kayentaExperiment are the samples of Kayenta's own "tie out with R" test
// of its Mann-Whitney port (kayenta-mannwhitney MannWhitneySuite).
var (
	kayentaControl = []float64{
		1.5, 6.0, 5.0, 2.5, 2.5, 2.0, 2.0, 3.5, 3.0, 3.0, 3.0, 2.0, 3.0, 8.0, 4.0, 2.5, 3.0, 2.5, 2.5, 2.0,
		2.5, 2.0, 2.0, 2.5, 3.5, 3.0, 1.5, 5.0, 2.5, 5.5, 2.0, 2.5, 3.5, 2.0, 2.5, 4.0, 2.0, 2.0, 2.0, 2.0,
		5.5, 4.5, 4.0, 3.0, 3.0, 3.5, 2.5, 3.0, 2.5, 4.0, 6.0, 2.0, 5.0, 6.0, 3.5, 3.0, 54.5, 3.0, 5.0, 6.0,
		3.5, 4.5, 2.5, 2.0, 6.0, 5.0, 2.5, 3.5, 2.0, 3.0, 2.5, 3.5, 3.5, 2.5, 3.0, 4.5, 3.0, 15.5, 5.0, 2.5,
		3.0, 4.0, 3.5, 4.0, 4.0, 2.0, 4.5, 2.5, 4.0, 3.0,
	}
	kayentaExperiment = []float64{
		2.5, 2.5, 2.0, 2.5, 3.5, 2.0, 3.5, 1.5, 3.0, 3.0, 2.5, 3.5, 2.0, 2.5, 2.0, 2.0, 5.0, 3.0, 2.0, 1.5,
		2.0, 4.0, 3.0, 2.5, 3.0, 2.0, 2.0, 2.0, 2.5, 3.5, 1.5, 1.5, 3.5, 2.0, 2.5, 2.5, 3.0, 3.5, 2.5, 6.5,
		2.5, 4.0, 2.5, 3.0, 2.5, 6.5, 2.5, 3.0, 1.5, 2.0, 2.5, 3.0, 7.5, 1.5, 2.0, 4.0, 2.5, 2.0, 2.5, 3.5,
		4.0, 2.5, 3.0, 2.5, 2.0, 3.5, 3.0, 16.5, 3.0, 3.0, 7.0, 4.5, 5.0, 2.0, 3.5, 6.0, 1.5, 3.0, 2.5, 4.0,
		3.0, 1.5, 5.0, 3.0, 2.5, 5.5, 3.0, 1.5, 2.5, 6.0,
	}
)

// agrees reports whether got agrees with R's want to about nine significant digits (the brief
// asks for 1e-6); the absolute floor covers values that are zero or nearly so.
func agrees(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= 1e-9*math.Max(math.Abs(got), math.Abs(want))+1e-12
}

type mannWhitneyCase struct {
	name                         string
	x, y                         []float64
	conf                         float64
	w, p, lower, upper, estimate float64
}

// mannWhitneyCases: R's wilcox.test(x, y, mu = 0, exact = FALSE, correct = TRUE, conf.int = TRUE,
// conf.level = conf), x the experiment and y the control.
var mannWhitneyCases = []mannWhitneyCase{
	{name: "no ties", x: []float64{12.1, 14.3, 11.8, 15.2, 13.7, 12.9, 16.4, 13.1}, y: []float64{10.2, 11.5, 12.4, 9.8, 11.1, 10.7, 12, 13.3, 10.9}, conf: 0.98,
		w: 65, p: 0.0060989459312143675, lower: 0.5999889578810281, upper: 4.3000485573015474, estimate: 2.2000585636242853},
	{name: "no ties", x: []float64{12.1, 14.3, 11.8, 15.2, 13.7, 12.9, 16.4, 13.1}, y: []float64{10.2, 11.5, 12.4, 9.8, 11.1, 10.7, 12, 13.3, 10.9}, conf: 0.95,
		w: 65, p: 0.0060989459312143675, lower: 0.9000067050097852, upper: 3.900000589434018, estimate: 2.2000585636242853},
	{name: "ties", x: []float64{3, 4, 4, 5, 5, 5, 6, 7, 2, 4}, y: []float64{2, 3, 3, 4, 4, 5, 1, 2, 3, 3, 4}, conf: 0.98,
		w: 86, p: 0.027981897752906684, lower: -3.144170993664327e-05, upper: 2.999984463116271, estimate: 1.0000075498130339},
	{name: "ties", x: []float64{3, 4, 4, 5, 5, 5, 6, 7, 2, 4}, y: []float64{2, 3, 3, 4, 4, 5, 1, 2, 3, 3, 4}, conf: 0.95,
		w: 86, p: 0.027981897752906684, lower: 8.796071326532459e-05, upper: 2.9999540041445267, estimate: 1.0000075498130339},
	{name: "shift by 5", x: []float64{17.5, 15.25, 16.75, 18.5, 14.75, 17, 16, 15.5, 19.25, 17.75, 16.5, 15, 18, 17.25, 16.25, 14.5, 18.75, 17.5, 15.75, 16.5}, y: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5}, conf: 0.98,
		w: 400, p: 6.757379406313901e-08, lower: 3.7500128107303627, upper: 6.249987189269637, estimate: 5},
	{name: "shift by 5", x: []float64{17.5, 15.25, 16.75, 18.5, 14.75, 17, 16, 15.5, 19.25, 17.75, 16.5, 15, 18, 17.25, 16.25, 14.5, 18.75, 17.5, 15.75, 16.5}, y: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5}, conf: 0.95,
		w: 400, p: 6.757379406313901e-08, lower: 4.000047391803242, upper: 5.999952608196758, estimate: 5},
	{name: "shift by -0.5", x: []float64{12, 9.75, 11.25, 13, 9.25, 11.5, 10.5, 10, 13.75, 12.25, 11, 9.5, 12.5, 11.75, 10.75, 9, 13.25, 12, 10.25, 11}, y: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5}, conf: 0.98,
		w: 159.5, p: 0.27864136994096067, lower: -1.7499871892696373, upper: 0.749987189269637, estimate: -0.5},
	{name: "shift by -0.5", x: []float64{12, 9.75, 11.25, 13, 9.25, 11.5, 10.5, 10, 13.75, 12.25, 11, 9.5, 12.5, 11.75, 10.75, 9, 13.25, 12, 10.25, 11}, y: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5}, conf: 0.95,
		w: 159.5, p: 0.27864136994096067, lower: -1.4999526081967576, upper: 0.4999526081967577, estimate: -0.5},
	{name: "identical samples", x: []float64{5.1, 4.9, 6.2, 5.8, 6, 5.5, 5.3}, y: []float64{5.1, 4.9, 6.2, 5.8, 6, 5.5, 5.3}, conf: 0.98,
		w: 24.5, p: 1, lower: -0.8999750355417433, upper: 0.8999750355417433, estimate: 0},
	{name: "identical samples", x: []float64{5.1, 4.9, 6.2, 5.8, 6, 5.5, 5.3}, y: []float64{5.1, 4.9, 6.2, 5.8, 6, 5.5, 5.3}, conf: 0.95,
		w: 24.5, p: 1, lower: -0.6999315004448392, upper: 0.6999315004448392, estimate: 0},
	{name: "n=1 vs n=3", x: []float64{7}, y: []float64{1, 2, 3}, conf: 0.98,
		w: 3, p: 0.37109336952269756, lower: 4, upper: 6, estimate: 5},
	{name: "n=1 vs n=3", x: []float64{7}, y: []float64{1, 2, 3}, conf: 0.95,
		w: 3, p: 0.37109336952269756, lower: 4, upper: 6, estimate: 5},
	{name: "n=3 vs n=1", x: []float64{1, 2, 3}, y: []float64{2.5}, conf: 0.98,
		w: 1, p: 1, lower: -1.5, upper: 0.5, estimate: -0.5},
	{name: "n=3 vs n=1", x: []float64{1, 2, 3}, y: []float64{2.5}, conf: 0.95,
		w: 1, p: 1, lower: -1.5, upper: 0.5, estimate: -0.5},
	{name: "n=2 vs n=2", x: []float64{1.5, 2.5}, y: []float64{1, 2}, conf: 0.98,
		w: 3, p: 0.6985353583033387, lower: -0.5, upper: 1.5, estimate: 0.5},
	{name: "n=2 vs n=2", x: []float64{1.5, 2.5}, y: []float64{1, 2}, conf: 0.95,
		w: 3, p: 0.6985353583033387, lower: -0.5, upper: 1.5, estimate: 0.5},
	{name: "n=3 vs n=3", x: []float64{10, 12, 11}, y: []float64{9, 8, 13}, conf: 0.98,
		w: 6, p: 0.6625205835400575, lower: -3, upper: 4, estimate: 1.9999723868423693},
	{name: "n=3 vs n=3", x: []float64{10, 12, 11}, y: []float64{9, 8, 13}, conf: 0.95,
		w: 6, p: 0.6625205835400575, lower: -3, upper: 4, estimate: 1.9999723868423693},
	{name: "constant experiment", x: []float64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, y: []float64{4, 5, 6, 5, 7, 3, 5, 6, 4, 5}, conf: 0.98,
		w: 50, p: 1, lower: -0.9999783301239654, upper: 0.9999783301239654, estimate: 0},
	{name: "constant experiment", x: []float64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, y: []float64{4, 5, 6, 5, 7, 3, 5, 6, 4, 5}, conf: 0.95,
		w: 50, p: 1, lower: -0.9999979197327487, upper: 0.9999979197327487, estimate: 0},
	{name: "constant control", x: []float64{4, 5, 6, 5, 7, 3, 5, 6, 4, 9}, y: []float64{2, 2, 2, 2, 2, 2, 2, 2}, conf: 0.98,
		w: 80, p: 0.00022873400637457496, lower: 1.999979609268594, upper: 4.999971360227491, estimate: 3.0000077971073735},
	{name: "constant control", x: []float64{4, 5, 6, 5, 7, 3, 5, 6, 4, 9}, y: []float64{2, 2, 2, 2, 2, 2, 2, 2}, conf: 0.95,
		w: 80, p: 0.00022873400637457496, lower: 2.000043499181994, upper: 4.0000268876719725, estimate: 3.0000077971073735},
	{name: "negative values", x: []float64{-3.2, -1.5, -2.8, -0.4, -2.2, -1.9}, y: []float64{-1.1, 0.3, -0.7, 1.2, -0.2, 0.8, -0.5}, conf: 0.98,
		w: 3, p: 0.01241933065155227, lower: -3.5000082706359805, upper: -0.3999584730938175, estimate: -2.0210013212706013},
	{name: "negative values", x: []float64{-3.2, -1.5, -2.8, -0.4, -2.2, -1.9}, y: []float64{-1.1, 0.3, -0.7, 1.2, -0.2, 0.8, -0.5}, conf: 0.95,
		w: 3, p: 0.01241933065155227, lower: -3.1000290185600536, upper: -0.799980075268469, estimate: -2.0210013212706013},
	{name: "mostly zeros", x: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.2, 0.8, 2.5, 1.7}, y: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.9, 1.1}, conf: 0.98,
		w: 1086, p: 0.3417262814987176, lower: -3.890233325250147e-05, upper: 6.029754113387735e-06, estimate: 4.146223555509407e-05},
	{name: "mostly zeros", x: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.2, 0.8, 2.5, 1.7}, y: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.9, 1.1}, conf: 0.95,
		w: 1086, p: 0.3417262814987176, lower: -3.737403694693177e-05, upper: 4.5635753779063994e-05, estimate: 4.146223555509407e-05},
	{name: "outlier in control", x: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5, 11}, y: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5, 1000}, conf: 0.98,
		w: 206.5, p: 0.7337508190408062, lower: -1.2500445104967808, upper: 0.9999592463090431, estimate: -0.24999533705338367},
	{name: "outlier in control", x: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5, 11}, y: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5, 1000}, conf: 0.95,
		w: 206.5, p: 0.7337508190408062, lower: -1.2499902105529312, upper: 0.750021321722196, estimate: -0.24999533705338367},
	{name: "large, ties, no shift", x: genSeries(1000, 7919, 13, 1009, 8, 3), y: genSeries(1000, 104729, 7, 1013, 8, 3), conf: 0.98,
		w: 498137.5, p: 0.8853473504201965, lower: -4.124960037511286, upper: 3.624958751653222, estimate: -0.25},
	{name: "large, ties, no shift", x: genSeries(1000, 7919, 13, 1009, 8, 3), y: genSeries(1000, 104729, 7, 1013, 8, 3), conf: 0.95,
		w: 498137.5, p: 0.8853473504201965, lower: -3.4999804439458955, upper: 3.0000110910149322, estimate: -0.25},
	{name: "large, ties, small shift", x: genSeries(1000, 7919, 13, 1009, 8, 5), y: genSeries(1000, 104729, 7, 1013, 8, 3), conf: 0.98,
		w: 513878, p: 0.28251878900662275, lower: -2.1249600375112876, upper: 5.624958751653222, estimate: 1.75},
	{name: "large, ties, small shift", x: genSeries(1000, 7919, 13, 1009, 8, 5), y: genSeries(1000, 104729, 7, 1013, 8, 3), conf: 0.95,
		w: 513878, p: 0.28251878900662275, lower: -1.4999804439458946, upper: 5.000011091014932, estimate: 1.75},
	{name: "large, distinct values, unequal sizes", x: genSeries(1000, 7919, 13, 1000003, 997, 0.25), y: genSeries(1200, 104729, 7, 1000033, 997, 0), conf: 0.98,
		w: 595181, p: 0.7453404703488344, lower: -33.385877867836534, upper: 25.14371489704499, estimate: -4.042150847179999},
	{name: "large, distinct values, unequal sizes", x: genSeries(1000, 7919, 13, 1000003, 997, 0.25), y: genSeries(1200, 104729, 7, 1000033, 997, 0), conf: 0.95,
		w: 595181, p: 0.7453404703488344, lower: -28.71086510646863, upper: 20.496739945673514, estimate: -4.042150847179999},
	{name: "Kayenta's R tie-out sample", x: kayentaExperiment, y: kayentaControl, conf: 0.98,
		w: 3344, p: 0.04097223499284412, lower: -0.5000167750562925, upper: 2.3277717732629556e-05, estimate: -0.4999393907180323},
	{name: "Kayenta's R tie-out sample", x: kayentaExperiment, y: kayentaControl, conf: 0.95,
		w: 3344, p: 0.04097223499284412, lower: -0.500002521696696, upper: -3.486287505871302e-05, estimate: -0.4999393907180323},
}

func TestMannWhitneyMatchesR(t *testing.T) {
	for _, c := range mannWhitneyCases {
		got, err := MannWhitney(c.x, c.y, c.conf)
		if err != nil {
			t.Errorf("%s (conf %v): %v", c.name, c.conf, err)
			continue
		}
		want := MannWhitneyResult{W: c.w, PValue: c.p, Lower: c.lower, Upper: c.upper, Estimate: c.estimate}
		if !agrees(got.W, want.W) || !agrees(got.PValue, want.PValue) || !agrees(got.Lower, want.Lower) ||
			!agrees(got.Upper, want.Upper) || !agrees(got.Estimate, want.Estimate) {
			t.Errorf("%s (conf %v):\n got %+v\nwant %+v", c.name, c.conf, got, want)
		}
	}
}

func TestMannWhitneyWithNaNsRemovedMatchesR(t *testing.T) {
	// R's wilcox.test drops NaN and NA itself; the judge removes them first with RemoveNaN.
	x := []float64{12.1, math.NaN(), 14.3, 11.8, math.NaN(), 15.2, 13.7, 12.9, 16.4, 13.1, math.NaN()}
	y := []float64{math.NaN(), 10.2, 11.5, 12.4, 9.8, 11.1, 10.7, math.NaN(), 12, 13.3, 10.9}
	got, err := MannWhitney(RemoveNaN(x), RemoveNaN(y), 0.98)
	if err != nil {
		t.Fatal(err)
	}
	want := MannWhitneyResult{W: 65, PValue: 0.0060989459312143675, Lower: 0.5999889578810281, Upper: 4.3000485573015474, Estimate: 2.2000585636242853}
	if !agrees(got.W, want.W) || !agrees(got.PValue, want.PValue) || !agrees(got.Lower, want.Lower) ||
		!agrees(got.Upper, want.Upper) || !agrees(got.Estimate, want.Estimate) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

type describeCase struct {
	name                          string
	v                             []float64
	mean, stdev, median, min, max float64
	q                             [5]float64 // type 7 quantiles at 0.01, 0.25, 0.5, 0.75, 0.99
	fence3                        [2]float64 // outlier fences with factor 3
	kept3                         int
	fence15                       [2]float64 // and with factor 1.5
	kept15                        int
}

// describeCases: R's mean, sd, median, min, max and quantile(type = 7); the fences are Kayenta's
// IQR detector rule written in R (see reference.R).
var describeCases = []describeCase{
	{name: "spike", v: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5, 250, -40},
		mean: 20.193181818181817, stdev: 52.512126253653584, median: 11.625, min: -40, max: 250,
		q:      [5]float64{-29.605, 10.5625, 11.625, 12.6875, 200.49249999999978},
		fence3: [2]float64{-29.605, 200.49249999999978}, kept3: 20, fence15: [2]float64{-29.605, 200.49249999999978}, kept15: 20},
	{name: "heavy tail", v: []float64{1, 1.1, 0.9, 1.05, 0.95, 1.2, 0.8, 1.02, 0.98, 30, 1.01, 0.99, 25, 1.03},
		mean: 4.787857142857143, stdev: 9.672470194853519, median: 1.0150000000000001, min: 0.8, max: 30,
		q:      [5]float64{0.8130000000000001, 0.9824999999999999, 1.0150000000000001, 1.0875000000000001, 29.349999999999994},
		fence3: [2]float64{0.6674999999999993, 29.349999999999994}, kept3: 13, fence15: [2]float64{0.8130000000000001, 29.349999999999994}, kept15: 12},
	{name: "negative", v: []float64{-3.2, -1.5, -2.8, -0.4, -2.2, -1.9, -25, -2},
		mean: -4.875, stdev: 8.175005460898133, median: -2.1, min: -25, max: -0.4,
		q:      [5]float64{-23.474, -2.8999999999999995, -2.1, -1.7999999999999998, -0.4770000000000003},
		fence3: [2]float64{-23.474, 1.4999999999999991}, kept3: 7, fence15: [2]float64{-23.474, -0.15000000000000036}, kept15: 7},
	{name: "two values", v: []float64{1, 100},
		mean: 50.5, stdev: 70.0035713374682, median: 50.5, min: 1, max: 100,
		q:      [5]float64{1.9900000000000009, 25.75, 50.5, 75.25, 99.01},
		fence3: [2]float64{-122.75, 223.75}, kept3: 2, fence15: [2]float64{-48.5, 149.5}, kept15: 2},
	{name: "one value", v: []float64{42},
		mean: 42, stdev: 0, median: 42, min: 42, max: 42,
		q:      [5]float64{42, 42, 42, 42, 42},
		fence3: [2]float64{42, 42}, kept3: 1, fence15: [2]float64{42, 42}, kept15: 1},
	{name: "constant", v: []float64{7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5},
		mean: 7.5, stdev: 0, median: 7.5, min: 7.5, max: 7.5,
		q:      [5]float64{7.5, 7.5, 7.5, 7.5, 7.5},
		fence3: [2]float64{7.5, 7.5}, kept3: 9, fence15: [2]float64{7.5, 7.5}, kept15: 9},
	{name: "large", v: genSeries(1000, 104729, 7, 1013, 8, 3),
		mean: 66.3055, stdev: 36.56937740944073, median: 66.3125, min: 3, max: 129.5,
		q:      [5]float64{4.373749999999999, 34.71875, 66.3125, 97.90625, 128.25125},
		fence3: [2]float64{-154.84375, 287.46875}, kept3: 1000, fence15: [2]float64{-60.0625, 192.6875}, kept15: 1000},
}

type effectSizeCase struct {
	name                string
	experiment, control []float64
	meanRatio, cles     float64
}

// effectSizeCases: mean(experiment) / mean(control), and the CLES from R's average ranks.
var effectSizeCases = []effectSizeCase{
	{name: "no ties", experiment: []float64{12.1, 14.3, 11.8, 15.2, 13.7, 12.9, 16.4, 13.1}, control: []float64{10.2, 11.5, 12.4, 9.8, 11.1, 10.7, 12, 13.3, 10.9}, meanRatio: 1.2089057899901865, cles: 0.9027777777777778},
	{name: "ties", experiment: []float64{3, 4, 4, 5, 5, 5, 6, 7, 2, 4}, control: []float64{2, 3, 3, 4, 4, 5, 1, 2, 3, 3, 4}, meanRatio: 1.4558823529411764, cles: 0.7818181818181819},
	{name: "shift by 5", experiment: []float64{17.5, 15.25, 16.75, 18.5, 14.75, 17, 16, 15.5, 19.25, 17.75, 16.5, 15, 18, 17.25, 16.25, 14.5, 18.75, 17.5, 15.75, 16.5}, control: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5}, meanRatio: 1.4268943436499464, cles: 1},
	{name: "shift by -0.5", experiment: []float64{12, 9.75, 11.25, 13, 9.25, 11.5, 10.5, 10, 13.75, 12.25, 11, 9.5, 12.5, 11.75, 10.75, 9, 13.25, 12, 10.25, 11}, control: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5}, meanRatio: 0.9573105656350054, cles: 0.39875},
	{name: "identical samples", experiment: []float64{5.1, 4.9, 6.2, 5.8, 6, 5.5, 5.3}, control: []float64{5.1, 4.9, 6.2, 5.8, 6, 5.5, 5.3}, meanRatio: 1, cles: 0.5},
	{name: "n=1 vs n=3", experiment: []float64{7}, control: []float64{1, 2, 3}, meanRatio: 3.5, cles: 1},
	{name: "n=3 vs n=1", experiment: []float64{1, 2, 3}, control: []float64{2.5}, meanRatio: 0.8, cles: 0.3333333333333333},
	{name: "n=2 vs n=2", experiment: []float64{1.5, 2.5}, control: []float64{1, 2}, meanRatio: 1.3333333333333333, cles: 0.75},
	{name: "n=3 vs n=3", experiment: []float64{10, 12, 11}, control: []float64{9, 8, 13}, meanRatio: 1.1, cles: 0.6666666666666666},
	{name: "constant experiment", experiment: []float64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, control: []float64{4, 5, 6, 5, 7, 3, 5, 6, 4, 5}, meanRatio: 1, cles: 0.5},
	{name: "constant control", experiment: []float64{4, 5, 6, 5, 7, 3, 5, 6, 4, 9}, control: []float64{2, 2, 2, 2, 2, 2, 2, 2}, meanRatio: 2.7, cles: 1},
	{name: "negative values", experiment: []float64{-3.2, -1.5, -2.8, -0.4, -2.2, -1.9}, control: []float64{-1.1, 0.3, -0.7, 1.2, -0.2, 0.8, -0.5}, meanRatio: 69.99999999999997, cles: 0.07142857142857142},
	{name: "mostly zeros", experiment: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.2, 0.8, 2.5, 1.7}, control: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.9, 1.1}, meanRatio: 3.311363636363636, cles: 0.5251450676982592},
	{name: "outlier in control", experiment: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5, 11}, control: []float64{12.5, 10.25, 11.75, 13.5, 9.75, 12, 11, 10.5, 14.25, 12.75, 11.5, 10, 13, 12.25, 11.25, 9.5, 13.75, 12.5, 10.75, 11.5, 1000}, meanRatio: 0.19870366619404498, cles: 0.46825396825396826},
	{name: "large, ties, no shift", experiment: genSeries(1000, 7919, 13, 1009, 8, 3), control: genSeries(1000, 104729, 7, 1013, 8, 3), meanRatio: 0.9964501436532416, cles: 0.4981375},
	{name: "large, ties, small shift", experiment: genSeries(1000, 7919, 13, 1009, 8, 5), control: genSeries(1000, 104729, 7, 1013, 8, 3), meanRatio: 1.0266135539284074, cles: 0.513878},
	{name: "large, distinct values, unequal sizes", experiment: genSeries(1000, 7919, 13, 1000003, 997, 0.25), control: genSeries(1200, 104729, 7, 1000033, 997, 0), meanRatio: 0.9919247721575413, cles: 0.49598416666666667},
	{name: "Kayenta's R tie-out sample", experiment: kayentaExperiment, control: kayentaControl, meanRatio: 0.7845303867403315, cles: 0.4128395061728395},
}
