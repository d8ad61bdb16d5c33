package workflows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/internal/localkube/kubetest"
	"github.com/gennaker/gennaker/pipeline"
)

// The manifest operation stages run here with the real activities against a local Kubernetes
// control plane, started once for the package on first use.

func TestMain(m *testing.M) {
	code := m.Run()
	kubetest.Stop()
	os.Exit(code)
}

// opsCluster is one test's namespace of the local cluster, with the account "local" limited to it.
type opsCluster struct {
	t         *testing.T
	ns        string
	providers *kubernetes.Providers
	p         *kubernetes.Provider
	cs        clientset.Interface
}

func newOpsCluster(t *testing.T, ns string) *opsCluster {
	t.Helper()
	c := kubetest.Cluster(t)
	cs, err := clientset.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	providers := kubernetes.NewProviders([]kubernetes.Account{{Name: "local", Kubeconfig: c.Kubeconfig(), Namespaces: []string{ns}, DefaultNamespace: ns}})
	p, err := providers.Get("local")
	if err != nil {
		t.Fatal(err)
	}
	return &opsCluster{t: t, ns: ns, providers: providers, p: p, cs: cs}
}

// deploy applies YAML manifests for application shop and waits until they have rolled out.
func (c *opsCluster) deploy(text string) {
	c.t.Helper()
	var manifests []any
	for _, doc := range strings.Split(text, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			c.t.Fatalf("bad YAML in test: %v", err)
		}
		manifests = append(manifests, m)
	}
	res, err := c.p.Deploy(c.t.Context(), cloud.DeployRequest{Application: "shop", Manifests: manifests})
	if err != nil {
		c.t.Fatalf("deploy: %v", err)
	}
	for _, o := range res.Applied {
		c.waitDone(o.KindRef(), o.Name)
	}
}

