package aws

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// SubnetPurposeTag is the tag Spinnaker reads a subnet's type from: JSON such as
// {"purpose": "internal", "target": "ec2"}.
const SubnetPurposeTag = "immutable_metadata"

// subnetsOfType finds the region's subnets of a subnet type, as Spinnaker does: those whose
// immutable_metadata tag has that purpose (and target ec2, when it names a target), or else those
// whose Name tag is vpc.purpose.zone; in the given zones when there are any.
func subnetsOfType(ctx context.Context, c *clients, subnetType string, zones []string) ([]string, error) {
	out, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil {
		return nil, wrap(err, "list the subnets of %s", c.region)
	}
	var ids []string
	for _, s := range out.Subnets {
		if len(zones) > 0 && !slices.Contains(zones, awssdk.ToString(s.AvailabilityZone)) {
			continue
		}
		if subnetPurpose(s.Tags) == subnetType {
			ids = append(ids, awssdk.ToString(s.SubnetId))
		}
	}
	if len(ids) == 0 {
		where := c.region
		if len(zones) > 0 {
			where += " (zones " + strings.Join(zones, ", ") + ")"
		}
		return nil, invalidf("no subnets of type %q in %s: tag the subnets %s = {\"purpose\": %q, \"target\": \"ec2\"}, or change subnetType",
			subnetType, where, SubnetPurposeTag, subnetType)
	}
	slices.Sort(ids)
	return ids, nil
}

// subnetPurpose reads a subnet's type from its tags; "" when it has none for EC2.
func subnetPurpose(tags []ec2types.Tag) string {
	var name string
	for _, t := range tags {
		switch awssdk.ToString(t.Key) {
		case SubnetPurposeTag:
			var meta struct{ Purpose, Target string }
			if json.Unmarshal([]byte(awssdk.ToString(t.Value)), &meta) == nil && (meta.Target == "" || meta.Target == "ec2") {
				return meta.Purpose
			}
		case "Name":
			name = awssdk.ToString(t.Value)
		}
	}
	if parts := strings.Split(name, "."); len(parts) == 3 {
		return parts[1]
	}
	return ""
}

// targetGroupARN finds a target group by name.
func targetGroupARN(ctx context.Context, c *clients, name string) (string, error) {
	out, err := c.elbv2.DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{Names: []string{name}})
	if isNotFound(err) {
		return "", invalidf("no target group named %s in %s", name, c.region)
	}
	if err != nil {
		return "", wrap(err, "find target group %s in %s", name, c.region)
	}
	for _, tg := range out.TargetGroups {
		if awssdk.ToString(tg.TargetGroupName) == name {
			return awssdk.ToString(tg.TargetGroupArn), nil
		}
	}
	return "", invalidf("no target group named %s in %s", name, c.region)
}
