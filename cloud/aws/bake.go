package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Machine images are baked without Packer, with EC2 and SSM alone: a builder instance launched
// from the base image, provisioned by a shell script sent through SSM Run Command, stopped and
// imaged; the image copied to the other regions and shared. Every step is found again by the
// bake's tags before it is done, so a bake retried after a crash never makes a second builder or
// image.

// Bakery is an account's configuration of machine image bakes.
type Bakery struct {
	// InstanceType is the builders' (default t3.small).
	InstanceType string `json:"instanceType,omitempty"`
	// SubnetType places builders in the region's subnets of that type; empty: the default VPC.
	SubnetType string `json:"subnetType,omitempty"`
	// SecurityGroups are the builders' (names or ids).
	SecurityGroups []string `json:"securityGroups,omitempty"`
	// InstanceProfile is the builders' IAM instance profile, which must let the SSM agent work.
	InstanceProfile string `json:"iamInstanceProfile,omitempty"`
	// BaseImages are the images bakes start from, by baseOs and baseLabel.
	BaseImages []BakeBaseImage `json:"baseImages,omitempty"`
	// Templates are provisioning scripts by the name a bake's templateFileName gives; the
	// script DefaultTemplate names is always there.
	Templates map[string]string `json:"templates,omitempty"`
}

// BakeBaseImage is a base image of a bakery.
type BakeBaseImage struct {
	BaseOS string `json:"baseOs"`
	// BaseLabel, such as release; empty serves every label.
	BaseLabel string `json:"baseLabel,omitempty"`
	// VMType is hvm (the default) or pv.
	VMType string `json:"vmType,omitempty"`
	// Regions maps each region to its image: an id (ami-…), a name (the newest image of that
	// name), or ssm:/parameter/path (the image id the SSM parameter holds).
	Regions map[string]string `json:"regions"`
}

// DefaultTemplate is the provisioning script every bakery has: it installs the bake's packages
// with the system's package manager.
const DefaultTemplate = "install_packages.sh"

// defaultScript installs PACKAGES (name or name=version, space-separated) with apt or dnf, from
// REPOSITORY when set, after UPGRADE when true.
const defaultScript = `set -euo pipefail
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  if [ -n "${REPOSITORY:-}" ]; then echo "deb [trusted=yes] ${REPOSITORY}" > /etc/apt/sources.list.d/gennaker.list; fi
  apt-get update
  if [ "${UPGRADE:-false}" = true ]; then apt-get -y upgrade; fi
  apt-get install -y --no-install-recommends ${PACKAGES}
else
  if [ "${UPGRADE:-false}" = true ]; then dnf -y upgrade; fi
  dnf install -y ${PACKAGES}
fi
`

// Template is the provisioning script of a name.
func (b *Bakery) Template(name string) (string, bool) {
	if name == "" || name == DefaultTemplate {
		if s, ok := b.Templates[DefaultTemplate]; ok {
			return s, true
		}
		return defaultScript, true
	}
	s, ok := b.Templates[name]
	return s, ok
}

// TemplateNames lists the scripts a bake may name.
func (b *Bakery) TemplateNames() []string {
	names := []string{DefaultTemplate}
	for n := range b.Templates {
		if n != DefaultTemplate {
			names = append(names, n)
		}
	}
	slices.Sort(names[1:])
	return names
}

// Base finds the base image of a baseOs, baseLabel and vmType: the one with that label, else the
// one serving every label.
func (b *Bakery) Base(baseOS, label, vmType string) (BakeBaseImage, bool) {
	var fallback *BakeBaseImage
	for i, bi := range b.BaseImages {
		if bi.BaseOS != baseOS || cmpOr(bi.VMType, "hvm") != cmpOr(vmType, "hvm") {
			continue
		}
		if bi.BaseLabel == label {
			return bi, true
		}
		if bi.BaseLabel == "" {
			fallback = &b.BaseImages[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return BakeBaseImage{}, false
}

// Tags of a bake's builder and images.
const (
	// TagBakeID is the bake (execution/stage) a builder, a command and an image belong to.
	TagBakeID = "gennaker:bake-id"
	// TagBakeKey is the digest of every input of the bake that made an image: a bake with the
	// same key reuses it.
	TagBakeKey = "gennaker:bake-key"
	// TagBakeCommand is the SSM command sent to a builder, so that a retry waits for it rather
	// than running the script again.
	TagBakeCommand = "gennaker:bake-command"
)

// BaseImage resolves a base image in a region: an id as it is, a name to its newest image, an
// ssm: parameter to the id it holds.
func (p *Provider) BaseImage(ctx context.Context, region, ref string) (string, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return "", err
	}
	if param, ok := strings.CutPrefix(ref, "ssm:"); ok {
		out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: awssdk.String(param)})
		if apiCode(err) == "ParameterNotFound" {
			return "", invalidf("no SSM parameter %s in %s for the base image", param, region)
		}
		if err != nil {
			return "", wrap(err, "read the SSM parameter %s in %s", param, region)
		}
		ref = awssdk.ToString(out.Parameter.Value)
	}
	img, err := findImage(ctx, c, ref)
	if err != nil {
		return "", err
	}
	return img.id, nil
}

