package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/gennaker/gennaker/pipeline"
)

// CreateRequest is one server group to create: an Auto Scaling group launched from a launch
// template of its own, both tagged with the deploy that owns them.
type CreateRequest struct {
	Region string `json:"region"`
	// Name is the server group's name, allocated beforehand (NextServerGroupName).
	Name string `json:"name"`
	// Application is the moniker's application when the cluster names none.
	Application string              `json:"application"`
	Cluster     pipeline.AWSCluster `json:"cluster"`
	// ImageID is the image to launch, an id or a name, resolved by the caller from the cluster
	// or from an upstream stage.
	ImageID string `json:"imageId"`
	// Capacity is the size to create it at, the source's when the cluster says so.
	Capacity pipeline.Capacity `json:"capacity"`
	// Source is the cluster's current server group, whose block devices the new one copies when
	// the cluster says so, and whose image it records; empty when there is none.
	Source string `json:"source,omitempty"`
	// SourceLaunchTemplate is the launch template and version the source launches from
	// (name:version), when the caller read it already.
	SourceLaunchTemplate string `json:"sourceLaunchTemplate,omitempty"`
	// Owner identifies the deploy: a retried create that finds a resource with this owner adopts
	// it, and refuses one with another owner.
	Owner Owner `json:"owner"`
}

// Owner is the deploy that creates a server group.
type Owner struct {
	Execution string `json:"execution"`
	Stage     string `json:"stage"`
}

// key is the owner tag's value.
func (o Owner) key() string { return o.Execution + "/" + o.Stage }

// CreateResult is the server group created (or adopted).
type CreateResult struct {
	Region      string `json:"region"`
	ServerGroup string `json:"serverGroup"`
	// LaunchTemplate is the launch template and version it launches from, name:version.
	LaunchTemplate string            `json:"launchTemplate"`
	ImageID        string            `json:"imageId"`
	ImageName      string            `json:"imageName,omitempty"`
	Capacity       pipeline.Capacity `json:"capacity"`
	// Adopted means the server group already existed, created by the same deploy before a retry.
	Adopted bool `json:"adopted,omitempty"`
}

// CreateServerGroup creates the launch template and the Auto Scaling group, each described first:
// one that exists with this deploy's owner tag is adopted (a retry after a crash or a lost
// response), one with another owner fails the request. The group is created empty, its processes
// suspended as asked (with Launch, Terminate and AddToLoadBalancer when it starts disabled), and
// only then sized, so that a group meant to start out of traffic never takes any.
func (p *Provider) CreateServerGroup(ctx context.Context, in CreateRequest) (CreateResult, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return CreateResult{}, err
	}
	if err := in.Capacity.Check(); err != nil {
		return CreateResult{}, invalidf("server group %s: capacity %v", in.Name, err)
	}
	pre, err := p.readPrerequisites(ctx, c, in)
	if err != nil {
		return CreateResult{}, err
	}
	if pre.exists {
		if err := checkOwner("auto scaling group "+in.Name, pre.existing.tags, in.Owner); err != nil {
			return CreateResult{}, err
		}
	}
	lt, err := p.ensureLaunchTemplate(ctx, c, in, pre)
	if err != nil {
		return CreateResult{}, err
	}
	switch {
	case pre.exists:
		// A retry: finish what the first attempt may have left half done.
		if err := finishGroup(ctx, c, in); err != nil {
			return CreateResult{}, err
		}
	case len(startSuspended(in.Cluster)) > 0:
		// Created empty, its processes suspended, then sized: a group meant to start out of
		// traffic never takes any.
		if err := p.createGroup(ctx, c, in, lt, pre, pipeline.Capacity{}); err != nil {
			return CreateResult{}, err
		}
		if err := finishGroup(ctx, c, in); err != nil {
			return CreateResult{}, err
		}
	default:
		if err := p.createGroup(ctx, c, in, lt, pre, in.Capacity); err != nil {
			return CreateResult{}, err
		}
		if err := enableMetrics(ctx, c, in); err != nil {
			return CreateResult{}, err
		}
	}
	return CreateResult{Region: in.Region, ServerGroup: in.Name, LaunchTemplate: lt.name + ":" + lt.version,
		ImageID: pre.image.id, ImageName: pre.image.name, Capacity: in.Capacity, Adopted: pre.exists}, nil
}

