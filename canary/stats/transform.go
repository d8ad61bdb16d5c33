// Package stats holds the statistics behind the canary judge: NaN and outlier handling,
// descriptive statistics, effect sizes and the Mann-Whitney U test with the confidence interval
// R's wilcox.test computes. Everything here is a pure function of its arguments.
package stats

import (
	"math"
	"slices"
)

// RemoveNaN returns the values that are not NaN, in their order, as a new slice.
func RemoveNaN(values []float64) []float64 {
	out := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// ReplaceNaN returns a copy of values with every NaN replaced by with (the judge uses 0, for
// count metrics whose store reports no sample when nothing happened).
func ReplaceNaN(values []float64, with float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		if math.IsNaN(v) {
			v = with
		}
		out[i] = v
	}
	return out
}

// Quantile returns the p-quantile (p in [0, 1]) of sorted values by R's type 7 estimator, the
// one Kayenta's DescriptiveStatistics.percentile selects (Apache Commons' R_7); NaN when sorted
// is empty. sorted must be in ascending order without NaNs.
func Quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 || math.IsNaN(p) {
		return math.NaN()
	}
	// Commons Math's R_7 index: 0 for p = 0, n for p = 1, 1 + (n-1)p otherwise (1-based).
	var pos float64
	switch {
	case p <= 0:
		pos = 0
	case p >= 1:
		pos = float64(n)
	default:
		pos = 1 + float64(n-1)*p
	}
	if pos < 1 {
		return sorted[0]
	}
	if pos >= float64(n) {
		return sorted[n-1]
	}
	fpos := math.Floor(pos)
	i := int(fpos)
	lower, upper := sorted[i-1], sorted[i]
	return lower + (pos-fpos)*(upper-lower)
}

// OutlierFences returns the bounds outside which a value of sorted is an outlier, by Kayenta's
// IQR detector with reduced sensitivity (the way NetflixACAJudge builds it): the lower fence is
// the smaller of the 1st percentile and Q1 - factor*IQR, the upper the larger of the 99th
// percentile and Q3 + factor*IQR. Taking the percentiles too keeps a tight series from losing
// its ordinary extremes.
func OutlierFences(sorted []float64, factor float64) (lower, upper float64) {
	q1, q3 := Quantile(sorted, 0.25), Quantile(sorted, 0.75)
	iqr := q3 - q1
	lower = math.Min(Quantile(sorted, 0.01), q1-factor*iqr)
	upper = math.Max(Quantile(sorted, 0.99), q3+factor*iqr)
	return lower, upper
}

// RemoveOutliers returns the values inside OutlierFences(values, factor), in their order, as a
// new slice. values must hold no NaNs; factor must be positive.
func RemoveOutliers(values []float64, factor float64) []float64 {
	if len(values) == 0 {
		return []float64{}
	}
	lower, upper := OutlierFences(slices.Sorted(slices.Values(values)), factor)
	out := make([]float64, 0, len(values))
	for _, v := range values {
		if v >= lower && v <= upper {
			out = append(out, v)
		}
	}
	return out
}

// TrimOutliers is RemoveOutliers for sorted values: the values kept are a contiguous part of
// sorted, which is returned without copying.
func TrimOutliers(sorted []float64, factor float64) []float64 {
	if len(sorted) == 0 {
		return sorted
	}
	lower, upper := OutlierFences(sorted, factor)
	lo, _ := slices.BinarySearch(sorted, lower)
	hi := len(sorted)
	for hi > lo && sorted[hi-1] > upper {
		hi--
	}
	return sorted[lo:hi]
}
