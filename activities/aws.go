package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/pipeline"
)

// AWSAccounts finds the provider of a named AWS account; *aws.Providers is one.
type AWSAccounts interface {
	Get(account string) (*aws.Provider, error)
	Names() []string
}

// AWS runs the AWS stages' work against the configured accounts. Each activity is one short
// step a workflow may repeat safely; waits are the workflow's, between reads.
type AWS struct {
	Accounts AWSAccounts
}

// classifyAWS makes errors that retrying cannot cure non-retryable, keeping their words.
func classifyAWS(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, aws.ErrTrafficGuard):
		return temporal.NewNonRetryableApplicationError(err.Error(), "TrafficGuard", nil)
	case errors.Is(err, aws.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidAWSRequest", nil)
	case errors.Is(err, aws.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), "NotFound", nil)
	}
	return err
}

// awsHeartbeat is how often an AWS activity tells Temporal it is alive while its calls run (the
// SDK may retry one call for a minute or two while AWS throttles), so that a worker dying mid-call
// is noticed within the workflow's heartbeat timeout rather than its start-to-close timeout.
const awsHeartbeat = 5 * time.Second

// heartbeating heartbeats until the returned function is called.
func heartbeating(ctx context.Context) func() {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(awsHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

func (a *AWS) provider(account string) (*aws.Provider, error) {
	p, err := a.Accounts.Get(account)
	return p, classifyAWS(err)
}

// ServerGroupRef names one server group of an AWS account.
type ServerGroupRef struct {
	Account     string `json:"account"`
	Region      string `json:"region"`
	ServerGroup string `json:"serverGroup"`
}

// AWSCreateServerGroupInput is one server group a deploy creates, in a cluster whose lock the
// stage holds.
type AWSCreateServerGroupInput struct {
	Account     string              `json:"account"`
	Region      string              `json:"region"`
	Application string              `json:"application"`
	Cluster     pipeline.AWSCluster `json:"cluster"`
	// ClusterName is the cluster's Frigga name, such as web-prod.
	ClusterName string `json:"clusterName"`
	Image       string `json:"image"`
	Execution   string `json:"execution"`
	Stage       string `json:"stage"`
	// StartEmpty creates the group with no instances, its maximum already set: rolling red/black
	// then grows it in steps to the capacity the result gives.
	StartEmpty bool `json:"startEmpty,omitempty"`
	// MaxEnabled, when above 0, refuses to create the group in a cluster with more enabled
	// server groups than that (rolling red/black's maxInitialAsgs).
	MaxEnabled int `json:"maxEnabled,omitempty"`
}

// AWSCreateServerGroupResult is the server group created, or adopted after a retry, and the
// cluster's other server groups as they were.
type AWSCreateServerGroupResult struct {
	ServerGroup    string            `json:"serverGroup"`
	LaunchTemplate string            `json:"launchTemplate"`
	ImageID        string            `json:"imageId"`
	ImageName      string            `json:"imageName,omitempty"`
	Capacity       pipeline.Capacity `json:"capacity"`
	Adopted        bool              `json:"adopted,omitempty"`
	// Source is the server group the new one replaces: the newest enabled one; empty if none.
	Source string `json:"source,omitempty"`
	// Others are the cluster's other server groups, newest first.
	Others []cloud.ServerGroup `json:"others"`
}

// AWSCreateServerGroup names and creates a deploy's server group: it reads the cluster, takes the
// source's size when the cluster says so, names the group (the one this deploy already made, on a
// retry) and creates it, adopting what an earlier attempt created.
func (a *AWS) AWSCreateServerGroup(ctx context.Context, in AWSCreateServerGroupInput) (AWSCreateServerGroupResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSCreateServerGroupResult{}, err
	}
	owner := aws.Owner{Execution: in.Execution, Stage: in.Stage}
	name, others, err := p.NextServerGroup(ctx, aws.NameRequest{Region: in.Region, Cluster: in.ClusterName, Sequence: in.Cluster.Sequence,
		IgnoreSequence: in.Cluster.IgnoreSequence, Owner: owner})
	if err != nil {
		return AWSCreateServerGroupResult{}, classifyAWS(err)
	}
	res := AWSCreateServerGroupResult{Others: others}
	if err := checkEnabled(in, others); err != nil {
		return res, err
	}
	capacity := in.Cluster.Capacity
	var sourceLaunchTemplate string
	for _, g := range others {
		if !g.Disabled {
			res.Source, sourceLaunchTemplate = g.Name, g.LaunchTemplate
			if in.Cluster.UseSourceCapacity && g.Capacity != nil {
				capacity = *g.Capacity
			}
			break
		}
	}
	initial := capacity
	if in.StartEmpty {
		initial = pipeline.Capacity{Max: capacity.Max}
	}
	created, err := p.CreateServerGroup(ctx, aws.CreateRequest{Region: in.Region, Name: name, Application: in.Application, Cluster: in.Cluster,
		ImageID: in.Image, Capacity: initial, Source: res.Source, SourceLaunchTemplate: sourceLaunchTemplate, Owner: owner})
	if err != nil {
		return AWSCreateServerGroupResult{}, classifyAWS(err)
	}
	res.ServerGroup, res.LaunchTemplate, res.ImageID, res.ImageName = created.ServerGroup, created.LaunchTemplate, created.ImageID, created.ImageName
	res.Capacity, res.Adopted = capacity, created.Adopted
	return res, nil
}

// checkEnabled refuses a deploy that wants fewer enabled server groups in its cluster than it has.
func checkEnabled(in AWSCreateServerGroupInput, others []cloud.ServerGroup) error {
	var enabled []string
	for _, g := range others {
		if !g.Disabled {
			enabled = append(enabled, g.Name)
		}
	}
	if in.MaxEnabled <= 0 || len(enabled) <= in.MaxEnabled {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s starts from at most %d enabled server group(s) (maxInitialAsgs), "+
		"but %s in %s has %d: %s; disable the older ones first (disableCluster) or raise maxInitialAsgs",
		in.Cluster.Strategy, in.MaxEnabled, in.ClusterName, in.Region, len(enabled), strings.Join(enabled, ", ")), "InvalidAWSRequest", nil)
}

