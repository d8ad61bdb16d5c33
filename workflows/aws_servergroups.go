package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// The stages that work on one server group in each of their regions: the one they name, or the
// one their target picks in their cluster.

// awsTargets resolves a stage's server group in each of its regions, in order.
func awsTargets(ctx workflow.Context, t pipeline.AWSTarget) ([]activities.ServerGroupRef, error) {
	var refs []activities.ServerGroupRef
	for _, region := range t.Regions {
		name := t.ServerGroupName
		if name == "" {
			res, err := awsCall[activities.AWSTargetInput, activities.AWSTargetResult](ctx, awsTarget, activities.AWSTargetInput{
				AWSClusterInput: activities.AWSClusterInput{Account: t.Account, Region: region, Cluster: t.Cluster}, Target: t.Target})
			if err != nil {
				return nil, err
			}
			name = res.ServerGroup
		}
		refs = append(refs, activities.ServerGroupRef{Account: t.Account, Region: region, ServerGroup: name})
	}
	return refs, nil
}

// serverGroupOutputs are the outputs every such stage has: Spinnaker's names of the server groups
// it worked on, by region, and a report per server group.
func serverGroupOutputs(account string, refs []activities.ServerGroupRef, reports []map[string]any) map[string]any {
	byRegion := map[string][]string{}
	for _, r := range refs {
		byRegion[r.Region] = append(byRegion[r.Region], r.ServerGroup)
	}
	list := make([]any, len(reports))
	for i, r := range reports {
		list[i] = r
	}
	return map[string]any{"deploy.account.name": account, "deploy.server.groups": awsServerGroupsOutput(byRegion), "serverGroups": list}
}

// forEachTarget resolves the stage's server groups and runs one step on each, publishing a report
// per server group as it goes.
func forEachTarget(ctx workflow.Context, st *stageRun, t pipeline.AWSTarget, step func(ref activities.ServerGroupRef, report map[string]any) error) (map[string]any, error) {
	refs, err := awsTargets(ctx, t)
	if err != nil {
		return nil, err
	}
	reports := make([]map[string]any, len(refs))
	for i, ref := range refs {
		reports[i] = map[string]any{"region": ref.Region, "serverGroup": ref.ServerGroup}
	}
	outputs := serverGroupOutputs(t.Account, refs, reports)
	st.view.Outputs = outputs
	for i, ref := range refs {
		if err := step(ref, reports[i]); err != nil {
			return outputs, err
		}
	}
	return outputs, nil
}

// runResizeServerGroup resizes the server group in each region and waits until it has the
// instances up the new size asks for.
func runResizeServerGroup(ctx workflow.Context, _ *interpreter, st *stageRun, s pipeline.ResizeServerGroupStage) (map[string]any, error) {
	return forEachTarget(ctx, st, s.AWSTarget, func(ref activities.ServerGroupRef, report map[string]any) error {
		cluster, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](ctx, awsCluster, activities.AWSClusterInput{
			Account: ref.Account, Region: ref.Region, Cluster: clusterOf(ref.ServerGroup, s.Cluster)})
		if err != nil {
			return err
		}
		var current *pipeline.Capacity
		var largest pipeline.Capacity
		for _, g := range cluster.ServerGroups {
			if g.Capacity == nil {
				continue
			}
			if g.Name == ref.ServerGroup {
				current = g.Capacity
			}
			largest = pipeline.Capacity{Min: max(largest.Min, g.Capacity.Min), Desired: max(largest.Desired, g.Capacity.Desired), Max: max(largest.Max, g.Capacity.Max)}
		}
		if current == nil {
			return failf("server group %s is not in %s", ref.ServerGroup, ref.Region)
		}
		basis := largest
		if src := s.Source; s.Action == pipeline.ResizeToServerGroup && src != nil {
			if basis, err = serverGroupCapacity(ctx, *src); err != nil {
				return err
			}
			report["source"] = map[string]any{"account": src.Account, "region": src.Region, "serverGroup": src.ServerGroup, "capacity": basis}
		}
		capacity := s.NewCapacity(*current, basis)
		report["from"], report["capacity"] = *current, capacity
		if err := awsResize(ctx, activities.AWSResizeInput{ServerGroupRef: ref, Capacity: capacity, Guard: true}); err != nil {
			return err
		}
		target := pipeline.HealthyTarget(capacity.Desired, s.TargetHealthyDeployPercentage)
		_, err = healthWait{ref: ref, limit: waitLimit(st), goal: "reach its new size",
			done: func(h cloud.ServerGroupHealth) bool {
				return len(h.Instances) == capacity.Desired && (h.Up >= target || h.Disabled)
			},
			report: func(h cloud.ServerGroupHealth) { report["health"] = healthReport(h, target) }}.await(ctx)
		return err
	})
}

