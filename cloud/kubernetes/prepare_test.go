package kubernetes

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

const configMapYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  a: "1"`

const secretYAML = `apiVersion: v1
kind: Secret
metadata:
  name: web-secret
stringData:
  b: "2"`

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
      - name: migrate
        image: gcr.io/x/migrate:1.0
        envFrom:
        - configMapRef: {name: web-config}
      containers:
      - name: web
        image: gcr.io/x/web:1.0
        envFrom:
        - configMapRef: {name: web-config}
        - secretRef: {name: web-secret}
        env:
        - name: A
          valueFrom: {configMapKeyRef: {name: web-config, key: a}}
        - name: B
          valueFrom: {secretKeyRef: {name: web-secret, key: b}}
        - name: C
          value: plain
      - name: sidecar
        image: envoyproxy/envoy:v1.30
      volumes:
      - name: config
        configMap: {name: web-config}
      - name: secret
        secret: {secretName: web-secret}
      - name: both
        projected:
          sources:
          - configMap: {name: web-config}
          - secret: {name: web-secret}
      - name: shared
        configMap: {name: shared-config}
      - name: scratch
        emptyDir: {}`

func input(manifests []any, mods ...func(*PrepareInput)) PrepareInput {
	in := PrepareInput{
		Manifests:   manifests,
		Account:     "prod-k8s",
		Application: "web",
		ExecutionID: "01JEXEC",
		StageRefID:  "2",
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

func find(t *testing.T, res PrepareResult, kind, name string) map[string]any {
	t.Helper()
	for _, m := range res.Manifests {
		if m.GetKind() == kind && m.GetName() == name {
			return m.Object
		}
	}
	var have []string
	for _, d := range res.Deployed {
		have = append(have, d.FullName())
	}
	t.Fatalf("no %s %s in the result; have %s", kind, name, strings.Join(have, ", "))
	return nil
}

// field is one expected value in a prepared manifest.
type field struct {
	kind, name, path string
	want             any
}

func checkFields(t *testing.T, res PrepareResult, fields []field) {
	t.Helper()
	for _, f := range fields {
		got := at(find(t, res, f.kind, f.name), f.path)
		if !reflect.DeepEqual(got, f.want) {
			t.Errorf("%s %s %s = %#v, want %#v", f.kind, f.name, f.path, got, f.want)
		}
	}
}

func existing(names ...string) []ExistingVersion {
	var out []ExistingVersion
	for _, n := range names {
		out = append(out, ExistingVersion{Name: n})
	}
	return out
}

func TestPrepareVersioning(t *testing.T) {
	key := ResourceKey{Namespace: "default", Kind: "ConfigMap", Name: "web-config"}
	tests := []struct {
		name     string
		existing []ExistingVersion
		want     string
		seq      string
	}{
		{"first version", nil, "web-config-v000", "0"},
		{"after v000 to v002", existing("web-config-v000", "web-config-v001", "web-config-v002"), "web-config-v003", "3"},
		{"wraps after v999", existing("web-config-v998", "web-config-v999"), "web-config-v000", "0"},
		{"after the wrap", existing("web-config-v999", "web-config-v000"), "web-config-v001", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := PrepareManifests(input(docs(t, configMapYAML), func(in *PrepareInput) {
				in.Existing = map[ResourceKey][]ExistingVersion{key: tt.existing}
			}))
			if err != nil {
				t.Fatal(err)
			}
			version := tt.want[len(tt.want)-4:]
			wantDeployed := []cloud.DeployedResource{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: tt.want, Version: version, Versioned: true}}
			if !reflect.DeepEqual(res.Deployed, wantDeployed) {
				t.Errorf("Deployed = %+v, want %+v", res.Deployed, wantDeployed)
			}
			checkFields(t, res, []field{
				{"ConfigMap", tt.want, "metadata.annotations[moniker.spinnaker.io/sequence]", tt.seq},
				{"ConfigMap", tt.want, "metadata.labels[moniker.spinnaker.io/sequence]", tt.seq},
				{"ConfigMap", tt.want, "metadata.annotations[artifact.spinnaker.io/name]", "web-config"},
				{"ConfigMap", tt.want, "metadata.annotations[artifact.spinnaker.io/version]", version},
				{"ConfigMap", tt.want, "metadata.annotations[moniker.spinnaker.io/cluster]", "configMap web-config"},
			})
			wantCreated := []pipeline.Artifact{{Type: "kubernetes/configMap", Name: "web-config", Location: "default", Version: version, Reference: tt.want}}
			if !reflect.DeepEqual(res.CreatedArtifacts, wantCreated) {
				t.Errorf("CreatedArtifacts = %+v, want %+v", res.CreatedArtifacts, wantCreated)
			}
		})
	}
}

