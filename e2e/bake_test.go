package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gennaker/gennaker/internal/imagetest"
)

// TestContainerBakeAndDeploy bakes a Debian package into an image on Debian's docker-registry and
// deploys the image, pinned by its digest, on the local cluster; baking the same inputs again
// finds the image already there, with the same digest.
func TestContainerBakeAndDeploy(t *testing.T) {
	skipShort(t)
	t.Parallel()
	quiet := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(quiet.Close)
	registry := startRegistry(t, dockerRegistryBinary(t), quiet.URL, "unused")
	base, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, registry+"/base/debian:12", base)

	accounts := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(accounts, []byte(fmt.Sprintf(`bakery:
  docker:
    registry: %s
    insecure: true
    baseImages:
      - baseOs: debian
        baseLabel: release
        image: %s/base/debian:12
`, registry, registry)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newDevProcess(t)
	p.args = append(p.args, "--accounts", accounts)
	api := p.start()

	deb := imagetest.BuildDeb(t)
	api.savePipeline("web", "bake-and-deploy", map[string]any{
		"expectedArtifacts": []any{map[string]any{"id": "package", "useDefaultArtifact": true,
			"matchArtifact":   map[string]any{"type": "embedded/base64", "name": "web_1.2.3_all.deb"},
			"defaultArtifact": map[string]any{"type": "embedded/base64", "name": "web_1.2.3_all.deb", "reference": base64.StdEncoding.EncodeToString(deb)}}},
		"stages": []any{
			map[string]any{"refId": "1", "type": "bake", "name": "Bake", "cloudProviderType": "docker", "package": "web", "organization": "acme",
				"baseOs": "debian", "baseLabel": "release", "packageArtifactIds": []any{"package"},
				"extendedAttributes": map[string]any{"docker_target_image_tag": "1.2.3"},
				"expectedArtifacts":  []any{map[string]any{"id": "baked", "matchArtifact": map[string]any{"type": "docker/image", "name": registry + "/acme/web"}}}},
			map[string]any{"refId": "2", "requisiteStageRefIds": []any{"1"}, "type": "deployManifest", "name": "Deploy", "account": "local",
				"namespaceOverride": "default", "requiredArtifactIds": []any{"baked"},
				"manifests": []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "baked-web"},
					"spec": map[string]any{"replicas": 1, "selector": map[string]any{"matchLabels": map[string]any{"app": "baked-web"}},
						"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "baked-web"}},
							"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": registry + "/acme/web"}}}}}}}},
		},
	})
	first := api.waitUntilDone(api.startExecution("web", "bake-and-deploy", nil).ID, 3*time.Minute)
	if first.Status != "SUCCEEDED" {
		t.Fatalf("the bake and deploy ended %s: %s", first.Status, first.describe())
	}
	baked := first.mustStage(t, "1").Outputs
	reference, _ := baked["imageId"].(string)
	if baked["previouslyBaked"] != false || reference != registry+"/acme/web@"+fmt.Sprint(baked["digest"]) {
		t.Fatalf("bake outputs %v", baked)
	}
	// The registry holds it under its tag, with the package's files.
	tag, _ := name.NewTag(registry+"/acme/web:1.2.3", name.Insecure)
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != baked["digest"] {
		t.Errorf("the tag holds %s, the bake says %v", d, baked["digest"])
	}
	if files := imagetest.Files(t, img); files["/usr/share/web/VERSION"] != "1.2.3\n" {
		t.Errorf("the image lacks the package's files: %v", files)
	}
	// What runs is the baked image, by digest.
	rs, err := localCluster(t, p).AppsV1().ReplicaSets("default").Get(context.Background(), "baked-web-v000", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Spec.Template.Spec.Containers[0].Image; got != reference {
		t.Errorf("the ReplicaSet runs %s, want %s", got, reference)
	}

	second := api.waitUntilDone(api.startExecution("web", "bake-and-deploy", nil).ID, 3*time.Minute)
	again := second.mustStage(t, "1").Outputs
	if second.Status != "SUCCEEDED" || again["digest"] != baked["digest"] || again["previouslyBaked"] != true {
		t.Errorf("baking the same inputs again: %s, %v", second.Status, again)
	}
}

// TestBakeExampleOnTheLocalRegistry runs examples/bake-and-deploy-k8s.json as the README walks
// through it: gennaker dev's own registry, the version as a parameter, the Deployment running the
// image baked, by digest.
func TestBakeExampleOnTheLocalRegistry(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := newDevProcess(t)
	api := p.start()
	if out := p.out.String(); !strings.Contains(out, "Local registry:   127.0.0.1:") || !strings.Contains(out, "baseOs scratch") {
		t.Errorf("gennaker dev does not say where its registry is:\n%s", out)
	}
	api.savePipeline("web", "bake-and-deploy", readExample(t, "bake-and-deploy-k8s.json"))
	done := api.waitUntilDone(api.startExecution("web", "bake-and-deploy", map[string]any{"parameters": map[string]any{"version": "1.4.0"}}).ID, 3*time.Minute)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("the example ended %s: %s", done.Status, done.describe())
	}
	baked := done.mustStage(t, "1").Outputs
	imageName, _ := baked["imageName"].(string)
	reference, _ := baked["imageId"].(string)
	if !strings.HasSuffix(imageName, "/acme/web:1.4.0") || !strings.Contains(reference, "/acme/web@sha256:") {
		t.Fatalf("bake outputs %v", baked)
	}
	tag, _ := name.NewTag(imageName, name.Insecure)
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	if files := imagetest.Files(t, img); files["/usr/share/web/index.html"] != "<h1>web</h1>\n" {
		t.Errorf("the image holds %v", files)
	}
	d, err := localCluster(t, p).AppsV1().Deployments("default").Get(context.Background(), "web-baked", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != reference {
		t.Errorf("the Deployment runs %s, want %s", got, reference)
	}
}
