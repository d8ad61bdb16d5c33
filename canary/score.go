package canary

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// nodataThreshold: when this percentage or more of the (unmuted) metrics have no data, the
// canary fails with score 0 (Kayenta's WeightedSumScorer.NODATA_THRESHOLD, compared with >=).
const nodataThreshold = 50.0

// score turns metric verdicts into group scores, the summary score and its classification, by
// Kayenta's ScoringHelper, WeightedSumScorer and ThresholdScoreClassifier.
func score(results []MetricResult, weights map[string]float64, th Thresholds) Result {
	// Muted metrics are left out of everything that follows, critical or not.
	var active []MetricResult
	for _, r := range results {
		if !r.Muted {
			active = append(active, r)
		}
	}
	groups := groupScores(active)
	res := Result{Groups: groups}
	switch nodata := countNodata(active); {
	case firstCriticalFailure(active) != nil:
		f := firstCriticalFailure(active)
		res.Score = 0
		res.Reason = fmt.Sprintf("critical metric %q failed: %s", f.Name, f.Reason)
	case len(active) > 0 && float64(nodata)/float64(len(active))*100 >= nodataThreshold:
		res.Score = 0
		res.Reason = fmt.Sprintf("%d of %d metrics had no data; with half or more without data the canary fails", nodata, len(active))
	default:
		res.Score = summaryScore(groups, weights)
	}
	switch {
	case res.Score >= th.Pass:
		res.Classification = ScorePass
	case res.Score >= th.Marginal:
		res.Classification = ScoreMarginal
	default:
		res.Classification = ScoreFail
	}
	if res.Reason == "" {
		res.Reason = scoreReason(res, th, active)
	}
	if len(active) == 0 {
		res.Reason = "every metric is muted, so nothing earns a score; " + res.Reason
	}
	return res
}

// groupScores gives each group, in order of first appearance, the percentage of its judged
// metrics that passed. High, Low and NodataFailMetric count against it; Nodata and Error are not
// counted, and a group with nothing counted has no data.
func groupScores(results []MetricResult) []GroupResult {
	var order []string
	type tally struct{ pass, judged, metrics int }
	tallies := map[string]*tally{}
	for _, r := range results {
		for _, g := range r.Groups {
			t, ok := tallies[g]
			if !ok {
				t = &tally{}
				tallies[g] = t
				order = append(order, g)
			}
			t.metrics++
			switch r.Classification {
			case MetricPass:
				t.pass++
				t.judged++
			case MetricHigh, MetricLow, MetricNodataFail:
				t.judged++
			}
		}
	}
	out := make([]GroupResult, len(order))
	for i, g := range order {
		t := tallies[g]
		out[i] = GroupResult{Name: g, Metrics: t.metrics, NoData: t.judged == 0}
		if t.judged > 0 {
			out[i].Score = float64(t.pass) / float64(t.judged) * 100
		}
	}
	return out
}

// summaryScore weights the group scores (WeightedSumScorer.calculateSummaryScore): a group with
// a weight gets it, the groups without one share what the weights leave of 100 equally (all of
// it when there are no weights), and a group without data counts as 100. The weights of groups
// no metric reported still count in what is left, as in Kayenta. It sets each group's Weight.
func summaryScore(groups []GroupResult, weights map[string]float64) float64 {
	var weightSum float64
	for _, w := range weights {
		weightSum += w
	}
	unweighted := 0
	for _, g := range groups {
		if _, ok := weights[g.Name]; !ok {
			unweighted++
		}
	}
	var shared float64
	if unweighted > 0 {
		shared = (100 - weightSum) / float64(unweighted)
	}
	var sum float64
	for i := range groups {
		g := &groups[i]
		w, ok := weights[g.Name]
		if !ok {
			w = shared
		}
		g.Weight = w
		effective := g.Score
		if g.NoData {
			effective = 100
		}
		sum += effective * (w / 100)
	}
	return roundHalfUp2(sum)
}

func countNodata(results []MetricResult) int {
	n := 0
	for _, r := range results {
		if r.Classification == MetricNodata {
			n++
		}
	}
	return n
}

func firstCriticalFailure(results []MetricResult) *MetricResult {
	for i := range results {
		if results[i].Critical && results[i].Classification != MetricPass {
			return &results[i]
		}
	}
	return nil
}

// scoreReason explains a score reached by weighing the groups, naming the metrics that cost it.
func scoreReason(res Result, th Thresholds, active []MetricResult) string {
	var b strings.Builder
	s := num2(res.Score)
	switch res.Classification {
	case ScorePass:
		fmt.Fprintf(&b, "score %s reaches the pass threshold %s", s, num2(th.Pass))
	case ScoreMarginal:
		fmt.Fprintf(&b, "score %s is below the pass threshold %s but reaches the marginal threshold %s", s, num2(th.Pass), num2(th.Marginal))
	default:
		fmt.Fprintf(&b, "score %s is below the marginal threshold %s", s, num2(th.Marginal))
	}
	var failed []string
	for _, r := range active {
		switch r.Classification {
		case MetricHigh, MetricLow, MetricNodataFail:
			failed = append(failed, fmt.Sprintf("%q (%s)", r.Name, r.Classification))
		}
	}
	const listed = 5
	switch {
	case len(failed) > listed:
		fmt.Fprintf(&b, "; failed: %s and %d more", strings.Join(failed[:listed], ", "), len(failed)-listed)
	case len(failed) > 0:
		fmt.Fprintf(&b, "; failed: %s", strings.Join(failed, ", "))
	}
	return b.String()
}

// roundHalfUp2 rounds to two decimals the way Kayenta does (Apache Commons' Precision.round,
// which rounds the shortest decimal form of the double half up), so 66.665 becomes 66.67 where
// math.Round(x*100)/100 would give 66.66.
func roundHalfUp2(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(x, 'g', -1, 64))
	if !ok {
		return x
	}
	r.Mul(r, big.NewRat(100, 1))
	half := big.NewRat(1, 2)
	if r.Sign() < 0 {
		half.Neg(half)
	}
	r.Add(r, half)
	whole := new(big.Int).Quo(r.Num(), r.Denom()) // truncates toward zero
	out, _ := new(big.Rat).SetFrac(whole, big.NewInt(100)).Float64()
	return out
}

// num2 formats a score without trailing zeros.
func num2(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
