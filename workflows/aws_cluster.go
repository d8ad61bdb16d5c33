package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// Rollbacks, the cluster-wide stages, scaling processes and image tags on AWS.

// awsRollback brings back one server group and takes another out of traffic, in that order: the
// restored group is sized to the larger of the two, its minimum pinned to that size, enabled and
// waited for; only then is the other disabled, checked once more right before. The minimum is
// restored however the rollback ends.
type awsRollback struct {
	st       *stageRun
	account  string
	region   string
	from, to string
	percent  int
	delay    time.Duration
	report   map[string]any
}

func (b awsRollback) ref(name string) activities.ServerGroupRef {
	return activities.ServerGroupRef{Account: b.account, Region: b.region, ServerGroup: name}
}

func (b awsRollback) run(ctx workflow.Context) error {
	b.report["from"], b.report["to"], b.report["region"] = b.from, b.to, b.region
	cluster, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](ctx, awsCluster,
		activities.AWSClusterInput{Account: b.account, Region: b.region, Cluster: clusterOf(b.to, "")})
	if err != nil {
		return err
	}
	var from, to *cloud.ServerGroup
	for i, g := range cluster.ServerGroups {
		switch g.Name {
		case b.from:
			from = &cluster.ServerGroups[i]
		case b.to:
			to = &cluster.ServerGroups[i]
		}
	}
	switch {
	case to == nil || to.Capacity == nil:
		return failf("cannot roll back to %s: it is not in %s", b.to, b.region)
	case from == nil || from.Capacity == nil:
		return failf("cannot roll back %s: it is not in %s", b.from, b.region)
	}
	size := max(to.Capacity.Desired, from.Capacity.Desired)
	pinned := pipeline.Capacity{Min: size, Desired: size, Max: max(to.Capacity.Max, size)}
	if err := awsResize(ctx, activities.AWSResizeInput{ServerGroupRef: b.ref(b.to), Capacity: pinned}); err != nil {
		return err
	}
	defer func() {
		rctx, _ := workflow.NewDisconnectedContext(ctx)
		restored := pinned
		restored.Min = min(to.Capacity.Min, size)
		if err := awsResize(rctx, activities.AWSResizeInput{ServerGroupRef: b.ref(b.to), Capacity: restored}); err != nil {
			b.report["minimum"] = "could not restore the minimum size of " + b.to + ": " + describeErr(err)
		}
	}()
	if _, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsEnable, activities.AWSTrafficInput{ServerGroupRef: b.ref(b.to)}); err != nil {
		return err
	}
	target := pipeline.HealthyTarget(size, b.percent)
	if _, err := (healthWait{ref: b.ref(b.to), limit: waitLimit(b.st), goal: "come up",
		done:   func(h cloud.ServerGroupHealth) bool { return h.Up >= target && !h.Disabled },
		report: func(h cloud.ServerGroupHealth) { b.report["health"] = healthReport(h, target) }}).await(ctx); err != nil {
		return err
	}
	if b.delay > 0 {
		if err := workflow.Sleep(ctx, b.delay); err != nil {
			return err
		}
	}
	res, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsDisable, activities.AWSTrafficInput{
		ServerGroupRef: b.ref(b.from), Guard: true, RequireUp: &activities.ServingRequirement{ServerGroup: b.to, Up: target}})
	if err != nil || res.InTraffic == 0 {
		return err
	}
	_, err = healthWait{ref: b.ref(b.from), limit: waitLimit(b.st), goal: "leave its load balancers",
		done: func(h cloud.ServerGroupHealth) bool { return h.InTraffic() == 0 }}.await(ctx)
	return err
}

