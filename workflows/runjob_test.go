package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

const runJobFields = `"account": "local", "namespaceOverride": "${parameters.env}", "propertyFile": "main", "logTailBytes": 4096,
	"manifest": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"},
		"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "migrate:${parameters.env}"}]}}}}`

var startedJob = cloud.Resource{APIVersion: "batch/v1", Kind: "Job", Namespace: "prod", Name: "migrate-bcdfghjk", UID: "uid-1"}

func TestRunJobStagePublishesTheJobsOutputs(t *testing.T) {
	stages := []string{
		stageJSON("1", "runJobManifest", nil, runJobFields),
		stageJSON("2", "evaluateVariables", []string{"1"}, `"variables": [{"key": "deployed", "value": "version ${VERSION} (${jobStatus.phase})"}]`),
	}
	var start activities.StartJobInput
	var collect activities.CollectJobOutputsInput
	exec, err := run(t, pipelineJSON(stages...), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&activities.Kubernetes{})
		env.OnActivity("StartJob", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StartJobInput) (activities.StartJobResult, error) {
			start = in
			return activities.StartJobResult{Job: startedJob}, nil
		})
		env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{startedJob}}).
			Return(activities.WaitForManifestsResult{}, nil)
		env.OnActivity("CollectJobOutputs", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CollectJobOutputsInput) (activities.CollectJobOutputsResult, error) {
			collect = in
			return activities.CollectJobOutputsResult{
				Outputs:   map[string]any{"VERSION": "1.2.3"},
				JobStatus: activities.JobStatus{Name: startedJob.Name, Namespace: "prod", Phase: activities.JobPhaseSucceeded, Succeeded: 1},
				Logs:      map[string]string{"migrate-bcdfghjk-x1/main": "SPINNAKER_PROPERTY_VERSION=1.2.3\n"},
			}, nil
		})
	})
	if err != nil {
		t.Fatalf("execution failed: %v (stage 1: %q)", err, exec.Stage("1").Error)
	}
	if start.Account != "local" || start.NamespaceOverride != "prod" || start.Application != "shop" || start.StageRefID != "1" || start.ExecutionID == "" {
		t.Errorf("start input %+v", start)
	}
	containers := start.Manifest["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	if image := containers[0].(map[string]any)["image"]; image != "migrate:prod" {
		t.Errorf("manifest expressions not evaluated: image %v", image)
	}
	if collect.Job != startedJob || collect.PropertyFile != "main" || collect.LogTailBytes != 4096 || collect.Account != "local" {
		t.Errorf("collect input %+v", collect)
	}
	out := exec.Stage("1").Outputs
	if out["VERSION"] != "1.2.3" {
		t.Errorf("stage outputs %v, want VERSION at the top level", out)
	}
	if status, _ := out[activities.OutputJobStatus].(map[string]any); status["phase"] != activities.JobPhaseSucceeded || status["name"] != startedJob.Name {
		t.Errorf("jobStatus %v", out[activities.OutputJobStatus])
	}
	if jobs, _ := out[activities.OutputDeployJobs].(map[string]any); len(jobs) != 1 || jobs["prod"] == nil {
		t.Errorf("deploy.jobs %v", out[activities.OutputDeployJobs])
	}
	if got := exec.Stage("2").Outputs["deployed"]; got != "version 1.2.3 (Succeeded)" {
		t.Errorf("a later stage read %q, want the job's output", got)
	}
}

func TestRunJobStageFailureSaysWhyWithTheLog(t *testing.T) {
	const why = "job migrate-bcdfghjk in prod failed: BackoffLimitExceeded: Job has reached the specified backoff limit; " +
		"pod migrate-bcdfghjk-x1: failed; container main exited with code 1\nend of the log of pod migrate-bcdfghjk-x1:\n" +
		"==> migrate-bcdfghjk-x1/main <==\nfatal: the database refused the connection"
	stages := []string{
		stageJSON("1", "runJobManifest", nil, runJobFields),
		wait("2", 1, "1"),
	}
	exec, err := run(t, pipelineJSON(stages...), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&activities.Kubernetes{})
		env.OnActivity("StartJob", mock.Anything, mock.Anything).Return(activities.StartJobResult{Job: startedJob}, nil)
		env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{},
			temporal.NewNonRetryableApplicationError("Job migrate-bcdfghjk in prod failed: BackoffLimitExceeded", "RolloutFailed", nil))
		env.OnActivity("CollectJobOutputs", mock.Anything, mock.Anything).Return(activities.CollectJobOutputsResult{},
			temporal.NewNonRetryableApplicationError(why, activities.ErrTypeJobFailed, nil, activities.CollectJobOutputsResult{
				JobStatus: activities.JobStatus{Name: startedJob.Name, Namespace: "prod", Phase: activities.JobPhaseFailed, Failed: 1},
				Logs:      map[string]string{"migrate-bcdfghjk-x1/main": "fatal: the database refused the connection\n"},
			}))
	})
	if err == nil {
		t.Fatal("the execution succeeded with a failed job")
	}
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusTerminal, "2": pipeline.StatusNotStarted})
	if got := exec.Stage("1").Error; got != why {
		t.Errorf("stage error %q, want %q", got, why)
	}
	out := exec.Stage("1").Outputs
	if status, _ := out[activities.OutputJobStatus].(map[string]any); status["phase"] != activities.JobPhaseFailed {
		t.Errorf("jobStatus %v, want the failed job's", out[activities.OutputJobStatus])
	}
	if logs, _ := out[activities.OutputJobLogs].(map[string]any); len(logs) != 1 {
		t.Errorf("logs %v, want the failed pod's", out[activities.OutputJobLogs])
	}
}

