package kubernetes

import (
	"errors"
	"reflect"
	"testing"
)

const serviceYAML = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec:
  selector: {app: web, traffic: live}
  ports: [{port: 80, targetPort: 8080}]`

const replicaSetYAML = `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003, namespace: prod}
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: web, moniker.spinnaker.io/sequence: "3"}
  template:
    metadata:
      labels: {app.kubernetes.io/name: web, moniker.spinnaker.io/sequence: "3", app: web}
    spec:
      containers: [{name: web, image: web}]`

func TestTrafficSelector(t *testing.T) {
	got, err := TrafficSelector(object(t, serviceYAML))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"app": "web", "traffic": "live"}; !reflect.DeepEqual(got, want) {
		t.Errorf("selector = %v, want %v", got, want)
	}
	_, err = TrafficSelector(object(t, "apiVersion: v1\nkind: Service\nmetadata: {name: external}\nspec: {type: ExternalName, externalName: example.com}"))
	wantError(t, err, "service external has no selector")
	_, err = TrafficSelector(object(t, "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}"))
	wantError(t, err, "ingress web: traffic is managed through a Service, not a Ingress")
}

func TestCheckTrafficManagement(t *testing.T) {
	selector := map[string]string{"app": "web", "traffic": "live"}
	tests := []struct {
		name     string
		workload string
		selector map[string]string
		err      string
	}{
		{"replica set", replicaSetYAML, selector, ""},
		{"deployment refused", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {app: web}}}}`, selector,
			"deployment web: traffic management (red/black, enable and disable) works only on ReplicaSets; a Deployment replaces its pods itself"},
		{"service label in the ReplicaSet's selector", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003}
spec:
  selector: {matchLabels: {app: web, traffic: live}}
  template: {metadata: {labels: {app: web, traffic: live}}}`, selector,
			"replicaSet web-v003: its spec.selector uses labels app, traffic, which the service also selects on"},
		{"service label in a selector expression", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: web}
    matchExpressions: [{key: traffic, operator: Exists}]
  template: {metadata: {labels: {app.kubernetes.io/name: web, traffic: live}}}`, selector,
			"its spec.selector uses label traffic"},
		{"conflicting template label", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003}
spec:
  selector: {matchLabels: {version: "3"}}
  template: {metadata: {labels: {version: "3", app: api}}}`, selector,
			"its pod labels app=api (the service selects app=web) conflict with the service's selector"},
		{"empty selector", replicaSetYAML, nil, "the service selector is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTrafficManagement(object(t, tt.workload), tt.selector)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantError(t, err, tt.err)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestTrafficLabels(t *testing.T) {
	selector := map[string]string{"app": "web", "traffic": "live"}
	const pod = `apiVersion: v1
