// Package canary holds canary analysis configs in Kayenta's JSON format and the judge that
// compares a canary's metrics with its baseline's: Kayenta's NetflixACAJudge method (Mann-Whitney
// test per metric, effect sizes, group and summary scores), as pure functions without I/O.
// The statistics live in canary/stats; metric stores in canary/metrics.
package canary

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
)

// Config is a canary config as Kayenta stores it (kayenta-core's CanaryConfig); a Kayenta
// config's JSON decodes into it unchanged.
type Config struct {
	ID                  string            `json:"id,omitempty"`
	Name                string            `json:"name"`
	Description         string            `json:"description,omitempty"`
	ConfigVersion       ConfigVersion     `json:"configVersion,omitempty"`
	Applications        []string          `json:"applications,omitzero"`
	Judge               JudgeConfig       `json:"judge,omitzero"`
	Metrics             []Metric          `json:"metrics"`
	Templates           map[string]string `json:"templates,omitzero"`
	Classifier          Classifier        `json:"classifier,omitzero"`
	CreatedTimestamp    *int64            `json:"createdTimestamp,omitempty"`
	UpdatedTimestamp    *int64            `json:"updatedTimestamp,omitempty"`
	CreatedTimestampISO string            `json:"createdTimestampIso,omitempty"`
	UpdatedTimestampISO string            `json:"updatedTimestampIso,omitempty"`
}

// ConfigVersion is the config's version label. Kayenta models it as a string but its own sample
// configs write a number (1.0), which Jackson accepts; a number is kept as its JSON text.
type ConfigVersion string

// UnmarshalJSON accepts a string or a number.
func (v *ConfigVersion) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		return nil
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*v = ConfigVersion(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("configVersion: expected a string or a number, got %s", data)
	}
	*v = ConfigVersion(n.String())
	return nil
}

// JudgeConfig names the judge; gennaker has one, NetflixACAJudge-v1.0.
type JudgeConfig struct {
	Name string `json:"name,omitempty"`
	// JudgeConfigurations is kept as written; Kayenta's judge reads nothing from it.
	JudgeConfigurations map[string]any `json:"judgeConfigurations,omitzero"`
}

// Metric is one metric the canary is judged on (Kayenta's CanaryMetricConfig).
type Metric struct {
	Name   string   `json:"name"`
	Query  Query    `json:"query"`
	Groups []string `json:"groups,omitzero"`
	// AnalysisConfigurations says how to judge the metric; nil means every default (see
	// Settings).
	AnalysisConfigurations *AnalysisConfigurations `json:"analysisConfigurations,omitempty"`
	// ScopeName picks the scope the metric is fetched for; Kayenta only knows "default".
	ScopeName string `json:"scopeName,omitempty"`
}

// AnalysisConfigurations holds the per-judge analysis settings of a metric; the judge reads
// "canary".
type AnalysisConfigurations struct {
	Canary *CanaryAnalysis `json:"canary,omitempty"`
}

// CanaryAnalysis is how one metric is judged (Kayenta's canary analysis configuration). Every
// field is optional; a nil pointer or empty string means Kayenta's default, which Settings
// resolves.
type CanaryAnalysis struct {
	Direction    Direction   `json:"direction,omitempty"`
	NaNStrategy  NaNStrategy `json:"nanStrategy,omitempty"`
	Critical     *bool       `json:"critical,omitempty"`
	MustHaveData *bool       `json:"mustHaveData,omitempty"`
	Muted        *bool       `json:"muted,omitempty"`
	EffectSize   *EffectSize `json:"effectSize,omitempty"`
	Outliers     *Outliers   `json:"outliers,omitempty"`
}

// EffectSize bounds how large a significant change must be to fail the metric, or to fail the
// whole canary when the metric is critical.
type EffectSize struct {
	Measure          EffectMeasure `json:"measure,omitempty"`
	AllowedIncrease  *float64      `json:"allowedIncrease,omitempty"`
	AllowedDecrease  *float64      `json:"allowedDecrease,omitempty"`
	CriticalIncrease *float64      `json:"criticalIncrease,omitempty"`
	CriticalDecrease *float64      `json:"criticalDecrease,omitempty"`
}

// Outliers says whether outliers are dropped before the comparison.
type Outliers struct {
	Strategy      OutlierStrategy `json:"strategy,omitempty"`
	OutlierFactor *float64        `json:"outlierFactor,omitempty"`
}

// Direction is which change of a metric fails it.
type Direction string

// Directions a metric can be judged in.
const (
	// DirectionIncrease fails the metric only when the canary is higher (errors, latency).
	DirectionIncrease Direction = "increase"
	// DirectionDecrease fails the metric only when the canary is lower (successes, throughput).
	DirectionDecrease Direction = "decrease"
	// DirectionEither fails the metric on a change either way.
	DirectionEither Direction = "either"
)

// NaNStrategy is what happens to NaN values (intervals the store had no sample for).
type NaNStrategy string

// NaN strategies.
const (
	// NaNRemove drops NaNs; a series left empty is "no data".
	NaNRemove NaNStrategy = "remove"
	// NaNReplace turns NaNs into 0, for counts a store leaves out when nothing happened.
	NaNReplace NaNStrategy = "replace"
)

// OutlierStrategy is whether outliers are dropped before the comparison.
type OutlierStrategy string

// Outlier strategies.
const (
	OutliersKeep   OutlierStrategy = "keep"
	OutliersRemove OutlierStrategy = "remove"
)

// EffectMeasure is how the size of a change is measured.
type EffectMeasure string