func TestRunJobStageReportsTheFailedWaitWhenLogsCannotBeRead(t *testing.T) {
	exec, err := run(t, pipelineJSON(stageJSON("1", "runJobManifest", nil, runJobFields)), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&activities.Kubernetes{})
		env.OnActivity("StartJob", mock.Anything, mock.Anything).Return(activities.StartJobResult{Job: startedJob}, nil)
		env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{},
			temporal.NewNonRetryableApplicationError("Job migrate-bcdfghjk in prod failed: DeadlineExceeded", "RolloutFailed", nil))
		env.OnActivity("CollectJobOutputs", mock.Anything, mock.Anything).Return(activities.CollectJobOutputsResult{}, errors.New("the API server is unreachable"))
	})
	if err == nil || exec.Stage("1").Status != pipeline.StatusTerminal || !strings.Contains(exec.Stage("1").Error, "DeadlineExceeded") {
		t.Errorf("status %s, error %q; want TERMINAL with the wait's reason", exec.Stage("1").Status, exec.Stage("1").Error)
	}
	if status, _ := exec.Stage("1").Outputs[activities.OutputJobStatus].(map[string]any); status["name"] != startedJob.Name {
		t.Errorf("outputs %v, want at least the job's name", exec.Stage("1").Outputs)
	}
}

func TestRunJobStageRefusesBadInputWithoutRetrying(t *testing.T) {
	t.Run("evaluated manifest is not an object", func(t *testing.T) {
		// No activity is registered: the stage must fail before starting anything.
		exec, err := run(t, pipelineJSON(stageJSON("1", "runJobManifest", nil, `"account": "local", "manifest": "${parameters.env}"`)), nil)
		if err == nil || exec.Stage("1").Status != pipeline.StatusTerminal || !strings.Contains(exec.Stage("1").Error, "manifest: must be an object") {
			t.Errorf("status %s, error %q", exec.Stage("1").Status, exec.Stage("1").Error)
		}
	})
	t.Run("evaluated logTailBytes is out of bounds", func(t *testing.T) {
		exec, err := run(t, pipelineJSON(stageJSON("1", "runJobManifest", nil, strings.Replace(runJobFields, `"logTailBytes": 4096`, `"logTailBytes": "${parameters.env}"`, 1))), nil)
		if err == nil || !strings.Contains(exec.Stage("1").Error, "logTailBytes: must be a whole number") {
			t.Errorf("status %s, error %q", exec.Stage("1").Status, exec.Stage("1").Error)
		}
	})
	t.Run("the activity refuses the manifest", func(t *testing.T) {
		calls := 0
		exec, err := run(t, pipelineJSON(stageJSON("1", "runJobManifest", nil, runJobFields)), func(env *testsuite.TestWorkflowEnvironment) {
			env.RegisterActivity(&activities.Kubernetes{})
			env.OnActivity("StartJob", mock.Anything, mock.Anything).Return(func(context.Context, activities.StartJobInput) (activities.StartJobResult, error) {
				calls++
				return activities.StartJobResult{}, temporal.NewNonRetryableApplicationError("job migrate already exists in prod and was created by execution 01X, stage 1",
					activities.ErrTypeJobExists, nil)
			})
		})
		if err == nil || exec.Stage("1").Status != pipeline.StatusTerminal || !strings.Contains(exec.Stage("1").Error, "already exists") || calls != 1 {
			t.Errorf("status %s, error %q, %d calls; want TERMINAL after one call", exec.Stage("1").Status, exec.Stage("1").Error, calls)
		}
	})
}