// AWSClusterInput names a cluster in a region of an account.
type AWSClusterInput struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Cluster string `json:"cluster"`
	// Health reads, with the server groups, how many instances each has up and whether it
	// takes traffic.
	Health bool `json:"health,omitempty"`
}

// AWSClusterResult lists the cluster's server groups, newest first.
type AWSClusterResult struct {
	ServerGroups []cloud.ServerGroup `json:"serverGroups"`
}

// AWSClusterServerGroups reads a cluster's server groups with their health.
func (a *AWS) AWSClusterServerGroups(ctx context.Context, in AWSClusterInput) (AWSClusterResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSClusterResult{}, err
	}
	groups, err := p.ClusterServerGroups(ctx, in.Region, in.Cluster, in.Health)
	if groups == nil {
		groups = []cloud.ServerGroup{}
	}
	return AWSClusterResult{ServerGroups: groups}, classifyAWS(err)
}

// AWSHealthResult is one read of a server group's health.
type AWSHealthResult struct {
	Health cloud.ServerGroupHealth `json:"health"`
}

// AWSServerGroupHealth reads a server group's health once.
func (a *AWS) AWSServerGroupHealth(ctx context.Context, in ServerGroupRef) (AWSHealthResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSHealthResult{}, err
	}
	h, err := p.Health(ctx, in.Region, in.ServerGroup)
	return AWSHealthResult{Health: h}, classifyAWS(err)
}

// AWSTrafficInput changes a server group's traffic.
type AWSTrafficInput struct {
	ServerGroupRef
	// Percentage, below 100, disables that share of the group's instances only.
	Percentage int `json:"percentage,omitempty"`
	// Guard refuses to take the cluster's last serving server group out of service.
	Guard bool `json:"guard,omitempty"`
	// RequireUp is checked right before the first call that moves traffic.
	RequireUp *ServingRequirement `json:"requireUp,omitempty"`
}

// ServingRequirement is a server group that must serve with at least Up instances up before
// another is taken out of service.
type ServingRequirement struct {
	ServerGroup string `json:"serverGroup"`
	Up          int    `json:"up"`
}

func (r *ServingRequirement) provider() *aws.Requirement {
	if r == nil {
		return nil
	}
	return &aws.Requirement{ServerGroup: r.ServerGroup, Up: r.Up}
}

// AWSTrafficResult lists the instances registered or deregistered.
type AWSTrafficResult struct {
	Instances []string `json:"instances"`
	Missing   bool     `json:"missing,omitempty"`
	// InTraffic counts, after a disable, the instances still in traffic or draining.
	InTraffic int `json:"inTraffic,omitempty"`
}

