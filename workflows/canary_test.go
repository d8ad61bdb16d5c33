package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/canary"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// canaryPipeline is a canary of lifetime minutes, an analysis every interval minutes after a
// warm-up of warmup minutes, with thresholds 75/50, and extra stage settings.
func canaryPipeline(lifetime, interval, warmup string, extra string) string {
	return `{"application": "shop", "name": "canary", "stages": [{"refId": "1", "type": "kayentaCanary", "name": "Canary",
		"canaryConfig": {"canaryConfigName": "web", "scoreThresholds": {"pass": "75", "marginal": 50},
			"lifetimeDuration": "` + lifetime + `", "canaryAnalysisIntervalMins": "` + interval + `", "beginCanaryAnalysisAfterMins": ` + warmup + `,
			"scopes": [{"scopeName": "default", "controlScope": "track=\"baseline\"", "experimentScope": "track=\"canary\"", "step": 10}]}` + extra + `}]}`
}

// canaryTest runs a canary stage with the judge's answers scripted per interval.
type canaryTest struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	mu     sync.Mutex
	judged []activities.JudgeCanaryIntervalInput
	calls  []string
	// judge answers every JudgeCanaryInterval attempt: the scripted scores, unless a test replaces
	// it before run (a second OnActivity for the same activity would never be reached, as the
	// first registered mock that matches answers).
	judge func(ctx context.Context, in activities.JudgeCanaryIntervalInput) (activities.JudgeCanaryIntervalResult, error)
}

func newCanaryTest(t *testing.T, scores ...float64) *canaryTest {
	var s testsuite.WorkflowTestSuite
	c := &canaryTest{t: t, env: s.NewTestWorkflowEnvironment()}
	c.env.RegisterWorkflow(Pipeline)
	c.env.RegisterActivity(&activities.Canary{})
	c.env.RegisterActivity(&activities.Kubernetes{})
	c.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls = append(c.calls, info.ActivityType.Name)
	})
	c.env.OnActivity("LoadCanaryConfig", mock.Anything, activities.LoadCanaryConfigInput{Application: "shop", Name: "web"}).
		Return(activities.LoadCanaryConfigResult{Config: canary.Config{Name: "web"}, Version: 3}, nil)
	c.judge = func(_ context.Context, in activities.JudgeCanaryIntervalInput) (activities.JudgeCanaryIntervalResult, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.judged = append(c.judged, in)
		score := scores[len(c.judged)-1]
		return activities.JudgeCanaryIntervalResult{Result: canary.Result{Score: score, Reason: "scripted"}}, nil
	}
	c.env.OnActivity("JudgeCanaryInterval", mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.JudgeCanaryIntervalInput) (activities.JudgeCanaryIntervalResult, error) {
			return c.judge(ctx, in)
		})
	return c
}

func (c *canaryTest) run(config string) (pipeline.Execution, error) {
	c.t.Helper()
	c.env.ExecuteWorkflow(Pipeline, PipelineInput{Pipeline: decode(c.t, config), PipelineVersion: 1, Trigger: pipeline.TriggerInfo{Type: "manual"}})
	if !c.env.IsWorkflowCompleted() {
		c.t.Fatal("workflow did not complete")
	}
	return queryRunningExecution(c.t, c.env), c.env.GetWorkflowError()
}

func (c *canaryTest) report(t *testing.T, exec pipeline.Execution) CanaryReport {
	t.Helper()
	var r CanaryReport
	if err := remarshal(exec.Stage("1").Outputs["canary"], &r); err != nil {
		t.Fatalf("canary report: %v", err)
	}
	return r
}

