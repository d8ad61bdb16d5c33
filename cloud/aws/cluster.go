package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
	"golang.org/x/sync/errgroup"
)

var _ cloud.ServerGroupLister = (*Provider)(nil)

// ClusterServerGroups lists the server groups of a cluster in a region, newest first: what deploy
// strategies and rollbacks choose from. With health, each says how many instances are up and
// whether it takes traffic, which costs a read of EC2 and of each load balancer per group.
func (p *Provider) ClusterServerGroups(ctx context.Context, region, cluster string, health bool) ([]cloud.ServerGroup, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return nil, err
	}
	groups, err := clusterGroups(ctx, c, cluster)
	if err != nil {
		return nil, err
	}
	return p.describeAll(ctx, c, groups, false, health)
}

// ServerGroups lists an application's server groups in every region of the account, cluster by
// cluster, for the infrastructure view.
func (p *Provider) ServerGroups(ctx context.Context, application string) ([]cloud.Cluster, error) {
	var out []cloud.Cluster
	for _, region := range p.account.RegionNames() {
		c, err := p.clients(ctx, region)
		if err != nil {
			return nil, err
		}
		groups, err := listGroups(ctx, c, func(m cloud.Moniker) bool { return m.App == application })
		if err != nil {
			return nil, err
		}
		described, err := p.describeAll(ctx, c, groups, true, true)
		if err != nil {
			return nil, err
		}
		slices.Reverse(described) // oldest first, as the view lists server groups
		byCluster := map[string]int{}
		for _, sg := range described {
			i, ok := byCluster[sg.Moniker.Cluster]
			if !ok {
				i = len(out)
				byCluster[sg.Moniker.Cluster] = i
				out = append(out, cloud.Cluster{Account: p.account.Name, Region: region, Name: sg.Moniker.Cluster})
			}
			out[i].ServerGroups = append(out[i].ServerGroups, sg)
		}
	}
	slices.SortStableFunc(out, func(a, b cloud.Cluster) int {
		return strings.Compare(a.Region+"/"+a.Name, b.Region+"/"+b.Name)
	})
	return out, nil
}

// describeAll describes groups with, when asked, each one's health (one call to EC2 and to each
// target group and load balancer per group) and image name (one call for all the images).
func (p *Provider) describeAll(ctx context.Context, c *clients, groups []serverGroup, images, health bool) ([]cloud.ServerGroup, error) {
	out := make([]cloud.ServerGroup, 0, len(groups))
	imageOf := map[string]string{}
	for _, g := range groups {
		h := cloud.ServerGroupHealth{Instances: make([]cloud.InstanceHealth, len(g.live()))}
		if health {
			var err error
			if h, err = readHealth(ctx, c, g); err != nil {
				return nil, err
			}
		}
		capacity := g.capacity
		sg := cloud.ServerGroup{
			Account: p.account.Name, Region: c.region, Name: g.name, Moniker: g.moniker, Kind: "AutoScalingGroup",
			CloudProvider: pipeline.CloudAWS, Desired: capacity.Desired, Ready: h.Up, Instances: len(h.Instances),
			TakingTraffic: h.TakingTraffic() > 0, Disabled: g.disabled(), CreatedAt: g.created.UTC().Truncate(time.Second),
			CreatedByExecution: g.tags[TagExecution], Capacity: &capacity,
		}
		if g.launchTemplate.name != "" || g.launchTemplate.id != "" {
			sg.LaunchTemplate = cmpOr(g.launchTemplate.name, g.launchTemplate.id) + ":" + g.launchTemplate.version
		}
		if images {
			id, err := launchTemplateImage(ctx, c, g)
			if err == nil {
				sg.ImageID = id
				imageOf[id] = ""
			}
		}
		out = append(out, sg)
	}
	if len(imageOf) > 0 {
		ids := make([]string, 0, len(imageOf))
		for id := range imageOf {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		resp, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: ids})
		if err == nil {
			for _, i := range resp.Images {
				imageOf[awssdk.ToString(i.ImageId)] = awssdk.ToString(i.Name)
			}
		}
		for i := range out {
			if name := imageOf[out[i].ImageID]; name != "" {
				out[i].ImageName = name
				out[i].Images = []string{name}
			}
		}
	}
	return out, nil
}

