package canary

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

var knownSources = []string{"prometheus"}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRealisticConfigDecodesValidatesAndRoundTrips(t *testing.T) {
	data := readTestdata(t, "web-canary.json")
	cfg, ps := DecodeStrict(data)
	if len(ps) > 0 {
		t.Fatalf("decode problems: %v", ps)
	}
	if ps := Validate(cfg, knownSources); len(ps) > 0 {
		t.Fatalf("validation problems: %v", ps)
	}
	if len(cfg.Metrics) != 5 || cfg.Metrics[2].Name != "latency-p99" {
		t.Fatalf("metrics decoded wrongly: %+v", cfg.Metrics)
	}

	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the config:\n got %s\nwant %s", out, data)
	}
}

func TestRealisticConfigSettingsAndQueries(t *testing.T) {
	cfg, _ := DecodeStrict(readTestdata(t, "web-canary.json"))
	byName := func(name string) Metric {
		m, ok := cfg.Metric(name)
		if !ok {
			t.Fatalf("no metric %q", name)
		}
		return m
	}
	errRate := byName("http-5xx-rate").Settings()
	if errRate != (Settings{
		Direction: DirectionIncrease, NaNStrategy: NaNReplace, Critical: true, Measure: MeasureMeanRatio,
		AllowedIncrease: 1.2, AllowedDecrease: 1, CriticalIncrease: 3, CriticalDecrease: 1,
		OutlierStrategy: OutliersKeep, OutlierFactor: 3,
	}) {
		t.Errorf("http-5xx-rate settings: %+v", errRate)
	}
	p50 := byName("latency-p50").Settings()
	if p50.Measure != MeasureCLES || p50.AllowedIncrease != 0.7 || p50.AllowedDecrease != 0.3 ||
		p50.CriticalIncrease != 0.5 || p50.CriticalDecrease != 0.5 || p50.NaNStrategy != NaNRemove {
		t.Errorf("latency-p50 settings (cles defaults are 0.5): %+v", p50)
	}
	if p99 := byName("latency-p99").Settings(); p99.OutlierStrategy != OutliersRemove || !p99.MustHaveData {
		t.Errorf("latency-p99 settings: %+v", p99)
	}
	if !byName("cpu-seconds").Settings().Muted {
		t.Error("cpu-seconds should be muted")
	}

	q := byName("http-5xx-rate").Query
	if got := q.InlineQuery(); got != `sum(rate(http_requests_total{${scope},code=~"5.."}[1m])) / sum(rate(http_requests_total{${scope}}[1m]))` {
		t.Errorf("InlineQuery = %q", got)
	}
	errs := byName("http-request-errors").Query
	if f, err := cfg.FilterTemplate(errs); err != nil || f != `namespace="${namespace}"` {
		t.Errorf("FilterTemplate = %q, %v", f, err)
	}
	if !reflect.DeepEqual(errs.Extra, map[string]any{"groupByFields": []any{"pod"}}) {
		t.Errorf("source-specific fields: %#v", errs.Extra)
	}
	if !slices.Equal(errs.LabelBindings, []string{`job="web"`}) {
		t.Errorf("labelBindings: %v", errs.LabelBindings)
	}
	if rt := byName("cpu-seconds").Query.Extra["resourceType"]; rt != "k8s_container" {
		t.Errorf("resourceType = %v", rt)
	}
}

func TestDefaultSettings(t *testing.T) {
	want := Settings{
		Direction: DirectionEither, NaNStrategy: NaNRemove, Measure: MeasureMeanRatio,
		AllowedIncrease: 1, AllowedDecrease: 1, CriticalIncrease: 1, CriticalDecrease: 1,
		OutlierStrategy: OutliersKeep, OutlierFactor: 3,
	}
	if got := (Metric{}).Settings(); got != want {
		t.Errorf("no analysis configuration: %+v", got)
	}
	// Values Kayenta does not recognize fall back to the defaults, as there.
	odd := Metric{AnalysisConfigurations: &AnalysisConfigurations{Canary: &CanaryAnalysis{
		Direction: "Increase", NaNStrategy: "zero", EffectSize: &EffectSize{Measure: "cohen"},
		Outliers: &Outliers{Strategy: "drop"},
	}}}
	if got := odd.Settings(); got != want {
		t.Errorf("unrecognized values: %+v", got)
	}
}

