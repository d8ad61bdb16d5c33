package canary

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// Validate returns every problem with the config, each located by its JSON path, such as
// metrics[2].analysisConfigurations.canary.direction, in a fixed order: top-level fields, each
// metric, the classifier. knownSourceTypes are the metric source types this gennaker can query
// (e.g. "prometheus"); nil skips that check.
func Validate(cfg Config, knownSourceTypes []string) []pipeline.Problem {
	var ps problems
	switch {
	case strings.TrimSpace(cfg.Name) == "":
		ps.add("name", "required")
	case !isSafeName(cfg.Name):
		ps.add("name", "must contain only letters, digits, '.', '-' and '_', not %q", cfg.Name)
	}
	if cfg.Judge.Name != "" && cfg.Judge.Name != JudgeName {
		ps.add("judge.name", "unknown judge %q (gennaker has %s)", cfg.Judge.Name, JudgeName)
	}
	if len(cfg.Metrics) == 0 {
		ps.add("metrics", "at least one metric is required")
	}
	seen := map[string]int{}
	for i, m := range cfg.Metrics {
		path := joinIndex("metrics", i)
		switch first, dup := seen[m.Name]; {
		case strings.TrimSpace(m.Name) == "":
			ps.add(path+".name", "required")
		case dup:
			ps.add(path+".name", "duplicate metric name %q (also metrics[%d])", m.Name, first)
		default:
			seen[m.Name] = i
		}
		ps.checkQuery(cfg, m.Query, path+".query", knownSourceTypes)
		ps.checkGroups(cfg, m.Groups, path+".groups")
		if m.AnalysisConfigurations != nil && m.AnalysisConfigurations.Canary != nil {
			ps.checkAnalysis(*m.AnalysisConfigurations.Canary, path+".analysisConfigurations.canary")
		}
	}
	ps.checkClassifier(cfg)
	return ps
}

// ValidateThresholds checks score thresholds given outside a config (by a canary stage); path
// locates them, such as "scoreThresholds".
func ValidateThresholds(t Thresholds, path string) []pipeline.Problem {
	var ps problems
	ps.checkThresholds(t.Pass, t.Marginal, path)
	return ps
}

func (ps *problems) checkQuery(cfg Config, q Query, path string, known []string) {
	switch {
	case q.Type == "":
		ps.add(path+".type", "required: the metric source type, such as prometheus")
	case known != nil && !slices.Contains(known, q.Type):
		sorted := slices.Sorted(slices.Values(known))
		ps.add(path+".type", "unknown metric source type %q (known: %s)", q.Type, strings.Join(sorted, ", "))
	}
	if q.ServiceType != "" && q.Type != "" && q.ServiceType != q.Type {
		ps.add(path+".serviceType", "%q does not match type %q", q.ServiceType, q.Type)
	}
	if q.CustomFilter != "" {
		ps.add(path+".customFilter", "no longer supported (Kayenta rejects it too): use customInlineTemplate")
	}
	if q.CustomInlineTemplate != "" && strings.TrimSpace(q.InlineQuery()) == "" {
		ps.add(path+".customInlineTemplate", "has no query after the PromQL: prefix")
	}
	wholeFilter := false
	if q.CustomFilterTemplate != "" {
		t, err := cfg.FilterTemplate(q)
		if err != nil {
			ps.add(path+".customFilterTemplate", "template %q is not defined in templates", q.CustomFilterTemplate)
		}
		_, wholeFilter = StripPromQL(t)
	}
	if q.MetricName == "" && q.CustomInlineTemplate == "" && !wholeFilter {
		// Kayenta's Prometheus source builds the query from metricName unless a template is a
		// complete "PromQL:" expression.
		ps.add(path, "either metricName or customInlineTemplate is required")
	}
}

func (ps *problems) checkGroups(cfg Config, groups []string, path string) {
	if len(groups) == 0 {
		ps.add(path, "at least one group is required: scores are computed per group")
		return
	}
	seen := map[string]bool{}
	for k, g := range groups {
		gp := joinIndex(path, k)
		switch {
		case strings.TrimSpace(g) == "":
			ps.add(gp, "required")
		case seen[g]:
			// Kayenta would count the metric twice in the group.
			ps.add(gp, "duplicate group %q", g)
		case len(cfg.Classifier.GroupWeights) > 0:
			if _, ok := cfg.Classifier.GroupWeights[g]; !ok {
				ps.add(gp, "group %q has no weight in classifier.groupWeights", g)
			}
		}
		seen[g] = true
	}
}

func (ps *problems) checkAnalysis(a CanaryAnalysis, path string) {
	switch a.Direction {
	case "", DirectionIncrease, DirectionDecrease, DirectionEither:
	default:
		ps.add(path+".direction", "must be increase, decrease or either, not %q", a.Direction)
	}
	switch a.NaNStrategy {
	case "", NaNRemove, NaNReplace:
	default:
		ps.add(path+".nanStrategy", "must be remove or replace, not %q", a.NaNStrategy)
	}
	if es := a.EffectSize; es != nil {
		ps.checkEffectSize(*es, path+".effectSize")
	}
	if o := a.Outliers; o != nil {
		switch o.Strategy {
		case "", OutliersKeep, OutliersRemove:
		default:
			ps.add(path+".outliers.strategy", "must be remove or keep, not %q", o.Strategy)
		}
		if o.OutlierFactor != nil && !(*o.OutlierFactor > 0) {
			ps.add(path+".outliers.outlierFactor", "must be greater than 0, not %g", *o.OutlierFactor)
		}
	}
}

