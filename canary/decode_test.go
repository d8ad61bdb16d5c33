package canary

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

// TestDecodeStrictKeepsWhatIsWellTyped checks that a wrongly typed value, even inside a query
// (whose UnmarshalJSON would stop encoding/json), costs only itself: everything after it
// decodes, and every other value keeps its place.
func TestDecodeStrictKeepsWhatIsWellTyped(t *testing.T) {
	data := []byte(`{
	  "name": "web",
	  "metrics": [
	    {"name": "errors", "query": {"type": "prometheus", "metricName": 5, "step": "1m", "MetricName": ["x"]},
	     "groups": ["errors", 7, "5xx"]},
	    "not a metric",
	    {"name": "latency", "query": {"type": "prometheus", "metricName": "latency_seconds", "Step": "30s"}, "groups": ["latency"],
	     "analysisConfigurations": {"canary": {"direction": "increase", "critical": "yes", "mustHavedata": true,
	       "effectSize": {"allowedIncrease": 1e400, "criticalIncrease": 2}}}}
	  ],
	  "templates": {"ok": "PromQL:up", "bad": {"x": 1}},
	  "classifier": {"groupWeights": {"errors": 60, "latency": 40, "5xx": "0"}, "scoreThresholds": {"pass": 75, "marginal": 50}},
	  "description": "after the metrics"
	}`)
	cfg, ps := DecodeStrict(data)
	wantProblems := []pipeline.Problem{
		{Path: "classifier.groupWeights.5xx", Message: "expected a number, got a string"},
		{Path: "metrics[0].groups[1]", Message: "expected a string, got a number"},
		{Path: "metrics[0].query.MetricName", Message: "expected a string, got a list"},
		{Path: "metrics[0].query.metricName", Message: "expected a string, got a number"},
		{Path: "metrics[1]", Message: "expected an object, got a string"},
		{Path: "metrics[2].analysisConfigurations.canary.critical", Message: "expected true or false, got a string"},
		{Path: "metrics[2].analysisConfigurations.canary.effectSize.allowedIncrease", Message: "expected a number, got 1e400, which is too large"},
		{Path: "metrics[2].analysisConfigurations.canary.mustHavedata", Message: `unknown field (did you mean "mustHaveData"?)`},
		{Path: "templates.bad", Message: "expected a string, got an object"},
	}
	if !reflect.DeepEqual(ps, wantProblems) {
		t.Errorf("problems:\n%s\nwant\n%s", problemLines(ps), problemLines(wantProblems))
	}

	increase := 2.0
	want := Config{
		Name: "web",
		Metrics: []Metric{
			// The query keeps everything but metricName, and the groups keep their indexes.
			{Name: "errors", Query: Query{Type: "prometheus", Extra: map[string]any{"step": "1m"}}, Groups: []string{"errors", "", "5xx"}},
			{},
			{Name: "latency", Query: Query{Type: "prometheus", MetricName: "latency_seconds", Extra: map[string]any{"Step": "30s"}},
				Groups: []string{"latency"}, AnalysisConfigurations: &AnalysisConfigurations{Canary: &CanaryAnalysis{
					Direction: DirectionIncrease, EffectSize: &EffectSize{CriticalIncrease: &increase}}}},
		},
		Templates: map[string]string{"ok": "PromQL:up", "bad": ""},
		Classifier: Classifier{
			GroupWeights:    map[string]float64{"errors": 60, "latency": 40, "5xx": 0},
			ScoreThresholds: &ScoreThresholds{Pass: ptr(75.0), Marginal: ptr(50.0)},
		},
		Description: "after the metrics",
	}
	if !reflect.DeepEqual(cfg, want) {
		got, _ := json.Marshal(cfg)
		exp, _ := json.Marshal(want)
		t.Errorf("config:\n got %s\nwant %s", got, exp)
	}
	// What the old decoding lost after the first query.
	if len(cfg.Metrics) != 3 || cfg.Metrics[2].Name != "latency" || cfg.Classifier.GroupWeights["latency"] != 40 ||
		cfg.Description != "after the metrics" {
		t.Errorf("the config lost what follows the wrongly typed query: %+v", cfg)
	}
}

// TestDecodeStrictPrunesEveryKind checks that the config returned decodes whatever is wrongly
// typed, at any level.
func TestDecodeStrictPrunesEveryKind(t *testing.T) {
	for _, doc := range []string{
		`{"name": 1, "metrics": {}}`,
		`{"metrics": [{"query": "prometheus", "groups": "g", "analysisConfigurations": []}]}`,
		`{"metrics": [{"query": {"labelBindings": [1, "a"], "customInlineTemplate": {}}}], "templates": []}`,
		`{"metrics": [{"analysisConfigurations": {"canary": {"effectSize": 1, "outliers": {"outlierFactor": "3"}}}}]}`,
		`{"classifier": {"groupWeights": [], "scoreThresholds": 5}, "createdTimestamp": "now", "configVersion": {}}`,
		`{"judge": [], "applications": [1], "updatedTimestamp": 1e30}`,
	} {
		cfg, ps := DecodeStrict([]byte(doc))
		if len(ps) == 0 {
			t.Errorf("%s: no problems", doc)
		}
		for _, p := range ps {
			if p.Path == "" {
				t.Errorf("%s: the config was not decoded: %v (config %+v)", doc, p.Message, cfg)
			}
		}
	}
}

