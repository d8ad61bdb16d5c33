package stats

import (
	"math"
	"slices"
)

// Summary describes one series for a report.
type Summary struct {
	Count  int     `json:"count"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// Stdev is the sample standard deviation (n-1 in the denominator); 0 for a single value.
	Stdev float64 `json:"stdev"`
}

// Describe summarizes values. An empty series gives all zeros, as Kayenta's
// DescriptiveStatistics.summary does, so a report never shows NaN.
func Describe(values []float64) Summary {
	if len(values) == 0 {
		return Summary{}
	}
	sorted := values
	if !slices.IsSorted(values) {
		sorted = slices.Sorted(slices.Values(values))
	}
	return Summary{
		Count:  len(values),
		Mean:   Mean(values),
		Median: Quantile(sorted, 0.5),
		Min:    sorted[0],
		Max:    sorted[len(sorted)-1],
		Stdev:  math.Sqrt(Variance(values)),
	}
}

// Mean returns the arithmetic mean of values, NaN when there are none. Like Apache Commons'
// Mean it adds the mean of the residuals to the first estimate, which recovers most of the
// rounding error of the plain sum.
func Mean(values []float64) float64 {
	n := float64(len(values))
	if n == 0 {
		return math.NaN()
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	mean := sum / n
	var correction float64
	for _, v := range values {
		correction += v - mean
	}
	return mean + correction/n
}

// Variance returns the sample variance of values (n-1 in the denominator) by the corrected
// two-pass algorithm; 0 for one value and NaN for none, as Apache Commons' Variance does.
func Variance(values []float64) float64 {
	switch len(values) {
	case 0:
		return math.NaN()
	case 1:
		return 0
	}
	m := Mean(values)
	var accum, accum2 float64
	for _, v := range values {
		dev := v - m
		accum += dev * dev
		accum2 += dev
	}
	n := float64(len(values))
	return (accum - accum2*accum2/n) / (n - 1)
}