// checkEffectSize checks the bounds against what they mean: a ratio of means around 1, or a
// probability around 0.5; an increase bound at or above the neutral value, a decrease bound at
// or below it, and the critical bounds beyond the allowed ones.
func (ps *problems) checkEffectSize(es EffectSize, path string) {
	neutral, what := defaultMeanRatioBound, "ratio canary mean / baseline mean"
	switch es.Measure {
	case "", MeasureMeanRatio:
	case MeasureCLES:
		neutral, what = defaultCLESBound, "probability that a canary value exceeds a baseline value"
	default:
		ps.add(path+".measure", "must be meanRatio or cles, not %q", es.Measure)
		return
	}
	inRange := func(name string, v *float64) bool {
		if v == nil {
			return false
		}
		if es.Measure == MeasureCLES && (*v < 0 || *v > 1) {
			ps.add(path+"."+name, "must be between 0 and 1 (the %s), not %g", what, *v)
			return false
		}
		if es.Measure != MeasureCLES && !(*v > 0) {
			ps.add(path+"."+name, "must be positive (the %s), not %g", what, *v)
			return false
		}
		return true
	}
	allowedInc, allowedDec := neutral, neutral
	if inRange("allowedIncrease", es.AllowedIncrease) {
		if *es.AllowedIncrease < neutral {
			ps.add(path+".allowedIncrease", "must be at least %g (the %s at which an increase fails), not %g", neutral, what, *es.AllowedIncrease)
		} else {
			allowedInc = *es.AllowedIncrease
		}
	}
	if inRange("allowedDecrease", es.AllowedDecrease) {
		if *es.AllowedDecrease > neutral {
			ps.add(path+".allowedDecrease", "must be at most %g (the %s at which a decrease fails), not %g", neutral, what, *es.AllowedDecrease)
		} else {
			allowedDec = *es.AllowedDecrease
		}
	}
	if inRange("criticalIncrease", es.CriticalIncrease) && *es.CriticalIncrease < allowedInc {
		ps.add(path+".criticalIncrease", "must be at least allowedIncrease (%g): a critical increase is a larger one, not %g", allowedInc, *es.CriticalIncrease)
	}
	if inRange("criticalDecrease", es.CriticalDecrease) && *es.CriticalDecrease > allowedDec {
		ps.add(path+".criticalDecrease", "must be at most allowedDecrease (%g): a critical decrease is a larger one, not %g", allowedDec, *es.CriticalDecrease)
	}
}

func (ps *problems) checkClassifier(cfg Config) {
	weights := cfg.Classifier.GroupWeights
	if len(weights) > 0 {
		used := map[string]bool{}
		for _, m := range cfg.Metrics {
			for _, g := range m.Groups {
				used[g] = true
			}
		}
		var sum float64
		positive := false
		for _, g := range slices.Sorted(maps.Keys(weights)) {
			w := weights[g]
			path := joinKey("classifier.groupWeights", g)
			switch {
			case w < 0 || math.IsNaN(w):
				ps.add(path, "must not be negative, not %g", w)
			case !used[g] && w > 0:
				// Kayenta still counts the weight in the total, so the score could never
				// reach 100.
				ps.add(path, "no metric is in group %q, so its weight can never be earned", g)
			}
			if w > 0 {
				positive = true
				sum += w
			}
		}
		switch {
		case !positive:
			ps.add("classifier.groupWeights", "at least one weight must be positive")
		case math.Abs(sum-100) > 1e-9:
			ps.add("classifier.groupWeights", "weights must add up to 100, not %g", sum)
		}
	}
	if st := cfg.Classifier.ScoreThresholds; st != nil {
		const path = "classifier.scoreThresholds"
		if st.Pass == nil {
			ps.add(path+".pass", "required")
		}
		if st.Marginal == nil {
			ps.add(path+".marginal", "required")
		}
		if st.Pass != nil && st.Marginal != nil {
			ps.checkThresholds(*st.Pass, *st.Marginal, path)
		}
	}
}

func (ps *problems) checkThresholds(pass, marginal float64, path string) {
	okPass := pass >= 0 && pass <= 100
	okMarginal := marginal >= 0 && marginal <= 100
	if !okPass {
		ps.add(path+".pass", "must be between 0 and 100, not %g", pass)
	}
	if !okMarginal {
		ps.add(path+".marginal", "must be between 0 and 100, not %g", marginal)
	}
	if okPass && okMarginal && pass < marginal {
		ps.add(path+".pass", "must not be below marginal (%g), not %g", marginal, pass)
	}
}

// isSafeName reports whether a config name is letters, digits, '.', '-' and '_' only, so it
// can be used in IDs, file names and URLs without escaping.
func isSafeName(s string) bool {
	for _, r := range s {
		if !(r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// problems collects pipeline.Problems.
type problems []pipeline.Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, pipeline.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// joinKey extends a path with an object key: "classifier.groupWeights.latency", or
// `templates["my template"]` when the key is not a plain name (as pipeline paths are written).
func joinKey(path, key string) string {
	plain := key != "" && !strings.HasPrefix(key, "-")
	for _, r := range key {
		if !(r == '_' || r == '-' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

// joinIndex extends a path with a list index: "metrics[0]".
func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
