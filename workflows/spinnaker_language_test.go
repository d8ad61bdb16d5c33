package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

func TestStageStatusPrecondition(t *testing.T) {
	exec, err := run(t, pipelineJSON(
		stageJSON("1", "checkPreconditions", nil, `"name": "Gate", "continuePipeline": true,
			"preconditions": [{"type": "expression", "context": {"expression": "false"}}]`),
		stageJSON("2", "checkPreconditions", []string{"1"}, `"preconditions": [
			{"type": "stageStatus", "context": {"stageName": "Gate", "stageStatus": "FAILED_CONTINUE"}}]`),
		stageJSON("3", "checkPreconditions", []string{"2"}, `"preconditions": [
			{"type": "stageStatus", "context": {"stageName": "Gate", "stageStatus": "SUCCEEDED"}, "failPipeline": false},
			{"type": "stageStatus", "context": {"stageName": "Nowhere", "stageStatus": "SUCCEEDED"}, "failPipeline": false}]`),
	), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusFailedContinue, "2": pipeline.StatusSucceeded, "3": pipeline.StatusFailedContinue})
	if e := exec.Stage("3").Error; !strings.Contains(e, `the status of stage "Gate" was asserted to be SUCCEEDED, but was actually FAILED_CONTINUE`) ||
		!strings.Contains(e, `the execution has no stage named "Nowhere"`) {
		t.Errorf("stage 3 error %q", e)
	}
}

func TestFindArtifactFromExecution(t *testing.T) {
	stage := stageJSON("1", "findArtifactFromExecution", nil, `"application": "shop", "pipeline": "prod-deploy-id",
		"executionOptions": {"successful": true},
		"expectedArtifact": {"id": "baseline-config", "matchArtifact": {"type": "kubernetes/configMap", "name": "web-config"}}`)
	use := stageJSON("2", "evaluateVariables", []string{"1"}, `"variables": [{"key": "ref", "value": "${#stage('findArtifactFromExecution 1').outputs.artifacts[0].reference}"}]`)
	found := []pipeline.Artifact{
		{Type: "kubernetes/deployment", Name: "web", Reference: "web"},
		{Type: "kubernetes/configMap", Name: "web-config", Reference: "web-config-v007", Location: "prod"},
		{Type: "kubernetes/configMap", Name: "web-config", Reference: "web-config-v006", Location: "prod"},
	}
	var asked activities.ExecutionArtifactsInput
	exec, err := run(t, pipelineJSON(stage, use), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&activities.PastExecutions{})
		env.OnActivity("ExecutionArtifacts", mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.ExecutionArtifactsInput) (activities.ExecutionArtifactsResult, error) {
				asked = in
				return activities.ExecutionArtifactsResult{ExecutionID: "01PREVIOUS", Pipeline: "shop/prod-deploy", Artifacts: found}, nil
			})
	})
	if err != nil {
		t.Fatal(err)
	}
	if asked.Pipeline != "prod-deploy-id" || len(asked.Statuses) != 1 || asked.Statuses[0] != "SUCCEEDED" || asked.SkipStage != "" {
		t.Errorf("asked for %+v", asked)
	}
	if got := exec.Stage("2").Outputs["ref"]; got != "web-config-v007" {
		t.Errorf("the later stage read %v, want the newest ConfigMap version", got)
	}
	bound := pipeline.ExpectedArtifactsIn(exec.Stage("1").Outputs["resolvedExpectedArtifacts"])
	if len(bound) != 1 || bound[0].ID != "baseline-config" || bound[0].BoundArtifact.Reference != "web-config-v007" {
		t.Errorf("bound %+v", bound)
	}

	// Nothing to find fails the stage, saying where it looked.
	exec, _ = run(t, pipelineJSON(stage), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&activities.PastExecutions{})
		env.OnActivity("ExecutionArtifacts", mock.Anything, mock.Anything).Return(activities.ExecutionArtifactsResult{Pipeline: "shop/prod-deploy"}, nil)
	})
	if s := exec.Stage("1"); s.Status != pipeline.StatusTerminal || !strings.Contains(s.Error, "no execution of shop/prod-deploy matches") {
		t.Errorf("status %s, error %q", s.Status, s.Error)
	}
}

