package pipeline

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// Artifact is Spinnaker's artifact: a thing a pipeline deploys or reads, such as a container image
// (docker/image, reference "registry/name@sha256:…") or a file of manifests (embedded/base64,
// http/file). Triggers bring artifacts; stages bind and fetch them.
type Artifact struct {
	Type            string         `json:"type"`
	Name            string         `json:"name,omitempty"`
	Version         string         `json:"version,omitempty"`
	Location        string         `json:"location,omitempty"`
	Reference       string         `json:"reference,omitempty"`
	ArtifactAccount string         `json:"artifactAccount,omitempty"`
	Metadata        map[string]any `json:"metadata,omitempty"`
}

// ExpectedArtifact is a pipeline's declaration of an artifact its stages use: which of the
// trigger's artifacts it is (matchArtifact) and what to use when the trigger brings none.
type ExpectedArtifact struct {
	ID                 string    `json:"id"`
	DisplayName        string    `json:"displayName,omitempty"`
	MatchArtifact      Artifact  `json:"matchArtifact"`
	DefaultArtifact    *Artifact `json:"defaultArtifact,omitempty"`
	UseDefaultArtifact bool      `json:"useDefaultArtifact,omitempty"`
}

// ExpectedArtifacts reads the pipeline's expectedArtifacts, which are kept as written.
func (p Pipeline) ExpectedArtifacts() ([]ExpectedArtifact, error) {
	raw, ok := p.Extra["expectedArtifacts"]
	if !ok {
		return nil, nil
	}
	var out []ExpectedArtifact
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("expectedArtifacts: %w", err)
	}
	return out, nil
}

// Matches reports whether an artifact is the one expected: the type is the same, and each other
// field the match artifact sets is a regular expression the artifact's field matches whole, as
// in Spinnaker.
func (e ExpectedArtifact) Matches(a Artifact) bool {
	m := e.MatchArtifact
	if m.Type != "" && m.Type != a.Type {
		return false
	}
	for _, f := range [][2]string{{m.Name, a.Name}, {m.Version, a.Version}, {m.Location, a.Location}, {m.Reference, a.Reference}} {
		if f[0] == "" {
			continue
		}
		re, err := regexp.Compile("^(?:" + f[0] + ")$")
		if err != nil {
			if f[0] != f[1] {
				return false
			}
			continue
		}
		if !re.MatchString(f[1]) {
			return false
		}
	}
	return true
}

// Name says which artifact is expected, for messages.
func (e ExpectedArtifact) Name() string {
	if e.DisplayName != "" {
		return fmt.Sprintf("%q (%s)", e.DisplayName, e.ID)
	}
	return fmt.Sprintf("%q", e.ID)
}

// ResolveExpectedArtifact finds the artifact an expected artifact stands for among the trigger's,
// or its default.
func ResolveExpectedArtifact(expected []ExpectedArtifact, id string, trigger []Artifact) (Artifact, error) {
	for _, e := range expected {
		if e.ID != id {
			continue
		}
		for _, a := range trigger {
			if e.Matches(a) {
				return a, nil
			}
		}
		if e.UseDefaultArtifact && e.DefaultArtifact != nil {
			return *e.DefaultArtifact, nil
		}
		return Artifact{}, fmt.Errorf("expected artifact %s (type %s, name %q) is not among the trigger's artifacts, and it has no default to use",
			e.Name(), e.MatchArtifact.Type, e.MatchArtifact.Name)
	}
	return Artifact{}, fmt.Errorf("no expected artifact has id %q; declare it in the pipeline's expectedArtifacts", id)
}