// prerequisites are what a create reads before it writes: whether the group and its launch
// template exist, the image, and the names the cluster gives turned into ids.
type prerequisites struct {
	existing       serverGroup
	exists         bool
	image          image
	template       *launchTemplate
	securityGroups []string
	zones, subnets []string
	targetGroups   []string
	blockDevices   []ec2types.LaunchTemplateBlockDeviceMappingRequest
	// sourceImage is the image of the server group the new one replaces.
	sourceImage string
}

// readPrerequisites reads them all at once: each answer takes AWS's time, and none needs another.
func (p *Provider) readPrerequisites(ctx context.Context, c *clients, in CreateRequest) (prerequisites, error) {
	var pre prerequisites
	cl := in.Cluster
	var reads errgroup.Group
	reads.Go(func() (err error) { pre.existing, pre.exists, err = describeGroup(ctx, c, in.Name); return err })
	reads.Go(func() (err error) { pre.image, err = findImage(ctx, c, in.ImageID); return err })
	reads.Go(func() (err error) {
		pre.template, err = describeLaunchTemplate(ctx, c, launchTemplateName(in))
		return err
	})
	reads.Go(func() (err error) {
		pre.securityGroups, err = resolveSecurityGroups(ctx, c, append(slices.Clone(p.account.DefaultSecurityGroups), cl.SecurityGroups...))
		return err
	})
	reads.Go(func() (err error) { pre.zones, pre.subnets, err = p.placement(ctx, c, cl); return err })
	reads.Go(func() (err error) { pre.targetGroups, err = targetGroupARNs(ctx, c, cl.TargetGroups); return err })
	if in.Source != "" {
		// The source's image is remembered on the new group, for a rollback to the previous image.
		reads.Go(func() error {
			d, err := sourceLaunch(ctx, c, in.Source, in.SourceLaunchTemplate)
			if err != nil || d == nil {
				return err
			}
			pre.sourceImage = awssdk.ToString(d.ImageId)
			if len(cl.BlockDevices) == 0 && cl.CopySourceBlockDevices {
				pre.blockDevices = copyBlockDevices(d)
			}
			return nil
		})
	}
	return pre, reads.Wait()
}

// checkOwner refuses a resource another deploy (or someone outside gennaker) created.
func checkOwner(what string, tags map[string]string, o Owner) error {
	owner := tags[TagOwner]
	switch owner {
	case o.key():
		return nil
	case "":
		return invalidf("%s already exists and was not created by gennaker: choose another sequence, or destroy it first", what)
	}
	return invalidf("%s already exists, created by stage %s: choose another sequence, or destroy it first", what, owner)
}

// ownerTags are the tags of everything a deploy creates.
func ownerTags(in CreateRequest) map[string]string {
	app := in.Cluster.Application
	if app == "" {
		app = in.Application
	}
	tags := map[string]string{TagOwner: in.Owner.key(), TagExecution: in.Owner.Execution, TagStage: in.Owner.Stage, TagApplication: app}
	if in.Cluster.Stack != "" {
		tags[TagStack] = in.Cluster.Stack
	}
	if in.Cluster.Detail != "" {
		tags[TagDetails] = in.Cluster.Detail
	}
	return tags
}

// launchTemplateName is the name of the group's launch template: the group's name and a suffix
// made from its owner, the same on every retry of the deploy and different for another deploy
// that reuses the name after the sequence wrapped.
func launchTemplateName(in CreateRequest) string {
	sum := sha256.Sum256([]byte(in.Owner.key() + "/" + in.Name))
	return in.Name + "-" + hex.EncodeToString(sum[:4])
}

