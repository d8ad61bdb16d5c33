package pipeline

import (
	"cmp"
	"regexp"
	"slices"
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
	BakeAWS    = CloudAWS
)

// BakeStage is a bake stage's settings.
type BakeStage struct {
	// Kind is BakeDocker or BakeAWS.
	Kind string `json:"kind"`
	// Account, Regions, VMType, TemplateFileName, Suffix and ShareWith are an AWS bake's: the
	// image is baked in the first region and copied to the others.
	Account          string   `json:"account,omitempty"`
	Regions          []string `json:"regions,omitempty"`
	VMType           string   `json:"vmType,omitempty"`
	TemplateFileName string   `json:"templateFileName,omitempty"`
	Suffix           string   `json:"amiSuffix,omitempty"`
	ShareWith        []string `json:"shareWith,omitempty"`

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
	where      awsPlace
}

// References names the container bakery's base image, or the AWS account, its regions and its
// bakery's base image and template.
func (s BakeStage) References(path string) []Reference {
	p := s.baseOSPath
	if p == "" {
		p = joinKey(path, "cloudProviderType")
	}
	if s.Kind == BakeAWS {
		var refs []Reference
		if s.Account != "" {
			refs = s.where.references(path, s.Account, s.Regions)
		}
		return append(refs, Reference{Path: p, Kind: RefAWSBakery, Account: s.Account, Name: s.BaseOS, Label: s.BaseLabel},
			Reference{Path: joinKey(path, "templateFileName"), Kind: RefAWSBakeTemplate, Account: s.Account, Name: cmp.Or(s.TemplateFileName, "install_packages.sh")})
	}
	return []Reference{{Path: p, Kind: RefContainerBakery, Name: s.BaseOS, Label: s.BaseLabel}}
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
	name, _ := FirstPackageVersion(packages)
	return name
}

// FirstPackageVersion is the name and version of the first package of a bake's package list,
// written name=version (apt's) or name_version (a .deb's file name); the version is empty when
// the list gives none.
func FirstPackageVersion(packages string) (name, version string) {
	first, _, _ := strings.Cut(strings.TrimSpace(packages), " ")
	for _, sep := range []string{"=", "_"} {
		if n, v, ok := strings.Cut(first, sep); ok {
			version, _, _ = strings.Cut(v, "_")
			return n, version
		}
	}
	return first, ""
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
		s.Kind = BakeDocker
	case kind == "" || kind == CloudAWS:
		s.Kind = BakeAWS
		readAWSBake(f, &s)
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

// AWS bake settings' values.
var (
	vmTypes    = []string{"hvm", "pv"}
	amiSuffix  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	accountIDs = regexp.MustCompile(`^[0-9]{12}$`)
	// attributeName is an extended attribute's name, which becomes a shell variable's.
	attributeName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// readAWSBake reads a machine image bake as Deck writes it: account, regions (and region),
// package, baseOs, baseLabel or baseAmi, vmType, storeType ebs, amiName, amiSuffix,
// templateFileName, extendedAttributes (copy_to, share_with), packageArtifactIds, rebake.
func readAWSBake(f fields, s *BakeStage) {
	// Without an account, as Spinnaker writes it (Rosco bakes in its own), the account whose
	// bakery is the only one configured bakes.
	s.Account, s.where.accountPath = readAWSAccount(f, false)
	s.Regions, s.where.regionPaths = readRegions(f, true)
	s.Package = f.trimmed("package")
	s.TemplateFileName = f.trimmed("templateFileName")
	if s.Package == "" && s.TemplateFileName == "" {
		// A template of one's own may install what it needs by itself.
		f.ps.add(f.at("package"), "required: the packages to install, space-separated")
	}
	s.BaseOS, s.BaseLabel, s.BaseImage = f.trimmed("baseOs"), f.trimmed("baseLabel"), f.trimmed("baseAmi")
	s.baseOSPath = f.at("baseOs")
	if s.BaseImage == "" && s.BaseOS == "" {
		f.ps.add(f.at("baseOs"), "required: the bakery's base image to start from (baseOs, with baseLabel), or baseAmi")
	}
	if s.BaseImage != "" {
		s.BaseOS, s.BaseLabel = "", ""
	}
	s.VMType = f.oneOf("vmType", "hvm", vmTypes...)
	if st := f.trimmed("storeType"); st != "" && st != "ebs" {
		f.bad(f.at("storeType"), st, "AMIs are baked as ebs-backed images; instance-store (s3) images are not offered")
	}
	s.ImageName = f.trimmed("amiName")
	s.Suffix = f.trimmed("amiSuffix")
	if s.Suffix != "" && !hasExpression(s.Suffix) && !amiSuffix.MatchString(s.Suffix) {
		f.bad(f.at("amiSuffix"), s.Suffix, "takes letters, digits, '.', '_' and '-' only (it is part of the image's name)")
	}
	if attrs, ok := f.optionalObject("extendedAttributes"); ok && len(attrs) > 0 {
		s.ExtendedAttributes = map[string]string{}
		af := f.sub("extendedAttributes", attrs)
		for _, k := range sortedKeys(attrs) {
			s.ExtendedAttributes[k] = af.str(k)
		}
		for _, r := range splitList(s.ExtendedAttributes["copy_to"]) {
			if !slices.Contains(s.Regions, r) {
				s.Regions = append(s.Regions, r)
				s.where.regionPaths = append(s.where.regionPaths, af.at("copy_to"))
			}
		}
		for _, k := range sortedKeys(attrs) {
			if !attributeName.MatchString(k) {
				af.bad(af.at(k), k, "is handed to the provisioning script as a variable: use letters, digits, '_', '-' and '.' only, not starting with a digit")
			}
		}
		s.ShareWith = splitList(s.ExtendedAttributes["share_with"])
		for _, a := range s.ShareWith {
			if !hasExpression(a) && !accountIDs.MatchString(a) {
				af.bad(af.at("share_with"), a, "is not a 12-digit AWS account id")
			}
		}
	}
	s.PackageArtifacts = f.stringList("packageArtifactIds")
	s.Rebake = f.boolean("rebake", false)
}

// splitList splits a comma-separated list, leaving out empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
