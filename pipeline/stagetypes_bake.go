package pipeline

import (
	"regexp"
	"strings"
)

// StageBake makes the image a release deploys from a build's packages.
const StageBake = "bake"

// BakeStageType bakes a container image from a base image and the build's files and packages,
// pushed to the configured registry; Spinnaker's bake with cloudProviderType docker. Baking
// machine images on AWS is refused at save time.
var BakeStageType = RegisterStageType(StageType[BakeStage]{Name: StageBake, Read: ReadBakeStage})

// Bake kinds, by Spinnaker's cloudProviderType (or storeType).
const (
	BakeDocker = "docker"
)

// BakeStage is a bake stage's settings.
type BakeStage struct {
	// Package names the packages baked, space-separated; the first names the image unless
	// ImageName does.
	Package string `json:"package,omitempty"`
	// BaseOS and BaseLabel pick the base image among the configured ones; BaseImage (Spinnaker's
	// baseAmi) names one instead.
	BaseOS    string `json:"baseOs,omitempty"`
	BaseLabel string `json:"baseLabel,omitempty"`
	BaseImage string `json:"baseImage,omitempty"`
	// ImageName (amiName) names the image's repository; Organization goes before it.
	ImageName    string `json:"imageName,omitempty"`
	Organization string `json:"organization,omitempty"`
	// Tag is extendedAttributes.docker_target_image_tag; empty takes the trigger's commit, or the
	// time of the bake.
	Tag                string            `json:"tag,omitempty"`
	ExtendedAttributes map[string]string `json:"extendedAttributes,omitempty"`
	// PackageArtifacts are the expected artifacts (packageArtifactIds) whose files join the image.
	PackageArtifacts []string `json:"packageArtifacts,omitempty"`
	// Rebake pushes the image even when its tag already holds it.
	Rebake bool `json:"rebake,omitempty"`

	baseOSPath string
}

// References names the container bakery's base image.
func (s BakeStage) References(path string) []Reference {
	p := s.baseOSPath
	if p == "" {
		p = joinKey(path, "cloudProviderType")
	}
	return []Reference{{Path: p, Kind: RefContainerBakery, Name: s.BaseOS, Account: s.BaseLabel}}
}

// Repository is the image's repository in the registry: organization/name.
func (s BakeStage) Repository() string {
	name := s.ImageName
	if name == "" {
		name = FirstPackage(s.Package)
	}
	if s.Organization != "" {
		return s.Organization + "/" + name
	}
	return name
}

// FirstPackage is the name of the first package of a bake's package list, without a version.
func FirstPackage(packages string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(packages), " ")
	for _, sep := range []string{"=", "_"} {
		first, _, _ = strings.Cut(first, sep)
	}
	return first
}

var (
	repositoryPart = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	imageTag       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// ReadBakeStage reads a bake stage as Deck writes it: cloudProviderType (or storeType) docker,
// package, baseOs and baseLabel or baseAmi (an image reference), amiName, organization,
// extendedAttributes (docker_target_image_tag), packageArtifactIds, rebake.
func ReadBakeStage(settings map[string]any, path string) (BakeStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	var s BakeStage
	kind := f.trimmed("cloudProviderType")
	if f.trimmed("storeType") == BakeDocker {
		kind = BakeDocker
	}
	switch {
	case kind == BakeDocker:
	case kind == "" || kind == CloudAWS:
		ps.add(f.at("cloudProviderType"), "baking machine images (AMIs) on aws is not offered yet: bake a container image "+
			"with cloudProviderType docker, or find an image baked elsewhere with findImageFromTags")
		return s, ps
	default:
		f.bad(f.at("cloudProviderType"), kind, "bake on %q is not offered; gennaker bakes container images (docker)", kind)
		return s, ps
	}
	s.Package = f.trimmed("package")
	s.ImageName = f.trimmed("amiName")
	s.Organization = strings.Trim(f.trimmed("organization"), "/")
	if s.Package == "" && s.ImageName == "" {
		ps.add(f.at("package"), "required: the package baked, which names the image (or amiName)")
	}
	if repo := s.Repository(); repo != "" && !hasExpression(repo) && !repositoryPart.MatchString(repo) {
		ps.add(f.at("package"), "makes the image repository %q, which a registry refuses: lower-case letters, digits, '.', '_', '-' and '/' only", repo)
	}
	s.BaseOS, s.BaseLabel = f.trimmed("baseOs"), f.trimmed("baseLabel")
	s.BaseImage = f.trimmed("baseAmi")
	if s.BaseImage == "" && s.BaseOS == "" {
		ps.add(f.at("baseOs"), "required: the configured base image to start from (baseOs, with baseLabel), or baseAmi naming an image")
	}
	s.baseOSPath = f.at("baseOs")
	if s.BaseImage != "" {
		// An image named in the stage needs no configured base image.
		s.BaseOS, s.BaseLabel = "", ""
	}
	if attrs, ok := f.optionalObject("extendedAttributes"); ok && len(attrs) > 0 {
		s.ExtendedAttributes = map[string]string{}
		af := f.sub("extendedAttributes", attrs)
		for _, k := range sortedKeys(attrs) {
			s.ExtendedAttributes[k] = af.str(k)
		}
		s.Tag = s.ExtendedAttributes["docker_target_image_tag"]
		if s.Tag != "" && !hasExpression(s.Tag) && !imageTag.MatchString(s.Tag) {
			af.bad(af.at("docker_target_image_tag"), s.Tag, "is not an image tag (letters, digits, '_', '.', '-'; at most 128)")
		}
	}
	s.PackageArtifacts = f.stringList("packageArtifactIds")
	s.Rebake = f.boolean("rebake", false)
	for _, key := range []string{"templateFileName", "varFileName"} {
		if v := f.trimmed(key); v != "" {
			f.ps.warn(f.at(key), "is ignored by a container bake: the image is its base image with the packages' files added, no provisioning script runs")
		}
	}
	return s, ps
}
