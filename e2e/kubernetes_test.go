package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDeployToLocalCluster saves examples/deploy-web.json, runs it against the local cluster that
// gennaker dev starts as account "local", and checks the cluster really holds what the execution
// says it deployed; a second run with other settings makes a new config version and rolls it out.
func TestDeployToLocalCluster(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := newDevProcess(t)
	api := p.start()
	api.savePipeline("web", "deploy", readExample(t, "deploy-web.json"))

	first := api.startExecution("web", "deploy", map[string]any{"user": "ana"})
	done := api.waitUntilDone(first.ID, 3*time.Minute)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("deploy ended %s: %s", done.Status, done.describe())
	}
	byNS, _ := done.mustStage(t, "1").Outputs["manifestNamesByNamespace"].(map[string]any)
	if got := toStrings(byNS["default"]); strings.Join(got, ",") != "configMap web-config-v000,deployment web" {
		t.Errorf("deployed %v", byNS)
	}

	cs := localCluster(t, p)
	d, err := cs.AppsV1().Deployments("default").Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas != 2 || d.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name != "web-config-v000" {
		t.Errorf("deployment: %d available, config %q", d.Status.AvailableReplicas, d.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name)
	}
	if d.Annotations["gennaker.io/execution-id"] != first.ID || d.Annotations["moniker.spinnaker.io/application"] != "web" {
		t.Errorf("deployment annotations %v", d.Annotations)
	}

	second := api.startExecution("web", "deploy", map[string]any{"user": "bo", "parameters": map[string]any{"greeting": "bonjour", "image": "nginx:1.28"}})
	if done := api.waitUntilDone(second.ID, 3*time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("second deploy ended %s: %s", done.Status, done.describe())
	}
	cm, err := cs.CoreV1().ConfigMaps("default").Get(t.Context(), "web-config-v001", metav1.GetOptions{})
	if err != nil || cm.Data["greeting"] != "bonjour" {
		t.Fatalf("new config version: %v %v", cm, err)
	}
	d, _ = cs.AppsV1().Deployments("default").Get(t.Context(), "web", metav1.GetOptions{})
	if d.Spec.Template.Spec.Containers[0].Image != "nginx:1.28" || d.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name != "web-config-v001" {
		t.Errorf("deployment after the second deploy: image %s, config %s", d.Spec.Template.Spec.Containers[0].Image, d.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name)
	}

	// A deploy to an account nobody configured is refused when the pipeline is saved.
	bad := readExample(t, "deploy-web.json")
	bad["stages"].([]any)[0].(map[string]any)["account"] = "production"
	status, body := api.do("PUT", "/api/v1/applications/web/pipelines/deploy", bad)
	if status != 400 || !strings.Contains(string(body), `unknown account \"production\"`) {
		t.Errorf("saving with an unknown account: %d %s", status, body)
	}

	// Manifests can come with the trigger: an embedded/base64 artifact matched to the pipeline's
	// expected artifact, its expressions evaluated like inline manifests.
	file := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-artifact\ndata:\n  who: ${trigger.user}\n"
	api.savePipeline("web", "from-artifact", map[string]any{
		"expectedArtifacts": []any{map[string]any{"id": "manifests", "matchArtifact": map[string]any{"type": "embedded/base64", "name": "config.yaml"}}},
		"stages": []any{map[string]any{"refId": "1", "type": "deployManifest", "account": "local", "namespaceOverride": "default",
			"source": "artifact", "manifestArtifactId": "manifests"}},
	})
	run := api.startExecution("web", "from-artifact", map[string]any{"user": "cy", "artifacts": []any{map[string]any{
		"type": "embedded/base64", "name": "config.yaml", "reference": base64.StdEncoding.EncodeToString([]byte(file))}}})
	if done := api.waitUntilDone(run.ID, time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("deploy from an artifact: %s", done.describe())
	}
	if cm, err := cs.CoreV1().ConfigMaps("default").Get(t.Context(), "from-artifact-v000", metav1.GetOptions{}); err != nil || cm.Data["who"] != "cy" {
		t.Errorf("config map from the artifact: %v %v", cm.Data, err)
	}
	// Without the artifact nothing starts, and the answer says which one is missing.
	code, answer := api.do("POST", "/api/v1/applications/web/pipelines/from-artifact/executions", nil)
	if code != 400 || !strings.Contains(string(answer), `expectedArtifacts[0]: expected artifact \"manifests\"`) {
		t.Errorf("deploy without the artifact: %d %s", code, answer)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// exampleFile reads a file of examples/.
func exampleFile(t *testing.T, name string) []byte {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(root, "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// readExample reads a pipeline from examples/ as a JSON object.
func readExample(t *testing.T, name string) map[string]any {
	t.Helper()
	body := exampleFile(t, name)
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}
