package aws

import (
	"context"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"golang.org/x/sync/errgroup"

	"github.com/gennaker/gennaker/cloud"
)

// An instance is up when every source of health agrees, stricter than Spinnaker (whose "Amazon"
// health counts any running instance as up): in service and healthy in its Auto Scaling group,
// running in EC2, healthy in every target group and in service in every classic load balancer the
// group is attached to. An instance EC2 no longer runs never counts, even where a target group
// still lists it as healthy.

// instanceFacts is everything read about one instance of a group.
type instanceFacts struct {
	instance groupInstance
	// ec2State is EC2's state name; "" when EC2 does not know the instance.
	ec2State string
	// targets is the instance's state and reason in each attached target group, by name; a
	// group the instance is not registered in is missing.
	targets map[string]targetState
	// targetGroups are the names of the attached target groups, in order.
	targetGroups []string
	// balancers is the instance's state in each attached classic load balancer, by name.
	balancers     map[string]targetState
	loadBalancers []string
}

// targetState is a load balancer's view of one instance.
type targetState struct{ state, reason, description string }

func (t targetState) String() string {
	s := t.state
	if t.reason != "" {
		s += " (" + t.reason + ")"
	}
	if t.description != "" {
		s += ": " + t.description
	}
	return s
}

// terminated reports whether EC2 has stopped or is stopping the instance for good.
func (f instanceFacts) terminated() bool {
	return f.ec2State == "terminated" || f.ec2State == "shutting-down"
}

// evaluate says whether the instance is up, whether it takes traffic, and why it is not up.
func (f instanceFacts) evaluate() cloud.InstanceHealth {
	h := cloud.InstanceHealth{ID: f.instance.id, Zone: f.instance.zone}
	var reasons []string
	if f.instance.lifecycle != "InService" {
		reasons = append(reasons, "auto scaling: "+f.instance.lifecycle)
	}
	if f.instance.health != "" && f.instance.health != "Healthy" {
		reasons = append(reasons, "auto scaling health check: "+f.instance.health)
	}
	running := f.ec2State == "running"
	switch f.ec2State {
	case "running":
	case "":
		reasons = append(reasons, "ec2: no such instance")
	default:
		reasons = append(reasons, "ec2: "+f.ec2State)
	}
	for _, tg := range f.targetGroups {
		t, registered := f.targets[tg]
		switch {
		case !registered:
			reasons = append(reasons, "target group "+tg+": not registered")
		case t.state == "healthy":
			h.TakingTraffic = h.TakingTraffic || running
		default:
			h.Draining = h.Draining || t.state == "draining"
			reasons = append(reasons, "target group "+tg+": "+t.String())
		}
	}
	for _, lb := range f.loadBalancers {
		t, registered := f.balancers[lb]
		switch {
		case !registered:
			reasons = append(reasons, "load balancer "+lb+": not registered")
		case t.state == "InService":
			h.TakingTraffic = h.TakingTraffic || running
		default:
			reasons = append(reasons, "load balancer "+lb+": "+t.String())
		}
	}
	h.Up = len(reasons) == 0
	h.Reasons = reasons
	return h
}

// readHealth reads the health of a group's instances from the Auto Scaling group, EC2, and each
// attached load balancer: one call per target group and load balancer, whatever the group's size.
func readHealth(ctx context.Context, c *clients, g serverGroup) (cloud.ServerGroupHealth, error) {
	h := cloud.ServerGroupHealth{Region: c.region, ServerGroup: g.name, Capacity: g.capacity, Disabled: g.disabled()}
	live := g.live()
	if len(live) == 0 {
		h.Instances = []cloud.InstanceHealth{}
		return h, nil
	}
	// EC2 and the load balancers are read at once: each answer takes AWS's time.
	var states map[string]string
	var targets, balancers map[string]map[string]targetState
	var names []string
	var reads errgroup.Group
	reads.Go(func() (err error) { states, err = ec2States(ctx, c, g.instanceIDs()); return err })
	reads.Go(func() (err error) { targets, names, err = targetHealth(ctx, c, g.targetGroups); return err })
	reads.Go(func() (err error) { balancers, err = balancerHealth(ctx, c, g.loadBalancers); return err })
	if err := reads.Wait(); err != nil {
		return h, err
	}
	for _, inst := range live {
		f := instanceFacts{instance: inst, ec2State: states[inst.id], targetGroups: names, targets: map[string]targetState{},
			loadBalancers: g.loadBalancers, balancers: map[string]targetState{}}
		if f.terminated() {
			continue
		}
		for tg, byInstance := range targets {
			if t, ok := byInstance[inst.id]; ok {
				f.targets[tg] = t
			}
		}
		for lb, byInstance := range balancers {
			if t, ok := byInstance[inst.id]; ok {
				f.balancers[lb] = t
			}
		}
		ih := f.evaluate()
		if ih.Up {
			h.Up++
		}
		h.Instances = append(h.Instances, ih)
	}
	if h.Instances == nil {
		h.Instances = []cloud.InstanceHealth{}
	}
	return h, nil
}

