package aws

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"golang.org/x/sync/errgroup"

	"github.com/gennaker/gennaker/pipeline"
)

// TagPreviousImage is the tag a new server group gets with the image of the server group it
// replaced, which rolling it back to the previous image launches again, as Spinnaker's entity tags
// remember it.
const TagPreviousImage = "gennaker:previous-image"

// CloneSource is a server group read back as the cluster settings that would create it again.
type CloneSource struct {
	Cluster pipeline.AWSCluster `json:"cluster"`
	// ImageID is the image its launch template launches.
	ImageID string `json:"imageId"`
	// PreviousImageID is the image of the server group it replaced, when gennaker deployed it
	// over one.
	PreviousImageID string `json:"previousImageId,omitempty"`
}

// ReadCloneSource reads a server group, its launch template version and its lifecycle hooks into
// the settings a deploy takes. What disabling suspended is left out (the copy is enabled unless
// asked otherwise), and so are the tags gennaker, Spinnaker and AWS write themselves.
func (p *Provider) ReadCloneSource(ctx context.Context, region, name string) (CloneSource, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return CloneSource{}, err
	}
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return CloneSource{}, wrap(err, "describe auto scaling group %s in %s", name, region)
	}
	i := slices.IndexFunc(out.AutoScalingGroups, func(a asgtypes.AutoScalingGroup) bool { return awssdk.ToString(a.AutoScalingGroupName) == name })
	if i < 0 || awssdk.ToString(out.AutoScalingGroups[i].Status) != "" {
		return CloneSource{}, invalidf("no server group %s in %s to clone", name, region)
	}
	a := out.AutoScalingGroups[i]
	g := fromASG(a)
	src := CloneSource{Cluster: groupSettings(p.account.Name, region, a, g), PreviousImageID: g.tags[TagPreviousImage]}
	var reads errgroup.Group
	reads.Go(func() error {
		data, err := launchData(ctx, c, g)
		if err == nil && data == nil {
			err = invalidf("server group %s in %s launches from no launch template that gennaker can read", name, region)
		}
		if err == nil {
			src.ImageID = awssdk.ToString(data.ImageId)
			launchSettings(data, &src.Cluster)
		}
		return err
	})
	reads.Go(func() (err error) {
		src.Cluster.TargetGroups, err = targetGroupNames(ctx, c, g.targetGroups)
		return err
	})
	reads.Go(func() (err error) { src.Cluster.LifecycleHooks, err = lifecycleHooks(ctx, c, name); return err })
	return src, reads.Wait()
}

// groupSettings reads what the Auto Scaling group holds.
func groupSettings(account, region string, a asgtypes.AutoScalingGroup, g serverGroup) pipeline.AWSCluster {
	cl := pipeline.AWSCluster{
		Account: account, Region: region, Application: g.moniker.App, Stack: g.moniker.Stack, Detail: g.moniker.Detail,
		AvailabilityZones: slices.Clone(g.zones), Capacity: g.capacity, TargetHealthyDeployPercentage: 100,
		LoadBalancers: slices.Clone(g.loadBalancers), HealthCheckType: awssdk.ToString(a.HealthCheckType),
		HealthCheckGracePeriod: int(awssdk.ToInt32(a.HealthCheckGracePeriod)), Cooldown: int(awssdk.ToInt32(a.DefaultCooldown)),
		TerminationPolicies: slices.Clone(a.TerminationPolicies), CapacityRebalance: awssdk.ToBool(a.CapacityRebalance),
		Strategy: pipeline.StrategyNone,
	}
	if g.subnets != "" {
		cl.SubnetIDs = strings.Split(g.subnets, ",")
	}
	for _, m := range a.EnabledMetrics {
		cl.EnabledMetrics = append(cl.EnabledMetrics, awssdk.ToString(m.Metric))
	}
	for _, p := range g.suspended {
		if !g.disabled() || !slices.Contains(disableProcesses, p) {
			cl.SuspendedProcesses = append(cl.SuspendedProcesses, p)
		}
	}
	for k, v := range g.tags {
		if ownTag(k) {
			continue
		}
		if cl.Tags == nil {
			cl.Tags = map[string]string{}
		}
		cl.Tags[k] = v
	}
	return cl
}

