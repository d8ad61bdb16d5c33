package workflows

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/canary"
	"github.com/gennaker/gennaker/cloud/kubernetes"
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
	c.env.OnActivity("JudgeCanaryInterval", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.JudgeCanaryIntervalInput) (activities.JudgeCanaryIntervalResult, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.judged = append(c.judged, in)
			score := scores[len(c.judged)-1]
			return activities.JudgeCanaryIntervalResult{Result: canary.Result{Score: score, Reason: "scripted"}}, nil
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
	baseline := kubernetes.AppliedObject{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "web-baseline-v000"}
	canaryRS := kubernetes.AppliedObject{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "web-canary-v000"}
	var deployed []activities.DeployManifestInput
	c.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeployManifestInput) (activities.DeployManifestResult, error) {
		deployed = append(deployed, in)
		o := baseline
		if strings.HasSuffix(in.Deploy.StageRefID, "canary") {
			o = canaryRS
		}
		return activities.DeployManifestResult{Result: kubernetes.DeployResult{Applied: []kubernetes.AppliedObject{o}}}, nil
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
