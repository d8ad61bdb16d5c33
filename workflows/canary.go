package workflows

import (
	"fmt"
	"maps"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/canary"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// CanaryReport is what a kayentaCanary stage found, kept in its outputs as "canary" and served
// at GET /api/v1/executions/{id}/stages/{refId}/canary.
type CanaryReport struct {
	Config        string            `json:"canaryConfigName"`
	ConfigVersion int               `json:"canaryConfigVersion"`
	Thresholds    canary.Thresholds `json:"scoreThresholds"`
	// AnalysisStart is when the warm-up ended and the first interval began, in Unix milliseconds.
	AnalysisStart int64 `json:"analysisStart"`
	// Intervals planned, and those judged so far.
	Planned   int              `json:"intervalsPlanned"`
	Intervals []CanaryInterval `json:"intervals"`
	// Result is Pass, Marginal or Fail once the canary has ended.
	Result string `json:"result,omitempty"`
	// Deployments are the baseline and canary server groups deployed for the analysis.
	Deployments map[string][]string `json:"deployments,omitempty"`
}

// CanaryInterval is one analysis: its window, the judgment and the queries sent.
type CanaryInterval struct {
	Interval int   `json:"interval"`
	Start    int64 `json:"start"`
	End      int64 `json:"end"`
	canary.Result
	Queries map[string][2]string `json:"queries,omitempty"`
}

// runKayentaCanary runs an automated canary analysis: optionally deploys a baseline and a canary
// server group, waits out the warm-up, judges the canary against the baseline once per interval
// on durable timers (each over the whole time since the warm-up, or over the last lookbackMins),
// ends early when an interval scores at or below the marginal threshold, and passes when the last
// interval reaches the pass threshold. The server groups it deployed are deleted afterwards,
// whatever the outcome.
func runKayentaCanary(ctx workflow.Context, r *interpreter, st *stageRun, c pipeline.CanaryStage) (map[string]any, error) {
	var acts *activities.Canary
	loadCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var loaded activities.LoadCanaryConfigResult
	if err := workflow.ExecuteActivity(loadCtx, acts.LoadCanaryConfig, activities.LoadCanaryConfigInput{
		Application: r.exec.Application, Name: c.ConfigName,
	}).Get(ctx, &loaded); err != nil {
		return nil, err
	}
	thresholds := canary.Thresholds{Pass: c.Pass, Marginal: c.Marginal}
	if !c.HasThresholds {
		// As in Spinnaker, a stage without thresholds of its own uses its config's.
		t, ok := loaded.Config.Classifier.ScoreThresholds.Thresholds()
		if !ok {
			return nil, failf("no score thresholds: set canaryConfig.scoreThresholds in the stage, or classifier.scoreThresholds in canary config %q", c.ConfigName)
		}
		thresholds = t
		c.Pass, c.Marginal = t.Pass, t.Marginal
	}
	report := &CanaryReport{Config: c.ConfigName, ConfigVersion: loaded.Version, Planned: c.Intervals(),
		Thresholds: thresholds, Intervals: []CanaryInterval{}}
	outputs := map[string]any{}
	publish := func() {
		outputs["canary"] = report
		scores := make([]float64, len(report.Intervals))
		for i, iv := range report.Intervals {
			scores[i] = iv.Score
		}
		outputs["canaryScores"] = scores
		if n := len(scores); n > 0 {
			outputs["lastUpdatedScore"] = scores[n-1]
		}
		// The execution view shows the analysis as it goes.
		st.view.Outputs = maps.Clone(outputs)
	}

	if c.Deployments != nil {
		deployed, cleanup, err := r.deployCanaryPair(ctx, st, *c.Deployments)
		// Deleted whatever happens next: a failed analysis, a cancellation, a pass.
		defer cleanup()
		report.Deployments = deployed
		publish()
		if err != nil {
			return outputs, err
		}
	}

	if c.Warmup > 0 {
		if err := workflow.Sleep(ctx, c.Warmup); err != nil {
			return outputs, err
		}
	}
	analysisStart := workflow.Now(ctx)
	report.AnalysisStart = analysisStart.UnixMilli()
	interval := c.Interval
	if report.Planned == 1 || interval <= 0 {
		interval = c.Lifetime
	}
	judgeCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		// An unreachable metrics source is tried again for a while; the interval is judged late
		// rather than not at all.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 12},
	})
	for i := 1; i <= report.Planned; i++ {
		end := analysisStart.Add(time.Duration(i) * interval)
		if wait := end.Sub(workflow.Now(ctx)); wait > 0 {
			if err := workflow.Sleep(ctx, wait); err != nil {
				return outputs, err
			}
		}
		start := analysisStart
		if c.Lookback > 0 {
			start = end.Add(-c.Lookback)
		}
		var judged activities.JudgeCanaryIntervalResult
		err := workflow.ExecuteActivity(judgeCtx, acts.JudgeCanaryInterval, activities.JudgeCanaryIntervalInput{
			Config: loaded.Config, MetricsAccount: c.MetricsAccount, Scopes: c.Scopes, Start: start, End: end,
			Thresholds: report.Thresholds,
		}).Get(ctx, &judged)
		if err != nil {
			return outputs, err
		}
		report.Intervals = append(report.Intervals, CanaryInterval{Interval: i, Start: start.UnixMilli(), End: end.UnixMilli(),
			Result: judged.Result, Queries: judged.Queries})
		publish()
		score := judged.Result.Score
		if score <= c.Marginal && i < report.Planned {
			report.Result = string(canary.ScoreFail)
			outputs["canaryScoreMessage"] = fmt.Sprintf("interval %d of %d scored %v, at or below the marginal threshold %v: the canary ended early. %s",
				i, report.Planned, score, c.Marginal, judged.Result.Reason)
			publish()
			return outputs, failf("%s", outputs["canaryScoreMessage"])
		}
	}
	last := report.Intervals[len(report.Intervals)-1]
	switch {
	case last.Score >= c.Pass:
		report.Result = string(canary.ScorePass)
		outputs["canaryScoreMessage"] = fmt.Sprintf("final score %v reached the pass threshold %v", last.Score, c.Pass)
	case last.Score <= c.Marginal:
		report.Result = string(canary.ScoreFail)
		outputs["canaryScoreMessage"] = fmt.Sprintf("final score %v is at or below the marginal threshold %v. %s", last.Score, c.Marginal, last.Reason)
	default:
		report.Result = string(canary.ScoreMarginal)
		outputs["canaryScoreMessage"] = fmt.Sprintf("final score %v is marginal: above %v but below the pass threshold %v. %s", last.Score, c.Marginal, c.Pass, last.Reason)
	}
	publish()
	if report.Result != string(canary.ScorePass) {
		return outputs, failf("%s", outputs["canaryScoreMessage"])
	}
	return outputs, nil
}

