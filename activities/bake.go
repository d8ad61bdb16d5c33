package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path"

	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/bake"
	"github.com/gennaker/gennaker/pipeline"
)

// MaxBakeFileBytes bounds one file a bake adds to an image.
const MaxBakeFileBytes = 512 << 20

// Bakery bakes images.
type Bakery struct {
	// Docker is the container bakery; nil refuses container bakes.
	Docker *bake.ContainerBakery
	// Artifacts fetches the files baked into images.
	Artifacts *Artifacts
}

// BakeContainerInput is one container image to bake.
type BakeContainerInput struct {
	Stage pipeline.BakeStage `json:"stage"`
	// Tag is the image's tag, chosen by the workflow.
	Tag string `json:"tag"`
	// Files are the artifacts whose contents join the image, in order.
	Files  []pipeline.Artifact `json:"files,omitempty"`
	Labels map[string]string   `json:"labels,omitempty"`
}

// BakeContainerResult is the image baked.
type BakeContainerResult struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	// Reference pins the image by digest: repository@sha256:….
	Reference  string `json:"reference"`
	BaseImage  string `json:"baseImage,omitempty"`
	BaseDigest string `json:"baseDigest,omitempty"`
	// PreviouslyBaked means the tag already held this very image.
	PreviouslyBaked bool `json:"previouslyBaked"`
}

// BakeContainerImage builds the image from its base image and files and pushes it to the
// bakery's registry. The same inputs make the same image, so a retry after a crash pushes nothing
// new.
func (b *Bakery) BakeContainerImage(ctx context.Context, in BakeContainerInput) (BakeContainerResult, error) {
	defer heartbeating(ctx)()
	if b.Docker == nil {
		return BakeContainerResult{}, badBake("no registry is configured for container bakes: add bakery.docker to the accounts file")
	}
	s := in.Stage
	base := s.BaseImage
	if base == "" {
		var ok bool
		if base, ok = b.Docker.Base(s.BaseOS, s.BaseLabel); !ok {
			return BakeContainerResult{}, badBake("the container bakery has no base image %q with label %q", s.BaseOS, s.BaseLabel)
		}
	}
	var files []bake.File
	for _, art := range in.Files {
		data, err := b.content(ctx, art)
		if err != nil {
			return BakeContainerResult{}, err
		}
		n := art.Name
		if n == "" {
			n = path.Base(art.Reference)
		}
		files = append(files, bake.File{Name: n, Kind: bake.KindOf(n), Data: data})
	}
	res, err := bake.BakeContainer(ctx, bake.ContainerRequest{Base: base, Target: b.Docker.Target(s.Repository(), in.Tag), Files: files,
		Labels: in.Labels, Insecure: b.Docker.Insecure, Push: s.Rebake})
	if errors.Is(err, bake.ErrInvalid) {
		return BakeContainerResult{}, badBake("%v", err)
	}
	if err != nil {
		return BakeContainerResult{}, err
	}
	return BakeContainerResult{Repository: res.Repository, Tag: res.Tag, Digest: res.Digest, Reference: res.Reference,
		BaseImage: base, BaseDigest: res.BaseDigest, PreviouslyBaked: res.Existed}, nil
}

// content reads what an artifact holds: embedded/base64 or http/file.
func (b *Bakery) content(ctx context.Context, art pipeline.Artifact) ([]byte, error) {
	switch art.Type {
	case "embedded/base64":
		data, err := base64.StdEncoding.DecodeString(art.Reference)
		if err != nil {
			return nil, badArtifact("artifact %s: the reference is not base64: %v", describeArtifact(art), err)
		}
		return data, nil
	case "http/file":
		return b.Artifacts.fetch(ctx, art, MaxBakeFileBytes)
	}
	return nil, badArtifact("artifact %s: a bake takes files from embedded/base64 and http/file artifacts, not %s", describeArtifact(art), art.Type)
}

func badBake(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), "InvalidBake", nil)
}