func TestChildPipelineUsesPriorArtifact(t *testing.T) {
	// The child checks what it was started with: the image its previous execution had.
	child := `{"application": "shop", "name": "child", "id": "child-id",
		"expectedArtifacts": [{"id": "image", "matchArtifact": {"type": "docker/image", "name": "example.com/web"}, "usePriorArtifact": true}],
		"stages": [{"refId": "1", "type": "checkPreconditions", "preconditions": [{"type": "expression",
			"context": {"expression": "trigger.resolvedExpectedArtifacts[0].boundArtifact.reference == 'example.com/web:41'"}}]}]}`
	exec, err := run(t, pipelineJSON(stageJSON("1", "pipeline", nil, `"application": "shop", "pipeline": "child"`)), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&activities.PastExecutions{})
		env.OnActivity("LoadPipeline", mock.Anything, mock.Anything).Return(activities.LoadPipelineResult{Pipeline: decode(t, child), Version: 1}, nil)
		env.OnActivity("ExecutionArtifacts", mock.Anything, activities.ExecutionArtifactsInput{Application: "shop", Pipeline: "child"}).Return(
			activities.ExecutionArtifactsResult{ExecutionID: "01OLD", Artifacts: []pipeline.Artifact{{Type: "docker/image", Name: "example.com/web", Reference: "example.com/web:41"}}}, nil)
	})
	if err != nil {
		t.Fatalf("%v: %s", err, exec.Stage("1").Error)
	}
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
}

func TestRunJobFromContainers(t *testing.T) {
	// Spinnaker's first Kubernetes provider described a job by its containers (corpus 050, 072).
	stage := stageJSON("1", "runJob", nil, `"account": "local", "cloudProvider": "kubernetes", "application": "myapp", "namespace": "canary",
		"annotations": {"sidecar.istio.io/inject": "false"}, "labels": {}, "dnsPolicy": "ClusterFirst",
		"container": {"name": "smoke", "command": ["curl", "http://myapp:80"], "args": [], "envVars": [{"name": "MODE", "value": "fast"}],
			"imageDescription": {"registry": "index.docker.io", "repository": "acme/app", "tag": "build.*", "fromTrigger": true},
			"imagePullPolicy": "IFNOTPRESENT", "limits": {"cpu": "1"}, "volumeMounts": []}`)
	var in activities.StartJobInput
	exec, _ := run(t, pipelineJSON(stage), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&activities.Kubernetes{})
		env.OnActivity("StartJob", mock.Anything, mock.Anything).Return(func(_ context.Context, got activities.StartJobInput) (activities.StartJobResult, error) {
			in = got
			return activities.StartJobResult{Job: cloud.Resource{APIVersion: "batch/v1", Kind: "Job", Namespace: "canary", Name: "myapp-bcdfghjk"}}, nil
		})
		env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
		env.OnActivity("CollectJobOutputs", mock.Anything, mock.Anything).Return(activities.CollectJobOutputsResult{}, nil)
	})
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	metadata, _ := in.Manifest["metadata"].(map[string]any)
	spec, _ := in.Manifest["spec"].(map[string]any)
	template, _ := spec["template"].(map[string]any)
	podSpec, _ := template["spec"].(map[string]any)
	containers, _ := podSpec["containers"].([]any)
	if in.Manifest["kind"] != "Job" || metadata["generateName"] != "myapp-" || metadata["namespace"] != "canary" || len(containers) != 1 {
		t.Fatalf("the job %v", in.Manifest)
	}
	c := containers[0].(map[string]any)
	env, _ := c["env"].([]any)
	if c["image"] != "index.docker.io/acme/app:build.*" || c["imagePullPolicy"] != "IfNotPresent" || len(env) != 1 || podSpec["restartPolicy"] != "Never" {
		t.Errorf("the container %v, pod %v", c, podSpec)
	}
}