// Effect size measures.
const (
	// MeasureMeanRatio is mean(canary) / mean(baseline); 1 means no change.
	MeasureMeanRatio EffectMeasure = "meanRatio"
	// MeasureCLES is the probability that a canary value exceeds a baseline value; 0.5 means no
	// change.
	MeasureCLES EffectMeasure = "cles"
)

// Classifier says how metric results become a score (Kayenta's CanaryClassifierConfig).
type Classifier struct {
	// GroupWeights gives each metric group's share of the score, in percent; Kayenta requires
	// them to total 100. Groups without a weight share what is left equally.
	GroupWeights map[string]float64 `json:"groupWeights,omitzero"`
	// ScoreThresholds are used when the canary stage gives none.
	ScoreThresholds *ScoreThresholds `json:"scoreThresholds,omitempty"`
}

// ScoreThresholds as written in a config; both are required when the object is present.
type ScoreThresholds struct {
	Pass     *float64 `json:"pass,omitempty"`
	Marginal *float64 `json:"marginal,omitempty"`
}

// Thresholds turns the config's thresholds into the judge's; ok is false unless both are set.
func (s *ScoreThresholds) Thresholds() (t Thresholds, ok bool) {
	if s == nil || s.Pass == nil || s.Marginal == nil {
		return Thresholds{}, false
	}
	return Thresholds{Pass: *s.Pass, Marginal: *s.Marginal}, true
}

// Query is how a metric is fetched (Kayenta's CanaryMetricSetQueryConfig). The fields common to
// Kayenta's sources are typed; every other field (groupByFields, resourceType, ...) is kept in
// Extra so a source's own options survive decoding and encoding.
type Query struct {
	// Type is the metric source type, e.g. "prometheus".
	Type string `json:"type"`
	// ServiceType repeats the source type; Kayenta writes it, gennaker reads Type.
	ServiceType string `json:"serviceType,omitempty"`
	MetricName  string `json:"metricName,omitempty"`
	// CustomInlineTemplate is a complete query with ${...} placeholders; Kayenta's Prometheus
	// source wants it prefixed with "PromQL:" (see InlineQuery).
	CustomInlineTemplate string `json:"customInlineTemplate,omitempty"`
	// CustomFilterTemplate names an entry of the config's Templates.
	CustomFilterTemplate string `json:"customFilterTemplate,omitempty"`
	// CustomFilter is Kayenta's deprecated form of CustomInlineTemplate, which Kayenta rejects.
	CustomFilter  string   `json:"customFilter,omitempty"`
	LabelBindings []string `json:"labelBindings,omitzero"`
	// Extra holds the source-specific fields, as encoding/json reads them with UseNumber
	// (numbers are json.Number).
	Extra map[string]any `json:"-"`
}

// queryFields are the JSON keys Query types; everything else goes to Extra.
var queryFields = map[string]bool{
	"type": true, "serviceType": true, "metricName": true, "customInlineTemplate": true,
	"customFilterTemplate": true, "customFilter": true, "labelBindings": true,
}

// UnmarshalJSON reads the typed fields and keeps the rest in Extra.
func (q *Query) UnmarshalJSON(data []byte) error {
	type plain Query
	var typed plain
	if err := json.Unmarshal(data, &typed); err != nil {
		return err
	}
	var all map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&all); err != nil {
		return err
	}
	maps.DeleteFunc(all, func(k string, _ any) bool { return queryFields[k] })
	*q = Query(typed)
	q.Extra = nil
	if len(all) > 0 {
		q.Extra = all
	}
	return nil
}

// MarshalJSON writes the typed fields and Extra; a typed field wins over an Extra key of the
// same name.
func (q Query) MarshalJSON() ([]byte, error) {
	type plain Query
	typed, err := json.Marshal(plain(q))
	if err != nil {
		return nil, err
	}
	if len(q.Extra) == 0 {
		return typed, nil
	}
	all := make(map[string]any, len(q.Extra)+len(queryFields))
	maps.Copy(all, q.Extra)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(typed, &fields); err != nil {
		return nil, err
	}
	for k, v := range fields {
		all[k] = v
	}
	return json.Marshal(all)
}

// promQLPrefix marks a Kayenta template that is a complete PromQL expression rather than a
// label filter.
const promQLPrefix = "PromQL:"

// StripPromQL removes Kayenta's "PromQL:" prefix; whole reports whether it was there, that is
// whether s is a complete expression rather than a filter to add to a metric name.
func StripPromQL(s string) (expr string, whole bool) {
	trimmed := strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(trimmed, promQLPrefix); ok {
		return strings.TrimSpace(rest), true
	}
	return s, false
}

// InlineQuery returns the metric's customInlineTemplate ready to expand: without Kayenta's
// "PromQL:" prefix and with Kayenta's escaped placeholders ($\{) restored; "" when there is none.
func (q Query) InlineQuery() string {
	expr, _ := StripPromQL(unescapeTemplate(q.CustomInlineTemplate))
	return expr
}

// FilterTemplate returns the template q.CustomFilterTemplate names, with Kayenta's escaped
// placeholders restored; "" when q names none, an error when the config does not define it.
func (c Config) FilterTemplate(q Query) (string, error) {
	if q.CustomFilterTemplate == "" {
		return "", nil
	}
	t, ok := c.Templates[q.CustomFilterTemplate]
	if !ok {
		return "", fmt.Errorf("custom filter template %q is not defined in the config's templates", q.CustomFilterTemplate)
	}
	return unescapeTemplate(t), nil
}

// unescapeTemplate undoes the escaping Kayenta applies to stored templates ("${" saved as
// "$\{") so placeholders expand.
func unescapeTemplate(s string) string {
	return strings.ReplaceAll(s, `$\{`, "${")
}

// Metric returns the metric with this name.
func (c Config) Metric(name string) (Metric, bool) {
	for _, m := range c.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}
