package pipeline

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// StageKayentaCanary runs an automated canary analysis, with Spinnaker's name: the canary's
// metrics are compared with the baseline's at intervals by Kayenta's judge.
const StageKayentaCanary = "kayentaCanary"

// MaxCanaryIntervals bounds how many analyses one canary stage runs, which bounds its history.
const MaxCanaryIntervals = 500

// KayentaCanaryStageType runs an automated canary analysis.
var KayentaCanaryStageType = RegisterStageType(StageType[CanaryStage]{Name: StageKayentaCanary, Read: ReadCanaryStage})

// CanaryStage is a kayentaCanary stage's settings, read from its context.
type CanaryStage struct {
	// ConfigName names the application's canary config (canaryConfigName, or Spinnaker's canaryConfigId).
	ConfigName string
	// MetricsAccount names the metrics source account; empty means the default one.
	MetricsAccount string
	// Pass and Marginal are the stage's scoreThresholds; without them (HasThresholds false) the
	// canary config's classifier thresholds apply.
	Pass, Marginal float64
	HasThresholds  bool
	// Lifetime is how long the analysis runs after the warm-up.
	Lifetime time.Duration
	// Warmup is beginCanaryAnalysisAfterMins: time given to the canary before the first analysis.
	Warmup time.Duration
	// Interval is canaryAnalysisIntervalMins: one analysis per interval; the lifetime when not set.
	Interval time.Duration
	// Lookback, when set, makes each analysis cover only the last Lookback before its end (a
	// sliding window); otherwise each covers everything since the warm-up ended (a growing one).
	Lookback time.Duration
	Scopes   []CanaryScope
	// Deployments, when set, are the baseline and canary server groups the stage deploys before
	// the analysis and deletes after it.
	Deployments *CanaryDeployments
	// configKey is where the config is named: canaryConfigName, or Spinnaker's canaryConfigId.
	configKey string
}

// Intervals is how many analyses the stage runs.
func (c CanaryStage) Intervals() int {
	if c.Interval <= 0 || c.Interval >= c.Lifetime {
		return 1
	}
	return int(c.Lifetime / c.Interval)
}

// CanaryScope says where the baseline's (control) and the canary's (experiment) metrics are.
type CanaryScope struct {
	ScopeName          string            `json:"scopeName"`
	ControlScope       string            `json:"controlScope"`
	ExperimentScope    string            `json:"experimentScope"`
	ControlLocation    string            `json:"controlLocation,omitempty"`
	ExperimentLocation string            `json:"experimentLocation,omitempty"`
	Step               time.Duration     `json:"step"`
	Extended           map[string]string `json:"extendedScopeParams,omitempty"`
}

// CanaryDeployments are the server groups a canary stage deploys for its analysis.
type CanaryDeployments struct {
	Account   string `json:"account"`
	Namespace string `json:"namespace,omitempty"`
	// Baseline runs the version now in production; Canary the new one. Each is a list of
	// manifests; the trigger's artifacts are bound into the canary's only.
	Baseline []any `json:"baseline"`
	Canary   []any `json:"canary"`
	// DelayBeforeCleanup keeps both a while after the analysis, to look at them.
	DelayBeforeCleanup time.Duration `json:"delayBeforeCleanup,omitempty"`
}

// isoDuration is the subset of ISO 8601 durations Spinnaker writes lifetimeDuration in: PT1H, PT30M, PT1H30M15S.
var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

func parseISODuration(s string) (time.Duration, bool) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, false
	}
	var d float64
	for i, unit := range []float64{24 * 3600, 3600, 60, 1} {
		if m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return 0, false
		}
		d += v * unit
	}
	return time.Duration(d * float64(time.Second)), d > 0
}

