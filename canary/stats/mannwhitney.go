package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Errors MannWhitney reports for samples it cannot compare.
var (
	ErrEmpty     = errors.New("a sample is empty")
	ErrNotFinite = errors.New("a sample holds NaN or an infinite value")
	// ErrAllTied means every value of both samples is the same: there is no spread to rank.
	ErrAllTied = errors.New("all observations are tied")
)

// tolRoot and maxRootIter are what R's wilcox.test passes to uniroot (tol.root = 1e-4 and
// uniroot's maxiter = 1000). Matching them is what makes the interval ends agree with R's to
// many digits rather than to 1e-4: the function whose root is sought is a step function of the
// shift, so where the search stops inside a flat step depends on the tolerance.
const (
	tolRoot     = 1e-4
	maxRootIter = 1000
)

// MannWhitneyResult is a two-sided Mann-Whitney U (Wilcoxon rank-sum) test of x against y with
// the confidence interval and estimate of the location shift x - y.
type MannWhitneyResult struct {
	// W is R's statistic: the rank sum of x minus nx(nx+1)/2.
	W float64 `json:"w"`
	// PValue is the two-sided p-value from the normal approximation with tie and continuity
	// corrections.
	PValue float64 `json:"pValue"`
	// Lower and Upper bound the confidence interval of the shift.
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// Estimate is the shift estimate (the Hodges-Lehmann estimate, found as R finds it: the root
	// of the uncorrected standardized statistic).
	Estimate float64 `json:"estimate"`
}

// MannWhitney tests whether x and y differ by a location shift, as R's
// wilcox.test(x, y, mu = 0, exact = FALSE, correct = TRUE, conf.int = TRUE, conf.level = confLevel)
// does, and returns the same numbers. Kayenta's judge calls it with the experiment as x, the
// control as y and confLevel 0.98.
//
// When both samples are constant but different, R stops (the search interval for the shift is a
// single point); MannWhitney instead returns that point, the exact shift, as interval and
// estimate. It is the limit of R's answer as the spread of the samples shrinks to nothing.
func MannWhitney(x, y []float64, confLevel float64) (MannWhitneyResult, error) {
	if len(x) == 0 || len(y) == 0 {
		return MannWhitneyResult{}, ErrEmpty
	}
	if !(confLevel > 0 && confLevel < 1) {
		return MannWhitneyResult{}, fmt.Errorf("confidence level %v is not between 0 and 1", confLevel)
	}
	for _, s := range [2][]float64{x, y} {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return MannWhitneyResult{}, ErrNotFinite
			}
		}
	}
	t := rankTest{
		xs: slices.Sorted(slices.Values(x)),
		ys: slices.Sorted(slices.Values(y)),
		nx: float64(len(x)),
		ny: float64(len(y)),
	}
	var res MannWhitneyResult
	sumX, ties := rankSum(t.xs, t.ys, 0)
	res.W = sumX - t.nx*(t.nx+1)/2
	sigma := t.sigma(ties)
	if sigma == 0 {
		return MannWhitneyResult{}, ErrAllTied
	}
	z := res.W - t.nx*t.ny/2
	z = (z - sign(z)*0.5) / sigma
	// 2 * min(P(Z <= z), P(Z > z)), computed on the smaller tail so a tiny p-value keeps its digits.
	res.PValue = math.Erfc(math.Abs(z) / math.Sqrt2)

	muMin := t.xs[0] - t.ys[len(t.ys)-1]
	muMax := t.xs[len(t.xs)-1] - t.ys[0]
	if muMin == muMax {
		res.Lower, res.Upper, res.Estimate = muMin, muMin, muMin
		return res, nil
	}

	corrected := func(d float64) float64 { return t.standardized(d, true) }
	wMin, wMax := corrected(muMin), corrected(muMax)
	root := func(zq float64) float64 {
		fLower := wMin - zq
		if fLower <= 0 {
			return muMin
		}
		fUpper := wMax - zq
		if fUpper >= 0 {
			return muMax
		}
		return zeroin(muMin, muMax, fLower, fUpper, func(d float64) float64 { return corrected(d) - zq })
	}
	alpha := 1 - confLevel
	zq := normalQuantile(alpha / 2)
	res.Lower = root(-zq)
	res.Upper = root(zq)

	// R turns the continuity correction off before it looks for the estimate.
	plain := func(d float64) float64 { return t.standardized(d, false) }
	fLower, fUpper := plain(muMin), plain(muMax)
	if sign(fLower)*sign(fUpper) > 0 {
		return MannWhitneyResult{}, fmt.Errorf("no shift estimate: the statistic does not change sign between %v and %v", muMin, muMax)
	}
	res.Estimate = zeroin(muMin, muMax, fLower, fUpper, plain)
	return res, nil
}

// rankTest holds two sorted samples for evaluating the rank statistic at many shifts.
type rankTest struct {
	xs, ys []float64
	nx, ny float64
}

// sigma is the standard deviation of the rank sum under the null hypothesis, corrected for ties;
// ties is the sum of t³ - t over groups of t equal values.
func (t rankTest) sigma(ties float64) float64 {
	n := t.nx + t.ny
	return math.Sqrt((t.nx * t.ny / 12) * ((n + 1) - ties/(n*(n-1))))
}

// standardized is the rank statistic of x - d against y, centred and scaled, with the
// continuity correction when correct is set: the function of d whose roots are the interval's
// ends (after subtracting the normal quantile) and the estimate.
func (t rankTest) standardized(d float64, correct bool) float64 {
	sumX, ties := rankSum(t.xs, t.ys, d)
	dz := sumX - t.nx*(t.nx+1)/2 - t.nx*t.ny/2
	var correction float64
	if correct {
		correction = sign(dz) * 0.5
	}
	return (dz - correction) / t.sigma(ties)
}