// serverGroupCapacity reads the size of the server group src names.
func serverGroupCapacity(ctx workflow.Context, src pipeline.ServerGroupSource) (pipeline.Capacity, error) {
	res, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](ctx, awsCluster, activities.AWSClusterInput{
		Account: src.Account, Region: src.Region, Cluster: clusterOf(src.ServerGroup, "")})
	if err != nil {
		return pipeline.Capacity{}, err
	}
	for _, g := range res.ServerGroups {
		if g.Name == src.ServerGroup && g.Capacity != nil {
			return *g.Capacity, nil
		}
	}
	return pipeline.Capacity{}, failf("no server group %s in %s of account %s to take the size of", src.ServerGroup, src.Region, src.Account)
}

// clusterOf is a server group's cluster: the stage's, or the one its name says.
func clusterOf(serverGroup, cluster string) string {
	if cluster != "" {
		return cluster
	}
	if m, err := cloud.ParseServerGroupName(serverGroup); err == nil {
		return m.Cluster
	}
	return serverGroup
}

// runEnableServerGroup puts the server group in each region back into traffic and waits until its
// instances are up.
func runEnableServerGroup(ctx workflow.Context, _ *interpreter, st *stageRun, s pipeline.EnableServerGroupStage) (map[string]any, error) {
	return forEachTarget(ctx, st, s.AWSTarget, func(ref activities.ServerGroupRef, report map[string]any) error {
		res, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsEnable, activities.AWSTrafficInput{ServerGroupRef: ref})
		if err != nil {
			return err
		}
		report["instances"] = res.Instances
		_, err = healthWait{ref: ref, limit: waitLimit(st), goal: "come up",
			done: func(h cloud.ServerGroupHealth) bool { return h.Up >= pipeline.HealthyTarget(h.Capacity.Desired, 100) },
			report: func(h cloud.ServerGroupHealth) {
				report["health"] = healthReport(h, pipeline.HealthyTarget(h.Capacity.Desired, 100))
			}}.await(ctx)
		return err
	})
}

// runDisableServerGroup takes the server group in each region (or a share of its instances) out
// of traffic, never the cluster's last one serving, and waits until its load balancers let go.
func runDisableServerGroup(ctx workflow.Context, _ *interpreter, st *stageRun, s pipeline.DisableServerGroupStage) (map[string]any, error) {
	return forEachTarget(ctx, st, s.AWSTarget, func(ref activities.ServerGroupRef, report map[string]any) error {
		res, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsDisable, activities.AWSTrafficInput{
			ServerGroupRef: ref, Percentage: s.DesiredPercentage, Guard: true})
		if err != nil {
			return err
		}
		report["instances"], report["missing"] = res.Instances, res.Missing
		if res.Missing || res.InTraffic == 0 {
			return nil
		}
		out := map[string]bool{}
		for _, id := range res.Instances {
			out[id] = true
		}
		_, err = healthWait{ref: ref, limit: waitLimit(st), goal: "leave its load balancers",
			done: func(h cloud.ServerGroupHealth) bool {
				for _, i := range h.Instances {
					if out[i.ID] && (i.TakingTraffic || i.Draining) {
						return false
					}
				}
				return true
			},
			report: func(h cloud.ServerGroupHealth) { report["takingTraffic"] = h.TakingTraffic() }}.await(ctx)
		return err
	})
}

// runDestroyServerGroup destroys the server group in each region, never the cluster's last one
// serving.
func runDestroyServerGroup(ctx workflow.Context, _ *interpreter, st *stageRun, s pipeline.DestroyServerGroupStage) (map[string]any, error) {
	return forEachTarget(ctx, st, s.AWSTarget, func(ref activities.ServerGroupRef, report map[string]any) error {
		res, err := awsCall[activities.AWSDestroyInput, activities.AWSTrafficResult](ctx, awsDestroy, activities.AWSDestroyInput{
			ServerGroupRef: ref, SkipDisable: s.SkipDisable, Guard: true})
		report["instances"], report["missing"] = res.Instances, res.Missing
		return err
	})
}
