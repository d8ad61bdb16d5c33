package stats

import (
	"math"
	"slices"
)

// MeanRatio returns mean(experiment) / mean(control), the effect size Kayenta calls meanRatio.
// It is NaN when either mean is zero (or a series is empty): Kayenta's EffectSizes.meanRatio
// gives NaN rather than an infinite or zero ratio there, and the judge then ignores the effect
// size and decides on the test alone.
func MeanRatio(control, experiment []float64) float64 {
	c, e := Mean(control), Mean(experiment)
	if c == 0 || e == 0 || math.IsNaN(c) || math.IsNaN(e) {
		return math.NaN()
	}
	return e / c
}

// CLES returns the common language effect size: the probability that a value drawn from
// experiment is larger than one drawn from control, ties counting one half (Vargha and Delaney's
// A, the measure Kayenta's EffectSizes.cles computes from average ranks). 0.5 means neither is
// larger; NaN when a series is empty. Neither series may hold NaNs.
func CLES(control, experiment []float64) float64 {
	m, n := float64(len(experiment)), float64(len(control))
	if m == 0 || n == 0 {
		return math.NaN()
	}
	xs := slices.Sorted(slices.Values(experiment))
	ys := slices.Sorted(slices.Values(control))
	r1, _ := rankSum(xs, ys, 0)
	return (2*r1 - m*(m+1)) / (2 * n * m)
}