// AWSDisableServerGroup takes a server group (or a share of its instances) out of traffic.
func (a *AWS) AWSDisableServerGroup(ctx context.Context, in AWSTrafficInput) (AWSTrafficResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSTrafficResult{}, err
	}
	res, err := p.Disable(ctx, aws.TrafficRequest{Region: in.Region, ServerGroup: in.ServerGroup, Percentage: in.Percentage,
		Guard: in.Guard, RequireUp: in.RequireUp.provider()})
	return AWSTrafficResult{Instances: res.Instances, Missing: res.Missing, InTraffic: res.InTraffic}, classifyAWS(err)
}

// AWSEnableServerGroup puts a server group back into traffic.
func (a *AWS) AWSEnableServerGroup(ctx context.Context, in AWSTrafficInput) (AWSTrafficResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSTrafficResult{}, err
	}
	res, err := p.Enable(ctx, aws.TrafficRequest{Region: in.Region, ServerGroup: in.ServerGroup})
	return AWSTrafficResult{Instances: res.Instances}, classifyAWS(err)
}

// AWSResizeInput sets a server group's size.
type AWSResizeInput struct {
	ServerGroupRef
	Capacity pipeline.Capacity `json:"capacity"`
	Guard    bool              `json:"guard,omitempty"`
}

// AWSResizeServerGroup sets a server group's size.
func (a *AWS) AWSResizeServerGroup(ctx context.Context, in AWSResizeInput) error {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return err
	}
	return classifyAWS(p.Resize(ctx, aws.ResizeRequest{Region: in.Region, ServerGroup: in.ServerGroup, Capacity: in.Capacity, Guard: in.Guard}))
}

// AWSDestroyInput deletes a server group.
type AWSDestroyInput struct {
	ServerGroupRef
	SkipDisable bool                `json:"skipDisable,omitempty"`
	Guard       bool                `json:"guard,omitempty"`
	RequireUp   *ServingRequirement `json:"requireUp,omitempty"`
}

// AWSDestroyServerGroup deletes a server group, its instances and launch template.
func (a *AWS) AWSDestroyServerGroup(ctx context.Context, in AWSDestroyInput) (AWSTrafficResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSTrafficResult{}, err
	}
	res, err := p.Destroy(ctx, aws.DestroyRequest{Region: in.Region, ServerGroup: in.ServerGroup, SkipDisable: in.SkipDisable,
		Guard: in.Guard, RequireUp: in.RequireUp.provider()})
	return AWSTrafficResult{Instances: res.Instances, Missing: res.Missing}, classifyAWS(err)
}

// AWSTargetInput asks which server group a Spinnaker target picks.
type AWSTargetInput struct {
	AWSClusterInput
	Target string `json:"target"`
}

// AWSTargetResult is the server group picked.
type AWSTargetResult struct {
	ServerGroup string `json:"serverGroup"`
}

// AWSResolveTarget picks the server group a target names in a cluster.
func (a *AWS) AWSResolveTarget(ctx context.Context, in AWSTargetInput) (AWSTargetResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSTargetResult{}, err
	}
	name, err := p.ResolveTarget(ctx, in.Region, in.Cluster, in.Target)
	return AWSTargetResult{ServerGroup: name}, classifyAWS(err)
}

// AWSFindImageFromTagsInput asks for the newest image of a package with some tags in a region.
type AWSFindImageFromTagsInput struct {
	// Account is where to look; empty looks in every account that has the region.
	Account     string            `json:"account,omitempty"`
	Region      string            `json:"region"`
	PackageName string            `json:"packageName"`
	Tags        map[string]string `json:"tags"`
	Owner       string            `json:"owner,omitempty"`
}

// AWSImageResult is the image found, if any.
type AWSImageResult struct {
	Image *cloud.Image `json:"image,omitempty"`
	// Account is the account it was found in.
	Account string `json:"account,omitempty"`
}

