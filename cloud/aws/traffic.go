package aws

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gennaker/gennaker/cloud"
	"golang.org/x/sync/errgroup"
)

// Disabled on AWS means out of traffic by design: the group's Launch, Terminate and
// AddToLoadBalancer processes suspended, and its instances deregistered from every target group
// and classic load balancer it is attached to (it stays attached, so enabling registers them
// again). Suspending AddToLoadBalancer alone does not keep instances out: on a capacity change, or
// after someone resumes processes or registers instances by hand, they come back, so every
// capacity change of a disabled group deregisters its instances again.

// TrafficRequest changes one server group's traffic.
type TrafficRequest struct {
	Region      string `json:"region"`
	ServerGroup string `json:"serverGroup"`
	// Percentage, below 100, disables only that share of the group's instances (rounded up),
	// deregistering them without suspending the group's processes; 0 means 100.
	Percentage int `json:"percentage,omitempty"`
	// Guard refuses to take the last server group of the cluster that serves out of service.
	Guard bool `json:"guard,omitempty"`
	// RequireUp, when set, is checked right before the first call that moves traffic: the
	// server group it names must be enabled with at least that many instances up, or nothing is
	// changed.
	RequireUp *Requirement `json:"requireUp,omitempty"`
}

// Requirement is a server group that must be serving before another is taken out of traffic.
type Requirement struct {
	ServerGroup string `json:"serverGroup"`
	Up          int    `json:"up"`
}

// TrafficResult says what changed.
type TrafficResult struct {
	// Instances are the instances registered or deregistered.
	Instances []string `json:"instances"`
	// InTraffic counts, after a disable, the instances load balancers still send requests or
	// still drain: the caller waits while there are any.
	InTraffic int `json:"inTraffic,omitempty"`
	// Missing means there was no such server group: nothing to do.
	Missing bool `json:"missing,omitempty"`
}

// Disable takes a server group out of its load balancers' traffic (or a share of its instances).
// A group that does not exist, or is being deleted, is left alone.
func (p *Provider) Disable(ctx context.Context, in TrafficRequest) (TrafficResult, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return TrafficResult{}, err
	}
	g, ok, required, err := p.readForRemoval(ctx, c, in.ServerGroup, in.RequireUp)
	if err != nil || !ok {
		return TrafficResult{Missing: !ok, Instances: []string{}}, err
	}
	ids := g.instanceIDs()
	slices.Sort(ids)
	pct := in.Percentage
	if pct <= 0 || pct >= 100 {
		pct = 100
	}
	share := int(math.Ceil(float64(len(ids)) * float64(pct) / 100))
	if share < len(ids) {
		// Part of the group keeps serving: it is not taken out of service.
		in.Guard = false
	}
	if _, err := p.checkRemoval(ctx, c, g, in, required, "disable"); err != nil {
		return TrafficResult{}, err
	}
	if pct == 100 {
		if err := suspend(ctx, c, g.name, disableProcesses); err != nil {
			return TrafficResult{}, err
		}
	}
	ids = ids[:share]
	if err := deregister(ctx, c, g, ids); err != nil {
		return TrafficResult{}, err
	}
	res := TrafficResult{Instances: nonNil(ids)}
	if len(g.targetGroups)+len(g.loadBalancers) > 0 && len(ids) > 0 {
		h, err := readHealth(ctx, c, g)
		if err != nil {
			return TrafficResult{}, err
		}
		for _, i := range h.Instances {
			if slices.Contains(ids, i.ID) && (i.TakingTraffic || i.Draining) {
				res.InTraffic++
			}
		}
	}
	return res, nil
}

// Enable puts a server group back into its load balancers' traffic: its processes resumed and its
// instances registered again.
func (p *Provider) Enable(ctx context.Context, in TrafficRequest) (TrafficResult, error) {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return TrafficResult{}, err
	}
	g, ok, err := describeGroup(ctx, c, in.ServerGroup)
	if err != nil {
		return TrafficResult{}, err
	}
	if !ok {
		return TrafficResult{}, fmt.Errorf("%w: no server group %s in %s", ErrNotFound, in.ServerGroup, in.Region)
	}
	if _, err := c.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{
		AutoScalingGroupName: awssdk.String(g.name), ScalingProcesses: disableProcesses,
	}); err != nil {
		return TrafficResult{}, wrap(err, "resume processes of %s", g.name)
	}
	ids := g.instanceIDs()
	slices.Sort(ids)
	if err := register(ctx, c, g, ids); err != nil {
		return TrafficResult{}, err
	}
	return TrafficResult{Instances: nonNil(ids)}, nil
}

