package bake

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ContainerBakery is where container bakes push their images and what they start from: the
// accounts file's bakery.docker. Credentials for the registries come from the docker config of
// the worker's user (~/.docker/config.json, as docker login writes it), never from pipelines.
type ContainerBakery struct {
	// Registry is where images are pushed: a host[:port], optionally with a path under which
	// every repository goes (registry.example.com/team).
	Registry string `json:"registry"`
	// Insecure talks plain HTTP to the registries, for a local registry.
	Insecure bool `json:"insecure,omitempty"`
	// BaseImages are the images a bake starts from by baseOs and baseLabel.
	BaseImages []BaseImage `json:"baseImages,omitempty"`
}

// BaseImage is an image a bake may start from.
type BaseImage struct {
	BaseOS string `json:"baseOs"`
	// BaseLabel, such as release or candidate; empty serves every label.
	BaseLabel string `json:"baseLabel,omitempty"`
	// Image is the image, by tag or digest.
	Image string `json:"image"`
}

// Validate checks the registry and every base image.
func (b ContainerBakery) Validate() error {
	var errs []error
	if b.Registry == "" {
		errs = append(errs, errors.New("bakery.docker: registry is required"))
	} else if _, err := name.NewRepository(b.Registry + "/image"); err != nil {
		errs = append(errs, fmt.Errorf("bakery.docker: registry %q: %v", b.Registry, err))
	}
	seen := map[string]bool{}
	for i, bi := range b.BaseImages {
		switch {
		case bi.BaseOS == "" || bi.Image == "":
			errs = append(errs, fmt.Errorf("bakery.docker.baseImages[%d]: baseOs and image are required", i))
		case seen[bi.BaseOS+"/"+bi.BaseLabel]:
			errs = append(errs, fmt.Errorf("bakery.docker.baseImages[%d]: baseOs %q with label %q is configured twice", i, bi.BaseOS, bi.BaseLabel))
		}
		seen[bi.BaseOS+"/"+bi.BaseLabel] = true
		if _, err := name.ParseReference(bi.Image, name.Insecure); bi.Image != "" && err != nil {
			errs = append(errs, fmt.Errorf("bakery.docker.baseImages[%d]: image %q: %v", i, bi.Image, err))
		}
	}
	return errors.Join(errs...)
}

// Base finds the base image of a baseOs and baseLabel: the one with that label, else the one
// serving every label.
func (b ContainerBakery) Base(baseOS, label string) (string, bool) {
	var fallback string
	for _, bi := range b.BaseImages {
		if bi.BaseOS != baseOS {
			continue
		}
		if bi.BaseLabel == label {
			return bi.Image, true
		}
		if bi.BaseLabel == "" {
			fallback = bi.Image
		}
	}
	return fallback, fallback != ""
}

// Labels lists each base OS's labels, for validation.
func (b ContainerBakery) Labels() map[string][]string {
	out := map[string][]string{}
	for _, bi := range b.BaseImages {
		out[bi.BaseOS] = append(out[bi.BaseOS], bi.BaseLabel)
	}
	return out
}

// Target is where an image of a repository and tag is pushed.
func (b ContainerBakery) Target(repository, tag string) string {
	return strings.TrimSuffix(b.Registry, "/") + "/" + repository + ":" + tag
}