// ReadCanaryStage reads a kayentaCanary stage's context, evaluated, and lists every problem by
// path under path. Minutes may be numbers or numeric strings (Spinnaker writes both), and may be
// fractions, such as 0.5 for a trial of a few minutes.
func ReadCanaryStage(ctx map[string]any, path string) (CanaryStage, []Problem) {
	var ps problems
	var c CanaryStage
	f := newFields(ctx, path, &ps)
	cc, ok := f.optionalObject("canaryConfig")
	if !ok {
		if _, present := f.get("canaryConfig"); !present {
			ps.add(f.at("canaryConfig"), "required")
		}
		return c, ps
	}
	cf := newFields(cc, f.at("canaryConfig"), &ps)
	c.ConfigName, _ = cf.optionalString("canaryConfigName")
	c.configKey = "canaryConfigName"
	if c.ConfigName == "" {
		c.ConfigName, _ = cf.optionalString("canaryConfigId")
		c.configKey = "canaryConfigId"
	}
	if strings.TrimSpace(c.ConfigName) == "" {
		ps.add(cf.at("canaryConfigName"), "required: the name of one of the application's canary configs")
	}
	c.MetricsAccount, _ = cf.optionalString("metricsAccountName")
	cf.optionalString("storageAccountName") // Kayenta's; gennaker keeps results with the execution

	// Spinnaker lets a stage leave scoreThresholds out (or null): the config's then apply.
	if th, ok := cf.optionalObject("scoreThresholds"); ok && (th["pass"] != nil || th["marginal"] != nil) {
		tf := newFields(th, cf.at("scoreThresholds"), &ps)
		c.Pass = canaryNumber(tf, "pass", true, 0, 100)
		c.Marginal = canaryNumber(tf, "marginal", true, 0, 100)
		c.HasThresholds = true
		if c.Marginal > c.Pass {
			ps.add(tf.at("marginal"), "must not be above pass (%v)", c.Pass)
		}
	}

	switch v, present := cf.get("lifetimeDuration"); {
	case present && isExprString(v):
	case present:
		s, isString := v.(string)
		d, ok := parseISODuration(s)
		if !isString || !ok {
			ps.add(cf.at("lifetimeDuration"), "must be an ISO 8601 duration such as PT1H or PT30M, got %s", stringify(v))
		}
		c.Lifetime = d
	default:
		if _, present := cf.get("lifetimeHours"); present {
			if h := canaryNumber(cf, "lifetimeHours", true, 0, 24*30); h > 0 {
				c.Lifetime = time.Duration(h * float64(time.Hour))
			}
		} else {
			ps.add(cf.at("lifetimeDuration"), "required: how long the analysis runs, such as PT1H")
		}
	}
	c.Warmup = canaryMinutes(cf, "beginCanaryAnalysisAfterMins")
	c.Interval = canaryMinutes(cf, "canaryAnalysisIntervalMins")
	c.Lookback = canaryMinutes(cf, "lookbackMins")
	if c.Lifetime > 0 && c.Interval > c.Lifetime {
		ps.add(cf.at("canaryAnalysisIntervalMins"), "is longer than the lifetime (%s): there would be no analysis", c.Lifetime)
	}
	if c.Lifetime > 0 && c.Interval > 0 && c.Lifetime/c.Interval > MaxCanaryIntervals {
		ps.add(cf.at("canaryAnalysisIntervalMins"), "gives %d analyses over the lifetime; at most %d are allowed", c.Lifetime/c.Interval, MaxCanaryIntervals)
	}
	cf.eachObject("scopes", true, func(_ int, sf fields) {
		s := CanaryScope{Step: time.Minute, Extended: map[string]string{}}
		s.ScopeName, _ = sf.optionalString("scopeName")
		if s.ScopeName == "" {
			s.ScopeName = "default"
		}
		s.ControlScope = sf.requiredString("controlScope")
		s.ExperimentScope = sf.requiredString("experimentScope")
		s.ControlLocation, _ = sf.optionalString("controlLocation")
		s.ExperimentLocation, _ = sf.optionalString("experimentLocation")
		if v, present := sf.get("step"); present {
			if secs := canaryNumber(sf, "step", true, 0, 24*3600); secs > 0 {
				s.Step = time.Duration(secs * float64(time.Second))
			} else if secs == 0 {
				ps.add(sf.at("step"), "must be a positive number of seconds")
			}
			_ = v
		}
		if ext, ok := sf.optionalObject("extendedScopeParams"); ok {
			keys := make([]string, 0, len(ext))
			for k := range ext {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if text, isString := ext[k].(string); isString {
					s.Extended[k] = text
				} else {
					ps.add(joinKey(sf.at("extendedScopeParams"), k), "must be a string")
				}
			}
		}
		for _, other := range c.Scopes {
			if other.ScopeName == s.ScopeName {
				ps.add(sf.at("scopeName"), "scope %q is given twice", s.ScopeName)
			}
		}
		c.Scopes = append(c.Scopes, s)
	})

	if d, ok := f.optionalObject("deployments"); ok {
		df := newFields(d, f.at("deployments"), &ps)
		dep := &CanaryDeployments{}
		dep.Account = df.requiredString("account")
		dep.Namespace, _ = df.optionalString("namespace")
		for _, side := range []string{"baseline", "canary"} {
			l, _ := df.list(side, true)
			for i, m := range l {
				if _, isMap := m.(map[string]any); !isMap {
					ps.add(joinIndex(df.at(side), i), "must be a manifest (an object)")
				}
			}
			if side == "baseline" {
				dep.Baseline = l
			} else {
				dep.Canary = l
			}
		}
		dep.DelayBeforeCleanup = canaryMinutes(df, "delayBeforeCleanupMins")
		c.Deployments = dep
	}
	return c, ps
}