func TestCanaryPassesOnItsLastInterval(t *testing.T) {
	c := newCanaryTest(t, 60, 70, 80)
	exec, err := c.run(canaryPipeline("PT30M", "10", "5", ""))
	if err != nil {
		t.Fatalf("%v: %s", err, exec.Stage("1").Error)
	}
	if len(c.judged) != 3 {
		t.Fatalf("%d analyses, want 3", len(c.judged))
	}
	// A growing window: each analysis starts when the warm-up ended and ends an interval later.
	first := c.judged[0]
	for i, in := range c.judged {
		if !in.Start.Equal(first.Start) || in.End.Sub(in.Start) != time.Duration(i+1)*10*time.Minute {
			t.Errorf("analysis %d covers %s to %s", i+1, in.Start, in.End)
		}
		if in.Thresholds != (canary.Thresholds{Pass: 75, Marginal: 50}) || in.Scopes[0].Step != 10*time.Second || in.Scopes[0].ExperimentScope != `track="canary"` {
			t.Errorf("analysis %d input %+v", i+1, in)
		}
	}
	r := c.report(t, exec)
	if r.Result != "Pass" || r.ConfigVersion != 3 || r.Planned != 3 || len(r.Intervals) != 3 || r.Intervals[2].Score != 80 {
		t.Errorf("report %+v", r)
	}
	if got := exec.Stage("1").Outputs["canaryScores"]; len(got.([]any)) != 3 {
		t.Errorf("canaryScores %v", got)
	}
}

func TestCanarySlidingWindow(t *testing.T) {
	c := newCanaryTest(t, 90, 90)
	sliding := strings.Replace(canaryPipeline("PT20M", "10", "0", ""), `"beginCanaryAnalysisAfterMins": 0`, `"beginCanaryAnalysisAfterMins": 0, "lookbackMins": 5`, 1)
	if _, err := c.run(sliding); err != nil {
		t.Fatal(err)
	}
	for i, in := range c.judged {
		if in.End.Sub(in.Start) != 5*time.Minute {
			t.Errorf("analysis %d covers %s, want the last 5 minutes", i+1, in.End.Sub(in.Start))
		}
	}
}

func TestCanaryEndsEarlyAtOrBelowMarginal(t *testing.T) {
	c := newCanaryTest(t, 80, 50, 90)
	exec, err := c.run(canaryPipeline("PT30M", "10", "0", ""))
	st := exec.Stage("1")
	if err == nil || st.Status != pipeline.StatusTerminal || !strings.Contains(st.Error, "interval 2 of 3 scored 50, at or below the marginal threshold 50: the canary ended early") {
		t.Fatalf("stage %s: %s", st.Status, st.Error)
	}
	if len(c.judged) != 2 || c.report(t, exec).Result != "Fail" {
		t.Errorf("analyses %d, report %+v", len(c.judged), c.report(t, exec))
	}
}

func TestCanaryFinalScoreDecides(t *testing.T) {
	for _, tt := range []struct {
		scores []float64
		result string
		says   string
	}{
		{[]float64{60, 74.99}, "Marginal", "final score 74.99 is marginal: above 50 but below the pass threshold 75"},
		{[]float64{90, 20}, "Fail", "final score 20 is at or below the marginal threshold 50"},
		{[]float64{60, 75}, "Pass", ""},
	} {
		c := newCanaryTest(t, tt.scores...)
		exec, err := c.run(canaryPipeline("PT20M", "10", "0", ""))
		if got := c.report(t, exec).Result; got != tt.result {
			t.Errorf("%v: result %s, want %s", tt.scores, got, tt.result)
		}
		st := exec.Stage("1")
		if tt.says == "" && err != nil || tt.says != "" && !strings.Contains(st.Error, tt.says) {
			t.Errorf("%v: stage %s %q", tt.scores, st.Status, st.Error)
		}
	}
}

func TestCanaryDeploymentsAreCleanedUpWhateverTheOutcome(t *testing.T) {
	deployments := `, "deployments": {"account": "local", "namespace": "prod",
		"baseline": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-baseline"}}],
		"canary": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-canary"}}]}`
	c := newCanaryTest(t, 10, 10)
	baseline := cloud.Resource{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "web-baseline-v000"}
	canaryRS := cloud.Resource{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "web-canary-v000"}
	var deployed []activities.DeployManifestInput
	c.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeployManifestInput) (activities.DeployManifestResult, error) {
		deployed = append(deployed, in)
		o := baseline
		if strings.HasSuffix(in.Deploy.StageRefID, "canary") {
			o = canaryRS
		}
		return activities.DeployManifestResult{Result: cloud.DeployResult{Applied: []cloud.Resource{o}}}, nil
	})
	c.env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
	var deleted []string
	c.env.OnActivity("DeleteManifest", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeleteManifestInput) (activities.DeleteManifestResult, error) {
		if !in.Unguarded {
			t.Error("a canary's own server groups are deleted without the traffic guard")
		}
		deleted = append(deleted, in.Target.Name)
		return activities.DeleteManifestResult{}, nil
	})
	ex, err := c.run(canaryPipeline("PT20M", "10", "1", deployments))
	if err == nil {
		t.Fatal("a failing canary passed")
	}
	if len(deployed) != 2 || len(deployed[0].Deploy.Artifacts) != 0 {
		t.Errorf("deploys %+v", deployed)
	}
	if strings.Join(deleted, ",") != "web-canary-v000,web-baseline-v000" {
		t.Errorf("deleted %v, want both, newest first", deleted)
	}
	if r := c.report(t, ex); len(r.Deployments["baseline"]) != 1 || len(r.Deployments["canary"]) != 1 {
		t.Errorf("report deployments %v", r.Deployments)
	}
}

