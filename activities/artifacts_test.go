package activities

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/pipeline"
)

// fetchManifests runs FetchManifests as the worker would, through the activity environment.
func fetchManifests(t *testing.T, a *Artifacts, art pipeline.Artifact) ([]any, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.FetchManifests, FetchManifestsInput{Artifact: art})
	if err != nil {
		return nil, err
	}
	var res FetchManifestsResult
	if err := val.Get(&res); err != nil {
		t.Fatalf("decoding the result: %v", err)
	}
	return res.Manifests, nil
}

func embedded(text string) pipeline.Artifact {
	return pipeline.Artifact{Type: "embedded/base64", Name: "manifests.yaml", Reference: base64.StdEncoding.EncodeToString([]byte(text))}
}

// wantNonRetryable checks that err is an application error a retry could not fix, and that its
// message says what the matter is.
func wantNonRetryable(t *testing.T, err error, says string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v, want an application error", err)
	}
	if !appErr.NonRetryable() {
		t.Errorf("error %q is retryable, want it to fail for good", appErr.Message())
	}
	if !strings.Contains(appErr.Message(), says) {
		t.Errorf("error %q does not say %q", appErr.Message(), says)
	}
}

const twoDocuments = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  env: ${parameters.env}
---
# a document holding only a comment is no manifest
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 2
`

func TestFetchManifestsEmbeddedYAML(t *testing.T) {
	got, err := fetchManifests(t, &Artifacts{}, embedded(twoDocuments))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg"}, "data": map[string]any{"env": "${parameters.env}"}},
		map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "web"}, "spec": map[string]any{"replicas": float64(2)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("manifests\n got %#v\nwant %#v", got, want)
	}
}

func TestFetchManifestsEmbeddedJSON(t *testing.T) {
	got, err := fetchManifests(t, &Artifacts{}, embedded(`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].(map[string]any)["kind"] != "ConfigMap" || got[1].(map[string]any)["kind"] != "Secret" {
		t.Errorf("manifests %v", got)
	}
}

func TestFetchManifestsHTTPFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.yaml":
			_, _ = w.Write([]byte(twoDocuments))
		case "/busy.yaml":
			http.Error(w, "try later", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	a := &Artifacts{HTTPClient: srv.Client()}

	got, err := fetchManifests(t, a, pipeline.Artifact{Type: "http/file", Name: "web", Reference: srv.URL + "/ok.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].(map[string]any)["kind"] != "ReplicaSet" {
		t.Errorf("manifests %v", got)
	}

	_, err = fetchManifests(t, a, pipeline.Artifact{Type: "http/file", Name: "web", Reference: srv.URL + "/gone.yaml"})
	wantNonRetryable(t, err, "404")

	_, err = fetchManifests(t, a, pipeline.Artifact{Type: "http/file", Name: "web", Reference: srv.URL + "/busy.yaml"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NonRetryable() || !strings.Contains(appErr.Message(), "500") {
		t.Errorf("a server error: %v, want a retryable error that names the status", err)
	}
}

func TestFetchManifestsRefusesAFileTooLarge(t *testing.T) {
	// A comment keeps the file valid YAML, so only its size can refuse it.
	big := "# " + strings.Repeat("x", MaxManifestArtifactBytes) + "\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(big)) }))
	defer srv.Close()

	_, err := fetchManifests(t, &Artifacts{HTTPClient: srv.Client()}, pipeline.Artifact{Type: "http/file", Reference: srv.URL + "/big.yaml"})
	wantNonRetryable(t, err, "bytes")
	_, err = fetchManifests(t, &Artifacts{}, embedded(big))
	wantNonRetryable(t, err, "bytes")
}

func TestFetchManifestsRefusesWhatHoldsNoManifests(t *testing.T) {
	tests := []struct {
		name string
		art  pipeline.Artifact
		says string
	}{
		{"an unsupported type", pipeline.Artifact{Type: "github/file", Name: "deploy.yaml", Reference: "https://example.com/deploy.yaml"}, "not github/file"},
		{"bad base64", pipeline.Artifact{Type: "embedded/base64", Reference: "not base64!"}, "not base64"},
		{"a list, not an object", embedded("- apiVersion: v1\n  kind: ConfigMap\n"), "document 0 is not a YAML or JSON object"},
		{"a second document that is a string", embedded("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n---\njust words\n"), "document 1 is not"},
		{"nothing but empty documents", embedded("---\n---\n"), "holds no manifests"},
		{"a reference that is no URL", pipeline.Artifact{Type: "http/file", Reference: "://nowhere"}, "not a URL"},
		// Retrying could not make these fetchable.
		{"a reference that is no http URL", pipeline.Artifact{Type: "http/file", Reference: "file:///etc/passwd"}, "not an http or https URL"},
		{"no reference", pipeline.Artifact{Type: "http/file", Name: "web"}, "not an http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetchManifests(t, &Artifacts{}, tt.art)
			wantNonRetryable(t, err, tt.says)
		})
	}
}
