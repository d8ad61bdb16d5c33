package pipeline

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateRunJobManifest(t *testing.T) {
	const job = `{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "migrate:1"}]}}}}`
	tests := []struct {
		name  string
		stage string
		opts  ValidateOptions
		want  []string
	}{
		{
			name:  "valid",
			stage: `{"account": "local", "source": "text", "manifest": ` + job + `, "propertyFile": "main", "logTailBytes": 4096, "application": "shop", "consumeArtifactSource": ""}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
		},
		{
			name:  "Spinnaker's manifests list with one Job",
			stage: `{"account": "local", "manifests": [` + job + `], "namespaceOverride": "jobs", "location": "jobs"}`,
		},
		{
			name:  "generateName instead of a name",
			stage: `{"account": "local", "manifest": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"}}}`,
		},
		{
			name:  "expressions are checked when the stage runs",
			stage: `{"account": "${parameters.account}", "manifest": {"apiVersion": "batch/v1", "kind": "${parameters.kind}", "metadata": {"name": "${parameters.name}"}}, "logTailBytes": "${parameters.tail}"}`,
		},
		{
			name:  "a whole manifest as an expression",
			stage: `{"account": "local", "manifests": "${parameters.manifests}"}`,
		},
		{
			name:  "missing everything",
			stage: `{}`,
			want:  []string{"stages[0].account: required", "stages[0].manifest: required"},
		},
		{
			name:  "not a Job",
			stage: `{"account": "local", "manifest": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}}`,
			want: []string{`stages[0].manifest.apiVersion: "apps/v1" is not the API of Jobs`,
				`stages[0].manifest.kind: must be Job, not "Deployment"`},
		},
		{
			name:  "no name",
			stage: `{"account": "local", "manifest": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {}}}`,
			want:  []string{"stages[0].manifest.metadata.name: required, or metadata.generateName"},
		},
		{
			name:  "bad names",
			stage: `{"account": "local", "manifests": [{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "Migrate_DB"}}]}`,
			want:  []string{`stages[0].manifests[0].metadata.name: "Migrate_DB" is not a valid Job name`},
		},
		{
			name:  "bad generateName",
			stage: `{"account": "local", "manifest": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "-x"}}}`,
			want:  []string{`stages[0].manifest.metadata.generateName: "-x" is not a valid start of a Job name`},
		},
		{
			name:  "manifest not an object, no metadata",
			stage: `{"account": "local", "manifests": [{"apiVersion": "batch/v1", "kind": "Job"}]}`,
			want:  []string{"stages[0].manifests[0].metadata: required"},
		},
		{
			name:  "manifest of the wrong type",
			stage: `{"account": "local", "manifest": [1]}`,
			want:  []string{"stages[0].manifest: must be an object"},
		},
		{
			name:  "two manifests",
			stage: `{"account": "local", "manifests": [` + job + `, ` + job + `]}`,
			want:  []string{"stages[0].manifests: must hold exactly one Job, not 2 manifests"},
		},
		{
			name:  "both manifest and manifests",
			stage: `{"account": "local", "manifest": ` + job + `, "manifests": [` + job + `]}`,
			want:  []string{"stages[0].manifests: give the Job in manifest or in manifests, not both"},
		},
		{
			name: "unsupported options are refused, not ignored",
			stage: `{"account": "local", "manifest": ` + job + `, "source": "git", "consumeArtifactSource": "artifact",
				"namespaceOverride": "a", "location": "b", "logTailBytes": 0, "propertyFile": 3}`,
			want: []string{"stages[0].propertyFile: must be a string", `stages[0].location: "b" differs from namespaceOverride "a"`,
				`stages[0].consumeArtifactSource: "artifact" is not offered`,
				"stages[0].logTailBytes: must be a whole number of bytes from 1 to 1048576", `stages[0].source: must be one of text, artifact, not "git"`},
		},
		{
			// Deck writes these (corpus 062, 066, 067).
			name:  "Deck's consumeArtifactSource values",
			stage: `{"account": "local", "manifest": ` + job + `, "consumeArtifactSource": "propertyFile", "propertyFile": "main"}`,
		},
		{
			name:  "no outputs",
			stage: `{"account": "local", "manifest": ` + job + `, "consumeArtifactSource": "none"}`,
		},
		{
			name:  "the job from an artifact",
			stage: `{"account": "local", "source": "artifact", "manifestArtifact": {"type": "embedded/base64", "reference": "a2luZDogSm9i"}}`,
		},
		{
			name:  "the job from an artifact that is not there",
			stage: `{"account": "local", "source": "artifact", "manifestArtifactId": "job-yaml"}`,
			want:  []string{`stages[0].manifestArtifactId: "job-yaml" is not the id of one of the pipeline's expectedArtifacts`},
		},
		{
			name:  "log tail too large",
			stage: `{"account": "local", "manifest": ` + job + `, "logTailBytes": 1e9}`,
			want:  []string{"stages[0].logTailBytes: must be a whole number of bytes from 1 to 1048576"},
		},
		{
			name:  "unknown account",
			stage: `{"account": "prod", "manifest": ` + job + `}`,
			opts:  ValidateOptions{KubernetesAccounts: []string{"local"}},
			want:  []string{`stages[0].account: unknown account "prod"; known Kubernetes accounts: local`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage := `{"refId": "1", "type": "runJobManifest", ` + strings.TrimPrefix(tt.stage, "{")
			if tt.stage == "{}" {
				stage = `{"refId": "1", "type": "runJobManifest"}`
			}
			p, err := Decode([]byte(`{"application": "shop", "name": "run", "stages": [` + stage + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, Validate(p, tt.opts), tt.want)
		})
	}
}

func TestRunJobManifestIsAKubernetesStageType(t *testing.T) {
	if !slices.Contains(StageTypes(), StageRunJobManifest) {
		t.Fatalf("stage types %v do not include %s", StageTypes(), StageRunJobManifest)
	}
	if got, err := ResolveStageType(StageRunJobManifest, nil); err != nil || got.CloudProvider != CloudKubernetes {
		t.Errorf("runJobManifest: %+v, %v; want a Kubernetes stage type", got, err)
	}
}