// remarshal converts a JSON-shaped value into a typed one.
func remarshal(v any, into any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// canaryDeployments is a canary stage's deployments setting, one ReplicaSet a side, with extra
// settings (such as delayBeforeCleanupMins) appended inside it.
func canaryDeployments(extra string) string {
	return `, "deployments": {"account": "local", "namespace": "prod",
		"baseline": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-baseline"}}],
		"canary": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-canary"}}]` + extra + `}`
}

// canaryDeletion is one DeleteManifest call and the (virtual) time it was made at.
type canaryDeletion struct {
	name string
	at   time.Time
}

// mockServerGroups makes the deployments of canaryDeployments succeed, web-baseline-v000 and
// web-canary-v000, and records every deletion with its time in the test environment's clock.
func (c *canaryTest) mockServerGroups() *[]canaryDeletion {
	var deleted []canaryDeletion
	c.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeployManifestInput) (activities.DeployManifestResult, error) {
		name := "web-baseline-v000"
		if strings.HasSuffix(in.Deploy.StageRefID, "canary") {
			name = "web-canary-v000"
		}
		o := cloud.Resource{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: name}
		return activities.DeployManifestResult{Result: cloud.DeployResult{Applied: []cloud.Resource{o}}}, nil
	})
	c.env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
	c.env.OnActivity("DeleteManifest", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeleteManifestInput) (activities.DeleteManifestResult, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		deleted = append(deleted, canaryDeletion{name: in.Target.Name, at: c.env.Now()})
		return activities.DeleteManifestResult{}, nil
	})
	return &deleted
}

// judgeAt records the time of every judgment, wrapping the scripted scores.
func (c *canaryTest) judgeAt() *[]time.Time {
	var at []time.Time
	scripted := c.judge
	c.judge = func(ctx context.Context, in activities.JudgeCanaryIntervalInput) (activities.JudgeCanaryIntervalResult, error) {
		c.mu.Lock()
		at = append(at, c.env.Now())
		c.mu.Unlock()
		return scripted(ctx, in)
	}
	return &at
}

func TestCanaryDelaysCleanupByDelayBeforeCleanupMins(t *testing.T) {
	// delayBeforeCleanupMins keeps both server groups after the analysis so that a person can look
	// at them; the delay is a durable timer in the workflow, so the virtual clock measures it.
	for _, tt := range []struct {
		name    string
		setting string
		delay   time.Duration
	}{
		{"no delay: deleted as soon as the analysis ends", "", 0},
		{"zero", `, "delayBeforeCleanupMins": 0`, 0},
		{"15 minutes", `, "delayBeforeCleanupMins": 15`, 15 * time.Minute},
		{"a numeric string, as Spinnaker writes it", `, "delayBeforeCleanupMins": "15"`, 15 * time.Minute},
		{"a fraction", `, "delayBeforeCleanupMins": 0.5`, 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanaryTest(t, 90, 90)
			deleted := c.mockServerGroups()
			judged := c.judgeAt()
			if _, err := c.run(canaryPipeline("PT20M", "10", "1", canaryDeployments(tt.setting))); err != nil {
				t.Fatal(err)
			}
			if len(*judged) != 2 || len(*deleted) != 2 {
				t.Fatalf("%d judgments, deleted %v", len(*judged), *deleted)
			}
			lastJudged := (*judged)[1]
			for _, d := range *deleted {
				// At least the delay, and no more: the delay is not added per server group.
				if gap := d.at.Sub(lastJudged); gap < tt.delay || gap > tt.delay+time.Second {
					t.Errorf("%s deleted %s after the last analysis, want %s", d.name, gap, tt.delay)
				}
			}
		})
	}
}