func TestPipelineIDAndCurrentStageExpressions(t *testing.T) {
	exec, err := run(t, pipelineJSON(stageJSON("1", "evaluateVariables", nil, `"name": "Who am I",
		"variables": [{"key": "target", "value": "${#pipelineId('release')}"}, {"key": "me", "value": "${#currentStage().name}"}]`)),
		func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity("PipelineIDs", mock.Anything, activities.PipelineIDsInput{Application: "shop"}).Return(
				activities.PipelineIDsResult{IDs: map[string]string{"release": "9f0c", "deploy": "11aa"}}, nil)
		})
	if err != nil {
		t.Fatal(err)
	}
	if out := exec.Stage("1").Outputs; out["target"] != "9f0c" || out["me"] != "Who am I" {
		t.Errorf("outputs %v", out)
	}
}

// runJobManifest with source artifact runs the one Job the artifact holds, its expressions
// evaluated as the stage's are; an artifact holding something else fails the stage.
func TestRunJobManifestFromAnArtifact(t *testing.T) {
	job := map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"generateName": "migrate-"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "main", "image": "example.com/migrate:${parameters.env}"}}}}}}
	stage := stageJSON("1", "runJobManifest", nil, `"account": "local", "source": "artifact",
		"manifestArtifact": {"type": "http/file", "reference": "https://config.example.com/job.yaml"}`)
	for _, tc := range []struct {
		name      string
		manifests []any
		want      pipeline.Status
		check     func(t *testing.T, in activities.StartJobInput, s *pipeline.StageExecution)
	}{
		{"one job", []any{job}, pipeline.StatusSucceeded, func(t *testing.T, in activities.StartJobInput, _ *pipeline.StageExecution) {
			spec, _ := in.Manifest["spec"].(map[string]any)
			template, _ := spec["template"].(map[string]any)
			podSpec, _ := template["spec"].(map[string]any)
			c := podSpec["containers"].([]any)[0].(map[string]any)
			if c["image"] != "example.com/migrate:prod" {
				t.Errorf("the job started %v", in.Manifest)
			}
		}},
		{"two manifests", []any{job, job}, pipeline.StatusTerminal, func(t *testing.T, _ activities.StartJobInput, s *pipeline.StageExecution) {
			if !strings.Contains(s.Error, "the artifact holds 2 manifests; a run-job stage runs exactly one Job") {
				t.Errorf("error %q", s.Error)
			}
		}},
		{"not a job", []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}}, pipeline.StatusTerminal,
			func(t *testing.T, _ activities.StartJobInput, s *pipeline.StageExecution) {
				if !strings.Contains(s.Error, `manifest.kind: must be Job, not "ConfigMap"`) {
					t.Errorf("error %q", s.Error)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var started activities.StartJobInput
			exec, _ := run(t, pipelineJSON(stage), func(env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivity(&activities.Artifacts{})
				env.RegisterActivity(&activities.Kubernetes{})
				env.OnActivity("FetchManifests", mock.Anything, mock.Anything).Return(activities.FetchManifestsResult{Manifests: tc.manifests}, nil)
				env.OnActivity("StartJob", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StartJobInput) (activities.StartJobResult, error) {
					started = in
					return activities.StartJobResult{Job: cloud.Resource{APIVersion: "batch/v1", Kind: "Job", Namespace: "default", Name: "migrate-bcdfghjk"}}, nil
				})
				env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
				env.OnActivity("CollectJobOutputs", mock.Anything, mock.Anything).Return(activities.CollectJobOutputsResult{}, nil)
			})
			s := exec.Stage("1")
			if s.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", s.Status, s.Error, tc.want)
			}
			tc.check(t, started, s)
		})
	}
}