// ec2States maps instance ids to EC2's state names. A filter, unlike InstanceIds, leaves out ids
// EC2 does not know instead of failing the whole call.
func ec2States(ctx context.Context, c *clients, ids []string) (map[string]string, error) {
	states := map[string]string{}
	for chunk := range chunks(ids, 200) {
		pages := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{
			Filters: []ec2types.Filter{{Name: awssdk.String("instance-id"), Values: chunk}},
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, wrap(err, "describe instances in %s", c.region)
			}
			for _, r := range page.Reservations {
				for _, i := range r.Instances {
					if i.State != nil {
						states[awssdk.ToString(i.InstanceId)] = string(i.State.Name)
					}
				}
			}
		}
	}
	return states, nil
}

// targetHealth reads each target group's targets, by target group name and instance id; names
// lists the target group names in the order of arns.
func targetHealth(ctx context.Context, c *clients, arns []string) (map[string]map[string]targetState, []string, error) {
	names := make([]string, len(arns))
	found := make([]map[string]targetState, len(arns))
	var reads errgroup.Group
	for i, arn := range arns {
		names[i] = targetGroupName(arn)
		reads.Go(func() error {
			resp, err := c.elbv2.DescribeTargetHealth(ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: awssdk.String(arn)})
			if err != nil {
				return wrap(err, "describe the health of target group %s", names[i])
			}
			byInstance := map[string]targetState{}
			for _, d := range resp.TargetHealthDescriptions {
				if d.Target == nil || d.TargetHealth == nil {
					continue
				}
				byInstance[awssdk.ToString(d.Target.Id)] = targetState{
					state: string(d.TargetHealth.State), reason: string(d.TargetHealth.Reason), description: awssdk.ToString(d.TargetHealth.Description),
				}
			}
			found[i] = byInstance
			return nil
		})
	}
	if err := reads.Wait(); err != nil {
		return nil, nil, err
	}
	out := map[string]map[string]targetState{}
	for i, name := range names {
		out[name] = found[i]
	}
	return out, names, nil
}

// balancerHealth reads each classic load balancer's instances, by load balancer and instance.
func balancerHealth(ctx context.Context, c *clients, lbs []string) (map[string]map[string]targetState, error) {
	out := map[string]map[string]targetState{}
	for _, lb := range lbs {
		resp, err := c.elb.DescribeInstanceHealth(ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: awssdk.String(lb)})
		if err != nil {
			return nil, wrap(err, "describe the health of load balancer %s", lb)
		}
		byInstance := map[string]targetState{}
		for _, s := range resp.InstanceStates {
			byInstance[awssdk.ToString(s.InstanceId)] = targetState{
				state: awssdk.ToString(s.State), reason: awssdk.ToString(s.ReasonCode), description: awssdk.ToString(s.Description),
			}
		}
		out[lb] = byInstance
	}
	return out, nil
}

// targetGroupName is the name in a target group's ARN
// (arn:aws:elasticloadbalancing:region:account:targetgroup/NAME/id), or the ARN itself.
func targetGroupName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// chunks splits ids into runs of at most n.
func chunks(ids []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(ids) > 0 {
			k := min(n, len(ids))
			if !yield(ids[:k]) {
				return
			}
			ids = ids[k:]
		}
	}
}

// Health reads how many of a server group's instances are up, and why the others are not. A
// group that does not exist is reported Missing, not as an error.
func (p *Provider) Health(ctx context.Context, region, name string) (cloud.ServerGroupHealth, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return cloud.ServerGroupHealth{}, err
	}
	g, ok, err := describeGroup(ctx, c, name)
	if err != nil {
		return cloud.ServerGroupHealth{}, err
	}
	if !ok {
		return cloud.ServerGroupHealth{Region: region, ServerGroup: name, Missing: true, Instances: []cloud.InstanceHealth{}}, nil
	}
	return readHealth(ctx, c, g)
}
