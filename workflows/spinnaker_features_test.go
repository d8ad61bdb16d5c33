package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// Features of Spinnaker's pipeline language that real pipelines use, run with the real Kubernetes
// activities against the local control plane.

func TestDeleteManifestByLabel(t *testing.T) {
	c := newOpsCluster(t, "wf-delete-label")
	c.deploy(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web-canary, labels: {app: web-canary}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web-canary}}
  template:
    metadata: {labels: {app: web-canary}}
    spec: {containers: [{name: web, image: "example.com/web:2"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-canary-config, labels: {app: web-canary}}
data: {a: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "example.com/web:1"}]}`)

	// As Deck writes it: no mode, kinds and a selector (the corpus' kayenta example).
	exec, err := c.run(pipelineJSON(opsStage("1", "deleteManifest", `"location": "wf-delete-label", "kinds": ["Deployment", "ConfigMap"],
		"labelSelectors": {"selectors": [{"key": "app", "kind": "EQUALS", "values": ["web-canary"]}]}, "options": {"cascading": true}`)), nil)
	outputs := c.succeeded(exec, err)
	byNamespace, _ := outputs["manifestNamesByNamespace"].(map[string]any)
	if got := byNamespace["wf-delete-label"]; len(got.([]any)) != 2 {
		t.Errorf("manifestNamesByNamespace %v, want the Deployment and the ConfigMap", outputs["manifestNamesByNamespace"])
	}
	if _, err := c.cs.AppsV1().Deployments(c.ns).Get(t.Context(), "web-canary", metav1.GetOptions{}); err == nil {
		t.Error("deployment web-canary is still there")
	}
	// The ConfigMap was versioned by the deploy; whatever its name, none is left with the label.
	if cms, _ := c.cs.CoreV1().ConfigMaps(c.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web-canary"}); len(cms.Items) != 0 {
		t.Errorf("configmaps left: %d", len(cms.Items))
	}
	if _, err := c.cs.AppsV1().Deployments(c.ns).Get(t.Context(), "web", metav1.GetOptions{}); err != nil {
		t.Errorf("deployment web, which the selector does not match, is gone: %v", err)
	}

	// A selection that matches nothing deletes nothing and succeeds.
	exec, err = c.run(pipelineJSON(opsStage("1", "deleteManifest", `"location": "wf-delete-label", "mode": "label", "kinds": ["deployment"],
		"labelSelectors": {"selectors": [{"key": "app", "kind": "EQUALS", "values": ["nothing"]}]}`)), nil)
	c.succeeded(exec, err)
}

func TestClusterSizePrecondition(t *testing.T) {
	c := newOpsCluster(t, "wf-cluster-size")
	c.deploy(opsDeployment("example.com/web:1"))
	check := func(comparison string, expected int) (pipeline.Execution, error) {
		return c.run(pipelineJSON(stageJSON("1", "checkPreconditions", nil, `"preconditions": [{"type": "clusterSize", "cloudProvider": "kubernetes",
			"context": {"credentials": "local", "cluster": "deployment web", "moniker": {"app": "shop"}, "regions": ["wf-cluster-size"],
			"comparison": "`+comparison+`", "expected": `+itoa(expected)+`}}]`)), nil)
	}
	exec, err := check("==", 1)
	c.succeeded(exec, err)
	exec, err = check(">=", 2)
	if err == nil || exec.Stage("1").Status != pipeline.StatusTerminal ||
		!strings.Contains(exec.Stage("1").Error, `expected >= 2 server groups of cluster "deployment web" in wf-cluster-size but found 1: [web]`) {
		t.Errorf("status %s, error %q", exec.Stage("1").Status, exec.Stage("1").Error)
	}
}

// A stage's own expectedArtifacts bind what it output, and a later stage uses them by id: here the
// versioned ConfigMap a "Deploy Config" stage created is bound into the next deploy.
func TestProducedArtifactsFeedLaterStages(t *testing.T) {
	c := newOpsCluster(t, "wf-produced")
	configStage := opsStage("1", "deployManifest", `"namespaceOverride": "wf-produced",
		"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"greeting": "hello"}}],
		"expectedArtifacts": [{"id": "config", "matchArtifact": {"type": "kubernetes/configMap", "name": "web-config"}}]`)
	deployStage := opsStage("2", "deployManifest", `"namespaceOverride": "wf-produced", "requiredArtifactIds": ["config"],
		"manifests": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1,
			"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
				"containers": [{"name": "web", "image": "example.com/web:1", "envFrom": [{"configMapRef": {"name": "web-config"}}]}]}}}}]`, "1")
	var required []string
	exec, err := c.run(pipelineJSON(configStage, deployStage), func(env *testsuite.TestWorkflowEnvironment, real *activities.Kubernetes) {
		env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in activities.DeployManifestInput) (activities.DeployManifestResult, error) {
				for _, a := range in.Deploy.RequiredArtifacts {
					required = append(required, a.Type+" "+a.Reference)
				}
				return real.DeployManifest(ctx, in)
			})
	})
	c.succeeded(exec, err)
	bound := pipeline.ExpectedArtifactsIn(exec.Stage("1").Outputs["resolvedExpectedArtifacts"])
	if len(bound) != 1 || bound[0].BoundArtifact == nil || bound[0].BoundArtifact.Reference != "web-config-v000" {
		t.Errorf("stage 1 bound %+v", bound)
	}
	if len(required) != 1 || required[0] != "kubernetes/configMap web-config-v000" {
		t.Errorf("the second deploy required %v, want the versioned ConfigMap", required)
	}
	d, err := c.cs.AppsV1().Deployments(c.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := d.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name; ref != "web-config-v000" {
		t.Errorf("the Deployment reads ConfigMap %s, want web-config-v000", ref)
	}
}
