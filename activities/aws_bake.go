package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/pipeline"
)

// AWSBakePrepareInput is a machine image bake about to start.
type AWSBakePrepareInput struct {
	Account string             `json:"account"`
	Stage   pipeline.BakeStage `json:"stage"`
	// Packages are the package artifacts' references (URLs), handed to the script as
	// PACKAGE_ARTIFACTS.
	Packages []string `json:"packages,omitempty"`
}

// AWSBakePrepareResult is what the bake builds on: the base image, the script, the bake key, and
// the images an earlier bake with the same key made, by region.
type AWSBakePrepareResult struct {
	// Account is the account that bakes: the stage's, else the only one with a bakery.
	Account   string   `json:"account"`
	BaseImage string   `json:"baseImage"`
	Commands  []string `json:"commands"`
	Key       string   `json:"key"`
	// Existing are the images with the key, by region.
	Existing map[string]aws.ImageSummary `json:"existing"`
}

// AWSBakePrepare resolves the base image in the first region, renders the provisioning script,
// computes the bake key over every input (the resolved base image, the script and the extended
// attributes included) and finds the images a bake with that key made.
func (a *AWS) AWSBakePrepare(ctx context.Context, in AWSBakePrepareInput) (AWSBakePrepareResult, error) {
	defer heartbeating(ctx)()
	if in.Account == "" {
		var err error
		if in.Account, err = a.bakeryAccount(); err != nil {
			return AWSBakePrepareResult{}, err
		}
	}
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSBakePrepareResult{}, err
	}
	b := p.Account().Bakery
	if b == nil {
		return AWSBakePrepareResult{}, badBake("AWS account %s has no bakery configured", in.Account)
	}
	s := in.Stage
	region := s.Regions[0]
	ref := s.BaseImage
	if ref == "" {
		base, ok := b.Base(s.BaseOS, s.BaseLabel, s.VMType)
		if !ok || base.Regions[region] == "" {
			return AWSBakePrepareResult{}, badBake("the bakery of AWS account %s has no base image %q (label %q, %s) in %s", in.Account, s.BaseOS, s.BaseLabel, s.VMType, region)
		}
		ref = base.Regions[region]
	}
	res := AWSBakePrepareResult{Account: in.Account, Existing: map[string]aws.ImageSummary{}}
	if res.BaseImage, err = p.BaseImage(ctx, region, ref); err != nil {
		return res, classifyAWS(err)
	}
	script, ok := b.Template(s.TemplateFileName)
	if !ok {
		return res, badBake("the bakery of AWS account %s has no template %q; it has %s", in.Account, s.TemplateFileName, strings.Join(b.TemplateNames(), ", "))
	}
	res.Commands = bakeCommands(s, in.Packages, script)
	res.Key = bakeKey(in, res.BaseImage, res.Commands)
	for _, r := range s.Regions {
		img, err := p.BakedImage(ctx, r, res.Key)
		if err != nil {
			return res, classifyAWS(err)
		}
		if img != nil {
			res.Existing[r] = *img
		}
	}
	return res, nil
}

// bakeryAccount is the only account with a bakery, which bakes that name no account.
func (a *AWS) bakeryAccount() (string, error) {
	var found []string
	for _, name := range a.Accounts.Names() {
		if p, err := a.Accounts.Get(name); err == nil && p.Account().Bakery != nil {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		return "", badBake("the bake names no account, and %d AWS accounts have a bakery (%s): name one in account", len(found), strings.Join(found, ", "))
	}
	return found[0], nil
}

// bakeCommands are the script's lines, after the variables it reads: PACKAGES, PACKAGE_ARTIFACTS,
// and every extended attribute, upper-cased.
func bakeCommands(s pipeline.BakeStage, packages []string, script string) []string {
	env := map[string]string{"PACKAGES": s.Package, "PACKAGE_ARTIFACTS": strings.Join(packages, " "), "BASE_OS": s.BaseOS}
	for k, v := range s.ExtendedAttributes {
		// Validation refuses names a shell cannot take; none reaches the script.
		if name := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(k)); shellName.MatchString(name) {
			env[name] = v
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("export %s=%s", k, shellQuote(env[k])))
	}
	return append(lines, strings.Split(strings.TrimRight(script, "\n"), "\n")...)
}