func TestPrepareVersionedOverride(t *testing.T) {
	res, err := PrepareManifests(input(docs(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  annotations: {strategy.spinnaker.io/versioned: "true"}
spec:
  template: {spec: {containers: [{name: api, image: api}]}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations: {strategy.spinnaker.io/versioned: "false"}
data: {a: b}`)))
	if err != nil {
		t.Fatal(err)
	}
	want := []cloud.DeployedResource{
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "settings"},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "api-v000", Version: "v000", Versioned: true},
	}
	if !reflect.DeepEqual(res.Deployed, want) {
		t.Errorf("Deployed = %+v, want %+v", res.Deployed, want)
	}
	checkFields(t, res, []field{
		{"ConfigMap", "settings", "metadata.annotations[artifact.spinnaker.io/version]", nil},
		{"ConfigMap", "settings", "metadata.annotations[moniker.spinnaker.io/sequence]", nil},
	})
}

func TestPrepareReferences(t *testing.T) {
	cmV := "web-config-v003"
	secretV := "web-secret-v000"
	refs := []field{
		{"Deployment", "web", "spec.template.spec.volumes[0].configMap.name", cmV},
		{"Deployment", "web", "spec.template.spec.volumes[1].secret.secretName", secretV},
		{"Deployment", "web", "spec.template.spec.volumes[2].projected.sources[0].configMap.name", cmV},
		{"Deployment", "web", "spec.template.spec.volumes[2].projected.sources[1].secret.name", secretV},
		{"Deployment", "web", "spec.template.spec.containers[0].envFrom[0].configMapRef.name", cmV},
		{"Deployment", "web", "spec.template.spec.containers[0].envFrom[1].secretRef.name", secretV},
		{"Deployment", "web", "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.name", cmV},
		{"Deployment", "web", "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.key", "a"},
		{"Deployment", "web", "spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef.name", secretV},
		{"Deployment", "web", "spec.template.spec.containers[0].env[2].value", "plain"},
		{"Deployment", "web", "spec.template.spec.initContainers[0].envFrom[0].configMapRef.name", cmV},
	}

	t.Run("in the same deploy", func(t *testing.T) {
		// The Deployment comes first to show that the deploy orders ConfigMaps and Secrets before it.
		res, err := PrepareManifests(input(docs(t, deploymentYAML+"\n---\n"+configMapYAML+"\n---\n"+secretYAML), func(in *PrepareInput) {
			in.Existing = map[ResourceKey][]ExistingVersion{
				{Namespace: "default", Kind: "ConfigMap", Name: "web-config"}: existing("web-config-v000", "web-config-v001", "web-config-v002"),
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, res, append(refs,
			field{"Deployment", "web", "spec.template.spec.volumes[3].configMap.name", "shared-config"},
			field{"Deployment", "web", "metadata.name", "web"},
		))
		var order []string
		for _, d := range res.Deployed {
			order = append(order, d.FullName())
		}
		if want := "configMap web-config-v003,secret web-secret-v000,deployment web"; strings.Join(order, ",") != want {
			t.Errorf("order = %s, want %s", strings.Join(order, ","), want)
		}
		wantBound := []pipeline.Artifact{
			{Type: "kubernetes/configMap", Name: "web-config", Location: "default", Version: "v003", Reference: cmV},
			{Type: "kubernetes/secret", Name: "web-secret", Location: "default", Version: "v000", Reference: secretV},
		}
		if !reflect.DeepEqual(res.BoundArtifacts, wantBound) {
			t.Errorf("BoundArtifacts = %+v, want %+v", res.BoundArtifacts, wantBound)
		}
	})

	t.Run("bound to the latest existing version", func(t *testing.T) {
		res, err := PrepareManifests(input(docs(t, deploymentYAML), func(in *PrepareInput) {
			in.Existing = map[ResourceKey][]ExistingVersion{
				{Namespace: "default", Kind: "ConfigMap", Name: "web-config"}: existing("web-config-v001", "web-config-v003", "web-config-v002"),
				{Namespace: "default", Kind: "Secret", Name: "web-secret"}:    existing("web-secret-v000"),
				// Versions in another namespace are not this deploy's to bind.
				{Namespace: "other", Kind: "ConfigMap", Name: "shared-config"}: existing("shared-config-v004"),
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, res, append(refs,
			field{"Deployment", "web", "spec.template.spec.volumes[3].configMap.name", "shared-config"},
		))
		if len(res.BoundArtifacts) != 2 || res.BoundArtifacts[0].Reference != cmV || res.BoundArtifacts[1].Reference != secretV {
			t.Errorf("BoundArtifacts = %+v", res.BoundArtifacts)
		}
	})

	t.Run("bound from an upstream artifact", func(t *testing.T) {
		res, err := PrepareManifests(input(docs(t, deploymentYAML), func(in *PrepareInput) {
			in.Artifacts = []pipeline.Artifact{
				{Type: "kubernetes/configMap", Name: "web-config", Location: "default", Version: "v003", Reference: cmV},
				{Type: "kubernetes/secret", Name: "web-secret", Location: "elsewhere", Reference: "web-secret-v009"},
				{Type: "kubernetes/secret", Name: "web-secret", Reference: secretV},
			}
			// An upstream artifact wins over what the cluster holds.
			in.Existing = map[ResourceKey][]ExistingVersion{
				{Namespace: "default", Kind: "ConfigMap", Name: "web-config"}: existing("web-config-v007"),
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, res, refs)
	})

	t.Run("pods, jobs and cron jobs too", func(t *testing.T) {
		res, err := PrepareManifests(input(docs(t, configMapYAML+`
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: c, image: busybox, envFrom: [{configMapRef: {name: web-config}}]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          volumes: [{name: c, configMap: {name: web-config}}]
          containers: [{name: c, image: busybox}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers: [{name: db, image: postgres, env: [{name: X, valueFrom: {configMapKeyRef: {name: web-config, key: a}}}]}]`)))
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, res, []field{
			{"Pod", "debug-v000", "spec.containers[0].envFrom[0].configMapRef.name", "web-config-v000"},
			{"CronJob", "nightly", "spec.jobTemplate.spec.template.spec.volumes[0].configMap.name", "web-config-v000"},
			{"StatefulSet", "db", "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.name", "web-config-v000"},
		})
	})

	t.Run("autoscaler follows its versioned ReplicaSet", func(t *testing.T) {
		res, err := PrepareManifests(input(docs(t, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: ReplicaSet, name: web}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web}]}`), func(in *PrepareInput) {
			in.Existing = map[ResourceKey][]ExistingVersion{
				{Namespace: "default", Kind: "ReplicaSet", Name: "web"}: existing("web-v041"),
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, res, []field{
			{"HorizontalPodAutoscaler", "web", "spec.scaleTargetRef.name", "web-v042"},
			{"HorizontalPodAutoscaler", "web", "spec.minReplicas", int64(2)},
		})
		if res.Deployed[1].Kind != "HorizontalPodAutoscaler" {
			t.Errorf("the autoscaler should be applied after its target: %+v", res.Deployed)
		}
	})
}

func TestPrepareReferenceToLaterKind(t *testing.T) {
	const manifests = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web}
  maxReplicas: 5
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  annotations: {strategy.spinnaker.io/versioned: "VERSIONED"}`
	res, err := PrepareManifests(input(docs(t, strings.Replace(manifests, "VERSIONED", "false", 1))))
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, res, []field{{"HorizontalPodAutoscaler", "web", "spec.scaleTargetRef.name", "web"}})

	_, err = PrepareManifests(input(docs(t, strings.Replace(manifests, "VERSIONED", "true", 1))))
	wantError(t, err, "manifest 0 refers to Rollout web, which is versioned and applied after it")
}

func TestPrepareReusesIdenticalVersion(t *testing.T) {
	key := ResourceKey{Namespace: "default", Kind: "ConfigMap", Name: "web-config"}
	// What a first deploy applied, as kubectl's last-applied annotation records it.
	first, err := PrepareManifests(input(docs(t, configMapYAML), func(in *PrepareInput) {
		in.Existing = map[ResourceKey][]ExistingVersion{key: existing("web-config-v000")}
		in.ExecutionID = "01JFIRST"
	}))
	if err != nil {
		t.Fatal(err)
	}
	applied := first.Manifests[0].Object
	if first.Deployed[0].Name != "web-config-v001" {
		t.Fatalf("first deploy made %s", first.Deployed[0].Name)
	}

	tests := []struct {
		name     string
		data     string
		versions []ExistingVersion
		want     string
	}{
		{"same data reuses v001", `"1"`, []ExistingVersion{{Name: "web-config-v000"}, {Name: "web-config-v001", Manifest: applied}}, "web-config-v001"},
		{"same data, later versions exist", `"1"`, []ExistingVersion{{Name: "web-config-v001", Manifest: applied}, {Name: "web-config-v002"}}, "web-config-v001"},
		{"changed data makes v002", `"changed"`, []ExistingVersion{{Name: "web-config-v000"}, {Name: "web-config-v001", Manifest: applied}}, "web-config-v002"},
		{"unknown content makes v002", `"1"`, existing("web-config-v000", "web-config-v001"), "web-config-v002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(configMapYAML, `a: "1"`, "a: "+tt.data, 1)
			res, err := PrepareManifests(input(docs(t, text), func(in *PrepareInput) {
				in.Existing = map[ResourceKey][]ExistingVersion{key: tt.versions}
			}))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Deployed[0].Name; got != tt.want {
				t.Errorf("deployed %s, want %s", got, tt.want)
			}
			checkFields(t, res, []field{{"ConfigMap", tt.want, "metadata.annotations[gennaker.io/execution-id]", "01JEXEC"}})
		})
	}
}

func TestPrepareNamespaces(t *testing.T) {
	const namespaced = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: written}
spec: {selector: {app: web}}`
	const unnamespaced = `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}}`
	const clusterRole = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader, namespace: written}
rules: []`
	const custom = `apiVersion: example.com/v1
kind: Tenant
metadata: {name: acme}`
	tests := []struct {
		name              string
		manifest          string
		override, deflt   string
		scoped            []string
		wantNamespace     string
		wantNamespaceInMd any
	}{
		{"override wins over the manifest", namespaced, "stage", "account", nil, "stage", "stage"},
		{"the manifest's own", namespaced, "", "account", nil, "written", "written"},
		{"the account default", unnamespaced, "", "account", nil, "account", "account"},
		{"default when nobody says", unnamespaced, "", "", nil, "default", "default"},
		{"cluster-scoped kinds have none", clusterRole, "stage", "account", nil, "", nil},
		{"custom cluster-scoped kind", custom, "stage", "", []string{"Tenant"}, "", nil},
		{"custom namespaced kind", custom, "stage", "", nil, "stage", "stage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := PrepareManifests(input(docs(t, tt.manifest), func(in *PrepareInput) {
				in.NamespaceOverride, in.DefaultNamespace, in.ClusterScopedKinds = tt.override, tt.deflt, tt.scoped
			}))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Deployed[0].Namespace; got != tt.wantNamespace {
				t.Errorf("namespace = %q, want %q", got, tt.wantNamespace)
			}
			if got := at(res.Manifests[0].Object, "metadata.namespace"); got != tt.wantNamespaceInMd {
				t.Errorf("metadata.namespace = %#v, want %#v", got, tt.wantNamespaceInMd)
			}
			if got := at(res.Manifests[0].Object, "metadata.annotations[artifact.spinnaker.io/location]"); tt.wantNamespace != "" && got != tt.wantNamespace {
				t.Errorf("artifact location = %#v, want %q", got, tt.wantNamespace)
			}
		})
	}
}

func TestPrepareImages(t *testing.T) {
	const digest = "gcr.io/x/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pod := func(image, initImage string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers: [{name: init, image: "` + initImage + `"}]
      containers:
      - {name: web, image: "` + image + `"}
      - {name: sidecar, image: "envoyproxy/envoy:v1.30"}
      - {name: lookalike, image: "gcr.io/x/web-worker:1.0"}`
	}
	webArtifact := pipeline.Artifact{Type: "docker/image", Name: "gcr.io/x/web", Reference: digest, Version: "1.1"}
	tests := []struct {
		name              string
		manifest          string
		artifacts         []pipeline.Artifact
		required          []pipeline.Artifact
		wantWeb, wantInit string
		wantBound         []pipeline.Artifact
		err               string
	}{
		{"tag replaced by digest", pod("gcr.io/x/web:1.0", "busybox"), []pipeline.Artifact{webArtifact}, nil, digest, "busybox", []pipeline.Artifact{webArtifact}, ""},
		{"no tag", pod("gcr.io/x/web", "busybox"), []pipeline.Artifact{webArtifact}, nil, digest, "busybox", []pipeline.Artifact{webArtifact}, ""},
		{"older digest", pod("gcr.io/x/web@sha256:aaaa", "busybox"), []pipeline.Artifact{webArtifact}, nil, digest, "busybox", []pipeline.Artifact{webArtifact}, ""},
		{"init container", pod("nginx", "gcr.io/x/web:latest"), []pipeline.Artifact{webArtifact}, nil, "nginx", digest, []pipeline.Artifact{webArtifact}, ""},
		{"tag reference", pod("gcr.io/x/web:1.0", "busybox"), []pipeline.Artifact{{Type: "docker/image", Name: "gcr.io/x/web", Reference: "gcr.io/x/web:1.1"}}, nil,
			"gcr.io/x/web:1.1", "busybox", []pipeline.Artifact{{Type: "docker/image", Name: "gcr.io/x/web", Reference: "gcr.io/x/web:1.1"}}, ""},
		{"registry port is not a tag", pod("localhost:5000/web", "busybox"), []pipeline.Artifact{{Type: "docker/image", Name: "localhost:5000/web", Reference: "localhost:5000/web:2"}}, nil,
			"localhost:5000/web:2", "busybox", []pipeline.Artifact{{Type: "docker/image", Name: "localhost:5000/web", Reference: "localhost:5000/web:2"}}, ""},
		{"name taken from the reference", pod("gcr.io/x/web:1.0", "busybox"), []pipeline.Artifact{{Type: "docker/image", Reference: digest}}, nil,
			digest, "busybox", []pipeline.Artifact{{Type: "docker/image", Reference: digest}}, ""},
		{"other types are not images", pod("gcr.io/x/web:1.0", "busybox"), []pipeline.Artifact{{Type: "gcs/object", Name: "gcr.io/x/web", Reference: "gs://b/o"}}, nil,
			"gcr.io/x/web:1.0", "busybox", nil, ""},
		{"required wins over optional", pod("gcr.io/x/web:1.0", "busybox"), []pipeline.Artifact{{Type: "docker/image", Name: "gcr.io/x/web", Reference: "gcr.io/x/web:old"}}, []pipeline.Artifact{webArtifact},
			digest, "busybox", []pipeline.Artifact{webArtifact}, ""},
		{"required but bound nowhere", pod("gcr.io/x/web:1.0", "busybox"), nil, []pipeline.Artifact{{Type: "docker/image", Name: "gcr.io/x/api", Reference: "gcr.io/x/api:2"}},
			"", "", nil, "required artifacts could not be bound: docker/image gcr.io/x/api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := PrepareManifests(input(docs(t, tt.manifest), func(in *PrepareInput) {
				in.Artifacts, in.RequiredArtifacts = tt.artifacts, tt.required
			}))
			if tt.err != "" {
				wantError(t, err, tt.err)
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not match ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkFields(t, res, []field{
				{"Deployment", "web", "spec.template.spec.containers[0].image", tt.wantWeb},
				{"Deployment", "web", "spec.template.spec.initContainers[0].image", tt.wantInit},
				{"Deployment", "web", "spec.template.spec.containers[1].image", "envoyproxy/envoy:v1.30"},
				{"Deployment", "web", "spec.template.spec.containers[2].image", "gcr.io/x/web-worker:1.0"},
			})
			if !reflect.DeepEqual(res.BoundArtifacts, tt.wantBound) {
				t.Errorf("BoundArtifacts = %+v, want %+v", res.BoundArtifacts, tt.wantBound)
			}
		})
	}
}