// AWSFindImageFromTags finds the newest image of a package with the tags; none found is no error.
func (a *AWS) AWSFindImageFromTags(ctx context.Context, in AWSFindImageFromTagsInput) (AWSImageResult, error) {
	defer heartbeating(ctx)()
	accounts := []string{in.Account}
	if in.Account == "" {
		accounts = a.Accounts.Names()
	}
	var best AWSImageResult
	looked := false
	for _, name := range accounts {
		p, err := a.provider(name)
		if err != nil {
			return AWSImageResult{}, err
		}
		if !p.Account().HasRegion(in.Region) {
			if in.Account != "" {
				return AWSImageResult{}, classifyAWS(fmt.Errorf("%w: aws account %s has no region %s", aws.ErrInvalid, name, in.Region))
			}
			continue
		}
		looked = true
		img, ok, err := p.FindImageFromTags(ctx, in.Region, in.PackageName, in.Tags, in.Owner)
		if err != nil {
			return AWSImageResult{}, classifyAWS(err)
		}
		if ok && (best.Image == nil || img.Created > best.Image.Created) {
			best = AWSImageResult{Image: &img, Account: name}
		}
	}
	if !looked {
		return AWSImageResult{}, classifyAWS(fmt.Errorf("%w: no AWS account has region %s (accounts: %v)", aws.ErrInvalid, in.Region, slices.Clone(accounts)))
	}
	return best, nil
}

// AWSClusterImageInput asks for the image a cluster's server groups run in a region.
type AWSClusterImageInput struct {
	AWSClusterInput
	OnlyEnabled bool   `json:"onlyEnabled"`
	Strategy    string `json:"strategy"`
	Pattern     string `json:"pattern,omitempty"`
}

// AWSClusterImage finds the image a cluster runs; a cluster without server groups is no error.
func (a *AWS) AWSClusterImage(ctx context.Context, in AWSClusterImageInput) (AWSImageResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSImageResult{}, err
	}
	img, ok, err := p.ClusterImage(ctx, in.Region, in.Cluster, in.OnlyEnabled, in.Strategy, in.Pattern)
	if err != nil || !ok {
		return AWSImageResult{}, classifyAWS(err)
	}
	return AWSImageResult{Image: &img, Account: in.Account}, nil
}

// AWSScalingProcessesInput suspends or resumes a server group's processes.
type AWSScalingProcessesInput struct {
	ServerGroupRef
	Suspend   bool     `json:"suspend"`
	Processes []string `json:"processes"`
}

// AWSScalingProcesses suspends or resumes a server group's processes.
func (a *AWS) AWSScalingProcesses(ctx context.Context, in AWSScalingProcessesInput) error {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return err
	}
	return classifyAWS(p.SetProcesses(ctx, in.Region, in.ServerGroup, in.Suspend, in.Processes))
}

// AWSTagImagesInput tags images of a region.
type AWSTagImagesInput struct {
	// Account is where the images are; empty: every account with the region.
	Account string `json:"account,omitempty"`
	Region  string `json:"region"`
	// Images are image ids or names.
	Images []string          `json:"images"`
	Tags   map[string]string `json:"tags"`
}

// AWSTagImagesResult lists the images tagged, with the tags they had before.
type AWSTagImagesResult struct {
	Images []cloud.Image `json:"images"`
}

// AWSTagImages sets tags on images and waits until AWS shows them. Without an account, the images
// are looked for in every account with the region; each must be found in one.
func (a *AWS) AWSTagImages(ctx context.Context, in AWSTagImagesInput) (AWSTagImagesResult, error) {
	defer heartbeating(ctx)()
	accounts := []string{in.Account}
	if in.Account == "" {
		accounts = a.Accounts.Names()
	}
	var lastErr error
	for _, name := range accounts {
		p, err := a.provider(name)
		if err != nil {
			return AWSTagImagesResult{}, err
		}
		if !p.Account().HasRegion(in.Region) {
			continue
		}
		images, err := p.TagImages(ctx, in.Region, in.Images, in.Tags)
		if err == nil {
			return AWSTagImagesResult{Images: images}, nil
		}
		if !errors.Is(err, aws.ErrInvalid) || in.Account != "" {
			return AWSTagImagesResult{}, classifyAWS(err)
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: no AWS account has region %s", aws.ErrInvalid, in.Region)
	}
	return AWSTagImagesResult{}, classifyAWS(lastErr)
}

// AWSCloneSourceResult is a server group read back as the settings that would create it again.
type AWSCloneSourceResult struct {
	Source aws.CloneSource `json:"source"`
}

// AWSReadCloneSource reads a server group for a clone, or for a rollback to its previous image.
func (a *AWS) AWSReadCloneSource(ctx context.Context, in ServerGroupRef) (AWSCloneSourceResult, error) {
	defer heartbeating(ctx)()
	p, err := a.provider(in.Account)
	if err != nil {
		return AWSCloneSourceResult{}, err
	}
	src, err := p.ReadCloneSource(ctx, in.Region, in.ServerGroup)
	return AWSCloneSourceResult{Source: src}, classifyAWS(err)
}