// rankSum ranks the values xs[i]-d together with ys (ties get their average rank) and returns
// the sum of the ranks of the xs and the sum of t³ - t over groups of t tied values. Both slices
// must be sorted; subtracting d keeps xs sorted, so one merge ranks everything, which is what
// makes the many evaluations of a root search cheap.
func rankSum(xs, ys []float64, d float64) (sumX, ties float64) {
	i, j := 0, 0
	var pos float64 // ranks handed out so far
	for i < len(xs) || j < len(ys) {
		var v float64
		switch {
		case i == len(xs):
			v = ys[j]
		case j == len(ys):
			v = xs[i] - d
		default:
			v = min(xs[i]-d, ys[j])
		}
		var cx, cy float64
		for i < len(xs) && xs[i]-d == v {
			i++
			cx++
		}
		for j < len(ys) && ys[j] == v {
			j++
			cy++
		}
		n := cx + cy
		sumX += cx * (pos + (n+1)/2)
		ties += n*n*n - n
		pos += n
	}
	return sumX, ties
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// zeroin finds a root of f in [a, b] given f(a) and f(b) of opposite signs, by Brent's method in
// the form of Forsythe, Malcolm and Moler's ZEROIN that R's uniroot runs (R_zeroin2). The steps
// are kept as there, with tolRoot and maxRootIter, so the search visits the same points as R's
// and stops where R's stops, rather than merely somewhere within the tolerance.
func zeroin(a, b, fa, fb float64, f func(float64) float64) float64 {
	const eps = 2.220446049250313e-16 // DBL_EPSILON
	c, fc := a, fa
	if fa == 0 {
		return a
	}
	if fb == 0 {
		return b
	}
	for range maxRootIter + 1 {
		prevStep := b - a
		if math.Abs(fc) < math.Abs(fb) {
			// Make b the best approximation.
			a, b, c = b, c, b
			fa, fb, fc = fb, fc, fb
		}
		tolAct := 2*eps*math.Abs(b) + tolRoot/2
		newStep := (c - b) / 2
		if math.Abs(newStep) <= tolAct || fb == 0 {
			return b
		}
		// Interpolate when the previous step was large enough and went the right way.
		if math.Abs(prevStep) >= tolAct && math.Abs(fa) > math.Abs(fb) {
			var p, q float64
			cb := c - b
			if a == c {
				// Two distinct points: linear interpolation.
				t1 := fb / fa
				p = cb * t1
				q = 1.0 - t1
			} else {
				// Inverse quadratic interpolation.
				q = fa / fc
				t1 := fb / fc
				t2 := fb / fa
				p = t2 * (cb*q*(q-t1) - (b-a)*(t1-1.0))
				q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
			}
			if p > 0 {
				q = -q
			} else {
				p = -p
			}
			if p < (0.75*cb*q-math.Abs(tolAct*q)/2) && p < math.Abs(prevStep*q/2) {
				newStep = p / q
			}
		}
		if math.Abs(newStep) < tolAct {
			if newStep > 0 {
				newStep = tolAct
			} else {
				newStep = -tolAct
			}
		}
		a, fa = b, fb
		b += newStep
		fb = f(b)
		if (fb > 0 && fc > 0) || (fb < 0 && fc < 0) {
			c, fc = a, fa
		}
	}
	return b
}

// normalQuantile returns the p-quantile of the standard normal distribution by Wichura's
// algorithm AS 241 (PPND16), the one R's qnorm uses. (math.Erfinv uses the same approximation,
// but going through it loses the low bits of p = (1 - 0.98) / 2.) The result can differ from
// R's in the last bit or two, where math.Log and the C library's log round differently.
func normalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	}
	q := p - 0.5
	if math.Abs(q) <= 0.425 {
		r := 0.180625 - q*q
		return q * (((((((r*2509.0809287301226727+33430.575583588128105)*r+67265.770927008700853)*r+
			45921.953931549871457)*r+13731.693765509461125)*r+1971.5909503065514427)*r+133.14166789178437745)*r +
			3.387132872796366608) /
			(((((((r*5226.495278852545925+28729.085735721942674)*r+39307.89580009271061)*r+
				21213.794301586595867)*r+5394.1960214247511077)*r+687.1870074920579083)*r+42.313330701600911252)*r + 1.0)
	}
	r := p
	if q > 0 {
		r = 1 - p
	}
	r = math.Sqrt(-math.Log(r))
	var val float64
	if r <= 5 {
		r -= 1.6
		val = (((((((r*7.7454501427834140764e-4+0.0227238449892691845833)*r+0.24178072517745061177)*r+
			1.27045825245236838258)*r+3.64784832476320460504)*r+5.7694972214606914055)*r+4.6303378461565452959)*r +
			1.42343711074968357734) /
			(((((((r*1.05075007164441684324e-9+5.475938084995344946e-4)*r+0.0151986665636164571966)*r+
				0.14810397642748007459)*r+0.68976733498510000455)*r+1.6763848301838038494)*r+2.05319162663775882187)*r + 1.0)
	} else {
		r -= 5
		val = (((((((r*2.01033439929228813265e-7+2.71155556874348757815e-5)*r+0.0012426609473880784386)*r+
			0.026532189526576123093)*r+0.29656057182850489123)*r+1.7848265399172913358)*r+5.4637849111641143699)*r +
			6.6579046435011037772) /
			(((((((r*2.04426310338993978564e-15+1.4215117583164458887e-7)*r+1.8463183175100546818e-5)*r+
				7.868691311456132591e-4)*r+0.0148753612908506148525)*r+0.13692988092273580531)*r+0.59983220655588793769)*r + 1.0)
	}
	if q < 0 {
		val = -val
	}
	return val
}