kind: Pod
metadata:
  name: web-v003-abcde
  labels: {app.kubernetes.io/name: web, app: web, traffic: live}`
	tests := []struct {
		name     string
		obj      string
		enable   bool
		selector map[string]string
		path     string
		want     map[string]any
		err      string
	}{
		{"enable a ReplicaSet's template", replicaSetYAML, true, selector, "spec.template.metadata.labels",
			map[string]any{"app.kubernetes.io/name": "web", "moniker.spinnaker.io/sequence": "3", "app": "web", "traffic": "live"}, ""},
		{"disable a ReplicaSet's template", replicaSetYAML, false, selector, "spec.template.metadata.labels",
			map[string]any{"app.kubernetes.io/name": "web", "moniker.spinnaker.io/sequence": "3"}, ""},
		{"disable a pod", pod, false, selector, "metadata.labels", map[string]any{"app.kubernetes.io/name": "web"}, ""},
		{"enable a pod again", pod, true, selector, "metadata.labels", map[string]any{"app.kubernetes.io/name": "web", "app": "web", "traffic": "live"}, ""},
		{"disable leaves a label that is not the service's", pod, false, map[string]string{"app": "api"}, "metadata.labels",
			map[string]any{"app.kubernetes.io/name": "web", "app": "web", "traffic": "live"}, ""},
		{"enable refuses to overwrite", pod, true, map[string]string{"app": "api"}, "", nil, "pod web-v003-abcde: its pod labels app=web (the service selects app=api) conflict"},
		{"no template", serviceYAML, true, selector, "", nil, "service web has no pod template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := object(t, tt.obj)
			before := in.DeepCopy()
			change := DisableTrafficLabels
			if tt.enable {
				change = EnableTrafficLabels
			}
			out, err := change(in, tt.selector)
			if tt.err != "" {
				wantError(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := at(out.Object, tt.path); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %v, want %v", tt.path, got, tt.want)
			}
			if !reflect.DeepEqual(in, before) {
				t.Error("the input was changed")
			}
			if tt.enable && !MatchesSelector(stringMapAt(out.Object, splitPath(tt.path)...), tt.selector) {
				t.Error("enabled object does not match the selector")
			}
		})
	}
}

func TestMatchesSelector(t *testing.T) {
	tests := []struct {
		labels, selector map[string]string
		want             bool
	}{
		{map[string]string{"app": "web", "x": "y"}, map[string]string{"app": "web"}, true},
		{map[string]string{"app": "web"}, map[string]string{"app": "web", "traffic": "live"}, false},
		{map[string]string{"app": "api"}, map[string]string{"app": "web"}, false},
		{map[string]string{"app": "web"}, nil, false},
	}
	for _, tt := range tests {
		if got := MatchesSelector(tt.labels, tt.selector); got != tt.want {
			t.Errorf("MatchesSelector(%v, %v) = %v, want %v", tt.labels, tt.selector, got, tt.want)
		}
	}
}

func TestServerGroupManifest(t *testing.T) {
	const live = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-v002
  namespace: prod
  uid: 6f1c3a52-0d2b-4d6e-9a0e-2b1b3f0c9d11
  resourceVersion: "48213"
  generation: 4
  creationTimestamp: "2025-03-01T10:00:00Z"
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: old, uid: x}]
  annotations:
    moniker.spinnaker.io/cluster: something-else
    moniker.spinnaker.io/sequence: "2"
spec:
  replicas: 3
  selector: {matchLabels: {app.kubernetes.io/name: web, version: "2"}}
  template:
    metadata: {labels: {app.kubernetes.io/name: web, version: "2"}}
    spec: {containers: [{name: web, image: "gcr.io/x/web:2"}]}
status: {replicas: 3, readyReplicas: 3}`
	tests := []struct {
		name, cluster string
		seq           int
		fields        map[string]any
		err           string
	}{
		{"default cluster", "", 5, map[string]any{
			"metadata.name":      "web-v005",
			"metadata.namespace": "prod",
			"metadata.annotations[moniker.spinnaker.io/application]":            "web",
			"metadata.annotations[moniker.spinnaker.io/cluster]":                "replicaSet web",
			"metadata.annotations[moniker.spinnaker.io/sequence]":               "5",
			"metadata.annotations[artifact.spinnaker.io/type]":                  "kubernetes/replicaSet",
			"metadata.annotations[artifact.spinnaker.io/name]":                  "web",
			"metadata.annotations[artifact.spinnaker.io/location]":              "prod",
			"metadata.annotations[artifact.spinnaker.io/version]":               "v005",
			"metadata.labels[moniker.spinnaker.io/sequence]":                    "5",
			"metadata.labels[app.kubernetes.io/managed-by]":                     "gennaker",
			"spec.template.metadata.labels[moniker.spinnaker.io/sequence]":      "5",
			"spec.template.metadata.annotations[moniker.spinnaker.io/sequence]": "5",
			"spec.template.spec.containers[0].image":                            "gcr.io/x/web:2",
			"spec.replicas":                                                     int64(3),
			"metadata.uid":                                                      nil,
			"metadata.resourceVersion":                                          nil,
			"metadata.generation":                                               nil,
			"metadata.creationTimestamp":                                        nil,
			"metadata.ownerReferences":                                          nil,
			"status":                                                            nil,
			"metadata.annotations[moniker.spinnaker.io/stack]":                  nil,
		}, ""},
		{"Frigga cluster", "web-prod-canary", 1000, map[string]any{
			"metadata.name": "web-v000",
			"metadata.annotations[moniker.spinnaker.io/cluster]":  "web-prod-canary",
			"metadata.annotations[moniker.spinnaker.io/stack]":    "prod",
			"metadata.annotations[moniker.spinnaker.io/detail]":   "canary",
			"metadata.annotations[moniker.spinnaker.io/sequence]": "0",
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := object(t, live)
			out, err := ServerGroupManifest(in, "web", tt.cluster, tt.seq)
			if err != nil {
				t.Fatal(err)
			}
			for path, want := range tt.fields {
				if got := at(out.Object, path); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			if in.GetName() != "web-v002" {
				t.Error("the input was changed")
			}
		})
	}

	_, err := ServerGroupManifest(object(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}"), "web", "", 1)
	wantError(t, err, "deployment web: a server group for red/black is a ReplicaSet")
	_, err = ServerGroupManifest(object(t, live), "", "", 1)
	wantError(t, err, "no application given")
}