// BakedImage finds, in a region, the available image a bake with this key made; nil when none.
func (p *Provider) BakedImage(ctx context.Context, region, key string) (*ImageSummary, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return nil, err
	}
	return imageByTag(ctx, c, TagBakeKey, key)
}

// ImageSummary is an image a bake made.
type ImageSummary struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

func imageByTag(ctx context.Context, c *clients, key, value string) (*ImageSummary, error) {
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []ec2types.Filter{{Name: awssdk.String("tag:" + key), Values: []string{value}}}})
	if err != nil {
		return nil, wrap(err, "find the image tagged %s=%s in %s", key, value, c.region)
	}
	for _, img := range out.Images {
		if s := string(img.State); s != "failed" && s != "deregistered" && s != "error" {
			return &ImageSummary{ID: awssdk.ToString(img.ImageId), Name: awssdk.ToString(img.Name), State: s}, nil
		}
	}
	return nil, nil
}

// BuilderRequest is a builder instance to launch, or find again.
type BuilderRequest struct {
	Region    string `json:"region"`
	BakeID    string `json:"bakeId"`
	BaseImage string `json:"baseImage"`
	// Commands are the provisioning script's lines, run as root through SSM.
	Commands []string `json:"commands"`
}

// ProvisionResult is a builder provisioned.
type ProvisionResult struct {
	Instance string `json:"instance"`
	Command  string `json:"command"`
	// Output is the end of what the script printed.
	Output string `json:"output,omitempty"`
}

// Provision launches the bake's builder (or finds the one it launched), sends it the
// provisioning script once (a retry finds the command on the builder's tags) and waits until
// the script has run, calling tick while it waits. A script that fails fails the bake with the
// end of what it printed.
func (p *Provider) Provision(ctx context.Context, in BuilderRequest, tick func()) (ProvisionResult, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return ProvisionResult{}, err
	}
	inst, tags, err := p.builder(ctx, c, in)
	if err != nil {
		return ProvisionResult{}, err
	}
	res := ProvisionResult{Instance: inst, Command: tags[TagBakeCommand]}
	if res.Command == "" {
		if err := waitInstance(ctx, c, inst, "running", tick); err != nil {
			return res, err
		}
		// A command sent before a crash, whose id never reached the builder's tags, is found by
		// its comment: the script never runs twice.
		comment := "gennaker bake " + in.BakeID
		if res.Command, err = commandByComment(ctx, c, inst, comment); err != nil {
			return res, err
		}
		if res.Command == "" {
			out, err := c.ssm.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: awssdk.String("AWS-RunShellScript"),
				InstanceIds: []string{inst}, Comment: awssdk.String(comment),
				Parameters: map[string][]string{"commands": in.Commands, "executionTimeout": {"3600"}}})
			if err != nil {
				return res, wrap(err, "send the provisioning script to builder %s", inst)
			}
			res.Command = awssdk.ToString(out.Command.CommandId)
		}
		if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{inst},
			Tags: []ec2types.Tag{{Key: awssdk.String(TagBakeCommand), Value: awssdk.String(res.Command)}}}); err != nil {
			return res, wrap(err, "tag builder %s with its command", inst)
		}
	}
	for {
		inv, err := c.ssm.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: awssdk.String(res.Command), InstanceId: awssdk.String(inst)})
		switch {
		case apiCode(err) == "InvocationDoesNotExist":
			// Just sent: SSM has not registered it yet.
		case err != nil:
			return res, wrap(err, "read the provisioning of builder %s", inst)
		default:
			res.Output = tail(awssdk.ToString(inv.StandardOutputContent)+awssdk.ToString(inv.StandardErrorContent), 4096)
			switch inv.Status {
			case ssmtypes.CommandInvocationStatusSuccess:
				return res, nil
			case ssmtypes.CommandInvocationStatusFailed, ssmtypes.CommandInvocationStatusCancelled, ssmtypes.CommandInvocationStatusTimedOut:
				return res, invalidf("the provisioning script failed on builder %s (%s, exit code %d): %s", inst, inv.Status, inv.ResponseCode, res.Output)
			}
		}
		tick()
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(bakePoll):
		}
	}
}

