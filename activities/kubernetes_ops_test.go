package activities

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/pipeline"
)

// opsManifests decodes YAML documents into manifests as a stage carries them.
func opsManifests(t *testing.T, text string) []any {
	t.Helper()
	var out []any
	for _, doc := range strings.Split(text, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("bad YAML in test: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func opsDeploy(t *testing.T, env *testsuite.TestActivityEnvironment, yamlText string) {
	t.Helper()
	if _, err := env.ExecuteActivity((&Kubernetes{}).DeployManifest, DeployManifestInput{Account: "local", Deploy: cloud.DeployRequest{
		Manifests: opsManifests(t, yamlText), Application: "shop",
	}}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
}

// opsRun runs one activity and decodes its result.
func opsRun[T any](t *testing.T, env *testsuite.TestActivityEnvironment, activity any, in any) (T, error) {
	t.Helper()
	var out T
	val, err := env.ExecuteActivity(activity, in)
	if err != nil {
		return out, err
	}
	if err := val.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func opsResolve(t *testing.T, env *testsuite.TestActivityEnvironment, in ResolveManifestTargetInput) ResolveManifestTargetResult {
	t.Helper()
	in.Account = "local"
	res, err := opsRun[ResolveManifestTargetResult](t, env, (&Kubernetes{}).ResolveManifestTarget, in)
	if err != nil {
		t.Fatalf("resolve %+v: %v", in, err)
	}
	return res
}

func opsWait(t *testing.T, env *testsuite.TestActivityEnvironment, o cloud.Resource) {
	t.Helper()
	if _, err := env.ExecuteActivity((&Kubernetes{}).WaitForManifests, WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{o}}); err != nil {
		t.Fatalf("wait for %s %s: %v", o.Kind, o.Name, err)
	}
}

// wantFinal checks an activity failed for good with a message containing each of contains.
func wantFinal(t *testing.T, err error, errType string, contains ...string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("error %v, want a non-retryable failure", err)
	}
	if errType != "" && appErr.Type() != errType {
		t.Errorf("error type %s, want %s: %v", appErr.Type(), errType, err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}

const opsWeb = `apiVersion: apps/v1
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
      containers: [{name: web, image: "example.com/web:%d"}]`

func TestManifestTargetActivities(t *testing.T) {
	ns := "ops-target"
	env, _ := kubeActivities(t, ns)
	opsDeploy(t, env, fmt.Sprintf(opsWeb, 1))
	static := opsResolve(t, env, ResolveManifestTargetInput{ManifestName: "deployment web"})
	dynamic := opsResolve(t, env, ResolveManifestTargetInput{Namespace: ns, Cluster: "deployment web", Criteria: "newest"})
	if static.Target.Kind != "Deployment" || static.Target.APIVersion != "apps/v1" || static.Target.Namespace != ns || static.Target.UID == "" || static.TemplateHash == "" {
		t.Errorf("static target %+v", static.Target)
	}
	if !reflect.DeepEqual(static, dynamic) {
		t.Errorf("dynamic target %+v, static %+v", dynamic, static)
	}

	for name, c := range map[string]struct {
		in   ResolveManifestTargetInput
		want string
	}{
		"missing object":    {ResolveManifestTargetInput{Account: "local", ManifestName: "deployment api"}, "deployment api in " + ns},
		"missing cluster":   {ResolveManifestTargetInput{Account: "local", Cluster: "deployment api", Criteria: "newest"}, `cluster "deployment api"`},
		"a name alone":      {ResolveManifestTargetInput{Account: "local", ManifestName: "web"}, "write it as kind and name"},
		"unknown account":   {ResolveManifestTargetInput{Account: "prod", ManifestName: "deployment web"}, `no Kubernetes account "prod"`},
		"foreign namespace": {ResolveManifestTargetInput{Account: "local", Namespace: "kube-system", ManifestName: "deployment web"}, "may not use namespace kube-system"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := env.ExecuteActivity((&Kubernetes{}).ResolveManifestTarget, c.in)
			wantFinal(t, err, "InvalidKubernetesRequest", c.want)
		})
	}
}

func TestScalePatchUndoAndRestartActivities(t *testing.T) {
	ns := "ops-workload"
	env, cs := kubeActivities(t, ns)
	for i := 1; i <= 2; i++ {
		opsDeploy(t, env, fmt.Sprintf(opsWeb, i))
	}
	target := opsResolve(t, env, ResolveManifestTargetInput{ManifestName: "deployment web"})
	opsWait(t, env, target.Target)
	deployment := func() (replicas int32, image string, annotations map[string]string) {
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image, d.Spec.Template.Annotations
	}

	t.Run("scale", func(t *testing.T) {
		for range 2 { // the second time, as a retry, changes nothing
			res, err := opsRun[ManifestOperationResult](t, env, (&Kubernetes{}).ScaleManifest, ScaleManifestInput{Account: "local", Target: target.Target, Replicas: 3})
			if err != nil {
				t.Fatalf("scale: %v", err)
			}
			opsWait(t, env, res.Object)
		}
		d, _ := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if d.Status.AvailableReplicas != 3 {
			t.Errorf("%d replicas available after scaling to 3 and waiting", d.Status.AvailableReplicas)
		}
	})

	t.Run("patch", func(t *testing.T) {
		before := target.Target.Generation
		res, err := opsRun[ManifestOperationResult](t, env, (&Kubernetes{}).PatchManifest, PatchManifestInput{Account: "local", Target: target.Target,
			MergeStrategy: "strategic", Patch: map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{"team": "shop"}}}}}})
		if err != nil {
			t.Fatalf("patch: %v", err)
		}
		if res.Object.Generation <= before {
			t.Errorf("generation %d after patching the pod template, want above %d", res.Object.Generation, before)
		}
		opsWait(t, env, res.Object)
		if _, _, a := deployment(); a["team"] != "shop" {
			t.Errorf("template annotations %v after the patch", a)
		}
		_, err = env.ExecuteActivity((&Kubernetes{}).PatchManifest, PatchManifestInput{Account: "local", Target: target.Target,
			MergeStrategy: "json", Patch: []any{map[string]any{"op": "remove", "path": "/spec/nothing"}}})
		wantFinal(t, err, "InvalidKubernetesRequest", "patch deployment web in "+ns)
		_, err = env.ExecuteActivity((&Kubernetes{}).PatchManifest, PatchManifestInput{Account: "local", Target: target.Target, MergeStrategy: "json"})
		wantFinal(t, err, "InvalidKubernetesRequest", "the patch is not a JSON object or list")
	})

	t.Run("undo", func(t *testing.T) {
		current := opsResolve(t, env, ResolveManifestTargetInput{ManifestName: "deployment web"})
		// Revisions: 1 (image 1), 2 (image 2), 3 (the patched template).
		res, err := opsRun[UndoRolloutManifestResult](t, env, (&Kubernetes{}).UndoRolloutManifest, UndoRolloutManifestInput{Account: "local",
			Target: current.Target, RevisionsBack: 2, TemplateHash: current.TemplateHash})
		if err != nil {
			t.Fatalf("undo: %v", err)
		}
		opsWait(t, env, res.Object)
		if _, image, _ := deployment(); image != "example.com/web:1" || res.RestoredRevision != 1 {
			t.Errorf("after undoing 2 revisions from 3: image %s, restored revision %d", image, res.RestoredRevision)
		}
		_, err = env.ExecuteActivity((&Kubernetes{}).UndoRolloutManifest, UndoRolloutManifestInput{Account: "local", Target: current.Target, RevisionsBack: 9})
		wantFinal(t, err, "InvalidKubernetesRequest", "cannot go back 9 revisions")
	})

	t.Run("rolling restart", func(t *testing.T) {
		res, err := opsRun[ManifestOperationResult](t, env, (&Kubernetes{}).RollingRestartManifest, RollingRestartManifestInput{Account: "local",
			Target: target.Target, TemplateHash: target.TemplateHash})
		if err != nil {
			t.Fatalf("restart: %v", err)
		}
		opsWait(t, env, res.Object)
		if _, _, a := deployment(); a[kubernetes.AnnotationRestartedAt] == "" {
			t.Errorf("template annotations %v after the restart", a)
		}
	})
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
      containers: [{name: shop, image: "example.com/shop:%d"}]`

func TestTrafficAndDeleteActivities(t *testing.T) {
	ns := "ops-traffic"
	env, cs := kubeActivities(t, ns)
	opsDeploy(t, env, fmt.Sprintf(opsShop, 1))
	opsDeploy(t, env, fmt.Sprintf(opsShop, 2))
	opsDeploy(t, env, `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: loner