var shellName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// bakeKey is a digest of everything a bake's image depends on.
func bakeKey(in AWSBakePrepareInput, base string, commands []string) string {
	s := in.Stage
	h := sha256.New()
	fmt.Fprintf(h, "account=%s\nbase=%s\nvm=%s\nname=%s\nregions=%s\nshare=%s\n", in.Account, base, s.VMType, s.ImageName,
		strings.Join(s.Regions, ","), strings.Join(s.ShareWith, ","))
	for _, c := range commands {
		fmt.Fprintf(h, "cmd=%s\n", c)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// AWSBakeProvisionInput provisions a bake's builder.
type AWSBakeProvisionInput struct {
	Account string             `json:"account"`
	Builder aws.BuilderRequest `json:"builder"`
}

// AWSBakeProvision launches the builder (or finds it), runs the script on it once and waits.
func (a *AWS) AWSBakeProvision(ctx context.Context, in AWSBakeProvisionInput) (aws.ProvisionResult, error) {
	p, err := a.provider(in.Account)
	if err != nil {
		return aws.ProvisionResult{}, err
	}
	res, err := p.Provision(ctx, in.Builder, func() { activity.RecordHeartbeat(ctx) })
	return res, classifyAWS(err)
}

// AWSBakeImageInput images a bake's builder.
type AWSBakeImageInput struct {
	Account string           `json:"account"`
	Image   aws.ImageRequest `json:"image"`
}

// AWSBakeImage stops the builder and images it, or finds the image, and waits until it is available.
func (a *AWS) AWSBakeImage(ctx context.Context, in AWSBakeImageInput) (aws.ImageSummary, error) {
	p, err := a.provider(in.Account)
	if err != nil {
		return aws.ImageSummary{}, err
	}
	img, err := p.CreateImage(ctx, in.Image, func() { activity.RecordHeartbeat(ctx) })
	return img, classifyAWS(err)
}

// AWSBakeCopyInput copies a bake's image to another region.
type AWSBakeCopyInput struct {
	Account string          `json:"account"`
	Copy    aws.CopyRequest `json:"copy"`
}

// AWSBakeCopy copies the image (or finds the copy), tags it and waits until it is available.
func (a *AWS) AWSBakeCopy(ctx context.Context, in AWSBakeCopyInput) (aws.ImageSummary, error) {
	p, err := a.provider(in.Account)
	if err != nil {
		return aws.ImageSummary{}, err
	}
	img, err := p.CopyImage(ctx, in.Copy, func() { activity.RecordHeartbeat(ctx) })
	return img, classifyAWS(err)
}

// AWSBakeShareInput lets accounts launch an image.
type AWSBakeShareInput struct {
	Account  string   `json:"account"`
	Region   string   `json:"region"`
	Image    string   `json:"image"`
	Accounts []string `json:"accounts"`
}

// AWSBakeShare adds launch permissions for the accounts.
func (a *AWS) AWSBakeShare(ctx context.Context, in AWSBakeShareInput) error {
	p, err := a.provider(in.Account)
	if err != nil {
		return err
	}
	return classifyAWS(p.ShareImage(ctx, in.Region, in.Image, in.Accounts))
}

// AWSBakeCleanupInput names a bake's builder.
type AWSBakeCleanupInput struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	BakeID  string `json:"bakeId"`
}

// AWSBakeCleanupResult says which builder was terminated, if any.
type AWSBakeCleanupResult struct {
	Instance string `json:"instance,omitempty"`
}

// AWSBakeCleanup terminates the bake's builder, if one is left.
func (a *AWS) AWSBakeCleanup(ctx context.Context, in AWSBakeCleanupInput) (AWSBakeCleanupResult, error) {
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSBakeCleanupResult{}, err
	}
	inst, err := p.TerminateBuilder(ctx, in.Region, in.BakeID)
	return AWSBakeCleanupResult{Instance: inst}, classifyAWS(err)
}
