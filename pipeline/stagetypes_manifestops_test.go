package pipeline

import (
	"reflect"
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
			stage: `{"type": "enableManifest", "account": "local", "location": 3, "manifestName": "web"}`,
			want: []string{"stages[0].location: must be a string",
				`stages[0].manifestName: must be a kind and a name, as in "deployment web"`},
		},
		{
			// What else the stage needs depends on the cloud provider, so nothing more is said.
			name:  "a cloud provider the type is not offered on",
			stage: `{"type": "enableManifest", "account": "local", "cloudProvider": "aws", "location": 3, "manifestName": "web"}`,
			want:  []string{`stages[0].cloudProvider: enableManifest on cloud provider "aws" is not offered; gennaker runs enableManifest on kubernetes`},
		},
		{
			name:  "bad dynamic target",
			stage: `{"type": "rollingRestartManifest", "account": "local", "mode": "dynamic", "criteria": "latest", "kind": 7}`,
			want: []string{"stages[0].cluster: required", "stages[0].criteria: must be one of newest, second_newest, oldest, largest, smallest",
				"stages[0].kind: must be a string"},
		},
		{
			name:  "unknown mode",
			stage: `{"type": "findArtifactsFromResource", "account": "local", "mode": "sideways", "manifestName": "deployment web"}`,
			want:  []string{`stages[0].mode: must be one of static, dynamic`},
		},
		{
			name:  "selecting by label is for deletions",
			stage: `{"type": "findArtifactFromResource", "account": "local", "mode": "label", "manifestName": "deployment web"}`,
			want:  []string{"stages[0].mode: selecting by label is offered by deleteManifest only"},
		},
		{
			name:  "delete by label",
			stage: `{"type": "deleteManifest", "account": "local", "mode": "label", "labelSelectors": {"selectors": [{"key": "app", "kind": "EQUALS", "values": ["web"]}]}, "kinds": ["deployment"]}`,
		},
		{
			// Deck leaves mode out of a deletion by label (../shared corpus: 003, 007, 038).
			name:  "delete by label without a mode",
			stage: `{"type": "deleteManifest", "account": "local", "kinds": ["Deployment", "ConfigMap"], "labelSelectors": {"selectors": [{"key": "app", "kind": "EQUALS", "values": ["web-canary"]}]}, "location": "default", "options": {"cascading": true}}`,
		},
		{
			// With no selector, Deck's empty labelSelectors beside a manifestName mean a static target (corpus 042).
			name:  "empty label selectors beside a manifest name",
			stage: `{"type": "deleteManifest", "account": "local", "kinds": [], "labelSelectors": {"selectors": []}, "manifestName": "deployment web-canary"}`,
		},
		{
			name: "bad label selection",
			stage: `{"type": "deleteManifest", "account": "local", "mode": "label", "labelSelectors": {"selectors": [
				{"key": "app", "kind": "EQUALS", "values": ["a", "b"]}, {"kind": "EXISTS"}, {"key": "x", "kind": "LIKE", "values": ["y"]},
				{"key": "t", "kind": "CONTAINS", "values": []}]}}`,
			want: []string{"stages[0].kinds: required", "stages[0].labelSelectors.selectors[0].values: must hold exactly one value for EQUALS",
				"stages[0].labelSelectors.selectors[1].key: required",
				`stages[0].labelSelectors.selectors[2].kind: must be one of ANY, EQUALS, NOT_EQUALS, CONTAINS, NOT_CONTAINS, EXISTS, NOT_EXISTS, not "LIKE"`,
				"stages[0].labelSelectors.selectors[3].values: must hold at least one value for CONTAINS"},
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
			want:  []string{`stages[0].options.mergeStrategy: must be one of strategic, json, merge, not "yaml"`, "stages[0].patchBody: required"},
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
		if got, err := ResolveStageType(name, nil); err != nil || got.CloudProvider != CloudKubernetes {
			t.Errorf("stage type %s: %+v, %v; want a Kubernetes stage type", name, got, err)
		}
	}
}