// readForRemoval reads a group about to be taken out of service and, at the same time, the health
// of the group required to serve instead, if any.
func (p *Provider) readForRemoval(ctx context.Context, c *clients, name string, require *Requirement) (g serverGroup, ok bool, required cloud.ServerGroupHealth, err error) {
	var reads errgroup.Group
	reads.Go(func() (err error) { g, ok, err = describeGroup(ctx, c, name); return err })
	if require != nil {
		reads.Go(func() (err error) { required, err = p.Health(ctx, c.region, require.ServerGroup); return err })
	}
	err = reads.Wait()
	return g, ok, required, err
}

// checkRemoval is the check before taking a group out of service: the requirement the caller
// makes, then the traffic guard.
// The group's own health is returned when the traffic guard read it.
func (p *Provider) checkRemoval(ctx context.Context, c *clients, g serverGroup, in TrafficRequest, h cloud.ServerGroupHealth, action string) (*cloud.ServerGroupHealth, error) {
	if r := in.RequireUp; r != nil {
		switch {
		case h.Missing:
			return nil, invalidf("%s was not %sd: server group %s, which was to take its traffic, is gone", g.name, action, r.ServerGroup)
		case h.Disabled:
			return nil, invalidf("%s was not %sd: server group %s, which was to take its traffic, is disabled", g.name, action, r.ServerGroup)
		case h.Up < r.Up:
			return nil, invalidf("%s was not %sd: server group %s, which was to take its traffic, has %d of the %d instances up it needs (%s)",
				g.name, action, r.ServerGroup, h.Up, r.Up, strings.Join(h.NotUp(5), "; "))
		case h.Up > 0:
			// The cluster keeps a server group that serves: the traffic guard has nothing to add.
			return nil, nil
		}
	}
	if !in.Guard {
		return nil, nil
	}
	return p.guard(ctx, c, g, action)
}

// guard refuses to take a serving group out of service when no other enabled group of its cluster
// in the region has an instance up: as Spinnaker's traffic guards, but for every cluster.
// It returns the group's own health, which it reads first.
func (p *Provider) guard(ctx context.Context, c *clients, g serverGroup, action string) (*cloud.ServerGroupHealth, error) {
	own, err := readHealth(ctx, c, g)
	if err != nil {
		return nil, err
	}
	if own.TakingTraffic() == 0 || g.moniker.Cluster == "" {
		return &own, nil
	}
	others, err := clusterGroups(ctx, c, g.moniker.Cluster)
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		if o.name == g.name || o.disabled() {
			continue
		}
		h, err := readHealth(ctx, c, o)
		if err != nil {
			return nil, err
		}
		if h.Up > 0 {
			return &own, nil
		}
	}
	return nil, &guardError{msg: fmt.Sprintf("refused by the traffic guard: %s cannot %s %s, the last server group of cluster %s in %s that serves traffic; "+
		"enable another server group of the cluster first", p.account.Name, action, g.name, g.moniker.Cluster, c.region)}
}

func suspend(ctx context.Context, c *clients, group string, processes []string) error {
	_, err := c.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: awssdk.String(group), ScalingProcesses: processes})
	return wrap(err, "suspend processes of %s", group)
}

// deregister takes instances out of every target group and classic load balancer of the group.
// Instances a load balancer does not know are fine.
func deregister(ctx context.Context, c *clients, g serverGroup, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, arn := range g.targetGroups {
		deregisterTargets := func(ids []string) error {
			_, err := c.elbv2.DeregisterTargets(ctx, &elasticloadbalancingv2.DeregisterTargetsInput{TargetGroupArn: awssdk.String(arn), Targets: targets(ids)})
			return err
		}
		for chunk := range chunks(ids, 100) {
			if err := eachUnlessGone(chunk, deregisterTargets, "InvalidTarget"); err != nil {
				return wrap(err, "deregister %s from target group %s", g.name, targetGroupName(arn))
			}
		}
	}
	for _, lb := range g.loadBalancers {
		deregisterInstances := func(ids []string) error {
			_, err := c.elb.DeregisterInstancesFromLoadBalancer(ctx, &elasticloadbalancing.DeregisterInstancesFromLoadBalancerInput{
				LoadBalancerName: awssdk.String(lb), Instances: elbInstances(ids)})
			return err
		}
		if err := eachUnlessGone(ids, deregisterInstances, "InvalidInstance"); err != nil {
			return wrap(err, "deregister %s from load balancer %s", g.name, lb)
		}
	}
	return nil
}

