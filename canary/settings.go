package canary

// Defaults Kayenta's NetflixACAJudge applies to an analysis configuration that leaves a value
// out (kayenta-judge NetflixACAJudge.classifyMetric, and the parse functions of
// BaseMetricClassifier for unknown strings).
const (
	// DefaultOutlierFactor multiplies the interquartile range in the outlier fences.
	DefaultOutlierFactor = 3.0
	// defaultMeanRatioBound is the default of all four effect size bounds for meanRatio: any
	// significant change counts.
	defaultMeanRatioBound = 1.0
	// defaultCLESBound is their default for cles.
	defaultCLESBound = 0.5
)

// Settings is a metric's analysis configuration with every default applied: what the judge
// actually uses.
type Settings struct {
	Direction    Direction
	NaNStrategy  NaNStrategy
	Critical     bool
	MustHaveData bool
	Muted        bool

	Measure EffectMeasure
	// AllowedIncrease and AllowedDecrease: a significant change fails the metric only when the
	// effect size is at least AllowedIncrease (or at most AllowedDecrease).
	AllowedIncrease float64
	AllowedDecrease float64
	// CriticalIncrease and CriticalDecrease: a critical metric's failure fails the whole canary
	// only when the effect size reaches them.
	CriticalIncrease float64
	CriticalDecrease float64

	OutlierStrategy OutlierStrategy
	OutlierFactor   float64
}

// Settings resolves the metric's analysis configuration the way Kayenta's judge reads it:
// direction "either", NaNs removed, outliers kept with factor 3, not critical, data not
// required, not muted, effect measured as meanRatio, and every effect size bound 1.0 (0.5 for
// cles), so that by default any significant change fails the metric. A value Kayenta does not
// recognize falls back to the same default, as it does there.
func (m Metric) Settings() Settings {
	var a CanaryAnalysis
	if m.AnalysisConfigurations != nil && m.AnalysisConfigurations.Canary != nil {
		a = *m.AnalysisConfigurations.Canary
	}
	s := Settings{
		Direction:       DirectionEither,
		NaNStrategy:     NaNRemove,
		Measure:         MeasureMeanRatio,
		OutlierStrategy: OutliersKeep,
		OutlierFactor:   DefaultOutlierFactor,
		Critical:        a.Critical != nil && *a.Critical,
		MustHaveData:    a.MustHaveData != nil && *a.MustHaveData,
		Muted:           a.Muted != nil && *a.Muted,
	}
	switch a.Direction {
	case DirectionIncrease, DirectionDecrease:
		s.Direction = a.Direction
	}
	if a.NaNStrategy == NaNReplace {
		s.NaNStrategy = NaNReplace
	}
	if o := a.Outliers; o != nil {
		if o.Strategy == OutliersRemove {
			s.OutlierStrategy = OutliersRemove
		}
		if o.OutlierFactor != nil {
			s.OutlierFactor = *o.OutlierFactor
		}
	}
	var es EffectSize
	if a.EffectSize != nil {
		es = *a.EffectSize
	}
	bound := defaultMeanRatioBound
	if es.Measure == MeasureCLES {
		s.Measure = MeasureCLES
		bound = defaultCLESBound
	}
	s.AllowedIncrease = valueOr(es.AllowedIncrease, bound)
	s.AllowedDecrease = valueOr(es.AllowedDecrease, bound)
	s.CriticalIncrease = valueOr(es.CriticalIncrease, bound)
	s.CriticalDecrease = valueOr(es.CriticalDecrease, bound)
	return s
}

func valueOr(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}