func TestPrepareStamps(t *testing.T) {
	res, err := PrepareManifests(input(docs(t, deploymentYAML+`
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: canary
  labels: {app.kubernetes.io/name: storefront}
  annotations: {moniker.spinnaker.io/cluster: web-canary}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, res, []field{
		{"Deployment", "web", "metadata.annotations[moniker.spinnaker.io/application]", "web"},
		{"Deployment", "web", "metadata.annotations[moniker.spinnaker.io/cluster]", "deployment web"},
		{"Deployment", "web", "metadata.annotations[moniker.spinnaker.io/sequence]", nil},
		{"Deployment", "web", "metadata.annotations[artifact.spinnaker.io/type]", "kubernetes/deployment"},
		{"Deployment", "web", "metadata.annotations[artifact.spinnaker.io/name]", "web"},
		{"Deployment", "web", "metadata.annotations[artifact.spinnaker.io/location]", "default"},
		{"Deployment", "web", "metadata.annotations[artifact.spinnaker.io/version]", nil},
		{"Deployment", "web", "metadata.annotations[gennaker.io/execution-id]", "01JEXEC"},
		{"Deployment", "web", "metadata.annotations[gennaker.io/stage-ref-id]", "2"},
		{"Deployment", "web", "metadata.annotations[gennaker.io/account]", "prod-k8s"},
		{"Deployment", "web", "metadata.labels[app.kubernetes.io/name]", "web"},
		{"Deployment", "web", "metadata.labels[app.kubernetes.io/managed-by]", "gennaker"},
		// The pod template carries the moniker and artifact, but not the execution: that would
		// change the pods, and roll them, on every deploy.
		{"Deployment", "web", "spec.template.metadata.annotations[moniker.spinnaker.io/cluster]", "deployment web"},
		{"Deployment", "web", "spec.template.metadata.annotations[artifact.spinnaker.io/type]", "kubernetes/deployment"},
		{"Deployment", "web", "spec.template.metadata.annotations[gennaker.io/execution-id]", nil},
		{"Deployment", "web", "spec.template.metadata.labels[app]", "web"},
		{"Deployment", "web", "spec.template.metadata.labels[app.kubernetes.io/managed-by]", "gennaker"},
		{"Deployment", "web", "spec.selector.matchLabels", map[string]any{"app": "web"}},
		{"Deployment", "web", "spec.replicas", int64(3)},

		// The manifest's own cluster and name label are kept.
		{"ReplicaSet", "canary-v000", "metadata.annotations[moniker.spinnaker.io/cluster]", "web-canary"},
		{"ReplicaSet", "canary-v000", "metadata.annotations[moniker.spinnaker.io/sequence]", "0"},
		{"ReplicaSet", "canary-v000", "metadata.labels[app.kubernetes.io/name]", "storefront"},
		{"ReplicaSet", "canary-v000", "spec.template.metadata.annotations[moniker.spinnaker.io/sequence]", "0"},
		{"ReplicaSet", "canary-v000", "spec.template.metadata.annotations[artifact.spinnaker.io/version]", "v000"},
		{"ReplicaSet", "canary-v000", "spec.template.metadata.labels[moniker.spinnaker.io/sequence]", "0"},
		{"ReplicaSet", "canary-v000", "spec.template.metadata.labels[app.kubernetes.io/name]", "web"},
	})
}

func TestPrepareLeavesInputAlone(t *testing.T) {
	manifests := docs(t, deploymentYAML+"\n---\n"+configMapYAML)
	before := docs(t, deploymentYAML+"\n---\n"+configMapYAML)
	if _, err := PrepareManifests(input(manifests, func(in *PrepareInput) {
		in.Artifacts = []pipeline.Artifact{{Type: "docker/image", Name: "gcr.io/x/web", Reference: "gcr.io/x/web:2"}}
	})); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(manifests, before) {
		t.Error("PrepareManifests changed its input")
	}
}

func TestPrepareLists(t *testing.T) {
	res, err := PrepareManifests(input(docs(t, `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
- {apiVersion: v1, kind: Service, metadata: {name: b}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deployed) != 2 || res.Deployed[0].Name != "a-v000" || res.Deployed[1].Name != "b" {
		t.Errorf("Deployed = %+v", res.Deployed)
	}
}

func TestPrepareErrors(t *testing.T) {
	tests := []struct {
		name      string
		manifests []any
		app       string
		err       string
	}{
		{"no application", docs(t, configMapYAML), "-", "no application"},
		{"no manifests", nil, "", "no manifests to deploy"},
		{"not an object", []any{"kind: ConfigMap"}, "", `manifest 0: expected a Kubernetes object, got the text "kind: ConfigMap"`},
		{"nothing", []any{map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "a"}}, nil}, "", "manifest 1: expected a Kubernetes object, got nothing"},
		{"a list", []any{[]any{}}, "", "manifest 0: expected a Kubernetes object, got a list"},
		{"no kind", docs(t, "apiVersion: v1\nmetadata: {name: a}"), "", "manifest 0: kind is missing"},
		{"no apiVersion", docs(t, "kind: Service\nmetadata: {name: a}"), "", "manifest 0 (Service a): apiVersion is missing"},
		{"no name", docs(t, "apiVersion: v1\nkind: Service\nmetadata: {}"), "", "manifest 0 (Service): metadata.name is missing"},
		{"generateName", docs(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: run-}"), "", "generateName is not supported"},
		{"bad list item", docs(t, "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Service, metadata: {name: a}}, 3]"), "", "manifest 0 item 1: expected a Kubernetes object, got a number"},
		{"unquoted annotation", docs(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {strategy.spinnaker.io/versioned: false}}"), "",
			`manifest 0 (ConfigMap a): annotation "strategy.spinnaker.io/versioned" is a boolean; annotation values are strings, so quote it`},
		{"unquoted template label", docs(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {template: {metadata: {labels: {tier: 1}}}}"), "",
			`label "tier" is a number`},
		{"bad versioned annotation", docs(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {strategy.spinnaker.io/versioned: \"yes\"}}"), "",
			`manifest 0 (ConfigMap a): annotation strategy.spinnaker.io/versioned is "yes"`},
		{"duplicate", docs(t, configMapYAML+"\n---\n"+secretYAML+"\n---\n"+configMapYAML), "",
			"manifest 0 and manifest 2 are both ConfigMap web-config in namespace default"},
		{"duplicate once namespaced", docs(t, "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: default}"), "",
			"manifest 0 and manifest 1 are both Service a in namespace default"},
		{"duplicate cluster-scoped", docs(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: x}"), "",
			"manifest 0 and manifest 1 are both Namespace a in the cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PrepareManifests(input(tt.manifests, func(in *PrepareInput) {
				if tt.app == "-" {
					in.Application = ""
				}
			}))
			wantError(t, err, tt.err)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}

	// Same name, different kind or namespace, is not a duplicate.
	if _, err := PrepareManifests(input(docs(t, `apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: other}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}`))); err != nil {
		t.Errorf("distinct resources refused: %v", err)
	}
}

func TestLookupKeys(t *testing.T) {
	keys, err := LookupKeys(input(docs(t, deploymentYAML+"\n---\n"+configMapYAML+`
---
apiVersion: v1
kind: Service
metadata: {name: web}`), func(in *PrepareInput) { in.NamespaceOverride = "prod" }))
	if err != nil {
		t.Fatal(err)
	}
	want := []ResourceKey{
		{Namespace: "prod", Kind: "ConfigMap", Name: "shared-config"},
		{Namespace: "prod", Kind: "ConfigMap", Name: "web-config"},
		{Namespace: "prod", Kind: "Secret", Name: "web-secret"},
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("LookupKeys = %+v, want %+v", keys, want)
	}
}

func TestExistingVersions(t *testing.T) {
	applied := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg-v001"},"data":{"a":"1"}}`
	got := ExistingVersions([]*unstructured.Unstructured{
		object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-v001, namespace: prod, annotations: {kubectl.kubernetes.io/last-applied-configuration: '"+applied+"'}}"),
		object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-v000, namespace: prod}"),
		object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-v000, namespace: dev, annotations: {kubectl.kubernetes.io/last-applied-configuration: 'not json'}}"),
		object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-root-ca.crt, namespace: prod}"),
		nil,
	})
	want := map[ResourceKey][]ExistingVersion{
		{Namespace: "prod", Kind: "ConfigMap", Name: "cfg"}: {
			{Name: "cfg-v000"},
			{Name: "cfg-v001", Manifest: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg-v001"}, "data": map[string]any{"a": "1"}}},
		},
		{Namespace: "dev", Kind: "ConfigMap", Name: "cfg"}: {{Name: "cfg-v000"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExistingVersions = %+v, want %+v", got, want)
	}
}