// eachUnlessGone deregisters instances at once; when the answer is goneCode (one of them is
// already out, or gone, which fails the whole call), it deregisters each on its own, all at once, ignoring
// the ones that answer it again. A rolling disable takes out instances of which some are out
// already.
func eachUnlessGone(ids []string, deregister func(ids []string) error, goneCode string) error {
	err := deregister(ids)
	if err == nil || apiCode(err) != goneCode {
		return err
	}
	if len(ids) == 1 {
		return nil
	}
	var each errgroup.Group
	for _, id := range ids {
		each.Go(func() error {
			if err := deregister([]string{id}); err != nil && apiCode(err) != goneCode {
				return err
			}
			return nil
		})
	}
	return each.Wait()
}

// register puts the group's running instances into its target groups and load balancers.
func register(ctx context.Context, c *clients, g serverGroup, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	states, err := ec2States(ctx, c, ids)
	if err != nil {
		return err
	}
	var running []string
	for _, id := range ids {
		if s := states[id]; s == "running" || s == "pending" {
			running = append(running, id)
		}
	}
	if len(running) == 0 {
		return nil
	}
	for _, arn := range g.targetGroups {
		for chunk := range chunks(running, 100) {
			if _, err := c.elbv2.RegisterTargets(ctx, &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: awssdk.String(arn), Targets: targets(chunk)}); err != nil {
				return wrap(err, "register %s in target group %s", g.name, targetGroupName(arn))
			}
		}
	}
	for _, lb := range g.loadBalancers {
		if _, err := c.elb.RegisterInstancesWithLoadBalancer(ctx, &elasticloadbalancing.RegisterInstancesWithLoadBalancerInput{
			LoadBalancerName: awssdk.String(lb), Instances: elbInstances(running)}); err != nil {
			return wrap(err, "register %s in load balancer %s", g.name, lb)
		}
	}
	return nil
}

func targets(ids []string) []elbv2types.TargetDescription {
	out := make([]elbv2types.TargetDescription, len(ids))
	for i, id := range ids {
		out[i] = elbv2types.TargetDescription{Id: awssdk.String(id)}
	}
	return out
}

func elbInstances(ids []string) []elbtypes.Instance {
	out := make([]elbtypes.Instance, len(ids))
	for i, id := range ids {
		out[i] = elbtypes.Instance{InstanceId: awssdk.String(id)}
	}
	return out
}

func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// ResizeRequest sets a server group's size.
type ResizeRequest struct {
	Region      string         `json:"region"`
	ServerGroup string         `json:"serverGroup"`
	Capacity    cloud.Capacity `json:"capacity"`
	// Guard refuses to scale the last serving server group of the cluster to 0.
	Guard bool `json:"guard,omitempty"`
}

// Resize sets a server group's size. A disabled group's instances are deregistered again after
// the change, so that a group out of traffic stays out of it however it is sized.
func (p *Provider) Resize(ctx context.Context, in ResizeRequest) error {
	c, err := p.clients(ctx, in.Region)
	if err != nil {
		return err
	}
	if err := in.Capacity.Check(); err != nil {
		return invalidf("resize %s: %v", in.ServerGroup, err)
	}
	g, ok, err := describeGroup(ctx, c, in.ServerGroup)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: no server group %s in %s", ErrNotFound, in.ServerGroup, in.Region)
	}
	if in.Guard && in.Capacity.Desired == 0 {
		if _, err := p.guard(ctx, c, g, "scale to 0"); err != nil {
			return err
		}
	}
	return resizeGroup(ctx, c, g.name, in.Capacity, g.disabled())
}

// resizeGroup sets the sizes and, for a disabled group, deregisters its instances again.
func resizeGroup(ctx context.Context, c *clients, name string, capacity cloud.Capacity, disabled bool) error {
	if _, err := c.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: awssdk.String(name),
		MinSize:              awssdk.Int32(int32(capacity.Min)),
		MaxSize:              awssdk.Int32(int32(capacity.Max)),
		DesiredCapacity:      awssdk.Int32(int32(capacity.Desired)),
	}); err != nil {
		return wrap(err, "resize %s to %s", name, capacity)
	}
	if !disabled {
		return nil
	}
	g, ok, err := describeGroup(ctx, c, name)
	if err != nil || !ok {
		return err
	}
	return deregister(ctx, c, g, g.instanceIDs())
}

// SetProcesses suspends or resumes some of a server group's Auto Scaling processes.
func (p *Provider) SetProcesses(ctx context.Context, region, name string, suspended bool, processes []string) error {
	c, err := p.clients(ctx, region)
	if err != nil {
		return err
	}
	if _, ok, err := describeGroup(ctx, c, name); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: no server group %s in %s", ErrNotFound, name, region)
		}
		return err
	}
	if suspended {
		return suspend(ctx, c, name, processes)
	}
	_, err = c.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: awssdk.String(name), ScalingProcesses: processes})
	return wrap(err, "resume processes of %s", name)
}