// runAWSRollbackCluster rolls the cluster back in each region, one region after the other: the
// newest enabled server group is rolled back to the one created before it or, when there is none,
// to a copy of it with the image it replaced. A region with nothing to roll back, or to roll back
// to, is skipped, saying so.
func runAWSRollbackCluster(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.AWSRollbackClusterStage) (map[string]any, error) {
	var reports []any
	outputs := map[string]any{"rollbacks": reports, "deploy.account.name": s.Account}
	for i, region := range s.Regions {
		if i > 0 && s.WaitTimeBetweenRegionsSec > 0 {
			if err := workflow.Sleep(ctx, time.Duration(s.WaitTimeBetweenRegionsSec)*time.Second); err != nil {
				return outputs, err
			}
		}
		report := map[string]any{"region": region}
		reports = append(reports, report)
		outputs["rollbacks"] = reports
		st.view.Outputs = outputs
		cluster, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](ctx, awsCluster,
			activities.AWSClusterInput{Account: s.Account, Region: region, Cluster: s.Cluster})
		if err != nil {
			return outputs, err
		}
		from := slices.IndexFunc(cluster.ServerGroups, func(g cloud.ServerGroup) bool { return !g.Disabled })
		switch {
		case from < 0:
			report["skipped"] = "no enabled server group to roll back"
			continue
		case from == len(cluster.ServerGroups)-1:
			name := cluster.ServerGroups[from].Name
			if workflow.GetVersion(ctx, "aws-rollback-cluster-previous-image", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				report["skipped"] = fmt.Sprintf("%s is the cluster's oldest server group: there is none to roll back to", name)
				continue
			}
			// None left to restore (a highlander deploy destroyed it): a copy with the image
			// the group replaced, as Spinnaker does, when that image is known.
			ref := activities.ServerGroupRef{Account: s.Account, Region: region, ServerGroup: name}
			c, err := previousImageCluster(ctx, ref, pipeline.RollbackServerGroupStage{TargetHealthyRollbackPercentage: s.TargetHealthyRollbackPercentage})
			if err != nil {
				return outputs, err
			}
			if c == nil {
				report["skipped"] = fmt.Sprintf("%s is the cluster's oldest server group and records no previous image: there is nothing to roll back to", name)
				continue
			}
			report["from"], report["previousImage"] = name, c.Image
			if err := deployClusters(ctx, r, st, []pipeline.AWSCluster{*c}, report, func() { st.view.Outputs = outputs }); err != nil {
				return outputs, failf("rolling %s back to its previous image %s in %s: %s", name, c.Image, region, describeErr(err))
			}
			continue
		}
		b := awsRollback{st: st, account: s.Account, region: region, from: cluster.ServerGroups[from].Name,
			to: cluster.ServerGroups[from+1].Name, percent: s.TargetHealthyRollbackPercentage, report: report}
		if err := b.run(ctx); err != nil {
			return outputs, failf("rolling %s back to %s in %s: %s", b.from, b.to, region, describeErr(err))
		}
	}
	return outputs, nil
}

// runRollbackServerGroup rolls one named server group back to another.
func runRollbackServerGroup(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.RollbackServerGroupStage) (map[string]any, error) {
	if s.Type == pipeline.RollbackPreviousImage {
		return rollBackToPreviousImage(ctx, r, st, s)
	}
	report := map[string]any{}
	outputs := map[string]any{"rollback": report, "deploy.account.name": s.Account}
	st.view.Outputs = outputs
	b := awsRollback{st: st, account: s.Account, region: s.Region, from: s.From, to: s.To, percent: s.TargetHealthyRollbackPercentage,
		delay: time.Duration(s.DelayBeforeDisableSec) * time.Second, report: report}
	if err := b.run(ctx); err != nil {
		return outputs, failf("rolling %s back to %s: %s", s.From, s.To, describeErr(err))
	}
	return outputs, nil
}

// runClusterStage runs shrinkCluster, disableCluster or scaleDownCluster in each region. The
// server groups that stages before it deployed are left alone, as Spinnaker does, so that a
// cleanup after a deploy never touches what the deploy made.
func runClusterStage(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.ClusterStage) (map[string]any, error) {
	var reports []any
	outputs := map[string]any{"deploy.account.name": s.Account}
	for _, region := range s.Regions {
		report := map[string]any{"region": region}
		reports = append(reports, report)
		outputs["clusters"] = reports
		st.view.Outputs = outputs
		cluster, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](ctx, awsCluster,
			activities.AWSClusterInput{Account: s.Account, Region: region, Cluster: s.Cluster, Health: true})
		if err != nil {
			return outputs, err
		}
		deployed := r.upstreamDeployed(st, region)
		groups := slices.DeleteFunc(cluster.ServerGroups, func(g cloud.ServerGroup) bool { return deployed[g.Name] })
		if s.PreferLarger {
			slices.SortStableFunc(groups, func(a, b cloud.ServerGroup) int { return b.Instances - a.Instances })
		}
		var done []string
		ref := func(name string) activities.ServerGroupRef {
			return activities.ServerGroupRef{Account: s.Account, Region: region, ServerGroup: name}
		}
		active := func(g cloud.ServerGroup) bool { return !g.Disabled || g.Ready > 0 }
		switch s.Type {
		case pipeline.StageShrinkCluster:
			keep := s.Remaining
			if !s.AllowActive {
				for _, g := range groups {
					if active(g) {
						keep--
					}
				}
			}
			for _, g := range groups {
				if !s.AllowActive && active(g) {
					continue
				}
				if keep > 0 {
					keep--
					continue
				}
				if _, err := awsCall[activities.AWSDestroyInput, activities.AWSTrafficResult](ctx, awsDestroy,
					activities.AWSDestroyInput{ServerGroupRef: ref(g.Name), Guard: true}); err != nil {
					return outputs, err
				}
				done = append(done, g.Name)
				report["destroyed"] = done
			}
		case pipeline.StageDisableCluster:
			kept := 0
			for _, g := range groups {
				if g.Disabled {
					continue
				}
				if kept < s.Remaining {
					kept++
					continue
				}
				if _, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsDisable,
					activities.AWSTrafficInput{ServerGroupRef: ref(g.Name), Guard: true}); err != nil {
					return outputs, err
				}
				done = append(done, g.Name)
				report["disabled"] = done
			}
		case pipeline.StageScaleDownCluster:
			for i, g := range groups {
				if i < s.Remaining || g.Capacity == nil || *g.Capacity == (pipeline.Capacity{}) || active(g) && !s.AllowActive {
					continue
				}
				if err := awsResize(ctx, activities.AWSResizeInput{ServerGroupRef: ref(g.Name), Guard: true}); err != nil {
					return outputs, err
				}
				done = append(done, g.Name)
				report["scaledDown"] = done
			}
		}
	}
	return outputs, nil
}