func TestStripPromQL(t *testing.T) {
	for _, c := range []struct {
		in, out string
		whole   bool
	}{
		{"PromQL:up", "up", true},
		{"  PromQL: sum(up) ", "sum(up)", true},
		{`namespace="x"`, `namespace="x"`, false},
		{"", "", false},
	} {
		if out, whole := StripPromQL(c.in); out != c.out || whole != c.whole {
			t.Errorf("StripPromQL(%q) = %q, %v", c.in, out, whole)
		}
	}
	q := Query{CustomInlineTemplate: `PromQL:rate(x{$\{scope}}[1m])`}
	if got := q.InlineQuery(); got != "rate(x{${scope}}[1m])" {
		t.Errorf("escaped placeholder: %q", got)
	}
}

func TestKayentaSampleConfigDecodes(t *testing.T) {
	// Kayenta's scratch/prometheus_canary_config.json: configVersion is a number there, the
	// query has source options gennaker does not type, and the judge is a remote one.
	data := []byte(`{
	  "name": "MySamplePrometheusCanaryConfig",
	  "description": "Example Automated Canary Analysis (ACA) Configuration using Prometheus",
	  "configVersion": 1.0,
	  "judge": {"name": "dredd-v1.0", "judgeConfigurations": {}},
	  "metrics": [{
	    "name": "cpu",
	    "query": {"type": "prometheus", "metricName": "node_cpu", "aggregationPeriod": "60s",
	      "labelBindings": ["mode=~\"user|system\"", "job=\"node\""], "sumByFields": ["mode"]},
	    "analysisConfigurations": {},
	    "groups": ["system"]
	  }],
	  "classifier": {"groupWeights": {"system": 100.0}, "scoreThresholds": {"pass": 95.0, "marginal": 75.0}}
	}`)
	cfg, ps := DecodeStrict(data)
	if len(ps) > 0 {
		t.Fatalf("decode problems: %v", ps)
	}
	if cfg.ConfigVersion != "1.0" {
		t.Errorf("configVersion = %q", cfg.ConfigVersion)
	}
	if got := cfg.Metrics[0].Query.Extra["aggregationPeriod"]; got != "60s" {
		t.Errorf("aggregationPeriod = %v", got)
	}
	want := []pipeline.Problem{{Path: "judge.name", Message: `unknown judge "dredd-v1.0" (gennaker has NetflixACAJudge-v1.0)`}}
	if got := Validate(cfg, knownSources); !reflect.DeepEqual(got, want) {
		t.Errorf("Validate = %v", got)
	}
	th, ok := cfg.Classifier.ScoreThresholds.Thresholds()
	if !ok || th != (Thresholds{Pass: 95, Marginal: 75}) {
		t.Errorf("thresholds = %+v, %v", th, ok)
	}
}

