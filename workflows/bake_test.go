package workflows

import (
	"context"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

func TestBakeOutputsTheImagePinnedByDigestForLaterStages(t *testing.T) {
	// The bake's expected artifact binds the image it pushed; the stage after it deploys that.
	config := `{"application": "web", "name": "bake",
		"expectedArtifacts": [{"id": "pkg", "matchArtifact": {"type": "embedded/base64", "name": "web.deb"},
			"defaultArtifact": {"type": "embedded/base64", "name": "web.deb", "reference": "IQ=="}, "useDefaultArtifact": true}],
		"stages": [
		{"refId": "1", "type": "bake", "name": "Bake", "cloudProviderType": "docker", "package": "web", "baseOs": "debian", "baseLabel": "release",
			"organization": "acme", "packageArtifactIds": ["pkg"],
			"expectedArtifacts": [{"id": "baked", "matchArtifact": {"type": "docker/image", "name": "registry.example.com/acme/web"}}]},
		{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "After",
			"variables": [{"key": "image", "value": "${#stage('Bake').outputs.artifacts[0].reference}"},
				{"key": "bound", "value": "${#stage('Bake').outputs.resolvedExpectedArtifacts[0].boundArtifact.reference}"}]}
	]}`
	var in activities.BakeContainerInput
	exec, err := runWithTrigger(t, config, pipeline.TriggerInfo{Type: "jenkins", User: "ci",
		ScmInfo:   &pipeline.ScmInfo{Sha1: "0123456789abcdef0123456789abcdef01234567"},
		BuildInfo: &pipeline.BuildInfo{Name: "web/main", Number: 42, URL: "https://ci.example.com/job/web/42", Master: "ci"}},
		func(env *testsuite.TestWorkflowEnvironment) {
			env.RegisterActivity(&activities.Bakery{})
			env.OnActivity("BakeContainerImage", mock.Anything, mock.Anything).Return(func(_ context.Context, got activities.BakeContainerInput) (activities.BakeContainerResult, error) {
				in = got
				return activities.BakeContainerResult{Repository: "registry.example.com/acme/web", Tag: got.Tag, Digest: "sha256:abc",
					Reference: "registry.example.com/acme/web@sha256:abc", BaseImage: "debian:12"}, nil
			})
		})
	if err != nil {
		t.Fatalf("%v: %s", err, exec.Stage("1").Error)
	}
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded, "2": pipeline.StatusSucceeded})
	if in.Tag != "0123456789abcdef0123456789abcdef01234567" || len(in.Files) != 1 || in.Files[0].Name != "web.deb" {
		t.Errorf("the bake was asked %+v", in)
	}
	if got := in.Labels["appversion"]; got != "web-0123456789abcdef0123456789abcdef01234567-h42.0123456/web-main/42" {
		t.Errorf("appversion %q", got)
	}
	if in.Labels["build_info_url"] != "https://ci.example.com/job/web/42" || in.Labels["build_host"] != "ci" {
		t.Errorf("labels %v", in.Labels)
	}
	out := exec.Stage("2").Outputs
	if out["image"] != "registry.example.com/acme/web@sha256:abc" || out["bound"] != "registry.example.com/acme/web@sha256:abc" {
		t.Errorf("later stages see %v", out)
	}
}

func TestMachineImageTagsSayWhichBuildItIs(t *testing.T) {
	r := &interpreter{exec: pipeline.Execution{Trigger: pipeline.TriggerInfo{
		ScmInfo:   &pipeline.ScmInfo{Sha1: "abcdef0123456789"},
		BuildInfo: &pipeline.BuildInfo{Name: "web/main", Number: 7, URL: "https://ci.example.com/job/web/7", Master: "ci"}}}}
	tags := r.imageTags(pipeline.BakeStage{Package: "web=1.2.3 nginx"}, activities.AWSBakePrepareResult{Key: "k", BaseImage: "ami-base"})
	want := map[string]string{"appversion": "web-1.2.3-h7.abcdef0/web-main/7", "build_info_url": "https://ci.example.com/job/web/7",
		"build_host": "ci", "package": "web=1.2.3 nginx", "base_ami_id": "ami-base", "gennaker:bake-key": "k"}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	// Without a version, Frigga could not read an appversion: there is none.
	if tags := r.imageTags(pipeline.BakeStage{Package: "web"}, activities.AWSBakePrepareResult{}); tags["appversion"] != "" {
		t.Errorf("appversion %q for a package without a version", tags["appversion"])
	}
}