// upstreamDeployed names the server groups the stages this one depends on deployed in a region.
func (r *interpreter) upstreamDeployed(st *stageRun, region string) map[string]bool {
	names := map[string]bool{}
	for ref := range r.ancestors(st) {
		groups, _ := r.stages[ref].view.Outputs["deploy.server.groups"].(map[string]any)
		list, _ := groups[region].([]any)
		for _, n := range list {
			if name, ok := n.(string); ok {
				names[name] = true
			}
		}
	}
	return names
}

// ancestors are the refIds of the stages a stage depends on, directly or not.
func (r *interpreter) ancestors(st *stageRun) map[string]bool {
	seen := map[string]bool{}
	r.upstream(st, func(up *stageRun) bool {
		seen[up.cfg.RefID] = true
		return false
	})
	return seen
}

// runModifyScalingProcess suspends or resumes the server group's processes in each region.
func runModifyScalingProcess(ctx workflow.Context, _ *interpreter, st *stageRun, s pipeline.ModifyScalingProcessStage) (map[string]any, error) {
	return forEachTarget(ctx, st, s.AWSTarget, func(ref activities.ServerGroupRef, report map[string]any) error {
		var a *activities.AWS
		err := workflow.ExecuteActivity(quickAWS(ctx), a.AWSScalingProcesses, activities.AWSScalingProcessesInput{
			ServerGroupRef: ref, Suspend: s.Suspend, Processes: s.Processes}).Get(ctx, nil)
		report["processes"], report["suspended"] = s.Processes, s.Suspend
		return err
	})
}

// runUpsertImageTags tags, in each region, the images named, or those the stages before this one
// found or baked (the considered stages only, when the stage names some).
func runUpsertImageTags(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.UpsertImageTagsStage) (map[string]any, error) {
	byRegion := map[string][]string{}
	var regions []string
	if len(s.ImageNames) > 0 {
		regions = s.Regions
		for _, region := range regions {
			byRegion[region] = s.ImageNames
		}
	} else {
		for _, up := range r.in.Pipeline.Stages {
			if !r.ancestors(st)[up.RefID] || len(s.ConsideredStages) > 0 && !slices.Contains(s.ConsideredStages, up.RefID) {
				continue
			}
			list, _ := r.stages[up.RefID].view.Outputs["deploymentDetails"].([]any)
			for _, item := range list {
				d, _ := item.(map[string]any)
				region, _ := d["region"].(string)
				id, _ := d["imageId"].(string)
				if id == "" || len(s.Regions) > 0 && !slices.Contains(s.Regions, region) || slices.Contains(byRegion[region], id) {
					continue
				}
				if _, seen := byRegion[region]; !seen {
					regions = append(regions, region)
				}
				byRegion[region] = append(byRegion[region], id)
			}
		}
	}
	if len(regions) == 0 {
		return nil, failf("no image to tag: name imageNames and regions, or run this stage after one that finds or bakes images (findImage, findImageFromTags, bake)")
	}
	var targets []any
	original := map[string]any{}
	for _, region := range regions {
		res, err := awsCall[activities.AWSTagImagesInput, activities.AWSTagImagesResult](ctx, func(a *activities.AWS) any { return a.AWSTagImages },
			activities.AWSTagImagesInput{Account: s.Account, Region: region, Images: byRegion[region], Tags: s.Tags})
		if err != nil {
			return nil, err
		}
		for _, img := range res.Images {
			targets = append(targets, map[string]any{"imageName": img.Name, "imageId": img.ID, "region": region})
			original[img.ID] = img.Tags
		}
	}
	return map[string]any{"targets": targets, "originalTags": original, "tags": s.Tags}, nil
}
