package workflows

import (
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/pipeline"
)

// stageRunner runs one stage of a registered type on its evaluated settings.
type stageRunner func(ctx workflow.Context, r *interpreter, st *stageRun, settings map[string]any) (map[string]any, error)

// runnerKey is a registered stage type: its name and cloud provider.
type runnerKey struct{ name, provider string }

// stageRunners holds the runner of every stage type of pipeline's registry; validation accepts the
// same set (TestEveryStageTypeHasARunner).
var stageRunners = map[runnerKey]stageRunner{}

// runs registers the runner of a stage type. The runner gets the stage's settings as the type's
// reader reads them once its expressions are evaluated; settings it cannot read fail the stage
// before anything runs.
func runs[T any](t pipeline.StageType[T], run func(ctx workflow.Context, r *interpreter, st *stageRun, settings T) (map[string]any, error)) {
	key := runnerKey{t.Name, t.CloudProvider}
	if _, dup := stageRunners[key]; dup {
		panic("workflows: stage type " + t.Name + " has two runners")
	}
	stageRunners[key] = func(ctx workflow.Context, r *interpreter, st *stageRun, settings map[string]any) (map[string]any, error) {
		s, problems := t.Read(settings, "")
		if len(problems) > 0 {
			return nil, settingsFailure(problems)
		}
		return run(ctx, r, st, s)
	}
}

// init registers every runner; a package-level literal would be an initialization cycle, since the
// pipeline stage runs the Pipeline workflow itself.
func init() {
	runs(pipeline.WaitStageType, runWait)
	runs(pipeline.ManualJudgmentStageType, runManualJudgment)
	runs(pipeline.CheckPreconditionsStageType, runCheckPreconditions)
	runs(pipeline.EvaluateVariablesStageType, runEvaluateVariables)
	runs(pipeline.PipelineStageType, runPipelineStage)
	runs(pipeline.WebhookStageType, runWebhook)
	runs(pipeline.KayentaCanaryStageType, runKayentaCanary)
	runs(pipeline.FindArtifactFromExecutionStageType, runFindArtifactFromExecution)

	// Kubernetes (kubernetes.go, runjob.go, manifestops.go).
	runs(pipeline.DeployManifestStageType, runDeployManifest)
	runs(pipeline.RollbackClusterStageType, runRollbackCluster)
	runs(pipeline.RunJobManifestStageType, runRunJob)
	runs(pipeline.RunJobStageType, runRunJob)
	runs(pipeline.EnableManifestStageType, runEnableManifest)
	runs(pipeline.DisableManifestStageType, runDisableManifest)
	runs(pipeline.ScaleManifestStageType, runScaleManifest)
	runs(pipeline.PatchManifestStageType, runPatchManifest)
	runs(pipeline.UndoRolloutManifestStageType, runUndoRolloutManifest)
	runs(pipeline.DeleteManifestStageType, runDeleteManifest)
	runs(pipeline.RollingRestartManifestStageType, runRollingRestartManifest)
	runs(pipeline.FindArtifactsFromResourceStageType, runFindArtifactsFromResource)

	// AWS (aws_deploy.go, aws_servergroups.go, aws_images.go, aws_cluster.go).
	runs(pipeline.DeployStageType, runDeploy)
	runs(pipeline.CreateServerGroupStageType, runDeploy)
	runs(pipeline.CloneServerGroupStageType, runCloneServerGroup)
	runs(pipeline.BakeStageType, runBake)
	runs(pipeline.ResizeServerGroupStageType, runResizeServerGroup)
	runs(pipeline.EnableServerGroupStageType, runEnableServerGroup)
	runs(pipeline.DisableServerGroupStageType, runDisableServerGroup)
	runs(pipeline.DestroyServerGroupStageType, runDestroyServerGroup)
	runs(pipeline.FindImageStageType, runFindImage)
	runs(pipeline.FindImageFromTagsStageType, runFindImageFromTags)
	runs(pipeline.AWSRollbackClusterStageType, runAWSRollbackCluster)
	runs(pipeline.RollbackServerGroupStageType, runRollbackServerGroup)
	runs(pipeline.ShrinkClusterStageType, runClusterStage)
	runs(pipeline.DisableClusterStageType, runClusterStage)
	runs(pipeline.ScaleDownClusterStageType, runClusterStage)
	runs(pipeline.ModifyAWSScalingProcessStageType, runModifyScalingProcess)
	runs(pipeline.UpsertImageTagsStageType, runUpsertImageTags)
}

// runnerFor finds the runner of a stage's type, or says why there is none.
func runnerFor(stageType string, settings map[string]any) (stageRunner, error) {
	t, err := pipeline.ResolveStageType(stageType, settings)
	if err != nil {
		// Validation refuses such a stage at save time; a config saved by an older release, or
		// a cloudProvider chosen by an expression, may still name one.
		return nil, failf("%v", err)
	}
	run, ok := stageRunners[runnerKey{t.Name, t.CloudProvider}]
	if !ok {
		return nil, failf("stage type %q is not supported by this worker", stageType)
	}
	return run, nil
}

// RegisteredStageTypes lists the stage types this worker runs, as name/provider, so tests can
// check that validation accepts exactly these.
func RegisteredStageTypes() []string {
	var out []string
	for k := range stageRunners {
		out = append(out, k.name+"/"+k.provider)
	}
	slices.Sort(out)
	return out
}

// settingsFailure fails a stage whose evaluated settings cannot be read, saying why in words.
func settingsFailure(problems []pipeline.Problem) error {
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = p.String()
		if p.Unevaluated {
			lines[i] += " (the expression could not be evaluated)"
		}
	}
	return failf("the stage's settings cannot be used: %s", strings.Join(lines, "; "))
}