func TestDecodeStrictReportsShapeProblems(t *testing.T) {
	data := []byte(`{
	  "name": "web",
	  "colour": "blue",
	  "configVersion": true,
	  "metrics": [
	    {"name": "a", "query": {"type": "prometheus", "metricName": 5, "step": "1m"}, "groups": "errors",
	     "analysisConfigurations": {"canary": {"Direction": "increase", "mustHavedata": true, "critical": "yes",
	       "effectSize": {"allowedIncrease": "1.1"}, "outliers": {"outlierFactor": [3]}}}},
	    "not a metric"
	  ],
	  "templates": {"t": 1},
	  "classifier": {"groupWeights": {"errors": "50"}, "scoreThresholds": {"pass": null, "marginal": 50}},
	  "createdTimestamp": 1.5
	}`)
	_, got := DecodeStrict(data)
	want := []pipeline.Problem{
		{Path: "classifier.groupWeights.errors", Message: "expected a number, got a string"},
		{Path: "colour", Message: "unknown field"},
		{Path: "configVersion", Message: "expected a string, got true"},
		{Path: "createdTimestamp", Message: "expected a whole number, got 1.5"},
		{Path: "metrics[0].analysisConfigurations.canary.Direction", Message: `unknown field (did you mean "direction"?)`},
		{Path: "metrics[0].analysisConfigurations.canary.critical", Message: "expected true or false, got a string"},
		{Path: "metrics[0].analysisConfigurations.canary.effectSize.allowedIncrease", Message: "expected a number, got a string"},
		{Path: "metrics[0].analysisConfigurations.canary.mustHavedata", Message: `unknown field (did you mean "mustHaveData"?)`},
		{Path: "metrics[0].analysisConfigurations.canary.outliers.outlierFactor", Message: "expected a number, got a list"},
		{Path: "metrics[0].groups", Message: "expected a list, got a string"},
		{Path: "metrics[0].query.metricName", Message: "expected a string, got a number"},
		{Path: "metrics[1]", Message: "expected an object, got a string"},
		{Path: "templates.t", Message: "expected a string, got a number"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", problemLines(got), problemLines(want))
	}
}

func TestDecodeStrictMalformed(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"empty", "  ", "the document is empty"},
		{"syntax", `{"name": }`, "not valid JSON"},
		{"list", `[1]`, "a canary config is a JSON object, not a list"},
		{"bad YAML", "name: [", "not valid JSON or YAML"},
		{"two values", `{} {}`, "more than one value"},
	} {
		_, ps := DecodeStrict([]byte(c.in))
		if len(ps) != 1 || ps[0].Path != "" || !strings.Contains(ps[0].Message, c.want) {
			t.Errorf("%s: got %v, want one problem containing %q", c.name, ps, c.want)
		}
	}
}

