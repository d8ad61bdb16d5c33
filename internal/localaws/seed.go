package localaws

import (
	"context"
	"fmt"
	"slices"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// What Seed makes, by name: a deploy of cluster "web" to subnetType "internal" with security
// group "web" and target group "web" (production, port 80 of load balancer "web") or
// "web-staging" (port 8080) finds them, and the images web-1.0.0 and web-1.1.0 are there to deploy.
const (
	SeedName           = "gennaker-dev"
	SubnetType         = "internal"
	SecurityGroup      = "web"
	TargetGroup        = "web"
	StagingTargetGroup = "web-staging"
	LoadBalancer       = "web"
	seedVPCCIDR        = "10.0.0.0/16"
	imageOwnerNote     = "seeded by gennaker dev"
)

// BakeBaseImage is the image Seed makes for bakes to start from: the local bakery's base image of
// baseOs debian.
const BakeBaseImage = "debian-12"

// SeedImages are the base images Seed makes, oldest first, with the tags findImageFromTags finds
// them by.
var SeedImages = []struct{ Name, AppVersion string }{
	{"web-1.0.0", "web-1.0.0-h1.a1b2c3d/web-build/1"},
	{"web-1.1.0", "web-1.1.0-h2.d4e5f6a/web-build/2"},
}

// Fixture is what Seed made in a region.
type Fixture struct {
	Region                string
	VPC                   string
	Subnets               []string
	SecurityGroup         string
	TargetGroupARN        string
	StagingTargetGroupARN string
	LoadBalancerARN       string
	// Images maps the seeded image names to their ids.
	Images map[string]string
}

// Seed makes what a first deploy to a region needs, unless it is there already: a VPC with two
// subnets tagged as subnet type "internal", security group "web", an application load balancer
// "web" forwarding to target group "web", and the base images of SeedImages.
func Seed(ctx context.Context, cfg awssdk.Config) (Fixture, error) {
	e := ec2.NewFromConfig(cfg)
	lb := elbv2.NewFromConfig(cfg)
	f := Fixture{Region: cfg.Region, Images: map[string]string{}}
	var err error
	if f.VPC, err = seedVPC(ctx, e); err != nil {
		return f, err
	}
	if f.Subnets, err = seedSubnets(ctx, e, f.VPC, cfg.Region); err != nil {
		return f, err
	}
	if f.SecurityGroup, err = seedSecurityGroup(ctx, e, f.VPC); err != nil {
		return f, err
	}
	if f.TargetGroupARN, f.StagingTargetGroupARN, f.LoadBalancerARN, err = seedLoadBalancer(ctx, lb, f.VPC, f.Subnets, f.SecurityGroup); err != nil {
		return f, err
	}
	for _, img := range SeedImages {
		id, err := seedImage(ctx, e, img.Name, f.Subnets[0], map[string]string{
			"appversion": img.AppVersion, "package": "web", "release": "stable", "build_host": "https://ci.example.com/"})
		if err != nil {
			return f, err
		}
		f.Images[img.Name] = id
	}
	id, err := seedImage(ctx, e, BakeBaseImage, f.Subnets[0], map[string]string{"os": "debian"})
	if err != nil {
		return f, err
	}
	f.Images[BakeBaseImage] = id
	return f, nil
}

func nameTag(name string) ec2types.Filter {
	return ec2types.Filter{Name: awssdk.String("tag:Name"), Values: []string{name}}
}

func tagged(kind ec2types.ResourceType, tags map[string]string) []ec2types.TagSpecification {
	spec := ec2types.TagSpecification{ResourceType: kind}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		spec.Tags = append(spec.Tags, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(tags[k])})
	}
	return []ec2types.TagSpecification{spec}
}

func seedVPC(ctx context.Context, e *ec2.Client) (string, error) {
	out, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{nameTag(SeedName)}})
	if err != nil {
		return "", fmt.Errorf("seed: find the VPC: %w", err)
	}
	if len(out.Vpcs) > 0 {
		return awssdk.ToString(out.Vpcs[0].VpcId), nil
	}
	vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: awssdk.String(seedVPCCIDR),
		TagSpecifications: tagged(ec2types.ResourceTypeVpc, map[string]string{"Name": SeedName})})
	if err != nil {
		return "", fmt.Errorf("seed: create the VPC: %w", err)
	}
	return awssdk.ToString(vpc.Vpc.VpcId), nil
}

func seedSubnets(ctx context.Context, e *ec2.Client, vpc, region string) ([]string, error) {
	var ids []string
	for i, zone := range []string{region + "a", region + "b"} {
		name := fmt.Sprintf("%s.%s.%s", SeedName, SubnetType, zone)
		out, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{nameTag(name)}})
		if err != nil {
			return nil, fmt.Errorf("seed: find subnet %s: %w", name, err)
		}
		if len(out.Subnets) > 0 {
			ids = append(ids, awssdk.ToString(out.Subnets[0].SubnetId))
			continue
		}
		sn, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: awssdk.String(vpc), CidrBlock: awssdk.String(fmt.Sprintf("10.0.%d.0/24", i+1)), AvailabilityZone: awssdk.String(zone),
			TagSpecifications: tagged(ec2types.ResourceTypeSubnet, map[string]string{
				"Name": name, "immutable_metadata": fmt.Sprintf(`{"purpose": %q, "target": "ec2"}`, SubnetType)}),
		})
		if err != nil {
			return nil, fmt.Errorf("seed: create subnet %s: %w", name, err)
		}
		ids = append(ids, awssdk.ToString(sn.Subnet.SubnetId))
	}
	return ids, nil
}