func TestReadDeleteManifestOptions(t *testing.T) {
	zero, ten := int64(0), int64(10)
	for _, tt := range []struct {
		options   string
		cascading string
		grace     *int64
		err       string
	}{
		{`null`, CascadeBackground, nil, ""},
		{`{"cascading": true}`, CascadeBackground, nil, ""},
		{`{"cascading": "true"}`, CascadeBackground, nil, ""},
		{`{"cascading": false, "gracePeriodSeconds": 0}`, CascadeOrphan, &zero, ""},
		{`{"cascading": "Foreground", "gracePeriodSeconds": "10"}`, CascadeForeground, &ten, ""},
		{`{"cascading": "later"}`, CascadeBackground, nil, "options.cascading: must be true, false, or one of background, foreground, orphan"},
		{`{"gracePeriodSeconds": -1}`, CascadeBackground, &zero, "options.gracePeriodSeconds: must be a whole number of at least 0"},
	} {
		settings := jsonSettings(t, `{"account": "local", "manifestName": "deployment web", "options": `+tt.options+`}`)
		got, problems := ReadDeleteManifestStage(settings, "")
		if tt.err != "" {
			if len(problems) != 1 || !strings.HasPrefix(problems[0].String(), tt.err) {
				t.Errorf("options %s: problems %v, want %q", tt.options, problems, tt.err)
			}
			continue
		}
		if len(problems) > 0 || got.Cascading != tt.cascading || (got.GracePeriodSeconds == nil) != (tt.grace == nil) ||
			got.GracePeriodSeconds != nil && *got.GracePeriodSeconds != *tt.grace {
			t.Errorf("options %s: %+v, %v; want cascading %s, grace %v", tt.options, got, problems, tt.cascading, tt.grace)
		}
	}
}

func TestReadDeleteManifestLabelSelection(t *testing.T) {
	settings := jsonSettings(t, `{"account": "local", "location": "default", "kinds": ["Deployment", "configMap"],
		"labelSelectors": {"selectors": [
			{"key": "app", "kind": "EQUALS", "values": ["web"]}, {"key": "track", "kind": "NOT_EQUALS", "values": ["stable"]},
			{"key": "tier", "kind": "CONTAINS", "values": ["a", "b"]}, {"key": "zone", "kind": "NOT_CONTAINS", "values": ["x"]},
			{"key": "owner", "kind": "EXISTS"}, {"key": "legacy", "kind": "NOT_EXISTS"}, {"key": "any", "kind": "ANY"}]}}`)
	got, problems := ReadDeleteManifestStage(settings, "")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	want := &LabelSelection{Kinds: []string{"Deployment", "configMap"}, Selector: "app=web,track!=stable,tier in (a,b),zone notin (x),owner,!legacy"}
	if got.Mode != ManifestModeLabel || !reflect.DeepEqual(got.Labels, want) || got.Namespace != "default" {
		t.Errorf("got %+v, labels %+v; want %+v", got.ManifestTarget, got.Labels, want)
	}
}

func TestReadPatchManifestBody(t *testing.T) {
	obj := map[string]any{"spec": map[string]any{"replicas": int64(2)}}
	ops := []any{map[string]any{"op": "replace", "path": "/spec/replicas", "value": int64(2)}}
	for _, tt := range []struct {
		body, strategy string
		want           any
		err            string
	}{
		{`{"spec": {"replicas": 2}}`, "strategic", obj, ""},
		{`[{"spec": {"replicas": 2}}]`, "merge", obj, ""},
		// What an expression that gives JSON text evaluates to.
		{`"{\"spec\": {\"replicas\": 2}}"`, "strategic", obj, ""},
		{`[{"op": "replace", "path": "/spec/replicas", "value": 2}]`, "json", ops, ""},
		{`{"spec": {"replicas": 2}}`, "json", nil, "patchBody: a json patch is a list of operations"},
		{`[{}, {}]`, "strategic", nil, "patchBody: a strategic patch is one object"},
		{`"replicas: 2"`, "merge", nil, "patchBody: must be an object or a list"},
		{`null`, "merge", nil, "patchBody: required"},
	} {
		settings := jsonSettings(t, `{"account": "local", "manifestName": "deployment web", "options": {"mergeStrategy": "`+tt.strategy+`"}, "patchBody": `+tt.body+`}`)
		got, problems := ReadPatchManifestStage(settings, "")
		switch {
		case tt.err != "" && (len(problems) != 1 || !strings.HasPrefix(problems[0].String(), tt.err)):
			t.Errorf("%s patch %s: problems %v, want %q", tt.strategy, tt.body, problems, tt.err)
		case tt.err == "" && (len(problems) > 0 || !reflect.DeepEqual(got.Patch, tt.want) || got.MergeStrategy != tt.strategy):
			t.Errorf("%s patch %s: %+v, %v; want %v", tt.strategy, tt.body, got, problems, tt.want)
		}
	}
}
