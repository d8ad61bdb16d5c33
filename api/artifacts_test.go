package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// An expected artifact with usePriorArtifact binds, when the trigger brings none, the artifact the
// pipeline's previous execution had (as Spinnaker does for pipelines whose image only some
// triggers bring).
func TestUsePriorArtifact(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	e.savePipeline(t, "prior", "release", map[string]any{
		"expectedArtifacts": []any{map[string]any{"id": "image", "usePriorArtifact": true,
			"matchArtifact": map[string]any{"type": "docker/image", "name": "example.com/web"}}},
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables", "name": "Image",
			"variables": []any{map[string]any{"key": "image", "value": "${trigger.resolvedExpectedArtifacts[0].boundArtifact.reference}"}}}},
	})
	// With nothing before it and nothing brought, the artifact cannot be bound.
	got := e.post(t, pipelinePath("prior", "release")+"/executions", map[string]any{}).expectError(t, http.StatusBadRequest)
	if !strings.Contains(strings.Join(got.Details, " "), "nor the previous execution's") {
		t.Errorf("400 %q %q", got.Error, got.Details)
	}

	first := e.start(t, "prior", "release", map[string]any{"artifacts": []any{
		map[string]any{"type": "docker/image", "name": "example.com/web", "reference": "example.com/web:1.4"}}})
	done := e.waitFor(t, first.ID, time.Minute, "the first execution", statusIs("SUCCEEDED"))
	if img := done.stage(t, "1").Outputs["image"]; img != "example.com/web:1.4" {
		t.Fatalf("first execution bound %v", img)
	}
	second := e.start(t, "prior", "release", map[string]any{})
	done = e.waitFor(t, second.ID, time.Minute, "the second execution", statusIs("SUCCEEDED"))
	if img := done.stage(t, "1").Outputs["image"]; img != "example.com/web:1.4" {
		t.Errorf("second execution bound %v, want the first one's image", img)
	}
}

// findArtifactFromExecution binds an artifact of another pipeline's latest successful execution,
// named by the pipeline's id as Deck writes it, and later stages use it by id.
func TestFindArtifactFromExecutionThroughTheAPI(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	// A stage's output "artifacts" is what Spinnaker gathers from an execution.
	producer := e.savePipeline(t, "finder", "deploy-prod", map[string]any{
		"id": "6a4cff2e-8265-4584-8993-2da2eb6254f5",
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables", "variables": []any{map[string]any{"key": "artifacts",
			"value": []any{map[string]any{"type": "kubernetes/configMap", "name": "web-config", "reference": "web-config-v003", "location": "prod"}}}}}},
	})
	if producer.ID != "6a4cff2e-8265-4584-8993-2da2eb6254f5" {
		t.Fatalf("the pipeline's own id was not kept: %s", producer.ID)
	}
	run := e.start(t, "finder", "deploy-prod", nil)
	e.waitFor(t, run.ID, time.Minute, "the producer", statusIs("SUCCEEDED"))

	e.savePipeline(t, "finder", "canary", map[string]any{
		"stages": []any{
			map[string]any{"refId": "1", "type": "findArtifactFromExecution", "name": "Find Baseline Version", "application": "finder",
				"pipeline": producer.ID, "executionOptions": map[string]any{"successful": true},
				"expectedArtifact": map[string]any{"id": "baseline", "matchArtifact": map[string]any{"type": "kubernetes/configMap", "name": "web-config"}}},
			map[string]any{"refId": "2", "requisiteStageRefIds": []any{"1"}, "type": "evaluateVariables",
				"variables": []any{map[string]any{"key": "baseline", "value": "${#stage('Find Baseline Version').outputs.artifacts[0].reference}"}}},
		},
	})
	canary := e.start(t, "finder", "canary", nil)
	done := e.waitFor(t, canary.ID, time.Minute, "the canary pipeline", statusIs("SUCCEEDED"))
	if got := done.stage(t, "2").Outputs["baseline"]; got != "web-config-v003" {
		t.Errorf("baseline %v", got)
	}
	if got := done.stage(t, "1").Outputs["executionId"]; got != run.ID {
		t.Errorf("found in execution %v, want %s", got, run.ID)
	}
}