func seedSecurityGroup(ctx context.Context, e *ec2.Client, vpc string) (string, error) {
	out, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("group-name"), Values: []string{SecurityGroup}}, {Name: awssdk.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		return "", fmt.Errorf("seed: find security group %s: %w", SecurityGroup, err)
	}
	if len(out.SecurityGroups) > 0 {
		return awssdk.ToString(out.SecurityGroups[0].GroupId), nil
	}
	sg, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String(SecurityGroup), VpcId: awssdk.String(vpc),
		Description: awssdk.String("web servers, " + imageOwnerNote)})
	if err != nil {
		return "", fmt.Errorf("seed: create security group %s: %w", SecurityGroup, err)
	}
	return awssdk.ToString(sg.GroupId), nil
}

func seedLoadBalancer(ctx context.Context, lb *elbv2.Client, vpc string, subnets []string, sg string) (prod, staging, lbARN string, err error) {
	if prod, err = seedTargetGroup(ctx, lb, vpc, TargetGroup); err != nil {
		return "", "", "", err
	}
	if staging, err = seedTargetGroup(ctx, lb, vpc, StagingTargetGroup); err != nil {
		return "", "", "", err
	}
	lbs, err := lb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{LoadBalancer}})
	if err == nil && len(lbs.LoadBalancers) > 0 {
		return prod, staging, awssdk.ToString(lbs.LoadBalancers[0].LoadBalancerArn), nil
	}
	created, err := lb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: awssdk.String(LoadBalancer), Subnets: subnets,
		SecurityGroups: []string{sg}, Scheme: elbv2types.LoadBalancerSchemeEnumInternal, Type: elbv2types.LoadBalancerTypeEnumApplication})
	if err != nil {
		return "", "", "", fmt.Errorf("seed: create load balancer %s: %w", LoadBalancer, err)
	}
	lbARN = awssdk.ToString(created.LoadBalancers[0].LoadBalancerArn)
	for port, tg := range map[int32]string{80: prod, 8080: staging} {
		_, err = lb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: awssdk.String(lbARN), Protocol: elbv2types.ProtocolEnumHttp,
			Port: awssdk.Int32(port), DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: awssdk.String(tg)}}})
		if err != nil {
			return "", "", "", fmt.Errorf("seed: create listener %d of %s: %w", port, LoadBalancer, err)
		}
	}
	return prod, staging, lbARN, nil
}

func seedTargetGroup(ctx context.Context, lb *elbv2.Client, vpc, name string) (string, error) {
	tgs, err := lb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if err == nil && len(tgs.TargetGroups) > 0 {
		return awssdk.ToString(tgs.TargetGroups[0].TargetGroupArn), nil
	}
	tg, err := lb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: awssdk.String(name), Protocol: elbv2types.ProtocolEnumHttp,
		Port: awssdk.Int32(80), VpcId: awssdk.String(vpc), TargetType: elbv2types.TargetTypeEnumInstance})
	if err != nil {
		return "", fmt.Errorf("seed: create target group %s: %w", name, err)
	}
	return awssdk.ToString(tg.TargetGroups[0].TargetGroupArn), nil
}

// seedImage makes an image as a bake would: an instance of one of moto's own images, imaged.
func seedImage(ctx context.Context, e *ec2.Client, name, subnet string, tags map[string]string) (string, error) {
	out, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []ec2types.Filter{{Name: awssdk.String("name"), Values: []string{name}}}})
	if err != nil {
		return "", fmt.Errorf("seed: find image %s: %w", name, err)
	}
	if len(out.Images) > 0 {
		return awssdk.ToString(out.Images[0].ImageId), nil
	}
	bases, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
		Filters: []ec2types.Filter{{Name: awssdk.String("architecture"), Values: []string{"x86_64"}}}})
	if err != nil || len(bases.Images) == 0 {
		return "", fmt.Errorf("seed: find a base image among moto's own: %v", err)
	}
	base := bases.Images[0].ImageId
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: base, InstanceType: ec2types.InstanceTypeT3Micro,
		MinCount: awssdk.Int32(1), MaxCount: awssdk.Int32(1), SubnetId: awssdk.String(subnet)})
	if err != nil {
		return "", fmt.Errorf("seed: start a builder for image %s: %w", name, err)
	}
	builder := awssdk.ToString(run.Instances[0].InstanceId)
	img, err := e.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: awssdk.String(builder), Name: awssdk.String(name),
		Description:       awssdk.String(imageOwnerNote),
		TagSpecifications: tagged(ec2types.ResourceTypeImage, tags)})
	if err != nil {
		return "", fmt.Errorf("seed: create image %s: %w", name, err)
	}
	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{builder}}); err != nil {
		return "", fmt.Errorf("seed: terminate the builder of image %s: %w", name, err)
	}
	return awssdk.ToString(img.ImageId), nil
}