// canaryNumber reads a number setting (or a numeric string) within [lo, hi]. An expression, not
// yet evaluated when a pipeline is saved, reads as NaN: checks that compare it are skipped.
func canaryNumber(f fields, key string, required bool, lo, hi float64) float64 {
	v, present := f.get(key)
	if !present {
		if required {
			f.ps.add(f.at(key), "required")
		}
		return 0
	}
	if isExprString(v) {
		return math.NaN()
	}
	n, ok := number(v)
	if text, isString := v.(string); isString {
		parsed, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		n, ok = parsed, err == nil
	}
	if !ok || math.IsNaN(n) || math.IsInf(n, 0) || n < lo || n > hi {
		f.ps.add(f.at(key), "must be a number from %v to %v, got %s", lo, hi, stringify(v))
		return math.NaN()
	}
	return n
}

// canaryMinutes reads a duration in minutes; absent (or an expression, at save time) is zero.
func canaryMinutes(f fields, key string) time.Duration {
	n := canaryNumber(f, key, false, 0, 60*24*30)
	if math.IsNaN(n) {
		return 0
	}
	return time.Duration(n * float64(time.Minute))
}

// References names the canary config, the metrics account and the account canaries deploy to.
func (c CanaryStage) References(path string) []Reference {
	cc := joinKey(path, "canaryConfig")
	refs := []Reference{{Path: joinKey(cc, c.configKey), Kind: RefCanaryConfig, Name: c.ConfigName}}
	// Without a metricsAccountName the default source is read, which must exist too.
	metrics := Reference{Path: cc, Kind: RefMetricsAccount, Name: c.MetricsAccount}
	if metrics.Name == "" {
		metrics.Name = DefaultMetricsAccount
	} else {
		metrics.Path = cc + ".metricsAccountName"
	}
	refs = append(refs, metrics)
	if c.Deployments != nil {
		refs = append(refs, Reference{Path: joinKey(path, "deployments") + ".account", Kind: RefAccount, Provider: CloudKubernetes, Name: c.Deployments.Account})
	}
	return refs
}

// DefaultMetricsAccount stands for "the default metrics source" in a canary stage's references.
const DefaultMetricsAccount = "(default)"
