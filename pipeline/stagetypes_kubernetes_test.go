package pipeline

import (
	"testing"
)

func TestValidateDeployManifest(t *testing.T) {
	tests := []struct {
		name  string
		stage string
		opts  ValidateOptions
		want  []string
	}{
		{
			name:  "valid",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}]}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
		},
		{
			name:  "missing everything",
			stage: `{"refId": "1", "type": "deployManifest"}`,
			want:  []string{"stages[0].account: required", "stages[0].manifests: required"},
		},
		{
			name:  "bad manifests",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "manifests": [3, {"kind": "ConfigMap"}, {"apiVersion": "v1", "kind": "Pod", "metadata": {}}]}`,
			want: []string{"stages[0].manifests[0]: must be an object", "stages[0].manifests[1].apiVersion: required",
				"stages[0].manifests[1].metadata: required", "stages[0].manifests[2].metadata.name: required"},
		},
		{
			name:  "unknown account",
			stage: `{"refId": "1", "type": "deployManifest", "account": "prod", "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}]}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local", "staging"}},
			want:  []string{`stages[0].account: unknown account "prod"; known Kubernetes accounts: local, staging`},
		},
		{
			name:  "no accounts configured",
			stage: `{"refId": "1", "type": "deployManifest", "account": "prod", "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}]}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{}},
			want:  []string{`stages[0].account: unknown account "prod": no Kubernetes accounts are configured`},
		},
		{
			name:  "artifact source",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "source": "artifact", "manifestArtifactId": "manifests", "requiredArtifactIds": ["image"]}`,
		},
		{
			// Spinnaker ignores manifests beside source artifact, and so does gennaker (corpus 008, 048, 055).
			name:  "artifact source without an artifact, with manifests it ignores",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "source": "artifact", "manifests": [{"kind": 3}]}`,
			want:  []string{`stages[0].manifestArtifactId: required when source is "artifact"`},
		},
		{
			name:  "unknown source",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "source": "git", "manifestArtifact": {"name": "x"}}`,
			want:  []string{`stages[0].source: must be "text" (manifests inline) or "artifact"`},
		},
		{
			name: "red/black with rollback",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "rollback": {"onFailure": true},
				"trafficManagement": {"enabled": true, "options": {"enableTraffic": true, "services": ["service web"], "strategy": "redblack", "maxRemainingAsgs": 3, "scaleDown": true}},
				"manifests": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"}}]}`,
		},
		{
			name: "traffic management that cannot work",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "rollback": {"onFailure": "yes"},
				"trafficManagement": {"enabled": true, "options": {"services": ["ingress web", 3], "strategy": "blue-green", "maxRemainingAsgs": 0}},
				"manifests": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}]}`,
			want: []string{
				"stages[0].manifests[0].kind: traffic management works only on ReplicaSets",
				`stages[0].trafficManagement.options.services[0]: "ingress web": traffic is managed through Services`,
				"stages[0].trafficManagement.options.services[1]: must name a Service",
				"stages[0].trafficManagement.options.strategy: must be one of redblack, highlander, none",
				"stages[0].trafficManagement.options.maxRemainingAsgs: must be a whole number of at least 1",
				"stages[0].rollback.onFailure: must be true or false",
			},
		},
		{
			// Knowable when the pipeline is saved: disabling the ReplicaSet would take the label
			// its own selector needs off its pods.
			name: "red/black of a ReplicaSet that selects its pods by the Service's label",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local",
				"trafficManagement": {"enabled": true, "options": {"enableTraffic": true, "services": ["service web"], "strategy": "redblack"}},
				"manifests": [
					{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web", "tier": "front"}}},
					{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"}, "spec": {
						"selector": {"matchLabels": {"app": "web", "version": "1"}},
						"template": {"metadata": {"labels": {"app": "web", "version": "1"}}}}}]}`,
			want: []string{`stages[0].manifests[1].spec.selector.matchLabels: uses "app", which Service web also selects by`},
		},
		{
			name: "red/black needs traffic enabled",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local",
				"trafficManagement": {"enabled": true, "options": {"services": ["service web"], "strategy": "highlander"}},
				"manifests": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"}}]}`,
			want: []string{"stages[0].trafficManagement.options.enableTraffic: must be true for the highlander strategy"},
		},
		{
			name:  "rollback cluster",
			stage: `{"refId": "1", "type": "rollbackCluster", "account": "local", "cluster": "replicaSet web", "location": "prod"}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
		},
		{
			name:  "rollback cluster without a cluster",
			stage: `{"refId": "1", "type": "rollbackCluster", "cloudProvider": "kubernetes", "account": "prod"}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
			want:  []string{"stages[0].cluster: required", `stages[0].account: unknown account "prod"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(`{"application": "shop", "name": "deploy", "expectedArtifacts": [
				{"id": "manifests", "matchArtifact": {"type": "embedded/base64"}},
				{"id": "image", "matchArtifact": {"type": "docker/image"}}], "stages": [` + tt.stage + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, Validate(p, tt.opts), tt.want)
		})
	}
}
