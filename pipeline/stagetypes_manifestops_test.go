package pipeline

import (
	"strings"
	"testing"
)

func TestValidateManifestOperations(t *testing.T) {
	tests := []struct {
		name  string
		stage string
		opts  ValidateOptions
		want  []string
	}{
		{
			name:  "static scale",
			stage: `{"type": "scaleManifest", "account": "local", "cloudProvider": "kubernetes", "location": "staging", "mode": "static", "manifestName": "deployment web", "replicas": 3}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
		},
		{
			name:  "dynamic scale to a count from an expression",
			stage: `{"type": "scaleManifest", "account": "local", "mode": "dynamic", "cluster": "replicaSet web", "criteria": "second_newest", "kind": "replicaSet", "replicas": "${parameters.count}"}`,
		},
		{
			name:  "replicas as text",
			stage: `{"type": "scaleManifest", "account": "local", "manifestName": "deployment web", "replicas": "2"}`,
		},
		{
			name:  "every target field from expressions",
			stage: `{"type": "disableManifest", "account": "${parameters.account}", "location": "${parameters.env}", "mode": "${parameters.mode}", "manifestName": "${parameters.target}"}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
		},
		{
			name:  "missing everything",
			stage: `{"type": "scaleManifest"}`,
			want:  []string{"stages[0].account: required", "stages[0].manifestName: required", "stages[0].replicas: required"},
		},
		{
			name:  "bad static target",
			stage: `{"type": "enableManifest", "account": "local", "cloudProvider": "aws", "location": 3, "manifestName": "web"}`,
			want: []string{"stages[0].location: must be a string", `stages[0].cloudProvider: "aws" is not supported`,
				`stages[0].manifestName: must be a kind and a name, as in "deployment web"`},
		},
		{
			name:  "bad dynamic target",
			stage: `{"type": "rollingRestartManifest", "account": "local", "mode": "dynamic", "criteria": "latest", "kind": 7}`,
			want: []string{"stages[0].cluster: required", "stages[0].criteria: must be one of newest, second_newest, oldest, largest, smallest",
				"stages[0].kind: must be a string"},
		},
		{
			name:  "unknown mode",
			stage: `{"type": "findArtifactFromResource", "account": "local", "mode": "label", "manifestName": "deployment web"}`,
			want:  []string{"stages[0].mode: must be static or dynamic"},
		},
		{
			name:  "delete by label is refused, not ignored",
			stage: `{"type": "deleteManifest", "account": "local", "mode": "label", "labelSelectors": {"selectors": [{"key": "app", "kind": "EQUALS", "values": ["web"]}]}, "kinds": ["deployment"]}`,
			want:  []string{"stages[0].mode: deleting by label selector is not supported"},
		},
		{
			name:  "delete options",
			stage: `{"type": "deleteManifest", "account": "local", "manifestName": "replicaSet web-v001", "options": {"cascading": false, "gracePeriodSeconds": 0}}`,
		},
		{
			name:  "bad delete options",
			stage: `{"type": "deleteManifest", "account": "local", "manifestName": "replicaSet web-v001", "options": {"cascading": "yes", "gracePeriodSeconds": -1}}`,
			want: []string{"stages[0].options.cascading: must be true, false, or one of background, foreground, orphan",
				"stages[0].options.gracePeriodSeconds: must be a whole number of at least 0"},
		},
		{
			name:  "bad counts",
			stage: `{"type": "undoRolloutManifest", "account": "local", "manifestName": "deployment web", "numRevisionsBack": 0}`,
			want:  []string{"stages[0].numRevisionsBack: must be a whole number of at least 1"},
		},
		{
			name:  "fractional replicas",
			stage: `{"type": "scaleManifest", "account": "local", "manifestName": "deployment web", "replicas": 1.5}`,
			want:  []string{"stages[0].replicas: must be a whole number of at least 0"},
		},
		{
			name:  "strategic patch as an object",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "source": "text", "options": {"mergeStrategy": "strategic", "record": true}, "patchBody": {"spec": {"replicas": 2}}}`,
		},
		{
			name:  "merge patch as Spinnaker's list of one",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "options": {"mergeStrategy": "merge"}, "patchBody": [{"metadata": {"labels": {"a": "b"}}}]}`,
		},
		{
			name:  "json patch",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "options": {"mergeStrategy": "json"}, "patchBody": [{"op": "replace", "path": "/spec/replicas", "value": 2}]}`,
		},
		{
			name:  "patch from an expression",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "options": {"mergeStrategy": "${parameters.strategy}"}, "patchBody": "${parameters.patch}"}`,
		},
		{
			name:  "bad patches",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "source": "artifact", "options": {"mergeStrategy": "json", "record": "often"}, "patchBody": [{"op": "replace"}, 3]}`,
			want: []string{`stages[0].source: "artifact" is not supported`, "stages[0].options.record: must be true or false",
				"stages[0].patchBody[0].path: required", "stages[0].patchBody[1]: must be an object"},
		},
		{
			name:  "json patch as an object",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "options": {"mergeStrategy": "json"}, "patchBody": {"op": "replace"}}`,
			want:  []string{"stages[0].patchBody: a json patch is a list of operations"},
		},
		{
			name:  "strategic patch of two objects",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "patchBody": [{}, {}]}`,
			want:  []string{"stages[0].patchBody: a strategic patch is one object"},
		},
		{
			name:  "no patch, unknown strategy",
			stage: `{"type": "patchManifest", "account": "local", "manifestName": "deployment web", "options": {"mergeStrategy": "yaml"}}`,
			want:  []string{"stages[0].options.mergeStrategy: must be one of strategic, json, merge", "stages[0].patchBody: required"},
		},
		{
			name:  "unknown account",
			stage: `{"type": "enableManifest", "account": "prod", "manifestName": "replicaSet web-v001"}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
			want:  []string{`stages[0].account: unknown account "prod"; known Kubernetes accounts: local`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage := strings.Replace(tt.stage, "{", `{"refId": "1", `, 1)
			p, err := Decode([]byte(`{"application": "shop", "name": "ops", "stages": [` + stage + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, Validate(p, tt.opts), tt.want)
		})
	}
}

func TestManifestOperationTypesNeedAKubernetesAccount(t *testing.T) {
	for _, name := range []string{StageEnableManifest, StageDisableManifest, StageScaleManifest, StagePatchManifest,
		StageUndoRolloutManifest, StageDeleteManifest, StageRollingRestartManifest, StageFindArtifactFromResource} {
		if spec, ok := lookupStageType(name); !ok || !spec.KubernetesAccount {
			t.Errorf("stage type %s: registered %v, KubernetesAccount %v", name, ok, spec.KubernetesAccount)
		}
	}
}
