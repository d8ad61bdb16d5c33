package activities

import (
	"errors"
	"os"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/internal/localkube"
	"github.com/gennaker/gennaker/internal/localkube/kubetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kubetest.Stop()
	os.Exit(code)
}

// kubeActivities returns the Kubernetes activities wired to a real local cluster through an account
// limited to a fresh namespace.
func kubeActivities(t *testing.T, ns string) (*testsuite.TestActivityEnvironment, clientset.Interface) {
	t.Helper()
	cluster := kubetest.Cluster(t)
	cs, err := clientset.NewForConfig(cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	providers := kubernetes.NewProviders([]kubernetes.Account{{Name: "local", Kubeconfig: cluster.Kubeconfig(), Namespaces: []string{ns}, DefaultNamespace: ns}})
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(&Kubernetes{Accounts: providers, PollInterval: 200_000_000})
	return env, cs
}

func deployment(name string, labels map[string]any) map[string]any {
	podLabels := map[string]any{"app": name}
	for k, v := range labels {
		podLabels[k] = v
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas":                int64(2),
			"progressDeadlineSeconds": int64(10),
			"selector":                map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": podLabels},
				"spec": map[string]any{
					"containers": []any{map[string]any{"name": "web", "image": "nginx:1.27", "volumeMounts": []any{map[string]any{"name": "cfg", "mountPath": "/etc/web"}}}},
					"volumes":    []any{map[string]any{"name": "cfg", "configMap": map[string]any{"name": name + "-config"}}},
				},
			},
		},
	}
}

func configMap(name, value string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}, "data": map[string]any{"value": value}}
}

func deploy(t *testing.T, env *testsuite.TestActivityEnvironment, manifests ...any) (cloud.DeployResult, error) {
	t.Helper()
	val, err := env.ExecuteActivity((&Kubernetes{}).DeployManifest, DeployManifestInput{Account: "local", Deploy: cloud.DeployRequest{
		Manifests: manifests, Application: "shop", ExecutionID: "01TEST", StageRefID: "1",
	}})
	if err != nil {
		return cloud.DeployResult{}, err
	}
	var out DeployManifestResult
	if err := val.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out.Result, nil
}

func TestDeployManifestAndWaitForRollout(t *testing.T) {
	ns := "deploy-ok"
	env, cs := kubeActivities(t, ns)
	res, err := deploy(t, env, configMap("web-config", "one"), deployment("web", nil))
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	var names []string
	for _, d := range res.Deployed {
		names = append(names, d.FullName())
	}
	if got := strings.Join(names, ","); got != "configMap web-config-v000,deployment web" {
		t.Errorf("deployed %s", got)
	}
	if _, err := env.ExecuteActivity((&Kubernetes{}).WaitForManifests, WaitForManifestsInput{Account: "local", Objects: res.Applied}); err != nil {
		t.Fatalf("wait: %v", err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas != 2 || d.Spec.Template.Spec.Volumes[0].ConfigMap.Name != "web-config-v000" {
		t.Errorf("deployment: %d available, config map %q", d.Status.AvailableReplicas, d.Spec.Template.Spec.Volumes[0].ConfigMap.Name)
	}

	// The same deploy again, as a retry after a crash would make it, creates nothing new.
	again, err := deploy(t, env, configMap("web-config", "one"), deployment("web", nil))
	if err != nil {
		t.Fatal(err)
	}
	if again.Deployed[0].Name != "web-config-v000" {
		t.Errorf("a repeated deploy made %s", again.Deployed[0].Name)
	}
	cms, _ := cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	versions := 0
	for _, cm := range cms.Items {
		if strings.HasPrefix(cm.Name, "web-config-") {
			versions++
		}
	}
	if versions != 1 {
		t.Errorf("%d config map versions after a repeated deploy, want 1", versions)
	}
}

func TestWaitForManifestsReportsAFailedRollout(t *testing.T) {
	env, _ := kubeActivities(t, "deploy-stuck")
	res, err := deploy(t, env, configMap("stuck-config", "x"), deployment("stuck", map[string]any{localkube.ChaosLabel: localkube.ChaosNeverReady}))
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	_, err = env.ExecuteActivity((&Kubernetes{}).WaitForManifests, WaitForManifestsInput{Account: "local", Objects: res.Applied})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("wait error %v, want a non-retryable failure", err)
	}
	if !strings.Contains(err.Error(), "progress deadline") {
		t.Errorf("the failure does not say why: %v", err)
	}
}

func TestDeployManifestRefusals(t *testing.T) {
	env, _ := kubeActivities(t, "deploy-refused")
	for name, in := range map[string]DeployManifestInput{
		"unknown account":     {Account: "prod", Deploy: cloud.DeployRequest{Manifests: []any{configMap("a", "b")}, Application: "shop"}},
		"forbidden namespace": {Account: "local", Deploy: cloud.DeployRequest{Manifests: []any{configMap("a", "b")}, Application: "shop", NamespaceOverride: "kube-system"}},
		"not a manifest":      {Account: "local", Deploy: cloud.DeployRequest{Manifests: []any{map[string]any{"kind": "ConfigMap"}}, Application: "shop"}},
	} {
		_, err := env.ExecuteActivity((&Kubernetes{}).DeployManifest, in)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !appErr.NonRetryable() {
			t.Errorf("%s: error %v, want a non-retryable failure", name, err)
		}
	}
}