func TestCanaryDelayBeforeCleanupAppliesToAFailedCanaryToo(t *testing.T) {
	// A failed canary is the one most worth looking at: its server groups wait out the delay as well.
	c := newCanaryTest(t, 10, 90)
	deleted := c.mockServerGroups()
	judged := c.judgeAt()
	if _, err := c.run(canaryPipeline("PT20M", "10", "0", canaryDeployments(`, "delayBeforeCleanupMins": 5`))); err == nil {
		t.Fatal("a canary scoring 10 passed")
	}
	if len(*judged) != 1 || len(*deleted) != 2 {
		t.Fatalf("%d judgments, deleted %v", len(*judged), *deleted)
	}
	if gap := (*deleted)[0].at.Sub((*judged)[0]); gap < 5*time.Minute {
		t.Errorf("deleted %s after the early end, want 5m", gap)
	}
}

func TestCanaryLifetimeHours(t *testing.T) {
	// Without lifetimeDuration the lifetime is lifetimeHours, a number or a numeric string and
	// possibly a fraction; the intervals are planned over it like over lifetimeDuration.
	for _, tt := range []struct {
		name     string
		hours    string
		interval string
		warmup   string
		ends     []time.Duration // of each analysis, after the warm-up
	}{
		{"1 hour every 30 minutes", `1`, "30", "5", []time.Duration{30 * time.Minute, 60 * time.Minute}},
		{"a numeric string", `"1"`, "30", "0", []time.Duration{30 * time.Minute, 60 * time.Minute}},
		{"half an hour every 10 minutes", `0.5`, "10", "2", []time.Duration{10 * time.Minute, 20 * time.Minute, 30 * time.Minute}},
		{"an interval as long as the lifetime: one analysis", `1`, "60", "0", []time.Duration{60 * time.Minute}},
		{"no interval: one analysis at the end", `2`, "", "1", []time.Duration{2 * time.Hour}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scores := make([]float64, len(tt.ends))
			for i := range scores {
				scores[i] = 90
			}
			c := newCanaryTest(t, scores...)
			at := c.judgeAt()
			config := strings.Replace(canaryPipeline("LIFETIME", tt.interval, tt.warmup, ""), `"lifetimeDuration": "LIFETIME"`, `"lifetimeHours": `+tt.hours, 1)
			config = strings.Replace(config, `"canaryAnalysisIntervalMins": "", `, "", 1)
			exec, err := c.run(config)
			if err != nil {
				t.Fatalf("%v: %s", err, exec.Stage("1").Error)
			}
			r := c.report(t, exec)
			if r.Planned != len(tt.ends) || len(c.judged) != len(tt.ends) {
				t.Fatalf("planned %d, judged %d, want %d", r.Planned, len(c.judged), len(tt.ends))
			}
			warmup, _ := time.ParseDuration(tt.warmup + "m")
			if got := time.Duration(r.AnalysisStart-exec.Stage("1").StartTime) * time.Millisecond; got < warmup || got > warmup+time.Second {
				t.Errorf("analysis began %s after the stage, want the %s warm-up", got, warmup)
			}
			for i, in := range c.judged {
				if got := in.End.Sub(in.Start); in.Start.UnixMilli() != r.AnalysisStart || got != tt.ends[i] {
					t.Errorf("analysis %d covers %s from %s, want %s from the warm-up's end", i+1, got, in.Start, tt.ends[i])
				}
				// Judged when its interval has ended, not before.
				if !(*at)[i].Equal(in.End) {
					t.Errorf("analysis %d judged at %s, its interval ends at %s", i+1, (*at)[i], in.End)
				}
			}
		})
	}
}

// judgeAttempt is one attempt of JudgeCanaryInterval: its number, as Temporal counts, and when.
type judgeAttempt struct {
	attempt int32
	at      time.Time
}

