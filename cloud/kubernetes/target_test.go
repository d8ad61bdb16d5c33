package kubernetes

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// shopReplicaSet is version of cluster "replicaSet shop" running image with replicas pods; its
// traffic goes through the Service "shop".
func shopReplicaSet(t *testing.T, image string, replicas int) []any {
	return docs(t, fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: shop
  annotations:
    traffic.spinnaker.io/load-balancers: '["service shop"]'
spec:
  replicas: %d
  selector:
    matchLabels: {run: shop}
  template:
    metadata:
      labels: {run: shop}
    spec:
      containers: [{name: shop, image: %q}]`, replicas, image))
}

const shopService = `apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  selector: {svc: shop}
  ports: [{port: 80}]`

func TestResolveTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "target")
	ctx := t.Context()
	// Three versions asking for 1, 3 and 2 pods, created within the same second or so: the
	// sequence orders them when creation times tie.
	for i, replicas := range []int{1, 3, 2} {
		e.deploy(cloud.DeployRequest{Application: "shop", Manifests: shopReplicaSet(t, fmt.Sprintf("example.com/shop:%d", i), replicas)})
	}
	e.deploy(cloud.DeployRequest{Application: "shop", Manifests: simpleDeployment(t, "api", "example.com/api:1", 1)})

	for _, tt := range []struct{ cluster, criteria, kind, want string }{
		{"replicaSet shop", CriteriaNewest, "", "ReplicaSet shop-v002"},
		{"replicaSet shop", CriteriaSecondNewest, "", "ReplicaSet shop-v001"},
		{"replicaSet shop", CriteriaOldest, "replicaSet", "ReplicaSet shop-v000"},
		{"replicaSet shop", CriteriaLargest, "ReplicaSet.apps", "ReplicaSet shop-v001"},
		{"replicaSet shop", CriteriaSmallest, "replicasets", "ReplicaSet shop-v000"},
		// The Deployment's ReplicaSets carry its cluster too, but the Deployment is the server group.
		{"deployment api", CriteriaNewest, "", "Deployment api"},
	} {
		kind, name, err := e.p.ResolveTarget(ctx, e.ns, tt.cluster, tt.criteria, tt.kind)
		if err != nil {
			t.Errorf("%s %s (kind %q): %v", tt.criteria, tt.cluster, tt.kind, err)
			continue
		}
		if got := kind + " " + name; got != tt.want {
			t.Errorf("%s %s (kind %q) = %s, want %s", tt.criteria, tt.cluster, tt.kind, got, tt.want)
		}
	}
	// An empty namespace is the account's default one.
	if _, name, err := e.p.ResolveTarget(ctx, "", "replicaSet shop", CriteriaNewest, ""); err != nil || name != "shop-v002" {
		t.Errorf("in the default namespace: %s, %v", name, err)
	}

	t.Run("refused", func(t *testing.T) {
		resolveErr := func(namespace, cluster, criteria, kind string) error {
			_, _, err := e.p.ResolveTarget(ctx, namespace, cluster, criteria, kind)
			return err
		}
		wantInvalid(t, resolveErr(e.ns, "replicaSet cart", CriteriaNewest, ""), `cluster "replicaSet cart" in `+e.ns, "no server group of that cluster")
		wantInvalid(t, resolveErr(e.ns, "replicaSet shop", CriteriaNewest, "Deployment"), "no Deployment of that cluster")
		wantInvalid(t, resolveErr(e.ns, "deployment api", CriteriaSecondNewest, ""), "it has only one, deployment api")
		wantInvalid(t, resolveErr(e.ns, "replicaSet shop", "latest", ""), `criteria "latest"`, "newest, second_newest, oldest, largest, smallest")
		wantInvalid(t, resolveErr(e.ns, "", CriteriaNewest, ""), "no cluster given")
		wantInvalid(t, resolveErr("kube-system", "replicaSet shop", CriteriaNewest, ""), "may not use namespace kube-system")
		wantInvalid(t, resolveErr(e.ns, "replicaSet shop", CriteriaNewest, "Namespace"), "not in a namespace")
		// No test defines a Gadget; Widget is a custom resource other tests of this cluster create.
		wantInvalid(t, resolveErr(e.ns, "replicaSet shop", CriteriaNewest, "Gadget"), "kind Gadget is not served")
	})

	t.Run("get", func(t *testing.T) {
		obj, err := e.p.Get(ctx, "replicaSet", e.ns, "shop-v001")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if obj.GetKind() != "ReplicaSet" || obj.GetAnnotations()[AnnotationCluster] != "replicaSet shop" {
			t.Errorf("Get returned %s with annotations %v", obj.GetKind(), obj.GetAnnotations())
		}
		_, err = e.p.Get(ctx, "replicaSet", e.ns, "shop-v009")
		wantInvalid(t, err, "read replicaSet shop-v009 in "+e.ns, "not found")
		if !IsNotFound(err) {
			t.Errorf("IsNotFound(%v) is false", err)
		}
		if _, err := e.p.Get(ctx, "replicaSet", "kube-system", "x"); IsNotFound(err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("a namespace the account may not use: %v", err)
		}
	})
}

func TestParseManifestName(t *testing.T) {
	for in, want := range map[string][2]string{
		"replicaSet web-v003":   {"replicaSet", "web-v003"},
		" deployment  web ":     {"deployment", "web"},
		"Rollout.argoproj.io x": {"Rollout.argoproj.io", "x"},
	} {
		kind, name, err := ParseManifestName(in)
		if err != nil || kind != want[0] || name != want[1] {
			t.Errorf("ParseManifestName(%q) = %q, %q, %v; want %q, %q", in, kind, name, err, want[0], want[1])
		}
	}
	for _, in := range []string{"", "web", "deployment", "deployment web extra", " web"} {
		_, _, err := ParseManifestName(in)
		wantInvalid(t, err, "write it as kind and name")
	}
}

func TestResourceArtifacts(t *testing.T) {
	deployed := object(t, `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-v003
  namespace: staging
  annotations:
    artifact.spinnaker.io/type: kubernetes/replicaSet
    artifact.spinnaker.io/name: web
    artifact.spinnaker.io/location: staging
    artifact.spinnaker.io/version: v003
spec:
  template:
    spec:
      initContainers: [{name: init, image: "registry:5000/tools/init@sha256:abc"}]
      containers:
      - {name: web, image: "gcr.io/x/web:1.2"}
      - {name: proxy, image: envoy}
      - {name: again, image: "gcr.io/x/web:1.2"}`)
	want := []pipeline.Artifact{
		{Type: "docker/image", Name: "registry:5000/tools/init", Version: "sha256:abc", Reference: "registry:5000/tools/init@sha256:abc"},
		{Type: "docker/image", Name: "gcr.io/x/web", Version: "1.2", Reference: "gcr.io/x/web:1.2"},
		{Type: "docker/image", Name: "envoy", Reference: "envoy"},
		{Type: "kubernetes/replicaSet", Name: "web", Location: "staging", Version: "v003", Reference: "web-v003"},
	}
	if got := ResourceArtifacts(deployed); !reflect.DeepEqual(got, want) {
		t.Errorf("artifacts of a deployed ReplicaSet:\n got %+v\nwant %+v", got, want)
	}

	// Without artifact annotations, the object's own names say what it is.
	for _, tt := range []struct {
		text string
		want pipeline.Artifact
	}{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-v012, namespace: qa}", pipeline.Artifact{Type: "kubernetes/configMap", Name: "cfg", Location: "qa", Version: "v012", Reference: "cfg-v012"}},
		{"apiVersion: v1\nkind: Namespace\nmetadata: {name: qa}", pipeline.Artifact{Type: "kubernetes/namespace", Name: "qa", Reference: "qa"}},
	} {
		if got := ResourceArtifacts(object(t, tt.text)); !reflect.DeepEqual(got, []pipeline.Artifact{tt.want}) {
			t.Errorf("artifacts of %s: %+v, want %+v", tt.text, got, tt.want)
		}
	}
	cron := object(t, `apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: qa}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: r, image: "example.com/report:7"}]`)
	if got := ResourceArtifacts(cron); len(got) != 2 || got[0].Reference != "example.com/report:7" || got[1].Type != "kubernetes/cronJob" {
		t.Errorf("artifacts of a CronJob: %+v", got)
	}
}