// TestWithoutLeftOut checks that validating what DecodeStrict returns finds every problem of the
// config except those the left-out values would cause.
func TestWithoutLeftOut(t *testing.T) {
	const ac = ".analysisConfigurations.canary"
	for _, c := range []struct {
		name string
		doc  string
		// decoded are the paths DecodeStrict reports; want the problems kept.
		decoded []string
		want    []pipeline.Problem
	}{
		{
			name: "wrong type in a query and problems elsewhere",
			doc: `{"name": "c", "metrics": [
			  {"name": "a", "query": {"type": "prometheus", "metricName": 5}, "groups": ["g"]},
			  {"query": {"type": "prometheus", "metricName": "b"}, "groups": ["g"], "analysisConfigurations": {"canary": {"nanStrategy": "zero"}}}],
			  "classifier": {"groupWeights": {"g": 90}}}`,
			decoded: []string{"metrics[0].query.metricName"},
			want: []pipeline.Problem{
				{Path: "metrics[1].name", Message: "required"},
				{Path: "metrics[1]" + ac + ".nanStrategy", Message: `must be remove or replace, not "zero"`},
				{Path: "classifier.groupWeights", Message: "weights must add up to 100, not 90"},
			},
		},
		{
			name:    "a query still needs a metric name when another field was left out",
			doc:     `{"name": "c", "metrics": [{"name": "a", "query": {"type": "prometheus", "labelBindings": "x"}, "groups": ["g"]}]}`,
			decoded: []string{"metrics[0].query.labelBindings"},
			want: []pipeline.Problem{
				{Path: "metrics[0].query", Message: "either metricName or customInlineTemplate is required"},
			},
		},
		{
			name:    "a wrongly typed type is not also required",
			doc:     `{"name": "c", "metrics": [{"name": "a", "query": {"type": 1, "metricName": "m"}, "groups": ["g"]}]}`,
			decoded: []string{"metrics[0].query.type"},
		},
		{
			name: "a list that is not a list, and a metric that is not an object",
			doc: `{"name": "c", "metrics": [{"name": "a", "query": {"type": "prometheus", "metricName": "m"}, "groups": "g"}, 5],
			  "classifier": {"groupWeights": {"g": 100, "h": -1}}}`,
			decoded: []string{"metrics[0].groups", "metrics[1]"},
			want: []pipeline.Problem{
				// The negative weight is a problem whatever the groups; that g is unused is not.
				{Path: "classifier.groupWeights.h", Message: "must not be negative, not -1"},
			},
		},
		{
			name: "a wrongly typed group weight",
			doc: `{"name": "c", "metrics": [{"name": "a", "query": {"type": "prometheus", "metricName": "m"}, "groups": ["g", "h", "h"]}],
			  "classifier": {"groupWeights": {"g": 100, "h": "0"}}}`,
			decoded: []string{"classifier.groupWeights.h"},
			want: []pipeline.Problem{
				{Path: "metrics[0].groups[2]", Message: `duplicate group "h"`},
			},
		},
		{
			name: "a wrongly typed template",
			doc: `{"name": "c", "metrics": [
			  {"name": "a", "query": {"type": "prometheus", "customFilterTemplate": "my t"}, "groups": ["g"]},
			  {"name": "b", "query": {"type": "prometheus", "customFilterTemplate": "other"}, "groups": ["g"]}],
			  "templates": {"my t": 5}}`,
			decoded: []string{`templates["my t"]`},
			want: []pipeline.Problem{
				{Path: "metrics[1].query.customFilterTemplate", Message: `template "other" is not defined in templates`},
				{Path: "metrics[1].query", Message: "either metricName or customInlineTemplate is required"},
			},
		},
		{
			name:    "no metrics list",
			doc:     `{"name": "c", "metrics": "errors", "classifier": {"groupWeights": {"g": 100}}}`,
			decoded: []string{"metrics"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, decoded := DecodeStrict([]byte(c.doc))
			var paths []string
			for _, p := range decoded {
				paths = append(paths, p.Path)
			}
			if !reflect.DeepEqual(paths, c.decoded) {
				t.Fatalf("DecodeStrict reported %q, want paths %q", problemLines(decoded), c.decoded)
			}
			got := WithoutLeftOut(cfg, decoded, Validate(cfg, knownSources))
			if (len(got) > 0 || len(c.want) > 0) && !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n%s\nwant\n%s\n(all found:\n%s)", problemLines(got), problemLines(c.want), problemLines(Validate(cfg, knownSources)))
			}
		})
	}

	// Without decode problems, or with nothing found, there is nothing to set aside.
	found := []pipeline.Problem{{Path: "name", Message: "required"}}
	if got := WithoutLeftOut(Config{}, nil, found); !reflect.DeepEqual(got, found) {
		t.Errorf("no decode problems: %v", got)
	}
	if got := WithoutLeftOut(Config{}, []pipeline.Problem{{Path: "name"}}, nil); len(got) > 0 {
		t.Errorf("nothing found: %v", got)
	}
}

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		path, root string
		want       bool
	}{
		{"metrics[0].query", "metrics[0].query", true},
		{"metrics[0].query.type", "metrics[0].query", true},
		{"metrics[0].groups[1]", "metrics[0].groups", true},
		{"metrics[10]", "metrics[1]", false},
		{"metrics[0].queryX", "metrics[0].query", false},
		{`templates["a b"]`, "templates", true},
		{"metrics", "metrics[0]", false},
		{"anything", "", true},
	} {
		if got := within(c.path, c.root); got != c.want {
			t.Errorf("within(%q, %q) = %v", c.path, c.root, got)
		}
	}
}