// ownTag reports a tag that gennaker, Spinnaker or AWS writes, which a copy gets anew.
func ownTag(key string) bool {
	for _, prefix := range []string{"gennaker:", "spinnaker:", "aws:"} {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return key == "Name"
}

// launchData reads the launch template version a group launches from; nil when it has none.
func launchData(ctx context.Context, c *clients, g serverGroup) (*ec2types.ResponseLaunchTemplateData, error) {
	if g.launchTemplate.id == "" && g.launchTemplate.name == "" {
		return nil, nil
	}
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{cmpOr(g.launchTemplate.version, "$Default")}}
	if g.launchTemplate.id != "" {
		in.LaunchTemplateId = awssdk.String(g.launchTemplate.id)
	} else {
		in.LaunchTemplateName = awssdk.String(g.launchTemplate.name)
	}
	out, err := c.ec2.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return nil, wrap(err, "read the launch template of %s", g.name)
	}
	for _, v := range out.LaunchTemplateVersions {
		if v.LaunchTemplateData != nil {
			return v.LaunchTemplateData, nil
		}
	}
	return nil, nil
}

// launchSettings reads what a launch template version holds into a cluster.
func launchSettings(d *ec2types.ResponseLaunchTemplateData, cl *pipeline.AWSCluster) {
	cl.InstanceType = string(d.InstanceType)
	cl.KeyPair = awssdk.ToString(d.KeyName)
	if p := d.IamInstanceProfile; p != nil {
		cl.IAMRole = cmpOr(awssdk.ToString(p.Name), awssdk.ToString(p.Arn))
	}
	cl.UserData = awssdk.ToString(d.UserData)
	if _, err := base64.StdEncoding.DecodeString(cl.UserData); err != nil {
		cl.UserData = base64.StdEncoding.EncodeToString([]byte(cl.UserData))
	}
	cl.EBSOptimized = awssdk.ToBool(d.EbsOptimized)
	cl.InstanceMonitoring = d.Monitoring != nil && awssdk.ToBool(d.Monitoring.Enabled)
	cl.RequireIMDSv2 = d.MetadataOptions != nil && d.MetadataOptions.HttpTokens == ec2types.LaunchTemplateHttpTokensStateRequired
	cl.SecurityGroups = slices.Clone(d.SecurityGroupIds)
	for _, n := range d.NetworkInterfaces {
		if awssdk.ToInt32(n.DeviceIndex) == 0 {
			cl.SecurityGroups = append(cl.SecurityGroups, n.Groups...)
			cl.AssociatePublicIPAddress = n.AssociatePublicIpAddress
		}
	}
	for _, m := range d.BlockDeviceMappings {
		b := pipeline.AWSBlockDevice{DeviceName: awssdk.ToString(m.DeviceName), VirtualName: awssdk.ToString(m.VirtualName)}
		if e := m.Ebs; e != nil {
			b.Size, b.VolumeType = int(awssdk.ToInt32(e.VolumeSize)), string(e.VolumeType)
			b.IOPS, b.Throughput = int(awssdk.ToInt32(e.Iops)), int(awssdk.ToInt32(e.Throughput))
			b.DeleteOnTermination, b.Encrypted, b.SnapshotID = e.DeleteOnTermination, e.Encrypted, awssdk.ToString(e.SnapshotId)
		}
		cl.BlockDevices = append(cl.BlockDevices, b)
	}
}

// targetGroupNames names the target groups of their ARNs.
func targetGroupNames(ctx context.Context, c *clients, arns []string) ([]string, error) {
	if len(arns) == 0 {
		return nil, nil
	}
	out, err := c.elbv2.DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{TargetGroupArns: arns})
	if err != nil {
		return nil, wrap(err, "read target groups %s", strings.Join(arns, ", "))
	}
	var names []string
	for _, tg := range out.TargetGroups {
		names = append(names, awssdk.ToString(tg.TargetGroupName))
	}
	slices.Sort(names)
	return names, nil
}

// lifecycleHooks reads a group's lifecycle hooks.
func lifecycleHooks(ctx context.Context, c *clients, group string) ([]pipeline.AWSLifecycleHook, error) {
	out, err := c.asg.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: awssdk.String(group)})
	if err != nil {
		return nil, wrap(err, "read the lifecycle hooks of %s", group)
	}
	var hooks []pipeline.AWSLifecycleHook
	for _, h := range out.LifecycleHooks {
		hooks = append(hooks, pipeline.AWSLifecycleHook{
			// The copy's hooks are named after it (a hook's name is unique per group only, but
			// Spinnaker's names carry the group's).
			LifecycleTransition: awssdk.ToString(h.LifecycleTransition), RoleARN: awssdk.ToString(h.RoleARN),
			NotificationTargetARN: awssdk.ToString(h.NotificationTargetARN), NotificationMetadata: awssdk.ToString(h.NotificationMetadata),
			HeartbeatTimeout: int(awssdk.ToInt32(h.HeartbeatTimeout)), DefaultResult: awssdk.ToString(h.DefaultResult),
		})
	}
	return hooks, nil
}
