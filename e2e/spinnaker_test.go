package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSpinnakerStyleCanary runs examples/canary-cleanup.json, written the way Spinnaker users write
// a Kubernetes canary, on the local cluster of gennaker dev: a config whose versioned name the
// canary takes through an artifact the first stage produces, a clusterSize precondition, a runJob
// described by containers, the canary's image found again with a selection expression, a
// stageStatus precondition, and a cleanup by label selector.
func TestSpinnakerStyleCanary(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := newDevProcess(t)
	api := p.start()
	api.savePipeline("shop", "canary-cleanup", readExample(t, "canary-cleanup.json"))

	run := api.startExecution("shop", "canary-cleanup", map[string]any{"user": "ana", "parameters": map[string]any{"image": "nginx:1.29"}})
	done := api.waitUntilDone(run.ID, 3*time.Minute)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("ended %s: %s", done.Status, done.describe())
	}
	if got := done.mustStage(t, "6").Outputs["canaryImage"]; got != "nginx:1.29" {
		t.Errorf("canaryImage %v", got)
	}
	deployed, _ := done.mustStage(t, "2").Outputs["boundArtifacts"].([]any)
	if text, _ := json.Marshal(deployed); !strings.Contains(string(text), "shop-config-v000") {
		t.Errorf("the canary was bound %v, want the versioned config", done.mustStage(t, "2").Outputs["boundArtifacts"])
	}
	cs := localCluster(t, p)
	if _, err := cs.AppsV1().Deployments("default").Get(t.Context(), "shop-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the canary is still there after its cleanup: %v", err)
	}
	jobs, err := cs.BatchV1().Jobs("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var smoke []string
	for _, j := range jobs.Items {
		if strings.HasPrefix(j.Name, "shop-") && j.Status.Succeeded == 1 {
			smoke = append(smoke, j.Name+" "+j.Spec.Template.Spec.Containers[0].Image)
		}
	}
	if len(smoke) != 1 || !strings.HasSuffix(smoke[0], "docker.io/curlimages/curl:8.10.1") {
		t.Errorf("smoke test jobs %v", smoke)
	}
}