// failingJudge replaces the judge by one that fails with an unreachable Prometheus' error while
// fails says so, and scores 90 otherwise; it records every attempt.
func (c *canaryTest) failingJudge(fails func(attempt int32) bool) *[]judgeAttempt {
	var attempts []judgeAttempt
	c.judge = func(ctx context.Context, in activities.JudgeCanaryIntervalInput) (activities.JudgeCanaryIntervalResult, error) {
		n := activity.GetInfo(ctx).Attempt
		c.mu.Lock()
		defer c.mu.Unlock()
		attempts = append(attempts, judgeAttempt{attempt: n, at: c.env.Now()})
		if fails(n) {
			// A plain error, as the activity returns for a source it cannot reach: retryable.
			return activities.JudgeCanaryIntervalResult{}, errors.New(`metric "errors" for the baseline: prometheus: metric "errors": query errors: Post "http://prom/api/v1/query_range": dial tcp 10.0.0.1:9090: connect: connection refused`)
		}
		c.judged = append(c.judged, in)
		return activities.JudgeCanaryIntervalResult{Result: canary.Result{Score: 90, Reason: "scripted"}}, nil
	}
	return &attempts
}

func TestCanaryRetriesAnUnreachablePrometheus(t *testing.T) {
	// Prometheus is down for the first three attempts of each interval: the interval is judged
	// late, after backing off 2s, 4s and 8s, rather than not at all, and the canary passes.
	c := newCanaryTest(t)
	attempts := c.failingJudge(func(n int32) bool { return n <= 3 })
	exec, err := c.run(canaryPipeline("PT20M", "10", "0", ""))
	if err != nil {
		t.Fatalf("%v: %s", err, exec.Stage("1").Error)
	}
	if st := exec.Stage("1"); st.Status != pipeline.StatusSucceeded || c.report(t, exec).Result != "Pass" {
		t.Errorf("stage %s, report %+v", st.Status, c.report(t, exec))
	}
	if len(*attempts) != 8 || len(c.judged) != 2 {
		t.Fatalf("%d attempts, %d judged; want 4 attempts for each of 2 intervals", len(*attempts), len(c.judged))
	}
	backoffs := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, in := range c.judged {
		tries := (*attempts)[i*4 : i*4+4]
		if !tries[0].at.Equal(in.End) {
			t.Errorf("interval %d first tried at %s, its end is %s", i+1, tries[0].at, in.End)
		}
		for j, want := range backoffs {
			if got := tries[j+1].at.Sub(tries[j].at); tries[j+1].attempt != int32(j+2) || got != want {
				t.Errorf("interval %d: attempt %d came %s after the one before, want %s", i+1, tries[j+1].attempt, got, want)
			}
		}
		// The window judged is the interval's, however late the judgment.
		if in.End.Sub(in.Start) != time.Duration(i+1)*10*time.Minute {
			t.Errorf("interval %d covers %s", i+1, in.End.Sub(in.Start))
		}
	}
}

func TestCanaryFailsAfterTwelveAttemptsAtPrometheus(t *testing.T) {
	// Prometheus stays down: after 12 attempts, backing off from 2s doubling up to 30s, the stage
	// fails TERMINAL, its error saying what could not be reached.
	c := newCanaryTest(t)
	attempts := c.failingJudge(func(int32) bool { return true })
	exec, err := c.run(canaryPipeline("PT20M", "10", "0", ""))
	st := exec.Stage("1")
	if err == nil || st.Status != pipeline.StatusTerminal {
		t.Fatalf("workflow error %v, stage %s", err, st.Status)
	}
	if !strings.Contains(st.Error, "connection refused") || !strings.Contains(st.Error, "http://prom/api/v1/query_range") {
		t.Errorf("stage error %q does not say Prometheus could not be reached", st.Error)
	}
	if len(*attempts) != 12 || len(c.judged) != 0 {
		t.Fatalf("%d attempts, %d judged; want 12 failed attempts at the first interval", len(*attempts), len(c.judged))
	}
	want := []time.Duration{2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30}
	for i, w := range want {
		if got := (*attempts)[i+1].at.Sub((*attempts)[i].at); got != w*time.Second {
			t.Errorf("attempt %d came %s after the one before, want %s", i+2, got, w*time.Second)
		}
	}
	if r := c.report(t, exec); len(r.Intervals) != 0 || r.Result != "" {
		t.Errorf("report %+v: an interval that could not be measured was judged", r)
	}
}