// clientToken makes an idempotency token for a create, at most 64 characters.
func clientToken(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:])[:64]
}

// ensureLaunchTemplate finds the group's launch template or creates it, and returns it with the
// explicit version the group launches (never $Latest, which a later change would move).
func (p *Provider) ensureLaunchTemplate(ctx context.Context, c *clients, in CreateRequest, pre prerequisites) (launchTemplateRef, error) {
	name := launchTemplateName(in)
	if found := pre.template; found != nil {
		if err := checkOwner("launch template "+name, found.tags, in.Owner); err != nil {
			return launchTemplateRef{}, err
		}
		return launchTemplateRef{id: found.id, name: name, version: "1"}, nil
	}
	out, err := c.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: awssdk.String(name),
		LaunchTemplateData: p.launchTemplateData(in, pre),
		ClientToken:        awssdk.String(clientToken(in.Owner.key(), name)),
		VersionDescription: awssdk.String("gennaker " + in.Owner.key()),
		TagSpecifications: []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: ec2Tags(ownerTags(in)),
		}},
	})
	if apiCode(err) == "InvalidLaunchTemplateName.AlreadyExistsException" {
		// The SDK retried a create whose first answer was lost: the template is the one made then.
		found, derr := describeLaunchTemplate(ctx, c, name)
		if derr != nil || found == nil {
			return launchTemplateRef{}, fmt.Errorf("create launch template %s: AWS says it exists but it cannot be read: %w", name, cmpErr(derr, err))
		}
		pre.template = found
		return p.ensureLaunchTemplate(ctx, c, in, pre)
	}
	if err != nil {
		return launchTemplateRef{}, wrap(err, "create launch template %s in %s", name, in.Region)
	}
	return launchTemplateRef{id: awssdk.ToString(out.LaunchTemplate.LaunchTemplateId), name: name, version: "1"}, nil
}

// cmpErr is the first error that is not nil.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// launchTemplate is a launch template found by name.
type launchTemplate struct {
	id   string
	tags map[string]string
}

func describeLaunchTemplate(ctx context.Context, c *clients, name string) (*launchTemplate, error) {
	out, err := c.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{
		Filters: []ec2types.Filter{{Name: awssdk.String("launch-template-name"), Values: []string{name}}},
	})
	if err != nil {
		return nil, wrap(err, "describe launch template %s", name)
	}
	for _, lt := range out.LaunchTemplates {
		if awssdk.ToString(lt.LaunchTemplateName) == name {
			tags := map[string]string{}
			for _, t := range lt.Tags {
				tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
			}
			return &launchTemplate{id: awssdk.ToString(lt.LaunchTemplateId), tags: tags}, nil
		}
	}
	return nil, nil
}

