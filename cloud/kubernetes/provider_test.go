package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/internal/localkube"
	"github.com/gennaker/gennaker/internal/localkube/kubetest"
	"github.com/gennaker/gennaker/pipeline"
)

// The provider is tested against a real control plane (see internal/localkube) started once for
// the package, on first use, so the pure tests run without it. Each test works in namespaces of
// its own and most run in parallel.

var namespaces atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	kubetest.Stop()
	os.Exit(code)
}

// cluster returns the package's cluster, starting it on first use.
func cluster(t *testing.T) *localkube.Cluster { return kubetest.Cluster(t) }

// env is one test's provider, namespace and direct clients for checking what the provider did.
type env struct {
	t   *testing.T
	p   *Provider
	ns  string
	dyn dynamic.Interface
	cs  kubernetes.Interface
}

// newEnv makes a namespace for a test and a provider whose account is limited to it (and to
// extra namespaces, named but not created).
func newEnv(t *testing.T, prefix string, extra ...string) *env {
	t.Helper()
	c := cluster(t)
	cfg := c.RESTConfig()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("%s-%d", prefix, namespaces.Add(1))
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := NewProviderFromConfig(Account{Name: "test-account", Namespaces: append([]string{ns}, extra...), DefaultNamespace: ns}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, p: p, ns: ns, dyn: dyn, cs: cs}
}

func (e *env) deploy(in cloud.DeployRequest) cloud.DeployResult {
	e.t.Helper()
	res, err := e.p.Deploy(e.t.Context(), in)
	if err != nil {
		e.t.Fatalf("Deploy: %v", err)
	}
	return res
}

// get reads an object of an apps/v1 or v1 kind from the test's namespace.
func (e *env) get(kind, name string) *unstructured.Unstructured {
	e.t.Helper()
	obj, err := e.dyn.Resource(gvrOf(kind)).Namespace(e.ns).Get(e.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get %s %s: %v", kind, name, err)
	}
	return obj
}

func (e *env) list(kind, selector string) []unstructured.Unstructured {
	e.t.Helper()
	list, err := e.dyn.Resource(gvrOf(kind)).Namespace(e.ns).List(e.t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		e.t.Fatalf("list %s: %v", kind, err)
	}
	return list.Items
}