// ResolveTarget names the server group a Spinnaker target picks in a cluster: the newest
// (current), the one before it (previous) or the oldest. The previous and the oldest need two
// server groups, as in Spinnaker.
func (p *Provider) ResolveTarget(ctx context.Context, region, cluster, target string) (string, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return "", err
	}
	groups, err := clusterGroups(ctx, c, cluster)
	if err != nil {
		return "", err
	}
	if len(groups) == 0 {
		return "", fmt.Errorf("%w: cluster %s has no server group in %s", ErrNotFound, cluster, region)
	}
	switch target {
	case pipeline.TargetCurrent, "":
		return groups[0].name, nil
	case pipeline.TargetPrevious, pipeline.TargetOldest:
		if len(groups) < 2 {
			return "", invalidf("cluster %s has only one server group in %s (%s), so there is no %s", cluster, region, groups[0].name, targetWords(target))
		}
		if target == pipeline.TargetPrevious {
			return groups[1].name, nil
		}
		return groups[len(groups)-1].name, nil
	}
	return "", invalidf("unknown target %q", target)
}

func targetWords(target string) string {
	if target == pipeline.TargetOldest {
		return "oldest server group apart from the current one"
	}
	return "previous server group"
}

// NameRequest allocates the name of a deploy's new server group.
type NameRequest struct {
	Region  string `json:"region"`
	Cluster string `json:"cluster"`
	// Sequence, when set, is the sequence to use; IgnoreSequence names the group as the cluster.
	Sequence       *int  `json:"sequence,omitempty"`
	IgnoreSequence bool  `json:"ignoreSequence,omitempty"`
	Owner          Owner `json:"owner"`
}

// NextServerGroupName names a deploy's new server group: the one this deploy already created, if
// a retry finds one; else the sequence after the most recently created group's, skipping sequences
// in use, wrapping from 999 to 000. Call it holding the cluster's lock.
func (p *Provider) NextServerGroupName(ctx context.Context, in NameRequest) (string, error) {
	name, _, err := p.NextServerGroup(ctx, in)
	return name, err
}

// NextServerGroup is NextServerGroupName, with the cluster's other server groups as it read them,
// newest first, without their health.
func (p *Provider) NextServerGroup(ctx context.Context, in NameRequest) (string, []cloud.ServerGroup, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return "", nil, err
	}
	groups, err := clusterGroups(ctx, c, in.Cluster)
	if err != nil {
		return "", nil, err
	}
	name, err := nextName(in, groups)
	if err != nil {
		return "", nil, err
	}
	others := slices.DeleteFunc(slices.Clone(groups), func(g serverGroup) bool { return g.name == name })
	described, err := p.describeAll(ctx, c, others, false, false)
	return name, described, err
}

// nextName picks the name of a deploy's new server group among the cluster's groups.
func nextName(in NameRequest, groups []serverGroup) (string, error) {
	for _, g := range groups {
		if g.tags[TagOwner] == in.Owner.key() {
			return g.name, nil
		}
	}
	if in.IgnoreSequence {
		return in.Cluster, nil
	}
	taken := map[int]bool{}
	for _, g := range groups {
		if g.moniker.Sequence != nil {
			taken[cloud.WrapSequence(*g.moniker.Sequence)] = true
		}
	}
	if in.Sequence != nil {
		if taken[*in.Sequence] {
			return "", invalidf("cluster %s in %s already has a server group of sequence %03d", in.Cluster, in.Region, *in.Sequence)
		}
		return in.Cluster + "-" + cloud.VersionSuffix(*in.Sequence), nil
	}
	next := 0
	for _, g := range groups { // newest first
		if g.moniker.Sequence != nil {
			next = cloud.WrapSequence(*g.moniker.Sequence + 1)
			break
		}
	}
	for range cloud.SequenceLimit {
		if !taken[next] {
			return in.Cluster + "-" + cloud.VersionSuffix(next), nil
		}
		next = cloud.WrapSequence(next + 1)
	}
	return "", invalidf("cluster %s in %s has a server group of every sequence from 000 to 999: destroy old ones first", in.Cluster, in.Region)
}