// launchTemplateData is what the instances launch with.
func (p *Provider) launchTemplateData(in CreateRequest, pre prerequisites) *ec2types.RequestLaunchTemplateData {
	cl := in.Cluster
	groups := pre.securityGroups
	tokens := ec2types.LaunchTemplateHttpTokensStateOptional
	if cl.RequireIMDSv2 {
		tokens = ec2types.LaunchTemplateHttpTokensStateRequired
	}
	data := &ec2types.RequestLaunchTemplateData{
		ImageId:      awssdk.String(pre.image.id),
		InstanceType: ec2types.InstanceType(cl.InstanceType),
		EbsOptimized: awssdk.Bool(cl.EBSOptimized),
		Monitoring:   &ec2types.LaunchTemplatesMonitoringRequest{Enabled: awssdk.Bool(cl.InstanceMonitoring)},
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens: tokens, HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
		},
	}
	if key := cmpOr(cl.KeyPair, p.account.DefaultKeyPair); key != "" {
		data.KeyName = awssdk.String(key)
	}
	if cl.IAMRole != "" {
		if strings.HasPrefix(cl.IAMRole, "arn:") {
			data.IamInstanceProfile = &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Arn: awssdk.String(cl.IAMRole)}
		} else {
			data.IamInstanceProfile = &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: awssdk.String(cl.IAMRole)}
		}
	}
	if cl.UserData != "" {
		data.UserData = awssdk.String(cl.UserData)
	}
	if cl.AssociatePublicIPAddress != nil {
		// Security groups go on the network interface when it is described.
		data.NetworkInterfaces = []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
			DeviceIndex: awssdk.Int32(0), AssociatePublicIpAddress: cl.AssociatePublicIPAddress, Groups: groups,
		}}
	} else if len(groups) > 0 {
		data.SecurityGroupIds = groups
	}
	if len(cl.BlockDevices) > 0 {
		data.BlockDeviceMappings = blockDeviceMappings(cl.BlockDevices)
	} else {
		data.BlockDeviceMappings = pre.blockDevices
	}
	return data
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func blockDeviceMappings(devices []pipeline.AWSBlockDevice) []ec2types.LaunchTemplateBlockDeviceMappingRequest {
	var out []ec2types.LaunchTemplateBlockDeviceMappingRequest
	for _, d := range devices {
		m := ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: awssdk.String(d.DeviceName)}
		if d.VirtualName != "" {
			m.VirtualName = awssdk.String(d.VirtualName)
		} else {
			ebs := &ec2types.LaunchTemplateEbsBlockDeviceRequest{DeleteOnTermination: d.DeleteOnTermination, Encrypted: d.Encrypted}
			if d.Size > 0 {
				ebs.VolumeSize = awssdk.Int32(int32(d.Size))
			}
			if d.VolumeType != "" {
				ebs.VolumeType = ec2types.VolumeType(d.VolumeType)
			}
			if d.IOPS > 0 {
				ebs.Iops = awssdk.Int32(int32(d.IOPS))
			}
			if d.Throughput > 0 {
				ebs.Throughput = awssdk.Int32(int32(d.Throughput))
			}
			if d.SnapshotID != "" {
				ebs.SnapshotId = awssdk.String(d.SnapshotID)
			}
			m.Ebs = ebs
		}
		out = append(out, m)
	}
	return out
}

// sourceLaunch reads the launch template version of the server group a deploy replaces, named
// by the caller (name:version) or else read from the group; nil when there is none.
func sourceLaunch(ctx context.Context, c *clients, source, launchTemplate string) (*ec2types.ResponseLaunchTemplateData, error) {
	if name, version, ok := strings.Cut(launchTemplate, ":"); ok {
		lt := launchTemplateRef{name: name, version: version}
		if strings.HasPrefix(name, "lt-") {
			lt = launchTemplateRef{id: name, version: version}
		}
		return launchData(ctx, c, serverGroup{name: source, launchTemplate: lt})
	}
	g, ok, err := describeGroup(ctx, c, source)
	if err != nil || !ok {
		return nil, err
	}
	return launchData(ctx, c, g)
}

// copyBlockDevices copies the block devices of a launch template version.
func copyBlockDevices(d *ec2types.ResponseLaunchTemplateData) []ec2types.LaunchTemplateBlockDeviceMappingRequest {
	var devices []ec2types.LaunchTemplateBlockDeviceMappingRequest
	for _, m := range d.BlockDeviceMappings {
		dev := ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: m.DeviceName, VirtualName: m.VirtualName, NoDevice: m.NoDevice}
		if e := m.Ebs; e != nil {
			dev.Ebs = &ec2types.LaunchTemplateEbsBlockDeviceRequest{DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted,
				Iops: e.Iops, KmsKeyId: e.KmsKeyId, SnapshotId: e.SnapshotId, Throughput: e.Throughput, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType}
		}
		devices = append(devices, dev)
	}
	return devices
}

