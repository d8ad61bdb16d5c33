package activities

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/gennaker/gennaker/pipeline"
)

// MaxManifestArtifactBytes bounds a manifest file fetched from an artifact: what it holds goes into
// the execution's history.
const MaxManifestArtifactBytes = 1 << 20

// Artifacts fetches the content of artifacts.
type Artifacts struct {
	// HTTPClient fetches http/file artifacts; nil means a client with a 30s timeout.
	HTTPClient *http.Client
}

// FetchManifestsInput is an artifact holding Kubernetes manifests.
type FetchManifestsInput struct {
	Artifact pipeline.Artifact `json:"artifact"`
}

// FetchManifestsResult is the manifests, one per YAML or JSON document.
type FetchManifestsResult struct {
	Manifests []any `json:"manifests"`
}

// FetchManifests reads the manifests an artifact holds: embedded/base64 (the reference is the
// file, base64-encoded) or http/file (the reference is its URL). An artifact that cannot hold
// manifests, or a file that is not YAML or JSON, fails for good; an unreachable server is retried.
func (a *Artifacts) FetchManifests(ctx context.Context, in FetchManifestsInput) (FetchManifestsResult, error) {
	art := in.Artifact
	var data []byte
	switch art.Type {
	case "embedded/base64":
		decoded, err := base64.StdEncoding.DecodeString(art.Reference)
		if err != nil {
			return FetchManifestsResult{}, badArtifact("artifact %s: the reference is not base64: %v", describeArtifact(art), err)
		}
		data = decoded
	case "http/file":
		body, err := a.fetch(ctx, art, MaxManifestArtifactBytes)
		if err != nil {
			return FetchManifestsResult{}, err
		}
		data = body
	default:
		return FetchManifestsResult{}, badArtifact("artifact %s: manifests can be read from embedded/base64 and http/file artifacts, not %s", describeArtifact(art), art.Type)
	}
	if len(data) > MaxManifestArtifactBytes {
		return FetchManifestsResult{}, badArtifact("artifact %s is %d bytes; manifests are read up to %d bytes", describeArtifact(art), len(data), MaxManifestArtifactBytes)
	}
	manifests, err := decodeManifests(data)
	if err != nil {
		return FetchManifestsResult{}, badArtifact("artifact %s: %v", describeArtifact(art), err)
	}
	if len(manifests) == 0 {
		return FetchManifestsResult{}, badArtifact("artifact %s holds no manifests", describeArtifact(art))
	}
	return FetchManifestsResult{Manifests: manifests}, nil
}

// fetch reads an http/file artifact, refusing one larger than limit bytes.
func (a *Artifacts) fetch(ctx context.Context, art pipeline.Artifact, limit int64) ([]byte, error) {
	client := a.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, art.Reference, nil)
	if err != nil {
		return nil, badArtifact("artifact %s: the reference is not a URL: %v", describeArtifact(art), err)
	}
	// The client refuses other schemes with an error that looks like a network failure; no retry
	// could fetch them.
	if (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return nil, badArtifact("artifact %s: the reference %q is not an http or https URL", describeArtifact(art), art.Reference)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch artifact %s: %w", describeArtifact(art), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetch artifact %s: %w", describeArtifact(art), err)
	}
	if int64(len(body)) > limit {
		return nil, badArtifact("artifact %s is larger than %d bytes", describeArtifact(art), limit)
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("fetch artifact %s: %s", describeArtifact(art), resp.Status)
	case resp.StatusCode >= 300:
		return nil, badArtifact("fetch artifact %s: %s", describeArtifact(art), resp.Status)
	}
	return body, nil
}

// decodeManifests reads every YAML or JSON document of a file; empty documents are skipped.
func decodeManifests(data []byte) ([]any, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []any
	for i := 0; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d is not a YAML or JSON object: %v", i, err)
		}
		if len(doc) > 0 {
			out = append(out, doc)
		}
	}
}

func describeArtifact(a pipeline.Artifact) string {
	if a.Name != "" {
		return fmt.Sprintf("%s %s", a.Type, a.Name)
	}
	return a.Type
}

func badArtifact(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), "BadArtifact", nil)
}