// commandByComment finds the command with this comment sent to an instance; "" when none.
func commandByComment(ctx context.Context, c *clients, instance, comment string) (string, error) {
	pages := ssm.NewListCommandsPaginator(c.ssm, &ssm.ListCommandsInput{InstanceId: awssdk.String(instance)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", wrap(err, "list the commands sent to builder %s", instance)
		}
		for _, cmd := range page.Commands {
			if awssdk.ToString(cmd.Comment) == comment {
				return awssdk.ToString(cmd.CommandId), nil
			}
		}
	}
	return "", nil
}

// bakePoll is how often a bake reads the progress of what it waits for.
var bakePoll = 2 * time.Second

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// builder finds the bake's builder, or launches it from the base image.
func (p *Provider) builder(ctx context.Context, c *clients, in BuilderRequest) (string, map[string]string, error) {
	if id, tags, err := builderByTag(ctx, c, in.BakeID); err != nil || id != "" {
		return id, tags, err
	}
	b := p.account.Bakery
	run := &ec2.RunInstancesInput{ImageId: awssdk.String(in.BaseImage), MinCount: awssdk.Int32(1), MaxCount: awssdk.Int32(1),
		InstanceType: ec2types.InstanceType(cmpOr(b.InstanceType, "t3.small")), ClientToken: awssdk.String(clientToken("bake", in.BakeID, in.Region)),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: ec2Tags(map[string]string{
			TagBakeID: in.BakeID, "Name": "gennaker-bake", TagOwner: in.BakeID})}},
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired}}
	if b.InstanceProfile != "" {
		run.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: awssdk.String(b.InstanceProfile)}
		if strings.HasPrefix(b.InstanceProfile, "arn:") {
			run.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Arn: awssdk.String(b.InstanceProfile)}
		}
	}
	if len(b.SecurityGroups) > 0 {
		groups, err := resolveSecurityGroups(ctx, c, b.SecurityGroups)
		if err != nil {
			return "", nil, err
		}
		run.SecurityGroupIds = groups
	}
	if b.SubnetType != "" {
		subnets, err := subnetsOfType(ctx, c, b.SubnetType, nil)
		if err != nil {
			return "", nil, err
		}
		run.SubnetId = awssdk.String(subnets[0])
	}
	out, err := c.ec2.RunInstances(ctx, run)
	if err != nil {
		return "", nil, wrap(err, "launch the builder of bake %s in %s", in.BakeID, c.region)
	}
	return awssdk.ToString(out.Instances[0].InstanceId), map[string]string{TagBakeID: in.BakeID}, nil
}

// builderByTag finds a bake's builder that is not terminated, with its tags.
func builderByTag(ctx context.Context, c *clients, bakeID string) (string, map[string]string, error) {
	out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("tag:" + TagBakeID), Values: []string{bakeID}},
		{Name: awssdk.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}}})
	if err != nil {
		return "", nil, wrap(err, "find the builder of bake %s in %s", bakeID, c.region)
	}
	for _, r := range out.Reservations {
		if len(r.Instances) == 0 {
			continue
		}
		i := r.Instances[0]
		tags := map[string]string{}
		for _, t := range i.Tags {
			tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
		}
		return awssdk.ToString(i.InstanceId), tags, nil
	}
	return "", nil, nil
}

// waitInstance waits until an instance is in a state.
func waitInstance(ctx context.Context, c *clients, id, state string, tick func()) error {
	for {
		out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return wrap(err, "read builder %s", id)
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				switch s := string(i.State.Name); {
				case s == state:
					return nil
				case s == "terminated" || s == "shutting-down":
					return fmt.Errorf("builder %s is %s", id, s)
				}
			}
		}
		tick()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bakePoll):
		}
	}
}

// ImageRequest is the image a bake makes of its builder.
type ImageRequest struct {
	Region string            `json:"region"`
	BakeID string            `json:"bakeId"`
	Name   string            `json:"name"`
	Tags   map[string]string `json:"tags"`
}

