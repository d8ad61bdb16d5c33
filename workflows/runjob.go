package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// defaultJobTimeout bounds the wait for a Job when the stage sets no stageTimeoutMs: jobs such as
// migrations and test suites take longer than rollouts.
const defaultJobTimeout = 2 * time.Hour

// runRunJob runs the stage's Job to its end and publishes what it printed: the outputs at the top
// level of the stage's outputs, with the Job's status and the ends of its logs. A Job that fails
// makes the stage fail with the controller's reason and the end of the failed pod's log.
func runRunJob(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.RunJobStage) (map[string]any, error) {
	manifest, err := r.jobManifest(ctx, st, s)
	if err != nil {
		return nil, err
	}
	start := activities.StartJobInput{
		Account:           s.Account,
		Manifest:          manifest,
		Application:       r.exec.Application,
		NamespaceOverride: s.Namespace,
		ExecutionID:       r.exec.ID,
		StageRefID:        st.cfg.RefID,
	}
	// As a deploy does, the Job gets the trigger's images where it runs them, and must get the
	// artifacts it requires.
	for _, a := range r.exec.Trigger.Artifacts {
		start.Artifacts = append(start.Artifacts, bindingArtifact(a))
	}
	for _, src := range s.RequiredArtifacts {
		a, err := r.artifactOf(st, src)
		if err != nil {
			return nil, err
		}
		start.RequiredArtifacts = append(start.RequiredArtifacts, bindingArtifact(a))
	}
	var k8s *activities.Kubernetes
	// The Job's name depends only on the execution and the stage, so a retry applies the same Job.
	startCtx := deployActivity(ctx)
	var started activities.StartJobResult
	if err := workflow.ExecuteActivity(startCtx, k8s.StartJob, start).Get(ctx, &started); err != nil {
		return nil, err
	}
	job := started.Job
	outputs := activities.CollectJobOutputsResult{JobStatus: activities.JobStatus{
		Name: job.Name, Namespace: job.Namespace, Phase: activities.JobPhaseRunning,
	}}.StageOutputs()

	limit := defaultJobTimeout
	if t := stageTimeout(st.cfg); t > 0 {
		limit = t
	}
	waitCtx := waitingKubernetes(ctx, limit)
	waitErr := workflow.ExecuteActivity(waitCtx, k8s.WaitForManifests, activities.WaitForManifestsInput{
		Account: s.Account,
		Objects: []cloud.Resource{job},
	}).Get(ctx, nil)
	var waitAppErr *temporal.ApplicationError
	if waitErr != nil && !errors.As(waitErr, &waitAppErr) {
		// Timed out or cancelled: the Job has not ended, and has no outputs to read.
		return outputs, waitErr
	}

	// Read as well when the wait failed: a failed Job's log says why.
	collectCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 5},
	})
	var collected activities.CollectJobOutputsResult
	err = workflow.ExecuteActivity(collectCtx, k8s.CollectJobOutputs, activities.CollectJobOutputsInput{
		Account:      s.Account,
		Job:          job,
		PropertyFile: s.PropertyFile,
		LogTailBytes: s.LogTailBytes,
		NoOutputs:    s.Outputs == pipeline.JobOutputsNone,
	}).Get(ctx, &collected)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil && waitErr != nil:
		// The Job did not fail after all, yet waiting for it did: say why the wait failed.
		return collected.StageOutputs(), waitErr
	case err == nil:
		return collected.StageOutputs(), nil
	case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeJobFailed && appErr.HasDetails():
		if detailsErr := appErr.Details(&collected); detailsErr == nil {
			return collected.StageOutputs(), err
		}
		return outputs, err
	case waitErr != nil:
		// The wait's failure says what went wrong with the Job; not being able to read its logs
		// afterwards is secondary.
		return outputs, waitErr
	}
	return outputs, err
}

// jobManifest is the Job a run-job stage runs: written in the stage, or read from an artifact
// holding exactly one Job, its expressions evaluated as the stage's are.
func (r *interpreter) jobManifest(ctx workflow.Context, st *stageRun, s pipeline.RunJobStage) (map[string]any, error) {
	if s.FromArtifact == nil {
		return s.Manifest, nil
	}
	manifests, err := r.stageManifests(ctx, st, nil, s.FromArtifact, s.SkipExpressionEvaluation)
	if err != nil {
		return nil, err
	}
	if len(manifests) != 1 {
		return nil, failf("the artifact holds %d manifests; a run-job stage runs exactly one Job", len(manifests))
	}
	job, _ := manifests[0].(map[string]any)
	if _, problems := pipeline.RunJobManifestStageType.Read(map[string]any{"account": s.Account, "manifest": manifests[0]}, ""); len(problems) > 0 || job == nil {
		return nil, settingsFailure(problems)
	}
	return job, nil
}