// resolveSecurityGroups turns security group names into ids; ids (sg-…) stay as they are.
func resolveSecurityGroups(ctx context.Context, c *clients, groups []string) ([]string, error) {
	var ids, names []string
	for _, g := range groups {
		switch {
		case strings.HasPrefix(g, "sg-"):
			ids = append(ids, g)
		case !slices.Contains(names, g):
			names = append(names, g)
		}
	}
	if len(names) == 0 {
		return slices.Compact(ids), nil
	}
	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: awssdk.String("group-name"), Values: names}},
	})
	if err != nil {
		return nil, wrap(err, "find security groups %s in %s", strings.Join(names, ", "), c.region)
	}
	found := map[string]string{}
	for _, g := range out.SecurityGroups {
		found[awssdk.ToString(g.GroupName)] = awssdk.ToString(g.GroupId)
	}
	var missing []string
	for _, n := range names {
		if id, ok := found[n]; ok {
			ids = append(ids, id)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, invalidf("no security group named %s in %s", strings.Join(missing, ", "), c.region)
	}
	return ids, nil
}

// createGroup creates the Auto Scaling group, empty.
func (p *Provider) createGroup(ctx context.Context, c *clients, in CreateRequest, lt launchTemplateRef, pre prerequisites, size pipeline.Capacity) error {
	cl := in.Cluster
	zones, subnets, targetGroups := pre.zones, pre.subnets, pre.targetGroups
	tags := ownerTags(in)
	for k, v := range cl.Tags {
		tags[k] = v
	}
	if pre.sourceImage != "" {
		tags[TagPreviousImage] = pre.sourceImage
	}
	req := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName:   awssdk.String(in.Name),
		LaunchTemplate:         &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: awssdk.String(lt.id), Version: awssdk.String(lt.version)},
		MinSize:                awssdk.Int32(int32(size.Min)),
		MaxSize:                awssdk.Int32(int32(size.Max)),
		DesiredCapacity:        awssdk.Int32(int32(size.Desired)),
		LoadBalancerNames:      cl.LoadBalancers,
		TargetGroupARNs:        targetGroups,
		HealthCheckType:        awssdk.String(cl.HealthCheckType),
		HealthCheckGracePeriod: awssdk.Int32(int32(cl.HealthCheckGracePeriod)),
		DefaultCooldown:        awssdk.Int32(int32(cl.Cooldown)),
		TerminationPolicies:    cl.TerminationPolicies,
		CapacityRebalance:      awssdk.Bool(cl.CapacityRebalance),
		Tags:                   asgTags(in.Name, tags),
	}
	if len(subnets) > 0 {
		req.VPCZoneIdentifier = awssdk.String(strings.Join(subnets, ","))
	} else {
		req.AvailabilityZones = zones
	}
	for i, h := range cl.LifecycleHooks {
		spec := asgtypes.LifecycleHookSpecification{
			LifecycleHookName:   awssdk.String(cmpOr(h.Name, in.Name+"-lifecycle-"+strconv.Itoa(i))),
			LifecycleTransition: awssdk.String(h.LifecycleTransition),
			HeartbeatTimeout:    awssdk.Int32(int32(h.HeartbeatTimeout)),
			DefaultResult:       awssdk.String(h.DefaultResult),
		}
		if h.RoleARN != "" {
			spec.RoleARN = awssdk.String(h.RoleARN)
		}
		if h.NotificationTargetARN != "" {
			spec.NotificationTargetARN = awssdk.String(h.NotificationTargetARN)
		}
		if h.NotificationMetadata != "" {
			spec.NotificationMetadata = awssdk.String(h.NotificationMetadata)
		}
		req.LifecycleHookSpecificationList = append(req.LifecycleHookSpecificationList, spec)
	}
	_, err := c.asg.CreateAutoScalingGroup(ctx, req)
	if code := apiCode(err); code == "AlreadyExists" {
		// The SDK retried a create whose first answer was lost: adopt the group if it is ours.
		g, ok, derr := describeGroup(ctx, c, in.Name)
		if derr != nil {
			return derr
		}
		if !ok {
			return fmt.Errorf("create auto scaling group %s: AWS says it exists but it cannot be read yet: %w", in.Name, err)
		}
		return checkOwner("auto scaling group "+in.Name, g.tags, in.Owner)
	}
	return wrap(err, "create auto scaling group %s in %s", in.Name, in.Region)
}

