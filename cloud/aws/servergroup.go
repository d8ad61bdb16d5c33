package aws

import (
	"context"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/gennaker/gennaker/cloud"
)

// Tags gennaker puts on what it creates. The ownership tags say which deploy made a resource, so a
// retried create adopts it instead of making another; the moniker tags are the ones Spinnaker's
// clouddriver writes, so tooling that reads them keeps working.
const (
	TagExecution   = "gennaker:execution"
	TagStage       = "gennaker:stage"
	TagOwner       = "gennaker:owner"
	TagApplication = "spinnaker:application"
	TagStack       = "spinnaker:stack"
	TagDetails     = "spinnaker:details"
)

// The Auto Scaling processes a disabled server group has suspended: it launches and terminates no
// instances by itself and adds none to its load balancers. AddToLoadBalancer alone is what marks a
// group disabled, as in Spinnaker.
var disableProcesses = []string{"Launch", "Terminate", "AddToLoadBalancer"}

// serverGroup is an Auto Scaling group as the provider reads it.
type serverGroup struct {
	name    string
	moniker cloud.Moniker
	created time.Time
	// status is set while AWS deletes the group.
	status         string
	capacity       cloud.Capacity
	launchTemplate launchTemplateRef
	suspended      []string
	targetGroups   []string // ARNs
	loadBalancers  []string // classic load balancer names
	instances      []groupInstance
	tags           map[string]string
	zones          []string
	subnets        string
}

// launchTemplateRef is the launch template and version a group launches from.
type launchTemplateRef struct{ id, name, version string }

// groupInstance is an instance as its Auto Scaling group sees it.
type groupInstance struct {
	id, zone, lifecycle, health string
}

// disabled reports whether the group is out of its load balancers' traffic by design.
func (g serverGroup) disabled() bool { return slices.Contains(g.suspended, "AddToLoadBalancer") }

// live lists the group's instances that are not on their way out.
func (g serverGroup) live() []groupInstance {
	var out []groupInstance
	for _, i := range g.instances {
		if !strings.HasPrefix(i.lifecycle, "Terminat") {
			out = append(out, i)
		}
	}
	return out
}

func (g serverGroup) instanceIDs() []string {
	var ids []string
	for _, i := range g.live() {
		ids = append(ids, i.id)
	}
	return ids
}

// fromASG reads an Auto Scaling group; a name that is not Frigga's leaves the moniker empty.
func fromASG(a asgtypes.AutoScalingGroup) serverGroup {
	g := serverGroup{
		name:          awssdk.ToString(a.AutoScalingGroupName),
		status:        awssdk.ToString(a.Status),
		created:       awssdk.ToTime(a.CreatedTime),
		capacity:      cloud.Capacity{Min: int(awssdk.ToInt32(a.MinSize)), Desired: int(awssdk.ToInt32(a.DesiredCapacity)), Max: int(awssdk.ToInt32(a.MaxSize))},
		targetGroups:  a.TargetGroupARNs,
		loadBalancers: a.LoadBalancerNames,
		tags:          map[string]string{},
		zones:         a.AvailabilityZones,
		subnets:       awssdk.ToString(a.VPCZoneIdentifier),
	}
	g.moniker, _ = cloud.ParseServerGroupName(g.name)
	lt := a.LaunchTemplate
	if lt == nil && a.MixedInstancesPolicy != nil && a.MixedInstancesPolicy.LaunchTemplate != nil {
		lt = a.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
	}
	if lt != nil {
		g.launchTemplate = launchTemplateRef{id: awssdk.ToString(lt.LaunchTemplateId), name: awssdk.ToString(lt.LaunchTemplateName), version: awssdk.ToString(lt.Version)}
	}
	for _, p := range a.SuspendedProcesses {
		g.suspended = append(g.suspended, awssdk.ToString(p.ProcessName))
	}
	for _, i := range a.Instances {
		g.instances = append(g.instances, groupInstance{
			id: awssdk.ToString(i.InstanceId), zone: awssdk.ToString(i.AvailabilityZone),
			lifecycle: string(i.LifecycleState), health: awssdk.ToString(i.HealthStatus),
		})
	}
	for _, t := range a.Tags {
		g.tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	return g
}

// describeGroup reads one group; ok is false when there is none of that name, or it is being
// deleted.
func describeGroup(ctx context.Context, c *clients, name string) (serverGroup, bool, error) {
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return serverGroup{}, false, wrap(err, "describe auto scaling group %s in %s", name, c.region)
	}
	for _, a := range out.AutoScalingGroups {
		if awssdk.ToString(a.AutoScalingGroupName) == name {
			g := fromASG(a)
			return g, g.status == "", nil
		}
	}
	return serverGroup{}, false, nil
}

// listGroups reads every group of the region whose moniker keep accepts, newest first. AWS is read
// directly (no cache), a page at a time.
func listGroups(ctx context.Context, c *clients, keep func(cloud.Moniker) bool) ([]serverGroup, error) {
	var groups []serverGroup
	pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.asg, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: awssdk.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "list auto scaling groups in %s", c.region)
		}
		for _, a := range page.AutoScalingGroups {
			g := fromASG(a)
			if g.status == "" && g.moniker.App != "" && keep(g.moniker) {
				groups = append(groups, g)
			}
		}
	}
	sortNewestFirst(groups)
	return groups, nil
}

// sortNewestFirst orders groups by creation, newest first; groups created in the same second (AWS
// reports seconds) go by sequence, higher first.
func sortNewestFirst(groups []serverGroup) {
	slices.SortStableFunc(groups, func(a, b serverGroup) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return sequenceOf(b) - sequenceOf(a)
	})
}

func sequenceOf(g serverGroup) int {
	if g.moniker.Sequence == nil {
		return -1
	}
	return *g.moniker.Sequence
}

// clusterGroups lists the groups of a moniker cluster in a region, newest first.
func clusterGroups(ctx context.Context, c *clients, cluster string) ([]serverGroup, error) {
	return listGroups(ctx, c, func(m cloud.Moniker) bool { return m.Cluster == cluster })
}