spec:
  replicas: 0
  selector:
    matchLabels: {run: loner}
  template:
    metadata:
      labels: {run: loner}
    spec:
      containers: [{name: loner, image: "example.com/loner:1"}]`)
	v000 := opsResolve(t, env, ResolveManifestTargetInput{Cluster: "replicaSet shop", Criteria: "oldest"}).Target
	v001 := opsResolve(t, env, ResolveManifestTargetInput{Cluster: "replicaSet shop", Criteria: "newest"}).Target
	if v000.Name != "shop-v000" || v001.Name != "shop-v001" {
		t.Fatalf("resolved %s and %s", v000.Name, v001.Name)
	}
	setTraffic := func(o cloud.Resource, enabled bool) error {
		res, err := opsRun[SetManifestTrafficResult](t, env, (&Kubernetes{}).SetManifestTraffic, SetManifestTrafficInput{Account: "local", Target: o, Enabled: enabled})
		if err == nil && !reflect.DeepEqual(res.Services, []string{"service shop"}) {
			t.Errorf("services %v", res.Services)
		}
		return err
	}
	takingTraffic := func(name string) bool {
		rs, err := cs.AppsV1().ReplicaSets(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rs.Spec.Template.Labels["svc"] == "shop"
	}
	deleteInput := func(o cloud.Resource) DeleteManifestInput {
		return DeleteManifestInput{Account: "local", Target: o, Options: cloud.DeleteOptions{Cascading: cloud.CascadeForeground}}
	}

	if err := setTraffic(v000, true); err != nil {
		t.Fatalf("enable shop-v000: %v", err)
	}
	t.Run("the traffic guard keeps the last server group taking traffic", func(t *testing.T) {
		wantFinal(t, setTraffic(v000, false), "TrafficGuard",
			fmt.Sprintf(`refusing to disable replicaSet shop-v000 in %s: it is the only server group of cluster "replicaSet shop" taking traffic (traffic guard); enable another server group first`, ns))
		_, err := env.ExecuteActivity((&Kubernetes{}).ScaleManifest, ScaleManifestInput{Account: "local", Target: v000, Replicas: 0})
		wantFinal(t, err, "TrafficGuard", "refusing to scale replicaSet shop-v000 in "+ns+" to 0 replicas")
		_, err = env.ExecuteActivity((&Kubernetes{}).DeleteManifest, deleteInput(v000))
		wantFinal(t, err, "TrafficGuard", "refusing to delete replicaSet shop-v000")
		if !takingTraffic("shop-v000") {
			t.Error("shop-v000 lost its traffic")
		}
	})

	t.Run("enable then disable", func(t *testing.T) {
		for range 2 { // the second time, as a retry, changes nothing
			if err := setTraffic(v001, true); err != nil {
				t.Fatalf("enable shop-v001: %v", err)
			}
		}
		opsWait(t, env, v001) // a ready pod, so that it serves once shop-v000 stops
		if err := setTraffic(v000, false); err != nil {
			t.Fatalf("disable shop-v000: %v", err)
		}
		if takingTraffic("shop-v000") || !takingTraffic("shop-v001") {
			t.Errorf("traffic: shop-v000 %v, shop-v001 %v", takingTraffic("shop-v000"), takingTraffic("shop-v001"))
		}
	})

	t.Run("delete waits until the object is gone", func(t *testing.T) {
		res, err := opsRun[DeleteManifestResult](t, env, (&Kubernetes{}).DeleteManifest, deleteInput(v000))
		if err != nil || res.AlreadyGone {
			t.Fatalf("delete shop-v000: %+v, %v", res, err)
		}
		if _, err := cs.AppsV1().ReplicaSets(ns).Get(t.Context(), "shop-v000", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("shop-v000 after the delete: %v", err)
		}
		// Deleting it again, as a retry, finds it gone.
		if res, err := opsRun[DeleteManifestResult](t, env, (&Kubernetes{}).DeleteManifest, deleteInput(v000)); err != nil || !res.AlreadyGone {
			t.Errorf("second delete: %+v, %v", res, err)
		}
	})

	t.Run("a server group without services", func(t *testing.T) {
		loner := opsResolve(t, env, ResolveManifestTargetInput{ManifestName: "replicaSet loner-v000"}).Target
		wantFinal(t, setTraffic(loner, true), "InvalidKubernetesRequest",
			"cannot enable replicaSet loner-v000 in "+ns+": it names no Services", "traffic.spinnaker.io/load-balancers")
	})
}

func TestFindArtifactFromResourceActivity(t *testing.T) {
	ns := "ops-artifacts"
	env, _ := kubeActivities(t, ns)
	opsDeploy(t, env, fmt.Sprintf(opsShop, 7))
	target := opsResolve(t, env, ResolveManifestTargetInput{ManifestName: "replicaSet shop-v000"})
	res, err := opsRun[FindArtifactFromResourceResult](t, env, (&Kubernetes{}).FindArtifactFromResource, FindArtifactFromResourceInput{Account: "local", Target: target.Target})
	if err != nil {
		t.Fatal(err)
	}
	want := []pipeline.Artifact{
		{Type: "docker/image", Name: "example.com/shop", Version: "7", Reference: "example.com/shop:7"},
		{Type: "kubernetes/replicaSet", Name: "shop", Location: ns, Version: "v000", Reference: "shop-v000"},
	}
	if !reflect.DeepEqual(res.Artifacts, want) {
		t.Errorf("artifacts:\n got %+v\nwant %+v", res.Artifacts, want)
	}
	md, _ := res.Manifest["metadata"].(map[string]any)
	if res.Manifest["kind"] != "ReplicaSet" || md["name"] != "shop-v000" || md["managedFields"] != nil || res.Manifest["status"] != nil {
		t.Errorf("manifest %v", res.Manifest)
	}
}