// DestroyRequest deletes a server group.
type DestroyRequest struct {
	Region      string `json:"region"`
	ServerGroup string `json:"serverGroup"`
	// SkipDisable deletes the group without suspending its processes first; its instances are
	// deregistered from its load balancers either way.
	SkipDisable bool         `json:"skipDisable,omitempty"`
	Guard       bool         `json:"guard,omitempty"`
	RequireUp   *Requirement `json:"requireUp,omitempty"`
}

// Destroy deletes a server group with its instances and its launch template. A group that does not
// exist counts as destroyed.
func (p *Provider) Destroy(ctx context.Context, in DestroyRequest) (TrafficResult, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return TrafficResult{}, err
	}
	g, ok, required, err := p.readForRemoval(ctx, c, in.ServerGroup, in.RequireUp)
	if err != nil {
		return TrafficResult{}, err
	}
	if !ok {
		return TrafficResult{Missing: true, Instances: []string{}}, nil
	}
	own, err := p.checkRemoval(ctx, c, g, TrafficRequest{Region: in.Region, ServerGroup: in.ServerGroup, Guard: in.Guard, RequireUp: in.RequireUp}, required, "destroy")
	if err != nil {
		return TrafficResult{}, err
	}
	if !in.SkipDisable && !g.disabled() {
		if err := suspend(ctx, c, g.name, disableProcesses); err != nil {
			return TrafficResult{}, err
		}
	}
	ids := g.instanceIDs()
	slices.Sort(ids)
	// A disabled group whose health the guard just read out of traffic has nothing to take out.
	if own == nil || own.InTraffic() > 0 || !g.disabled() {
		if err := deregister(ctx, c, g, ids); err != nil {
			return TrafficResult{}, err
		}
	}
	// The group and its launch template go at once. ForceDelete terminates the group's
	// instances (terminating them here as well would race with the group, which replaces what
	// is terminated under it); a launch template may be deleted while a group being deleted
	// still names it. Each step may be repeated.
	var cleanup errgroup.Group
	cleanup.Go(func() error {
		_, err := c.asg.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: awssdk.String(g.name), ForceDelete: awssdk.Bool(true)})
		if err != nil && !isNotFound(err) && !strings.Contains(err.Error(), "not found") {
			return wrap(err, "delete auto scaling group %s", g.name)
		}
		return nil
	})
	cleanup.Go(func() error { return deleteLaunchTemplate(ctx, c, g.name, g.launchTemplate) })
	return TrafficResult{Instances: nonNil(ids)}, cleanup.Wait()
}

// deleteLaunchTemplate deletes a group's own launch template: one gennaker named after it. A
// template shared with others is left alone.
func deleteLaunchTemplate(ctx context.Context, c *clients, group string, lt launchTemplateRef) error {
	name := lt.name
	if name != group && !strings.HasPrefix(name, group+"-") {
		return nil
	}
	in := &ec2.DeleteLaunchTemplateInput{}
	if lt.id != "" {
		in.LaunchTemplateId = awssdk.String(lt.id)
	} else {
		in.LaunchTemplateName = awssdk.String(name)
	}
	_, err := c.ec2.DeleteLaunchTemplate(ctx, in)
	if err != nil && !isNotFound(err) {
		return wrap(err, "delete the launch template of %s", group)
	}
	return nil
}