// versions lists the versions of base of a kind, by name.
func (e *env) versions(kind, base string) []string {
	e.t.Helper()
	var out []string
	for _, o := range e.list(kind, "") {
		if b, _, ok := SplitVersion(o.GetName()); ok && b == base {
			out = append(out, o.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func gvrOf(kind string) schema.GroupVersionResource {
	switch kind {
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet":
		return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: strings.ToLower(kind) + "s"}
	}
	return schema.GroupVersionResource{Version: "v1", Resource: strings.ToLower(kind) + "s"}
}

// eventually polls check until it returns "" or the wait runs out; then it fails with the last
// thing check said.
func eventually(t *testing.T, timeout time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last := check()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %s: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitStatus waits until Status reports the object done, or failed when wantFailed.
func (e *env) waitStatus(kind, name string, wantFailed bool, timeout time.Duration) cloud.Health {
	e.t.Helper()
	var st cloud.Health
	eventually(e.t, timeout, fmt.Sprintf("status of %s %s", kind, name), func() string {
		var err error
		if st, err = e.p.Status(e.t.Context(), kind, e.ns, name); err != nil {
			e.t.Fatalf("Status: %v", err)
		}
		switch {
		case wantFailed && st.Done:
			e.t.Fatalf("status %+v, want it to fail", st)
		case !wantFailed && st.Failed:
			e.t.Fatalf("status %+v, want it done", st)
		case st.Done || st.Failed:
			return ""
		}
		return st.Message
	})
	return st
}

func wantInvalid(t *testing.T, err error, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want an invalid-request error containing %q", contains)
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not match ErrInvalid, so it would be retried", err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}

func fullNames(ds []cloud.DeployedResource) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.FullName()
	}
	return out
}

// webManifests are a ConfigMap and a ReplicaSet (both versioned), a Service, and a Deployment
// (not versioned) that reads the ConfigMap.
func webManifests(t *testing.T, color string) []any {
	return docs(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  color: %s
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs
spec:
  replicas: 1
  selector:
    matchLabels: {run: rs}
  template:
    metadata:
      labels: {run: rs}
    spec:
      containers:
      - name: app
        image: example.com/rs:1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: example.com/web:1
        envFrom:
        - configMapRef: {name: web-config}
      volumes:
      - name: config
        configMap: {name: web-config}`, color))
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "deploy")
	ctx := t.Context()
	in := cloud.DeployRequest{Manifests: webManifests(t, "blue"), Application: "web", ExecutionID: "exec-1", StageRefID: "deploy"}

	first := e.deploy(in)
	want := []string{"configMap web-config-v000", "service web", "replicaSet rs-v000", "deployment web"}
	if got := fullNames(first.Deployed); !reflect.DeepEqual(got, want) {
		t.Fatalf("deployed %v, want %v", got, want)
	}
	for i, a := range first.Applied {
		d := first.Deployed[i]
		// Only kinds with a spec count generations.
		hasSpec := a.Kind == "ReplicaSet" || a.Kind == "Deployment"
		if a.Kind != d.Kind || a.Name != d.Name || a.Namespace != e.ns || a.UID == "" || (a.Generation >= 1) != hasSpec {
			t.Errorf("applied[%d] = %+v, want %s in %s with a uid and, for a workload, a generation", i, a, d.FullName(), e.ns)
		}
	}
	if got := first.Applied[3].KindRef(); got != "Deployment.apps" {
		t.Errorf("KindRef() = %q, want Deployment.apps", got)
	}

	web := e.get("Deployment", "web")
	for _, path := range []string{"spec.template.spec.containers[0].envFrom[0].configMapRef.name", "spec.template.spec.volumes[0].configMap.name"} {
		if got := at(web.Object, path); got != "web-config-v000" {
			t.Errorf("deployment web %s = %v, want web-config-v000", path, got)
		}
	}
	for _, obj := range []*unstructured.Unstructured{web, e.get("ConfigMap", "web-config-v000"), e.get("ReplicaSet", "rs-v000")} {
		a := obj.GetAnnotations()
		if a[AnnotationApplication] != "web" || a[AnnotationCluster] != cloud.FullName(obj.GetKind(), baseOf(obj.GetName())) ||
			a[AnnotationExecutionID] != "exec-1" || a[AnnotationAccount] != "test-account" || a[AnnotationLastApplied] == "" {
			t.Errorf("%s annotations %v lack the moniker, provenance or last-applied record", obj.GetName(), a)
		}
	}
	if seq := e.get("ReplicaSet", "rs-v000").GetAnnotations()[AnnotationSequence]; seq != "0" {
		t.Errorf("rs-v000 sequence annotation %q, want 0", seq)
	}

	t.Run("a retry of the same deploy creates no new version", func(t *testing.T) {
		again := e.deploy(in)
		if !reflect.DeepEqual(fullNames(again.Deployed), want) {
			t.Fatalf("deployed %v, want %v", fullNames(again.Deployed), want)
		}
		for i := range again.Applied {
			if again.Applied[i].UID != first.Applied[i].UID {
				t.Errorf("%s has uid %s, the first attempt's was %s", again.Deployed[i].FullName(), again.Applied[i].UID, first.Applied[i].UID)
			}
		}
		if v := e.versions("ConfigMap", "web-config"); !reflect.DeepEqual(v, []string{"web-config-v000"}) {
			t.Errorf("ConfigMap versions %v, want only web-config-v000", v)
		}
		if v := e.versions("ReplicaSet", "rs"); !reflect.DeepEqual(v, []string{"rs-v000"}) {
			t.Errorf("ReplicaSet versions %v, want only rs-v000", v)
		}
	})

	t.Run("a changed ConfigMap gets a new version and the unchanged ReplicaSet is reused", func(t *testing.T) {
		changed := in
		changed.Manifests, changed.ExecutionID = webManifests(t, "green"), "exec-2"
		res := e.deploy(changed)
		want := []string{"configMap web-config-v001", "service web", "replicaSet rs-v000", "deployment web"}
		if got := fullNames(res.Deployed); !reflect.DeepEqual(got, want) {
			t.Fatalf("deployed %v, want %v", got, want)
		}
		if got := at(e.get("Deployment", "web").Object, "spec.template.spec.volumes[0].configMap.name"); got != "web-config-v001" {
			t.Errorf("deployment web mounts %v, want web-config-v001", got)
		}
		if v := e.versions("ConfigMap", "web-config"); !reflect.DeepEqual(v, []string{"web-config-v000", "web-config-v001"}) {
			t.Errorf("ConfigMap versions %v, want v000 and v001", v)
		}
		if v := e.versions("ReplicaSet", "rs"); !reflect.DeepEqual(v, []string{"rs-v000"}) {
			t.Errorf("ReplicaSet versions %v, want only rs-v000", v)
		}
		wantBound := pipeline.Artifact{Type: "kubernetes/configMap", Name: "web-config", Location: e.ns, Version: "v001", Reference: "web-config-v001"}
		if !slices.ContainsFunc(res.BoundArtifacts, func(a pipeline.Artifact) bool { return reflect.DeepEqual(a, wantBound) }) {
			t.Errorf("bound artifacts %+v, want %+v among them", res.BoundArtifacts, wantBound)
		}
	})

	t.Run("the deployment rolls out", func(t *testing.T) {
		st := e.waitStatus("Deployment", "web", false, time.Minute)
		if !strings.Contains(st.Message, "2 of 2 replicas available") {
			t.Errorf("status message %q", st.Message)
		}
		if st, err := e.p.Status(ctx, "ConfigMap", e.ns, "web-config-v001"); err != nil || !st.Done {
			t.Errorf("status of the ConfigMap: %+v, %v; want done", st, err)
		}
	})
}

func TestDeployLargeConfigMapIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "large")
	// Too large for the last-applied annotation: the live object itself shows it is the same.
	manifests := []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "big"},
		"data": map[string]any{"blob": strings.Repeat("x", maxAnnotationBytes+1)}}}
	for range 2 {
		res := e.deploy(cloud.DeployRequest{Application: "web", Manifests: manifests})
		if got := fullNames(res.Deployed); !reflect.DeepEqual(got, []string{"configMap big-v000"}) {
			t.Fatalf("deployed %v, want configMap big-v000", got)
		}
	}
	if a := e.get("ConfigMap", "big-v000").GetAnnotations(); a[AnnotationLastApplied] != "" || a[AnnotationApplication] != "web" {
		t.Errorf("annotations %v: want the moniker and no last-applied record", a)
	}
}

// TestUnreachableClusterIsRetryable checks that a cluster that cannot be reached is not taken for
// a bad request.
func TestUnreachableClusterIsRetryable(t *testing.T) {
	t.Parallel()
	p, err := NewProviderFromConfig(Account{Name: "gone"}, &rest.Config{Host: "https://127.0.0.1:1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, deployErr := p.Deploy(ctx, cloud.DeployRequest{Application: "web", Manifests: simpleDeployment(t, "web", "example.com/web:1", 1)})
	_, statusErr := p.Status(ctx, "Deployment", "default", "web")
	for _, err := range []error{deployErr, statusErr, p.Scale(ctx, "Deployment", "default", "web", 1)} {
		if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("error %v: want a retryable error naming the server", err)
		}
	}
}

func baseOf(name string) string {
	if b, _, ok := SplitVersion(name); ok {
		return b
	}
	return name
}

func TestDeployRefusesWhatCannotWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "refuse", "not-created")
	ctx := t.Context()
	configMap := func(ns string) []any {
		return docs(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: %q\ndata:\n  a: b", ns))
	}

	t.Run("a namespace the account may not use", func(t *testing.T) {
		_, err := e.p.Deploy(ctx, cloud.DeployRequest{Manifests: configMap("kube-system"), Application: "web"})
		wantInvalid(t, err, "account test-account", "namespace kube-system")
	})
	t.Run("a namespace override the account may not use", func(t *testing.T) {
		_, err := e.p.Deploy(ctx, cloud.DeployRequest{Manifests: configMap(e.ns), Application: "web", NamespaceOverride: "default"})
		wantInvalid(t, err, "account test-account", "namespace default")
	})
	t.Run("a cluster-scoped resource from an account limited to namespaces", func(t *testing.T) {
		_, err := e.p.Deploy(ctx, cloud.DeployRequest{Application: "web", Manifests: docs(t, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: web\nrules: []")})
		wantInvalid(t, err, "cluster-scoped clusterRole web")
	})
	t.Run("a kind the cluster does not serve", func(t *testing.T) {
		_, err := e.p.Deploy(ctx, cloud.DeployRequest{Application: "web", Manifests: docs(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w")})
		wantInvalid(t, err, "manifest 0 (Widget w)", "does not serve example.com/v1 Widget")
	})
	t.Run("a manifest the API server rejects", func(t *testing.T) {
		_, err := e.p.Deploy(ctx, cloud.DeployRequest{Application: "web", Manifests: docs(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector:
    matchLabels: {app: one}
  template:
    metadata:
      labels: {app: other}
    spec:
      containers: [{name: c, image: x}]`)})
		wantInvalid(t, err, "apply deployment bad in "+e.ns, "selector")
	})
	t.Run("a namespace that does not exist", func(t *testing.T) {
		_, err := e.p.Deploy(ctx, cloud.DeployRequest{Manifests: configMap("not-created"), Application: "web"})
		wantInvalid(t, err, "create configMap c-v000 in not-created", "does namespace not-created exist")
	})
	t.Run("a version's name taken by an object that is not a version", func(t *testing.T) {
		taken := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "taken-v000", "namespace": e.ns}}}
		if _, err := e.dyn.Resource(gvrOf("ConfigMap")).Namespace(e.ns).Create(ctx, taken, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := e.p.Deploy(ctx, cloud.DeployRequest{Application: "web", Manifests: docs(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: taken\ndata: {a: b}")})
		wantInvalid(t, err, "create configMap taken-v000 in "+e.ns, "carries no "+LabelSequence+" label")
	})
	t.Run("a cancelled deploy is not invalid", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := e.p.Deploy(cancelled, cloud.DeployRequest{Manifests: configMap(e.ns), Application: "web"})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalid) {
			t.Errorf("error %v: want context.Canceled, not ErrInvalid", err)
		}
	})
}