func TestCanaryCancelledStillDeletesItsServerGroups(t *testing.T) {
	// A cancellation cancels the workflow's context; the server groups are deleted on a
	// disconnected one, newest first, whenever the cancellation comes, and at once: whoever
	// canceled the canary wants it gone, not kept for a look as delayBeforeCleanupMins keeps one.
	for _, tt := range []struct {
		name     string
		cancelAt time.Duration // after the workflow started
		judged   int
		setting  string
		delay    time.Duration
	}{
		{"during the warm-up", 3 * time.Minute, 0, "", 0},
		{"between two analyses", 20 * time.Minute, 1, "", 0},
		{"with a delay before cleanup", 20 * time.Minute, 1, `, "delayBeforeCleanupMins": 5`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanaryTest(t, 90, 90, 90)
			deleted := c.mockServerGroups()
			start := c.env.Now()
			var canceledAt time.Time
			c.env.RegisterDelayedCallback(func() {
				canceledAt = c.env.Now()
				c.env.CancelWorkflow()
			}, tt.cancelAt)
			exec, err := c.run(canaryPipeline("PT30M", "10", "5", canaryDeployments(tt.setting)))
			if !temporal.IsCanceledError(err) {
				t.Errorf("workflow error %v, want canceled", err)
			}
			if st := exec.Stage("1"); st.Status != pipeline.StatusCanceled {
				t.Errorf("stage %s: %s", st.Status, st.Error)
			}
			if canceledAt.Sub(start) != tt.cancelAt {
				t.Fatalf("canceled at %s, want %s", canceledAt.Sub(start), tt.cancelAt)
			}
			if len(c.judged) != tt.judged {
				t.Errorf("%d analyses before the cancellation, want %d", len(c.judged), tt.judged)
			}
			var names []string
			for _, d := range *deleted {
				names = append(names, d.name)
				if gap := d.at.Sub(canceledAt); gap < tt.delay || gap > tt.delay+time.Second {
					t.Errorf("%s deleted %s after the cancellation, want %s", d.name, gap, tt.delay)
				}
			}
			if strings.Join(names, ",") != "web-canary-v000,web-baseline-v000" {
				t.Errorf("deleted %v, want both, newest first", names)
			}
		})
	}
}

// A stage that leaves scoreThresholds out (or null), as Spinnaker allows, is judged by its canary
// config's classifier thresholds; with neither, it fails before judging anything.
func TestCanaryWithoutThresholdsUsesTheConfigs(t *testing.T) {
	noThresholds := strings.Replace(canaryPipeline("PT10M", "10", "0", ""), `"scoreThresholds": {"pass": "75", "marginal": 50}`, `"scoreThresholds": null`, 1)
	pass, marginal := 90.0, 40.0
	for _, tc := range []struct {
		name       string
		classifier canary.Classifier
		want       pipeline.Status
		why        string
	}{
		{"the config's", canary.Classifier{ScoreThresholds: &canary.ScoreThresholds{Pass: &pass, Marginal: &marginal}}, pipeline.StatusTerminal,
			"final score 80 is marginal: above 40 but below the pass threshold 90"},
		{"none", canary.Classifier{}, pipeline.StatusTerminal, "no score thresholds: set canaryConfig.scoreThresholds in the stage, or classifier.scoreThresholds in canary config \"web\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(Pipeline)
			env.RegisterActivity(&activities.Canary{})
			env.OnActivity("LoadCanaryConfig", mock.Anything, mock.Anything).
				Return(activities.LoadCanaryConfigResult{Config: canary.Config{Name: "web", Classifier: tc.classifier}, Version: 1}, nil)
			var judged []activities.JudgeCanaryIntervalInput
			env.OnActivity("JudgeCanaryInterval", mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.JudgeCanaryIntervalInput) (activities.JudgeCanaryIntervalResult, error) {
					judged = append(judged, in)
					return activities.JudgeCanaryIntervalResult{Result: canary.Result{Score: 80, Reason: "scripted"}}, nil
				})
			env.ExecuteWorkflow(Pipeline, PipelineInput{Pipeline: decode(t, noThresholds), PipelineVersion: 1, Trigger: pipeline.TriggerInfo{Type: "manual"}})
			exec := queryRunningExecution(t, env)
			if s := exec.Stage("1"); s.Status != tc.want || !strings.Contains(s.Error, tc.why) {
				t.Errorf("status %s, error %q; want %s, %q", s.Status, s.Error, tc.want, tc.why)
			}
			if tc.classifier.ScoreThresholds != nil && (len(judged) != 1 || judged[0].Thresholds != (canary.Thresholds{Pass: 90, Marginal: 40})) {
				t.Errorf("judged with %+v", judged)
			}
		})
	}
}