// startSuspended lists the processes a new group starts with suspended.
func startSuspended(cl pipeline.AWSCluster) []string {
	suspend := slices.Clone(cl.SuspendedProcesses)
	if cl.StartDisabled {
		suspend = append(suspend, disableProcesses...)
	}
	slices.Sort(suspend)
	return slices.Compact(suspend)
}

// finishGroup suspends the processes the group starts with, turns on its metrics and sizes it.
// Each step may be repeated safely.
func finishGroup(ctx context.Context, c *clients, in CreateRequest) error {
	if suspend := startSuspended(in.Cluster); len(suspend) > 0 {
		if _, err := c.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: awssdk.String(in.Name), ScalingProcesses: suspend}); err != nil {
			return wrap(err, "suspend processes of %s", in.Name)
		}
	}
	if err := enableMetrics(ctx, c, in); err != nil {
		return err
	}
	return resizeGroup(ctx, c, in.Name, in.Capacity, in.Cluster.StartDisabled)
}

// enableMetrics turns on the group metrics the cluster asks for.
func enableMetrics(ctx context.Context, c *clients, in CreateRequest) error {
	if len(in.Cluster.EnabledMetrics) == 0 {
		return nil
	}
	_, err := c.asg.EnableMetricsCollection(ctx, &autoscaling.EnableMetricsCollectionInput{
		AutoScalingGroupName: awssdk.String(in.Name), Granularity: awssdk.String("1Minute"), Metrics: in.Cluster.EnabledMetrics,
	})
	return wrap(err, "enable metrics of %s", in.Name)
}

// placement is where the group launches: subnets of the cluster's subnet type (in its zones when
// it names some), or, without a subnet type, its zones in the default VPC.
func (p *Provider) placement(ctx context.Context, c *clients, cl pipeline.AWSCluster) (zones, subnets []string, err error) {
	zones = cl.AvailabilityZones
	if len(zones) == 0 {
		if r, ok := p.account.region(c.region); ok {
			zones = r.AvailabilityZones
		}
	}
	if len(cl.SubnetIDs) > 0 {
		return zones, cl.SubnetIDs, nil
	}
	if cl.SubnetType == "" {
		if len(zones) == 0 {
			zones, err = regionZones(ctx, c)
		}
		return zones, nil, err
	}
	subnets, err = subnetsOfType(ctx, c, cl.SubnetType, zones)
	return zones, subnets, err
}

func regionZones(ctx context.Context, c *clients) ([]string, error) {
	out, err := c.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		return nil, wrap(err, "list the availability zones of %s", c.region)
	}
	var zones []string
	for _, z := range out.AvailabilityZones {
		zones = append(zones, awssdk.ToString(z.ZoneName))
	}
	return zones, nil
}

// targetGroupARNs finds target groups by name.
func targetGroupARNs(ctx context.Context, c *clients, names []string) ([]string, error) {
	var arns []string
	for _, n := range names {
		if strings.HasPrefix(n, "arn:") {
			arns = append(arns, n)
			continue
		}
		arn, err := targetGroupARN(ctx, c, n)
		if err != nil {
			return nil, err
		}
		arns = append(arns, arn)
	}
	return arns, nil
}

func ec2Tags(tags map[string]string) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(tags[k])})
	}
	return out
}

func asgTags(group string, tags map[string]string) []asgtypes.Tag {
	var out []asgtypes.Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, asgtypes.Tag{Key: awssdk.String(k), Value: awssdk.String(tags[k]), PropagateAtLaunch: awssdk.Bool(true),
			ResourceId: awssdk.String(group), ResourceType: awssdk.String("auto-scaling-group")})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isNotFound reports an AWS answer that the thing asked about does not exist.
func isNotFound(err error) bool {
	code := apiCode(err)
	return errors.Is(err, ErrNotFound) || strings.HasSuffix(code, "NotFound") || strings.HasSuffix(code, "NotFoundException") ||
		strings.Contains(code, ".NotFound")
}