func TestDeployCustomResourceWithItsDefinition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "crd")
	ctx := t.Context()
	group := strings.ReplaceAll(e.ns, "-", "") + ".example.com"
	// The account may create the definition, which is cluster-scoped, so it is not limited.
	p, err := NewProviderFromConfig(Account{Name: "admin"}, cluster(t).RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Deploy(ctx, cloud.DeployRequest{Application: "web", NamespaceOverride: e.ns, Manifests: docs(t, fmt.Sprintf(`apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  size: 3
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true`, group))})
	if err == nil {
		t.Fatalf("deploy of a Widget in example.com/v1, which nothing serves, succeeded: %v", fullNames(res.Deployed))
	}
	wantInvalid(t, err, "does not serve example.com/v1 Widget")

	res, err = p.Deploy(ctx, cloud.DeployRequest{Application: "web", NamespaceOverride: e.ns, Manifests: docs(t, fmt.Sprintf(`apiVersion: %[1]s/v1
kind: Widget
metadata:
  name: w
spec:
  size: 3
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true`, group))})
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if want := []string{"customResourceDefinition widgets." + group, "widget w"}; !reflect.DeepEqual(fullNames(res.Deployed), want) {
		t.Fatalf("deployed %v, want %v", fullNames(res.Deployed), want)
	}
	if res.Applied[1].Namespace != e.ns || res.Applied[0].Namespace != "" {
		t.Errorf("applied %+v: want the definition cluster-wide and the widget in %s", res.Applied, e.ns)
	}
	kind := "Widget." + group
	if st, err := p.Status(ctx, kind, e.ns, "w"); err != nil || !st.Done {
		t.Errorf("Status(%s) = %+v, %v; want done", kind, st, err)
	}

	t.Run("patches", func(t *testing.T) {
		err := p.Patch(ctx, kind, e.ns, "w", PatchStrategic, []byte(`{"spec":{"size":4}}`))
		wantInvalid(t, err, "strategic merge patches work only on built-in kinds", "use a merge or json patch")
		if err := p.Patch(ctx, kind, e.ns, "w", PatchMerge, []byte(`{"spec":{"size":5}}`)); err != nil {
			t.Fatalf("merge patch: %v", err)
		}
		w, err := e.dyn.Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}).Namespace(e.ns).Get(ctx, "w", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if size := at(w.Object, "spec.size"); size != int64(5) {
			t.Errorf("spec.size = %v after the merge patch, want 5", size)
		}
	})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "status")
	ctx := t.Context()

	st, err := e.p.Status(ctx, "Deployment", e.ns, "missing")
	if err != nil || st.Done || st.Failed || !strings.Contains(st.Message, "not found") {
		t.Errorf("status of a missing deployment: %+v, %v; want neither done nor failed, not found", st, err)
	}
	_, err = e.p.Status(ctx, "Gadget", e.ns, "g")
	wantInvalid(t, err, "kind Gadget is not served")
	_, err = e.p.Status(ctx, "Deployment", "kube-system", "coredns")
	wantInvalid(t, err, "may not use namespace kube-system")

	e.deploy(cloud.DeployRequest{Application: "stuck", Manifests: docs(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 1
  progressDeadlineSeconds: 10
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck, %s: %s}
    spec:
      containers: [{name: app, image: example.com/stuck:1}]`, localkube.ChaosLabel, localkube.ChaosNeverReady))})
	st = e.waitStatus("Deployment", "stuck", true, time.Minute)
	if !strings.Contains(st.Message, "progress deadline exceeded") {
		t.Errorf("status message %q, want it to say the progress deadline was exceeded", st.Message)
	}
}

// simpleDeployment is a Deployment of one container.
func simpleDeployment(t *testing.T, name, image string, replicas int) []any {
	return docs(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[3]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers: [{name: app, image: %[2]q}]`, name, image, replicas))
}

func TestScaleAndPatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "scale")
	ctx := t.Context()
	e.deploy(cloud.DeployRequest{Application: "web", Manifests: slices.Concat(simpleDeployment(t, "web", "example.com/web:1", 1),
		docs(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: b}"))})

	t.Run("scale", func(t *testing.T) {
		if err := e.p.Scale(ctx, "deployment", e.ns, "web", 3); err != nil {
			t.Fatalf("Scale: %v", err)
		}
		if got := at(e.get("Deployment", "web").Object, "spec.replicas"); got != int64(3) {
			t.Errorf("spec.replicas = %v, want 3", got)
		}
		wantInvalid(t, e.p.Scale(ctx, "ConfigMap", e.ns, "c-v000", 2), "has no scale subresource")
		wantInvalid(t, e.p.Scale(ctx, "Deployment", e.ns, "missing", 2), "scale deployment missing in "+e.ns, "not found")
		wantInvalid(t, e.p.Scale(ctx, "Deployment", e.ns, "web", -1), "negative")
	})

	t.Run("patch", func(t *testing.T) {
		// A strategic merge adds a container by name where a merge patch would replace the list.
		if err := e.p.Patch(ctx, "Deployment.apps", e.ns, "web", PatchStrategic,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"example.com/sidecar:1"}]}}}}`)); err != nil {
			t.Fatalf("strategic patch: %v", err)
		}
		if err := e.p.Patch(ctx, "Deployment", e.ns, "web", PatchMerge, []byte(`{"metadata":{"labels":{"team":"a"}}}`)); err != nil {
			t.Fatalf("merge patch: %v", err)
		}
		if err := e.p.Patch(ctx, "deployments", e.ns, "web", PatchJSON, []byte(`[{"op":"replace","path":"/spec/replicas","value":2}]`)); err != nil {
			t.Fatalf("json patch: %v", err)
		}
		web := e.get("Deployment", "web")
		if n := len(web.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)); n != 2 {
			t.Errorf("%d containers after the strategic patch, want 2", n)
		}
		if web.GetLabels()["team"] != "a" || at(web.Object, "spec.replicas") != int64(2) {
			t.Errorf("labels %v, replicas %v after the merge and json patches; want team=a and 2", web.GetLabels(), at(web.Object, "spec.replicas"))
		}
		wantInvalid(t, e.p.Patch(ctx, "Deployment", e.ns, "web", "yaml", []byte(`{}`)), `patch type "yaml"`)
		wantInvalid(t, e.p.Patch(ctx, "Deployment", e.ns, "web", PatchJSON, []byte(`[{"op":"remove","path":"/spec/nothing"}]`)), "patch deployment web in "+e.ns, "paths is missing")
		wantInvalid(t, e.p.Patch(ctx, "Deployment", e.ns, "missing", PatchMerge, []byte(`{}`)), "not found")
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "delete")
	ctx := t.Context()
	for _, name := range []string{"orphan", "foreground", "background"} {
		e.deploy(cloud.DeployRequest{Application: "web", Manifests: simpleDeployment(t, name, "example.com/web:1", 1)})
	}
	ownedReplicaSets := func(app string) []unstructured.Unstructured { return e.list("ReplicaSet", "app="+app) }
	for _, name := range []string{"orphan", "foreground", "background"} {
		eventually(t, 30*time.Second, "the deployment controller creates a ReplicaSet for "+name, func() string {
			if len(ownedReplicaSets(name)) == 0 {
				return "no ReplicaSet"
			}
			return ""
		})
	}
	gone := func(kind, name string) string {
		_, err := e.dyn.Resource(gvrOf(kind)).Namespace(e.ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ""
		}
		return fmt.Sprintf("%s %s still there (%v)", kind, name, err)
	}

	t.Run("orphan leaves the ReplicaSets", func(t *testing.T) {
		if err := e.p.Delete(ctx, "Deployment", e.ns, "orphan", cloud.DeleteOptions{Cascading: cloud.CascadeOrphan}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "deployment orphan deleted", func() string { return gone("Deployment", "orphan") })
		for _, rs := range ownedReplicaSets("orphan") {
			if metav1.GetControllerOf(&rs) != nil {
				t.Errorf("ReplicaSet %s still has a controller", rs.GetName())
			}
		}
		if len(ownedReplicaSets("orphan")) == 0 {
			t.Error("the orphaned ReplicaSet was deleted")
		}
	})
	t.Run("foreground deletes the ReplicaSets first", func(t *testing.T) {
		zero := int64(0)
		if err := e.p.Delete(ctx, "Deployment", e.ns, "foreground", cloud.DeleteOptions{Cascading: cloud.CascadeForeground, GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "deployment foreground deleted", func() string {
			if rs := ownedReplicaSets("foreground"); len(rs) > 0 {
				if d := gone("Deployment", "foreground"); d == "" {
					t.Fatalf("the deployment went before its ReplicaSets")
				}
				return fmt.Sprintf("%d ReplicaSets left", len(rs))
			}
			return gone("Deployment", "foreground")
		})
	})
	t.Run("background deletes the ReplicaSets after", func(t *testing.T) {
		if err := e.p.Delete(ctx, "Deployment", e.ns, "background", cloud.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "deployment background and its ReplicaSets deleted", func() string {
			if rs := ownedReplicaSets("background"); len(rs) > 0 {
				return fmt.Sprintf("%d ReplicaSets left", len(rs))
			}
			return gone("Deployment", "background")
		})
	})
	t.Run("deleting what is gone succeeds", func(t *testing.T) {
		if err := e.p.Delete(ctx, "Deployment", e.ns, "background", cloud.DeleteOptions{Cascading: cloud.CascadeForeground}); err != nil {
			t.Errorf("second delete: %v", err)
		}
	})
	t.Run("unknown cascading", func(t *testing.T) {
		wantInvalid(t, e.p.Delete(ctx, "Deployment", e.ns, "x", cloud.DeleteOptions{Cascading: "later"}), `cascading "later"`)
	})
}

func TestUndoRollout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "undo")
	ctx := t.Context()
	revision := func() string { return e.get("Deployment", "web").GetAnnotations()[AnnotationRevision] }
	for i, image := range []string{"example.com/web:1", "example.com/web:2", "example.com/web:3"} {
		e.deploy(cloud.DeployRequest{Application: "web", Manifests: simpleDeployment(t, "web", image, 1)})
		want := fmt.Sprint(i + 1)
		eventually(t, 30*time.Second, "deployment web at revision "+want, func() string {
			if got := revision(); got != want {
				return "revision " + got
			}
			return ""
		})
	}

	wantInvalid(t, mustFail(e.p.UndoRollout(ctx, "Deployment", e.ns, "web", 3)), "cannot go back 3 revisions from revision 3", "it keeps revision 2, 1")
	restored, err := e.p.UndoRollout(ctx, "Deployment", e.ns, "web", 2)
	if err != nil {
		t.Fatalf("UndoRollout: %v", err)
	}
	if restored != 1 {
		t.Errorf("restored revision %d, want 1", restored)
	}
	if image := at(e.get("Deployment", "web").Object, "spec.template.spec.containers[0].image"); image != "example.com/web:1" {
		t.Errorf("image %v after undo, want example.com/web:1", image)
	}
	eventually(t, 30*time.Second, "revision 1 rolled out again as revision 4", func() string {
		if got := revision(); got != "4" {
			return "revision " + got
		}
		return ""
	})
	e.waitStatus("Deployment", "web", false, 30*time.Second)

	wantInvalid(t, mustFail(e.p.UndoRollout(ctx, "ReplicaSet", e.ns, "web", 1)), "only a Deployment")
	wantInvalid(t, mustFail(e.p.UndoRollout(ctx, "Deployment", e.ns, "missing", 1)), "undo the rollout of deployment missing", "not found")
}

func mustFail(_ int64, err error) error { return err }

func TestRollingRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "restart")
	ctx := t.Context()
	e.deploy(cloud.DeployRequest{Application: "web", Manifests: slices.Concat(simpleDeployment(t, "web", "example.com/web:1", 1), docs(t, `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers: [{name: agent, image: example.com/agent:1}]`))})
	before := e.get("Deployment", "web").GetGeneration()
	for _, kind := range []string{"Deployment", "DaemonSet"} {
		name := map[string]string{"Deployment": "web", "DaemonSet": "agent"}[kind]
		if err := e.p.RollingRestart(ctx, kind, e.ns, name); err != nil {
			t.Fatalf("RollingRestart %s: %v", kind, err)
		}
		stamp, _ := at(e.get(kind, name).Object, "spec.template.metadata.annotations["+AnnotationRestartedAt+"]").(string)
		if when, err := time.Parse(time.RFC3339, stamp); err != nil || time.Since(when) > time.Minute {
			t.Errorf("%s %s template annotation %s = %q, want the time now", kind, name, AnnotationRestartedAt, stamp)
		}
	}
	if after := e.get("Deployment", "web").GetGeneration(); after != before+1 {
		t.Errorf("generation %d after the restart, want %d", after, before+1)
	}
	wantInvalid(t, e.p.RollingRestart(ctx, "ReplicaSet", e.ns, "web-v000"), "only Deployments, StatefulSets and DaemonSets")
}

func TestTrafficAndServerGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "traffic")
	ctx := t.Context()
	e.deploy(cloud.DeployRequest{Application: "shop", ExecutionID: "exec-7", Manifests: docs(t, `apiVersion: v1
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
spec:
  replicas: 2
  selector:
    matchLabels: {run: shop}
  template:
    metadata:
      labels: {run: shop}
    spec:
      containers: [{name: shop, image: example.com/shop:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: 1
  selector:
    matchLabels: {run: worker}
  template:
    metadata:
      labels: {run: worker}
    spec:
      containers: [{name: worker, image: example.com/worker:1}]`)})

	// serverGroups waits until the ReplicaSet and the Deployment are ready and returns them.
	serverGroups := func(t *testing.T) (rs, worker cloud.ServerGroup) {
		t.Helper()
		eventually(t, 30*time.Second, "server groups ready", func() string {
			clusters, err := e.p.ServerGroups(ctx, "shop")
			if err != nil {
				t.Fatalf("ServerGroups: %v", err)
			}
			var names []string
			for _, c := range clusters {
				if c.Account != "test-account" || c.Region != e.ns {
					t.Fatalf("cluster %+v is not in account test-account, namespace %s", c, e.ns)
				}
				for _, sg := range c.ServerGroups {
					names = append(names, c.Name+": "+sg.Name)
				}
			}
			if want := []string{"deployment worker: worker", "replicaSet shop: shop-v000"}; !reflect.DeepEqual(names, want) {
				t.Fatalf("server groups %v, want %v", names, want)
			}
			worker, rs = clusters[0].ServerGroups[0], clusters[1].ServerGroups[0]
			if rs.Ready != 2 || worker.Ready != 1 {
				return fmt.Sprintf("ready: shop-v000 %d, worker %d", rs.Ready, worker.Ready)
			}
			return ""
		})
		return rs, worker
	}
	// podLabels are the labels of the ReplicaSet's pods, each pod's as one string.
	podLabels := func(want bool) string {
		pods := e.list("Pod", "run=shop")
		if len(pods) != 2 {
			return fmt.Sprintf("%d pods", len(pods))
		}
		for _, pod := range pods {
			if has := pod.GetLabels()["svc"] == "shop"; has != want {
				return fmt.Sprintf("pod %s labels %v", pod.GetName(), pod.GetLabels())
			}
		}
		return ""
	}

	rs, worker := serverGroups(t)
	if rs.Desired != 2 || rs.Kind != "ReplicaSet" || rs.TakingTraffic || !reflect.DeepEqual(rs.Images, []string{"example.com/shop:1"}) ||
		rs.Moniker.Sequence == nil || *rs.Moniker.Sequence != 0 || rs.Moniker.App != "shop" || rs.CreatedByExecution != "exec-7" || rs.CreatedAt.IsZero() {
		t.Errorf("server group %+v", rs)
	}
	if worker.Desired != 1 || worker.Kind != "Deployment" || worker.TakingTraffic || worker.Moniker.Sequence != nil ||
		!reflect.DeepEqual(worker.Images, []string{"example.com/worker:1"}) {
		t.Errorf("server group %+v", worker)
	}

	t.Run("enable", func(t *testing.T) {
		for range 2 { // the second time changes nothing
			if err := e.p.SetTraffic(ctx, e.ns, "shop-v000", "shop", true); err != nil {
				t.Fatalf("SetTraffic: %v", err)
			}
		}
		if l := at(e.get("ReplicaSet", "shop-v000").Object, "spec.template.metadata.labels.svc"); l != "shop" {
			t.Errorf("template label svc = %v, want shop", l)
		}
		if msg := podLabels(true); msg != "" {
			t.Errorf("pods not relabelled: %s", msg)
		}
		if rs, _ := serverGroups(t); !rs.TakingTraffic {
			t.Errorf("server group %s not taking traffic after enabling", rs.Name)
		}
	})
	t.Run("disable", func(t *testing.T) {
		if err := e.p.SetTraffic(ctx, e.ns, "replicaSet shop-v000", "service shop", false); err != nil {
			t.Fatalf("SetTraffic: %v", err)
		}
		if l := at(e.get("ReplicaSet", "shop-v000").Object, "spec.template.metadata.labels.svc"); l != nil {
			t.Errorf("template label svc = %v, want none", l)
		}
		if msg := podLabels(false); msg != "" {
			t.Errorf("pods not relabelled: %s", msg)
		}
		if rs, _ := serverGroups(t); rs.TakingTraffic {
			t.Errorf("server group %s taking traffic after disabling", rs.Name)
		}
	})
	t.Run("refused", func(t *testing.T) {
		wantInvalid(t, e.p.SetTraffic(ctx, e.ns, "deployment worker", "shop", true), "works only on ReplicaSets")
		wantInvalid(t, e.p.SetTraffic(ctx, e.ns, "shop-v000", "missing", true), "service missing", "not found")
		wantInvalid(t, e.p.SetTraffic(ctx, e.ns, "shop-v000", "ingress shop", true), "through a Service")
	})
}

func TestNewProviderFromKubeconfig(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	p, err := NewProvider(Account{Name: "local", Kubeconfig: c.Kubeconfig()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Status(t.Context(), "ConfigMap", "", "kube-root-ca.crt")
	if err != nil || !st.Done {
		t.Errorf("Status of the default namespace's root CA: %+v, %v; want done", st, err)
	}
	if _, err := NewProvider(Account{Name: "local", Kubeconfig: c.Kubeconfig(), Context: "nowhere"}); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("NewProvider with a missing context: %v, want an error naming it", err)
	}
	if _, err := NewProvider(Account{Name: "bad name"}); err == nil {
		t.Error("NewProvider accepted an invalid account")
	}
}

func TestTail(t *testing.T) {
	long := strings.Repeat("0123456789\n", 10000) + "last line\n"
	tests := []struct {
		name, in string
		n        int64
		want     string
	}{
		{"shorter than the tail", "a\nb\n", 100, "a\nb\n"},
		{"starts at a whole line", "first line\nsecond\nthird\n", 15, "second\nthird\n"},
		{"a single long line is cut", "abcdefghij", 4, "ghij"},
		{"far longer than the tail", long, 25, "0123456789\nlast line\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, err := tail(r, tt.n)
				if err != nil || got != tt.want {
					t.Errorf("tail(%d) = %q, %v; want %q", tt.n, got, err, tt.want)
				}
			}
		})
	}
	if _, err := tail(iotest.ErrReader(io.ErrUnexpectedEOF), 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("tail of a failing reader: %v", err)
	}
}