func TestDecodeStrictYAML(t *testing.T) {
	cfg, ps := DecodeStrict([]byte("name: web\nmetrics:\n- name: a\n  query: {type: prometheus, metricName: up}\n  groups: [g]\n"))
	if len(ps) > 0 || cfg.Name != "web" || cfg.Metrics[0].Query.MetricName != "up" {
		t.Errorf("got %+v, %v", cfg, ps)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	data := []byte(`{
	  "name": "web canary",
	  "judge": {"name": "NetflixACAJudge-v1.0"},
	  "metrics": [
	    {"name": "errors", "query": {"type": "prometheus", "metricName": "errors_total"}, "groups": ["errors"]},
	    {"name": "errors", "query": {"type": "datadog", "metricName": "x", "serviceType": "prometheus"}, "groups": ["errors", "errors"]},
	    {"name": "", "query": {"type": ""}, "groups": []},
	    {"name": "latency", "query": {"type": "prometheus", "customFilterTemplate": "missing", "customFilter": "a=b"},
	     "groups": ["latency", "", "saturation"],
	     "analysisConfigurations": {"canary": {"direction": "up", "nanStrategy": "zero",
	       "effectSize": {"allowedIncrease": 0.9, "allowedDecrease": 1.5, "criticalIncrease": 1.0, "criticalDecrease": -1},
	       "outliers": {"strategy": "drop", "outlierFactor": 0}}}},
	    {"name": "p50", "query": {"type": "prometheus", "customInlineTemplate": "PromQL:  "}, "groups": ["latency"],
	     "analysisConfigurations": {"canary": {"effectSize": {"measure": "cles", "allowedIncrease": 0.4, "allowedDecrease": 1.2,
	       "criticalIncrease": 0.6}}}},
	    {"name": "odd", "query": {"type": "prometheus", "metricName": "x"}, "groups": ["latency"],
	     "analysisConfigurations": {"canary": {"effectSize": {"measure": "median", "allowedIncrease": 9}}}},
	    {"name": "ratio", "query": {"type": "prometheus", "metricName": "x"}, "groups": ["latency"],
	     "analysisConfigurations": {"canary": {"effectSize": {"allowedIncrease": 1.5, "criticalIncrease": 1.2, "allowedDecrease": 0}}}}
	  ],
	  "templates": {"t": "PromQL:up"},
	  "classifier": {"groupWeights": {"errors": 60, "latency": -10, "unused": 20}, "scoreThresholds": {"pass": 40, "marginal": 120}}
	}`)
	cfg, ps := DecodeStrict(data)
	if len(ps) > 0 {
		t.Fatalf("decode problems: %v", ps)
	}
	got := Validate(cfg, knownSources)
	const ac = ".analysisConfigurations.canary"
	want := []pipeline.Problem{
		{Path: "name", Message: `must contain only letters, digits, '.', '-' and '_', not "web canary"`},
		{Path: "metrics[1].name", Message: `duplicate metric name "errors" (also metrics[0])`},
		{Path: "metrics[1].query.type", Message: `unknown metric source type "datadog" (known: prometheus)`},
		{Path: "metrics[1].query.serviceType", Message: `"prometheus" does not match type "datadog"`},
		{Path: "metrics[1].groups[1]", Message: `duplicate group "errors"`},
		{Path: "metrics[2].name", Message: "required"},
		{Path: "metrics[2].query.type", Message: "required: the metric source type, such as prometheus"},
		{Path: "metrics[2].query", Message: "either metricName or customInlineTemplate is required"},
		{Path: "metrics[2].groups", Message: "at least one group is required: scores are computed per group"},
		{Path: "metrics[3].query.customFilter", Message: "no longer supported (Kayenta rejects it too): use customInlineTemplate"},
		{Path: "metrics[3].query.customFilterTemplate", Message: `template "missing" is not defined in templates`},
		{Path: "metrics[3].query", Message: "either metricName or customInlineTemplate is required"},
		{Path: "metrics[3].groups[1]", Message: "required"},
		{Path: "metrics[3].groups[2]", Message: `group "saturation" has no weight in classifier.groupWeights`},
		{Path: "metrics[3]" + ac + ".direction", Message: `must be increase, decrease or either, not "up"`},
		{Path: "metrics[3]" + ac + ".nanStrategy", Message: `must be remove or replace, not "zero"`},
		{Path: "metrics[3]" + ac + ".effectSize.allowedIncrease", Message: "must be at least 1 (the ratio canary mean / baseline mean at which an increase fails), not 0.9"},
		{Path: "metrics[3]" + ac + ".effectSize.allowedDecrease", Message: "must be at most 1 (the ratio canary mean / baseline mean at which a decrease fails), not 1.5"},
		{Path: "metrics[3]" + ac + ".effectSize.criticalDecrease", Message: "must be positive (the ratio canary mean / baseline mean), not -1"},
		{Path: "metrics[3]" + ac + ".outliers.strategy", Message: `must be remove or keep, not "drop"`},
		{Path: "metrics[3]" + ac + ".outliers.outlierFactor", Message: "must be greater than 0, not 0"},
		{Path: "metrics[4].query.customInlineTemplate", Message: "has no query after the PromQL: prefix"},
		{Path: "metrics[4]" + ac + ".effectSize.allowedIncrease", Message: "must be at least 0.5 (the probability that a canary value exceeds a baseline value at which an increase fails), not 0.4"},
		{Path: "metrics[4]" + ac + ".effectSize.allowedDecrease", Message: "must be between 0 and 1 (the probability that a canary value exceeds a baseline value), not 1.2"},
		{Path: "metrics[5]" + ac + ".effectSize.measure", Message: `must be meanRatio or cles, not "median"`},
		{Path: "metrics[6]" + ac + ".effectSize.allowedDecrease", Message: "must be positive (the ratio canary mean / baseline mean), not 0"},
		{Path: "metrics[6]" + ac + ".effectSize.criticalIncrease", Message: "must be at least allowedIncrease (1.5): a critical increase is a larger one, not 1.2"},
		{Path: "classifier.groupWeights.latency", Message: "must not be negative, not -10"},
		{Path: "classifier.groupWeights.unused", Message: `no metric is in group "unused", so its weight can never be earned`},
		{Path: "classifier.groupWeights", Message: "weights must add up to 100, not 80"},
		{Path: "classifier.scoreThresholds.marginal", Message: "must be between 0 and 100, not 120"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", problemLines(got), problemLines(want))
	}
}

func TestValidateSmallCases(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	base := func() Config {
		return Config{Name: "c", Metrics: []Metric{{Name: "m", Query: Query{Type: "prometheus", MetricName: "up"}, Groups: []string{"g"}}}}
	}
	for _, c := range []struct {
		name  string
		edit  func(*Config)
		known []string
		want  []pipeline.Problem
	}{
		{"valid", func(*Config) {}, knownSources, nil},
		{"no metrics", func(c *Config) { c.Metrics = nil }, knownSources,
			[]pipeline.Problem{{Path: "metrics", Message: "at least one metric is required"}}},
		{"no name", func(c *Config) { c.Name = " " }, knownSources,
			[]pipeline.Problem{{Path: "name", Message: "required"}}},
		{"source types not checked when unknown", func(c *Config) { c.Metrics[0].Query.Type = "atlas" }, nil, nil},
		{"filter template that is a whole query", func(c *Config) {
			c.Metrics[0].Query = Query{Type: "prometheus", CustomFilterTemplate: "t"}
			c.Templates = map[string]string{"t": "PromQL:up"}
		}, knownSources, nil},
		{"all weights zero", func(c *Config) { c.Classifier.GroupWeights = map[string]float64{"g": 0} }, knownSources,
			[]pipeline.Problem{{Path: "classifier.groupWeights", Message: "at least one weight must be positive"}}},
		{"odd group name", func(c *Config) {
			c.Metrics[0].Groups = []string{"my group"}
			c.Classifier.GroupWeights = map[string]float64{"my group": 100, "other group": -1}
		}, knownSources, []pipeline.Problem{{Path: `classifier.groupWeights["other group"]`, Message: "must not be negative, not -1"}}},
		{"thresholds missing pass", func(c *Config) { c.Classifier.ScoreThresholds = &ScoreThresholds{Marginal: f(50)} }, knownSources,
			[]pipeline.Problem{{Path: "classifier.scoreThresholds.pass", Message: "required"}}},
		{"pass below marginal", func(c *Config) { c.Classifier.ScoreThresholds = &ScoreThresholds{Pass: f(50), Marginal: f(60)} }, knownSources,
			[]pipeline.Problem{{Path: "classifier.scoreThresholds.pass", Message: "must not be below marginal (60), not 50"}}},
		{"pass equal to marginal", func(c *Config) { c.Classifier.ScoreThresholds = &ScoreThresholds{Pass: f(70), Marginal: f(70)} }, knownSources, nil},
		{"unknown judge", func(c *Config) { c.Judge.Name = "RandomDummyJudge" }, knownSources,
			[]pipeline.Problem{{Path: "judge.name", Message: `unknown judge "RandomDummyJudge" (gennaker has NetflixACAJudge-v1.0)`}}},
	} {
		cfg := base()
		c.edit(&cfg)
		if got := Validate(cfg, c.known); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\ngot  %v\nwant %v", c.name, got, c.want)
		}
	}
}

func TestValidateThresholds(t *testing.T) {
	got := ValidateThresholds(Thresholds{Pass: 101, Marginal: -1}, "scoreThresholds")
	want := []pipeline.Problem{
		{Path: "scoreThresholds.pass", Message: "must be between 0 and 100, not 101"},
		{Path: "scoreThresholds.marginal", Message: "must be between 0 and 100, not -1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func problemLines(ps []pipeline.Problem) string {
	return strings.Join(pipeline.ProblemStrings(ps), "\n")
}
