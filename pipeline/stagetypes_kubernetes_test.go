package pipeline

import (
	"strings"
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
			name:  "unsupported options are refused, not ignored",
			stage: `{"refId": "1", "type": "deployManifest", "account": "local", "source": "artifact", "trafficManagement": {"enabled": true}, "rollback": {"onFailure": true}, "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}]}`,
			want:  []string{`stages[0].source: "artifact" is not supported`, "stages[0].trafficManagement: traffic management is not supported yet", "stages[0].rollback.onFailure: rollback on failure is not supported yet"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(`{"application": "shop", "name": "deploy", "stages": [` + tt.stage + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, pr := range Validate(p, tt.opts) {
				got = append(got, pr.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d: %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