func (c *opsCluster) waitDone(kind, name string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.p.Status(c.t.Context(), kind, c.ns, name)
		if err != nil {
			c.t.Fatal(err)
		}
		if st.Done {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s %s did not roll out: %s", kind, name, st.Message)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run executes a pipeline with the real Kubernetes activities; setup may wrap some of them.
func (c *opsCluster) run(config string, setup func(env *testsuite.TestWorkflowEnvironment, real *activities.Kubernetes)) (pipeline.Execution, error) {
	c.t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	// The activities take real time against the cluster.
	env.SetTestTimeout(2 * time.Minute)
	env.RegisterWorkflow(Pipeline)
	env.RegisterActivity(&activities.Notifications{})
	env.RegisterActivity(&activities.Executions{})
	k8s := &activities.Kubernetes{Accounts: c.providers, PollInterval: 100 * time.Millisecond}
	env.RegisterActivity(k8s)
	grantClusterLocks(env)
	if setup != nil {
		setup(env, k8s)
	}
	env.ExecuteWorkflow(Pipeline, PipelineInput{Pipeline: decode(c.t, config), PipelineVersion: 1, Trigger: pipeline.TriggerInfo{Type: "manual", User: "ana"}})
	if !env.IsWorkflowCompleted() {
		c.t.Fatal("workflow did not complete")
	}
	var exec pipeline.Execution
	q, err := env.QueryWorkflow(QueryExecution)
	if err != nil {
		c.t.Fatalf("query: %v", err)
	}
	if err := q.Get(&exec); err != nil {
		c.t.Fatalf("decoding query: %v", err)
	}
	return exec, env.GetWorkflowError()
}

// succeeded checks the stages succeeded and returns the outputs of the last.
func (c *opsCluster) succeeded(exec pipeline.Execution, err error) map[string]any {
	c.t.Helper()
	if err != nil {
		for _, s := range exec.Stages {
			c.t.Logf("stage %s: %s %s", s.RefID, s.Status, s.Error)
		}
		c.t.Fatalf("execution failed: %v", err)
	}
	return exec.Stages[len(exec.Stages)-1].Outputs
}

// wantTarget checks the outputs every manifest operation stage has.
func (c *opsCluster) wantTarget(outputs map[string]any, name string) {
	c.t.Helper()
	want := map[string]any{c.ns: []any{name}}
	if got := outputs["manifestNamesByNamespace"]; !reflect.DeepEqual(got, want) {
		c.t.Errorf("manifestNamesByNamespace %v, want %v", got, want)
	}
	if outputs["manifestName"] != name || outputs["location"] != c.ns || outputs["account"] != "local" {
		c.t.Errorf("outputs %v, want manifestName %q, location %q", outputs, name, c.ns)
	}
}

func (c *opsCluster) deployment(name string) (replicas, available int32, image string, template metav1.ObjectMeta) {
	c.t.Helper()
	d, err := c.cs.AppsV1().Deployments(c.ns).Get(c.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return *d.Spec.Replicas, d.Status.AvailableReplicas, d.Spec.Template.Spec.Containers[0].Image, d.Spec.Template.ObjectMeta
}

func opsDeployment(image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers: [{name: web, image: %q}]`, image)
}

func opsStage(ref, typ string, fields string, requires ...string) string {
	return stageJSON(ref, typ, requires, `"account": "local", "cloudProvider": "kubernetes", `+fields)
}

func TestScaleManifestStage(t *testing.T) {
	c := newOpsCluster(t, "wf-scale")
	c.deploy(opsDeployment("example.com/web:1"))
	exec, err := c.run(pipelineJSON(opsStage("1", "scaleManifest", `"manifestName": "deployment web", "location": "wf-scale", "replicas": "${2 + 1}"`)), nil)
	outputs := c.succeeded(exec, err)
	c.wantTarget(outputs, "deployment web")
	// The stage ends only once the new replicas are available.
	if replicas, available, _, _ := c.deployment("web"); replicas != 3 || available != 3 || outputs["replicas"] != float64(3) {
		t.Errorf("%d of %d replicas available; outputs %v", available, replicas, outputs)
	}
}

func TestPatchManifestStage(t *testing.T) {
	c := newOpsCluster(t, "wf-patch")
	c.deploy(opsDeployment("example.com/web:1"))
	exec, err := c.run(pipelineJSON(opsStage("1", "patchManifest", `"manifestName": "deployment web", "source": "text",
		"options": {"mergeStrategy": "merge", "record": true},
		"patchBody": [{"spec": {"template": {"metadata": {"labels": {"team": "shop"}}, "spec": {"containers": [{"name": "web", "image": "example.com/web:2"}]}}}}]`)), nil)
	c.wantTarget(c.succeeded(exec, err), "deployment web")
	_, available, image, template := c.deployment("web")
	if image != "example.com/web:2" || template.Labels["team"] != "shop" || available != 1 {
		t.Errorf("after the patch: image %s, labels %v, %d available", image, template.Labels, available)
	}

	// A json patch whose path is missing fails for good, in words.
	exec, _ = c.run(pipelineJSON(opsStage("1", "patchManifest", `"manifestName": "deployment web",
		"options": {"mergeStrategy": "json"}, "patchBody": [{"op": "remove", "path": "/spec/nothing"}]`)), nil)
	if s := exec.Stage("1"); s.Status != pipeline.StatusTerminal || !strings.Contains(s.Error, "patch deployment web in wf-patch with a json patch") {
		t.Errorf("bad json patch: %s %q", s.Status, s.Error)
	}
}

func TestUndoRolloutManifestStage(t *testing.T) {
	c := newOpsCluster(t, "wf-undo")
	for i := 1; i <= 3; i++ {
		c.deploy(opsDeployment(fmt.Sprintf("example.com/web:%d", i)))
	}
	// The first attempt undoes the rollout but its answer is lost, so the activity runs again:
	// the retry must not undo a second time, which would go back to image 3.
	calls := 0
	exec, err := c.run(pipelineJSON(opsStage("1", "undoRolloutManifest", `"mode": "dynamic", "cluster": "deployment web", "criteria": "newest", "numRevisionsBack": 1`)),
		func(env *testsuite.TestWorkflowEnvironment, real *activities.Kubernetes) {
			env.OnActivity(real.UndoRolloutManifest, mock.Anything, mock.Anything).Return(
				func(ctx context.Context, in activities.UndoRolloutManifestInput) (activities.UndoRolloutManifestResult, error) {
					res, err := real.UndoRolloutManifest(ctx, in)
					if calls++; calls == 1 && err == nil {
						return res, errors.New("connection reset by peer")
					}
					return res, err
				})
		})
	outputs := c.succeeded(exec, err)
	c.wantTarget(outputs, "deployment web")
	if _, available, image, _ := c.deployment("web"); image != "example.com/web:2" || available != 1 || calls != 2 {
		t.Errorf("after undoing one revision in %d attempts: image %s, %d available", calls, image, available)
	}
}

func TestRollingRestartManifestStage(t *testing.T) {
	c := newOpsCluster(t, "wf-restart")
	c.deploy(opsDeployment("example.com/web:1"))
	d, _ := c.cs.AppsV1().Deployments(c.ns).Get(t.Context(), "web", metav1.GetOptions{})
	before := d.Generation
	// As with undo, a retry after a lost answer must not restart the pods again.
	calls := 0
	exec, err := c.run(pipelineJSON(opsStage("1", "rollingRestartManifest", `"manifestName": "deployment web"`)),
		func(env *testsuite.TestWorkflowEnvironment, real *activities.Kubernetes) {
			env.OnActivity(real.RollingRestartManifest, mock.Anything, mock.Anything).Return(
				func(ctx context.Context, in activities.RollingRestartManifestInput) (activities.ManifestOperationResult, error) {
					res, err := real.RollingRestartManifest(ctx, in)
					if calls++; calls == 1 && err == nil {
						// The restart stamp counts seconds: a second restart must land in
						// another second to show as a change of its own.
						time.Sleep(1100 * time.Millisecond)
						return res, errors.New("connection reset by peer")
					}
					return res, err
				})
		})
	c.wantTarget(c.succeeded(exec, err), "deployment web")
	d, _ = c.cs.AppsV1().Deployments(c.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if d.Generation != before+1 || d.Spec.Template.Annotations[kubernetes.AnnotationRestartedAt] == "" || calls != 2 {
		t.Errorf("after a restart in %d attempts: generation %d (was %d), template annotations %v", calls, d.Generation, before, d.Spec.Template.Annotations)
	}
	if d.Status.UpdatedReplicas != 1 || d.Status.AvailableReplicas != 1 {
		t.Errorf("the stage ended before the restart rolled out: %+v", d.Status)
	}
}

func TestDeleteManifestStage(t *testing.T) {
	c := newOpsCluster(t, "wf-delete")
	c.deploy(opsDeployment("example.com/web:1"))
	exec, err := c.run(pipelineJSON(opsStage("1", "deleteManifest", `"manifestName": "deployment web", "options": {"cascading": true, "gracePeriodSeconds": 0}`)), nil)
	c.wantTarget(c.succeeded(exec, err), "deployment web")
	if _, err := c.cs.AppsV1().Deployments(c.ns).Get(t.Context(), "web", metav1.GetOptions{}); err == nil {
		t.Error("the deployment is still there after the stage")
	}

	// Now that it is gone, naming it is a mistake the stage reports.
	exec, _ = c.run(pipelineJSON(opsStage("1", "deleteManifest", `"manifestName": "deployment web"`)), nil)
	if s := exec.Stage("1"); s.Status != pipeline.StatusTerminal || !strings.Contains(s.Error, "deployment web in wf-delete") || !strings.Contains(s.Error, "not found") {
		t.Errorf("deleting what is not there: %s %q", s.Status, s.Error)
	}
}

const opsShop = `apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  selector: {svc: shop}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: shop
  annotations:
    traffic.spinnaker.io/load-balancers: '["service shop"]'
spec:
  replicas: 1
  selector:
    matchLabels: {run: shop}
  template:
    metadata:
      labels: {run: shop}
    spec:
      containers: [{name: shop, image: %q}]`

func TestEnableDisableManifestStagesAndTheTrafficGuard(t *testing.T) {
	c := newOpsCluster(t, "wf-traffic")
	c.deploy(fmt.Sprintf(opsShop, "example.com/shop:1"))
	c.deploy(fmt.Sprintf(opsShop, "example.com/shop:2"))
	if err := c.p.SetTraffic(t.Context(), c.ns, "shop-v000", "service shop", true); err != nil {
		t.Fatal(err)
	}
	taking := func() (out []string) {
		for _, name := range []string{"shop-v000", "shop-v001"} {
			rs, err := c.cs.AppsV1().ReplicaSets(c.ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rs.Spec.Template.Labels["svc"] == "shop" {
				out = append(out, name)
			}
		}
		return out
	}

	t.Run("the traffic guard refuses to disable the last server group taking traffic", func(t *testing.T) {
		exec, err := c.run(pipelineJSON(opsStage("1", "disableManifest", `"manifestName": "replicaSet shop-v000"`)), nil)
		want := `refusing to disable replicaSet shop-v000 in wf-traffic: it is the only server group of cluster "replicaSet shop" taking traffic (traffic guard); enable another server group first`
		if s := exec.Stage("1"); err == nil || s.Status != pipeline.StatusTerminal || s.Error != want {
			t.Errorf("stage %s, error %q; want TERMINAL with %q", s.Status, s.Error, want)
		}
		if got := taking(); !reflect.DeepEqual(got, []string{"shop-v000"}) {
			t.Errorf("taking traffic: %v", got)
		}
	})

	t.Run("enable the newest, then disable the oldest", func(t *testing.T) {
		exec, err := c.run(pipelineJSON(
			opsStage("1", "enableManifest", `"mode": "dynamic", "cluster": "replicaSet shop", "criteria": "newest"`),
			opsStage("2", "disableManifest", `"mode": "dynamic", "cluster": "replicaSet shop", "criteria": "oldest", "location": "wf-traffic"`, "1"),
		), nil)
		c.succeeded(exec, err)
		enabled, disabled := exec.Stage("1").Outputs, exec.Stage("2").Outputs
		c.wantTarget(enabled, "replicaSet shop-v001")
		c.wantTarget(disabled, "replicaSet shop-v000")
		if !reflect.DeepEqual(enabled["loadBalancers"], []any{"service shop"}) {
			t.Errorf("enable outputs %v", enabled)
		}
		if got := taking(); !reflect.DeepEqual(got, []string{"shop-v001"}) {
			t.Errorf("taking traffic: %v", got)
		}
	})

	t.Run("the traffic guard refuses to scale the last one to 0 or delete it", func(t *testing.T) {
		for _, stage := range []string{
			opsStage("1", "scaleManifest", `"manifestName": "replicaSet shop-v001", "replicas": 0`),
			opsStage("1", "deleteManifest", `"mode": "dynamic", "cluster": "replicaSet shop", "criteria": "largest"`),
		} {
			exec, _ := c.run(pipelineJSON(stage), nil)
			if s := exec.Stage("1"); s.Status != pipeline.StatusTerminal || !strings.Contains(s.Error, "replicaSet shop-v001 in wf-traffic") || !strings.Contains(s.Error, "(traffic guard)") {
				t.Errorf("stage %s: %s %q", stage, s.Status, s.Error)
			}
		}
	})
}

func TestFindArtifactFromResourceStage(t *testing.T) {
	c := newOpsCluster(t, "wf-artifacts")
	c.deploy(fmt.Sprintf(opsShop, "example.com/shop:7"))
	exec, err := c.run(pipelineJSON(
		opsStage("1", "findArtifactFromResource", `"manifestName": "replicaSet shop-v000"`),
		stageJSON("2", "evaluateVariables", []string{"1"}, `"variables": [{"key": "image", "value": "${#stage('findArtifactFromResource 1').outputs.artifacts[0].reference}"}]`),
	), nil)
	if got := c.succeeded(exec, err)["image"]; got != "example.com/shop:7" {
		t.Errorf("image from the found artifacts: %v", got)
	}
	outputs := exec.Stage("1").Outputs
	c.wantTarget(outputs, "replicaSet shop-v000")
	want := []any{
		map[string]any{"type": "docker/image", "name": "example.com/shop", "version": "7", "reference": "example.com/shop:7"},
		map[string]any{"type": "kubernetes/replicaSet", "name": "shop", "location": c.ns, "version": "v000", "reference": "shop-v000"},
	}
	if !reflect.DeepEqual(outputs["artifacts"], want) {
		t.Errorf("artifacts %v", outputs["artifacts"])
	}
	manifest, _ := outputs["manifest"].(map[string]any)
	metadata, _ := manifest["metadata"].(map[string]any)
	if manifest["kind"] != "ReplicaSet" || metadata["name"] != "shop-v000" || metadata["managedFields"] != nil || manifest["status"] != nil {
		t.Errorf("manifest %v", manifest)
	}
}
