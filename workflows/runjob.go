package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/pipeline"
)

// defaultJobTimeout bounds the wait for a Job when the stage sets no stageTimeoutMs: jobs such as
// migrations and test suites take longer than rollouts.
const defaultJobTimeout = 2 * time.Hour

// runJobSettings are a runJobManifest stage's settings, read from its evaluated context.
type runJobSettings struct {
	account      string
	manifest     map[string]any
	namespace    string
	propertyFile string
	logTailBytes int64
}

// readRunJobSettings reads the settings validation checked at save time, now that expressions are
// evaluated; what is wrong with them fails the stage without starting anything.
func readRunJobSettings(sc map[string]any) (runJobSettings, error) {
	s := runJobSettings{}
	s.account, _ = sc["account"].(string)
	if s.account == "" {
		return s, failf("runJobManifest needs an account")
	}
	switch m := sc["manifest"].(type) {
	case map[string]any:
		s.manifest = m
	case nil:
		list, _ := sc["manifests"].([]any)
		if len(list) != 1 {
			return s, failf("runJobManifest needs one Job, in manifest (or alone in manifests), not %d manifests", len(list))
		}
		if s.manifest, _ = list[0].(map[string]any); s.manifest == nil {
			return s, failf("runJobManifest's manifests[0] is not an object")
		}
	default:
		return s, failf("runJobManifest's manifest is not an object but %T", m)
	}
	s.namespace, _ = sc["namespaceOverride"].(string)
	if s.namespace == "" {
		s.namespace, _ = sc["location"].(string)
	}
	s.propertyFile, _ = sc["propertyFile"].(string)
	if v, ok := sc["logTailBytes"]; ok && v != nil {
		n, err := number(v)
		if err != nil || n < 1 || n > pipeline.MaxRunJobLogTailBytes || n != float64(int64(n)) {
			return s, failf("logTailBytes must be a whole number of bytes from 1 to %d, got %v", pipeline.MaxRunJobLogTailBytes, v)
		}
		s.logTailBytes = int64(n)
	}
	return s, nil
}

// runRunJobManifest runs the stage's Job to its end and publishes what it printed: the outputs
// at the top level of the stage's outputs, with the Job's status and the ends of its logs. A Job
// that fails makes the stage fail with the controller's reason and the end of the failed pod's log.
func runRunJobManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	s, err := readRunJobSettings(sc)
	if err != nil {
		return nil, err
	}
	var k8s *activities.Kubernetes
	// The Job's name depends only on the execution and the stage, so a retry applies the same Job.
	startCtx := deployActivity(ctx)
	var started activities.StartJobResult
	if err := workflow.ExecuteActivity(startCtx, k8s.StartJob, activities.StartJobInput{
		Account:           s.account,
		Manifest:          s.manifest,
		Application:       r.exec.Application,
		NamespaceOverride: s.namespace,
		ExecutionID:       r.exec.ID,
		StageRefID:        st.cfg.RefID,
	}).Get(ctx, &started); err != nil {
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
		Account: s.account,
		Objects: []kubernetes.AppliedObject{job},
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
		Account:      s.account,
		Job:          job,
		PropertyFile: s.propertyFile,
		LogTailBytes: s.logTailBytes,
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