// deployCanaryPair deploys the baseline and the canary server groups and waits until both have
// rolled out. cleanup deletes everything it applied, on a context of its own so that it runs after
// a cancellation too; it is set even when deploying fails halfway.
func (r *interpreter) deployCanaryPair(ctx workflow.Context, st *stageRun, d pipeline.CanaryDeployments) (deployed map[string][]string, cleanup func(), err error) {
	var k8s *activities.Kubernetes
	var applied []cloud.Resource
	deployed = map[string][]string{}
	cleanup = func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		// The delay keeps the server groups for a look after the analysis; a canceled canary is
		// deleted at once, as whoever canceled it wants. Executions that began sleeping the delay
		// after a cancellation, before this rule, go on sleeping it.
		canceled := ctx.Err() != nil && workflow.GetVersion(dctx, "canary-cleanup-at-once-when-canceled", workflow.DefaultVersion, 1) == 1
		if d.DelayBeforeCleanup > 0 && !canceled {
			_ = workflow.Sleep(dctx, d.DelayBeforeCleanup)
		}
		// Newest first, as they were applied.
		for i := len(applied) - 1; i >= 0; i-- {
			o := applied[i]
			err := workflow.ExecuteActivity(waitingKubernetes(dctx, 5*time.Minute), k8s.DeleteManifest, activities.DeleteManifestInput{
				Account: d.Account, Target: o, Unguarded: true,
			}).Get(dctx, nil)
			if err != nil {
				workflow.GetLogger(ctx).Warn("deleting a canary server group", "object", o.Kind+"/"+o.Name, "error", err)
			}
		}
	}
	for _, side := range []struct {
		name      string
		manifests []any
		artifacts bool
	}{{"baseline", d.Baseline, false}, {"canary", d.Canary, true}} {
		in := cloud.DeployRequest{
			Manifests: side.manifests, Application: r.exec.Application, NamespaceOverride: d.Namespace,
			ExecutionID: r.exec.ID, StageRefID: st.cfg.RefID + "-" + side.name,
		}
		// The new version's images are bound into the canary only: the baseline runs what
		// production runs.
		if side.artifacts {
			for _, a := range r.exec.Trigger.Artifacts {
				in.Artifacts = append(in.Artifacts, bindingArtifact(a))
			}
		}
		var res activities.DeployManifestResult
		if err := workflow.ExecuteActivity(deployActivity(ctx), k8s.DeployManifest, activities.DeployManifestInput{Account: d.Account, Deploy: in}).Get(ctx, &res); err != nil {
			return deployed, cleanup, fmt.Errorf("deploying the %s: %w", side.name, err)
		}
		applied = append(applied, res.Result.Applied...)
		for _, o := range res.Result.Applied {
			deployed[side.name] = append(deployed[side.name], cloud.FullName(o.Kind, o.Name))
		}
		if err := waitForRollout(ctx, st, d.Account, res.Result.Applied); err != nil {
			return deployed, cleanup, fmt.Errorf("the %s did not roll out: %w", side.name, err)
		}
	}
	return deployed, cleanup, nil
}