// CreateImage stops the builder and images it, or finds the image the bake made already, and
// waits until the image is available.
func (p *Provider) CreateImage(ctx context.Context, in ImageRequest, tick func()) (ImageSummary, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return ImageSummary{}, err
	}
	img, err := imageByTag(ctx, c, TagBakeID, in.BakeID)
	if err != nil {
		return ImageSummary{}, err
	}
	if img == nil {
		inst, _, err := builderByTag(ctx, c, in.BakeID)
		if err != nil {
			return ImageSummary{}, err
		}
		if inst == "" {
			return ImageSummary{}, fmt.Errorf("bake %s has no builder in %s to image", in.BakeID, in.Region)
		}
		if _, err := c.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{inst}}); err != nil {
			return ImageSummary{}, wrap(err, "stop builder %s", inst)
		}
		if err := waitInstance(ctx, c, inst, "stopped", tick); err != nil {
			return ImageSummary{}, err
		}
		out, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: awssdk.String(inst), Name: awssdk.String(in.Name),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: ec2Tags(bakeTags(in))}}})
		if err != nil {
			return ImageSummary{}, wrap(err, "image builder %s as %s", inst, in.Name)
		}
		img = &ImageSummary{ID: awssdk.ToString(out.ImageId), Name: in.Name}
	}
	return waitImage(ctx, c, img.ID, tick)
}

func bakeTags(in ImageRequest) map[string]string {
	tags := map[string]string{TagBakeID: in.BakeID}
	for k, v := range in.Tags {
		tags[k] = v
	}
	return tags
}

// waitImage waits until an image is available.
func waitImage(ctx context.Context, c *clients, id string, tick func()) (ImageSummary, error) {
	for {
		out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err != nil && !isNotFound(err) {
			return ImageSummary{}, wrap(err, "read image %s in %s", id, c.region)
		}
		if out != nil && len(out.Images) == 1 {
			img := out.Images[0]
			switch img.State {
			case ec2types.ImageStateAvailable:
				return ImageSummary{ID: id, Name: awssdk.ToString(img.Name), State: string(img.State)}, nil
			case ec2types.ImageStateFailed, ec2types.ImageStateError, ec2types.ImageStateDeregistered:
				return ImageSummary{}, fmt.Errorf("image %s in %s is %s: %s", id, c.region, img.State, awssdk.ToString(img.StateReason.Message))
			}
		}
		tick()
		select {
		case <-ctx.Done():
			return ImageSummary{}, ctx.Err()
		case <-time.After(bakePoll):
		}
	}
}

// CopyRequest copies a bake's image to another region, with its tags (CopyImage does not copy
// them), and shares it.
type CopyRequest struct {
	ImageRequest
	SourceRegion string `json:"sourceRegion"`
	SourceImage  string `json:"sourceImage"`
}

// CopyImage copies the image to the region, or finds the copy made already, tags it and waits
// until it is available.
func (p *Provider) CopyImage(ctx context.Context, in CopyRequest, tick func()) (ImageSummary, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return ImageSummary{}, err
	}
	img, err := imageByTag(ctx, c, TagBakeID, in.BakeID)
	if err != nil {
		return ImageSummary{}, err
	}
	if img == nil {
		out, err := c.ec2.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: awssdk.String(in.SourceImage), SourceRegion: awssdk.String(in.SourceRegion),
			Name: awssdk.String(in.Name), ClientToken: awssdk.String(clientToken("copy", in.BakeID, in.Region))})
		if err != nil {
			return ImageSummary{}, wrap(err, "copy image %s from %s to %s", in.SourceImage, in.SourceRegion, in.Region)
		}
		img = &ImageSummary{ID: awssdk.ToString(out.ImageId), Name: in.Name}
	}
	// Tagged again on a retry too: the first attempt may have ended between the copy and its tags.
	if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{img.ID}, Tags: ec2Tags(bakeTags(in.ImageRequest))}); err != nil {
		return ImageSummary{}, wrap(err, "tag image %s in %s", img.ID, in.Region)
	}
	return waitImage(ctx, c, img.ID, tick)
}

// ShareImage lets other accounts launch an image.
func (p *Provider) ShareImage(ctx context.Context, region, image string, accounts []string) error {
	if len(accounts) == 0 {
		return nil
	}
	c, err := p.clients(ctx, region)
	if err != nil {
		return err
	}
	var adds []ec2types.LaunchPermission
	for _, a := range accounts {
		adds = append(adds, ec2types.LaunchPermission{UserId: awssdk.String(a)})
	}
	_, err = c.ec2.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: awssdk.String(image),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: adds}})
	return wrap(err, "share image %s in %s with %s", image, region, strings.Join(accounts, ", "))
}

// TerminateBuilder terminates the bake's builder, if it has one left.
func (p *Provider) TerminateBuilder(ctx context.Context, region, bakeID string) (string, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return "", err
	}
	inst, _, err := builderByTag(ctx, c, bakeID)
	if err != nil || inst == "" {
		return "", err
	}
	_, err = c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{inst}})
	if err != nil && !isNotFound(err) {
		return inst, wrap(err, "terminate builder %s", inst)
	}
	return inst, nil
}
