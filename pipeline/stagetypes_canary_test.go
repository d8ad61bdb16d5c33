package pipeline

import (
	"testing"
	"time"
)

func TestValidateKayentaCanary(t *testing.T) {
	opts := ValidateOptions{
		CanaryConfigExists: func(app, name string) bool { return app == "shop" && name == "web" },
		MetricsAccounts:    []string{"prometheus"},
	}
	tests := []struct {
		name  string
		stage string
		opts  ValidateOptions
		want  []string
	}{
		{
			name: "valid, as Spinnaker writes it",
			stage: `{"refId": "1", "type": "kayentaCanary", "analysisType": "realTime", "canaryConfig": {
				"canaryConfigId": "web", "metricsAccountName": "prometheus", "storageAccountName": "s3",
				"scoreThresholds": {"pass": "75", "marginal": "50"}, "lifetimeDuration": "PT1H",
				"beginCanaryAnalysisAfterMins": "5", "canaryAnalysisIntervalMins": 15, "lookbackMins": 0,
				"scopes": [{"scopeName": "default", "controlScope": "app=\"web\",track=\"baseline\"", "experimentScope": "app=\"web\",track=\"canary\"",
					"step": 60, "extendedScopeParams": {"namespace": "prod"}}]}}`,
			opts: opts,
		},
		{
			name: "expressions are checked when the stage runs",
			stage: `{"refId": "1", "type": "kayentaCanary", "canaryConfig": {"canaryConfigName": "${parameters.config}",
				"scoreThresholds": {"pass": "${parameters.pass}", "marginal": 50}, "lifetimeDuration": "${parameters.lifetime}",
				"scopes": [{"controlScope": "${parameters.baseline}", "experimentScope": "x"}]}}`,
			opts: opts,
		},
		{
			name:  "missing everything",
			stage: `{"refId": "1", "type": "kayentaCanary", "canaryConfig": {}}`,
			opts:  opts,
			want: []string{
				"stages[0].canaryConfig.canaryConfigName: required",
				"stages[0].canaryConfig.lifetimeDuration: required",
				"stages[0].canaryConfig.scopes: required",
			},
		},
		{
			name: "bad values",
			stage: `{"refId": "1", "type": "kayentaCanary", "canaryConfig": {"canaryConfigName": "nope", "metricsAccountName": "datadog",
				"scoreThresholds": {"pass": 50, "marginal": 75}, "lifetimeDuration": "1 hour", "canaryAnalysisIntervalMins": "x",
				"scopes": [{"controlScope": "a", "experimentScope": "b", "step": 0}, {"controlScope": "a"}]},
				"deployments": {"baseline": [], "canary": ["x"]}}`,
			opts: opts,
			want: []string{
				"stages[0].canaryConfig.scoreThresholds.marginal: must not be above pass (50)",
				"stages[0].canaryConfig.lifetimeDuration: must be an ISO 8601 duration such as PT1H or PT30M",
				"stages[0].canaryConfig.canaryAnalysisIntervalMins: must be a number from 0 to 43200",
				"stages[0].canaryConfig.scopes[0].step: must be a positive number of seconds",
				"stages[0].canaryConfig.scopes[1].experimentScope: required",
				`stages[0].canaryConfig.scopes[1].scopeName: scope "default" is given twice`,
				"stages[0].deployments.account: required",
				"stages[0].deployments.baseline: must have at least one item",
				"stages[0].deployments.canary[0]: must be a manifest",
				`stages[0].canaryConfig.canaryConfigName: application "shop" has no canary config "nope"`,
				`stages[0].canaryConfig.metricsAccountName: unknown metrics account "datadog"; configured: prometheus`,
			},
		},
		{
			name: "no metrics source configured",
			stage: `{"refId": "1", "type": "kayentaCanary", "canaryConfig": {"canaryConfigName": "web", "scoreThresholds": {"pass": 75, "marginal": 50},
				"lifetimeDuration": "PT10M", "canaryAnalysisIntervalMins": 20, "scopes": [{"controlScope": "a", "experimentScope": "b"}]}}`,
			opts: ValidateOptions{MetricsAccounts: []string{}},
			want: []string{
				"stages[0].canaryConfig.canaryAnalysisIntervalMins: is longer than the lifetime (10m0s)",
				"stages[0].canaryConfig: no metrics source is configured for canary analysis; start gennaker with --prometheus-url",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(`{"application": "shop", "name": "canary", "stages": [` + tt.stage + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, Validate(p, tt.opts), tt.want)
		})
	}
}

func TestReadCanaryStage(t *testing.T) {
	p, err := Decode([]byte(`{"application": "shop", "name": "c", "stages": [{"refId": "1", "type": "kayentaCanary", "canaryConfig": {
		"canaryConfigName": "web", "scoreThresholds": {"pass": 80, "marginal": "60"}, "lifetimeDuration": "PT1H30M",
		"beginCanaryAnalysisAfterMins": "0.5", "canaryAnalysisIntervalMins": "20", "lookbackMins": 10,
		"scopes": [{"controlScope": "b", "experimentScope": "c"}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, problems := ReadCanaryStage(p.Stages[0].Context, "")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if c.Lifetime != 90*time.Minute || c.Warmup != 30*time.Second || c.Interval != 20*time.Minute || c.Lookback != 10*time.Minute ||
		c.Intervals() != 4 || c.Pass != 80 || c.Marginal != 60 || c.Scopes[0].ScopeName != "default" || c.Scopes[0].Step != time.Minute {
		t.Errorf("read %+v", c)
	}
	for in, want := range map[string]time.Duration{"PT1H": time.Hour, "PT45S": 45 * time.Second, "P1D": 24 * time.Hour, "PT1.5M": 90 * time.Second} {
		if got, ok := parseISODuration(in); !ok || got != want {
			t.Errorf("%s: %v %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "P", "PT", "1h", "PT-1H"} {
		if _, ok := parseISODuration(in); ok {
			t.Errorf("%q read as a duration", in)
		}
	}
}
