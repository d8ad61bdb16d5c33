package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// runDeploy deploys a new server group to each of the stage's clusters, all at once, each as its
// strategy says. The stage fails if any cluster's deploy fails, after every one has ended.
func runDeploy(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.DeployStage) (map[string]any, error) {
	outputs := map[string]any{}
	err := deployClusters(ctx, r, st, s.Clusters, outputs, func() { st.view.Outputs = outputs })
	return outputs, err
}

// deployClusters deploys the clusters, writing Spinnaker's outputs of a deploy into outputs and
// calling show whenever they change.
func deployClusters(ctx workflow.Context, r *interpreter, st *stageRun, clusters []pipeline.AWSCluster, outputs map[string]any, show func()) error {
	reports := make([]map[string]any, len(clusters))
	errs := make([]error, len(clusters))
	publish := func() {
		byRegion := map[string][]string{}
		var list []any
		for _, rep := range reports {
			if rep == nil {
				continue
			}
			list = append(list, rep)
			if name, _ := rep["serverGroup"].(string); name != "" {
				region, _ := rep["region"].(string)
				byRegion[region] = append(byRegion[region], name)
			}
		}
		outputs["deploy.server.groups"] = awsServerGroupsOutput(byRegion)
		outputs["deployments"] = list
		show()
	}
	if len(clusters) > 0 {
		outputs["deploy.account.name"] = clusters[0].Account
	}
	wg := workflow.NewWaitGroup(ctx)
	for i, c := range clusters {
		d := &awsDeploy{r: r, st: st, c: c, app: cmp.Or(c.Application, r.exec.Application), report: map[string]any{}}
		d.cluster = c.Cluster(r.exec.Application)
		d.report["account"], d.report["region"], d.report["cluster"], d.report["strategy"] = c.Account, c.Region, d.cluster, c.Strategy
		reports[i] = d.report
		d.publish = publish
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			errs[i] = d.run(ctx)
			if errs[i] != nil {
				d.report["error"] = describeErr(errs[i])
			}
			publish()
		})
	}
	wg.Wait(ctx)
	publish()
	var failures []string
	for i, err := range errs {
		if err != nil {
			if len(clusters) == 1 {
				return err
			}
			failures = append(failures, fmt.Sprintf("%s: %s", regionCluster(reports[i]["cluster"].(string), clusters[i].Region), describeErr(err)))
		}
	}
	return joinErrors(failures)
}

// awsDeploy is one cluster's deploy: a new server group, waited for, then the strategy.
type awsDeploy struct {
	r       *interpreter
	st      *stageRun
	c       pipeline.AWSCluster
	app     string
	cluster string
	// report is the cluster's entry in the stage's outputs, updated as the deploy goes.
	report  map[string]any
	publish func()

	created string // the new server group, once created
	target  int    // instances that must be up
	// lastHealth is the new server group's latest health read while it came up; up says
	// whether it did.
	lastHealth *cloud.ServerGroupHealth
	up         bool
	disabled   []string
	// restoreMin is the source's minimum size pinned to its desired size while the new server
	// group comes up, restored however the deploy ends.
	restoreMin *activities.AWSResizeInput
}

func (d *awsDeploy) ref(name string) activities.ServerGroupRef {
	return activities.ServerGroupRef{Account: d.c.Account, Region: d.c.Region, ServerGroup: name}
}

func (d *awsDeploy) run(ctx workflow.Context) (err error) {
	c := d.c
	image := c.Image
	if image == "" {
		var ok bool
		if image, ok = d.r.upstreamImage(d.st, c.Region); !ok {
			return failf("no image to deploy in %s: give amiName (or imageId) in the cluster, or run a stage before this one that finds or bakes "+
				"an image for %s (findImage, findImageFromTags, bake)", c.Region, c.Region)
		}
	}
	release, lock, err := d.r.lockClusters(ctx, d.st, c.Account, []cloud.ClusterRef{{Region: c.Region, Cluster: d.cluster}})
	if err != nil {
		return err
	}
	defer release()
	if lock != nil {
		d.report["clusterLock"] = lock
	}
	rolling := c.Strategy == pipeline.StrategyRollingRedBlack
	maxEnabled := 0
	if rolling {
		maxEnabled = c.MaxInitialAsgs
	}
	created, err := awsCall[activities.AWSCreateServerGroupInput, activities.AWSCreateServerGroupResult](ctx, awsCreate, activities.AWSCreateServerGroupInput{
		Account: c.Account, Region: c.Region, Application: d.app, Cluster: c, ClusterName: d.cluster, Image: image,
		Execution: d.r.exec.ID, Stage: d.st.cfg.RefID, StartEmpty: rolling, MaxEnabled: maxEnabled})
	if err != nil {
		return err
	}
	d.created = created.ServerGroup
	d.report["serverGroup"] = created.ServerGroup
	d.report["launchTemplate"] = created.LaunchTemplate
	d.report["image"] = map[string]any{"id": created.ImageID, "name": created.ImageName}
	d.report["capacity"] = created.Capacity
	if created.Source != "" {
		d.report["source"] = created.Source
	}
	d.publish()
	// The source keeps its size while the new group comes up (its instances launch meanwhile).
	defer func() { d.unpin(ctx) }()
	if i := slices.IndexFunc(created.Others, func(g cloud.ServerGroup) bool { return g.Name == created.Source }); i >= 0 {
		if err := d.pin(ctx, &created.Others[i]); err != nil {
			return d.failed(ctx, err)
		}
	}
	if err := d.strategy(ctx, created.Others); err != nil {
		return d.failed(ctx, err)
	}
	return nil
}

// noteHealth keeps the new server group's latest health read and shows it in the outputs.
func (d *awsDeploy) noteHealth(h cloud.ServerGroupHealth) {
	d.lastHealth = &h
	d.report["health"] = healthReport(h, d.target)
	d.publish()
}

// runningOutOfTraffic counts the instances that would be up but for their load balancers: in
// service and running, only not (yet) registered or healthy there.
func runningOutOfTraffic(h cloud.ServerGroupHealth) int {
	n := 0
	for _, i := range h.Instances {
		ok := true
		for _, r := range i.Reasons {
			if !strings.HasPrefix(r, "target group ") && !strings.HasPrefix(r, "load balancer ") {
				ok = false
			}
		}
		if ok {
			n++
		}
	}
	return n
}

// pin keeps red/black's source from scaling in while the new server group comes up: its minimum
// is raised to its desired size, and lowered back once the new one is up, or the deploy failed.
func (d *awsDeploy) pin(ctx workflow.Context, source *cloud.ServerGroup) error {
	if (d.c.Strategy != pipeline.StrategyRedBlack && d.c.Strategy != pipeline.StrategyRollingRedBlack) || source == nil || source.Disabled || source.Capacity == nil || source.Capacity.Min >= source.Capacity.Desired {
		return nil
	}
	pinned := *source.Capacity
	pinned.Min = pinned.Desired
	restore := activities.AWSResizeInput{ServerGroupRef: d.ref(source.Name), Capacity: *source.Capacity}
	d.restoreMin = &restore
	d.report["pinnedMinimum"] = map[string]any{"serverGroup": source.Name, "min": pinned.Min, "restoreTo": source.Capacity.Min}
	return awsResize(ctx, activities.AWSResizeInput{ServerGroupRef: d.ref(source.Name), Capacity: pinned})
}

// unpin restores the source's minimum, on a context of its own so that a cancelled stage still
// restores it.
func (d *awsDeploy) unpin(ctx workflow.Context) {
	if d.restoreMin == nil {
		return
	}
	in := *d.restoreMin
	d.restoreMin = nil
	rctx, _ := workflow.NewDisconnectedContext(ctx)
	// Only the minimum goes back: the desired size and maximum may have changed since.
	res, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](rctx, awsCluster,
		activities.AWSClusterInput{Account: d.c.Account, Region: d.c.Region, Cluster: d.cluster})
	if err == nil {
		for _, g := range res.ServerGroups {
			if g.Name == in.ServerGroup && g.Capacity != nil {
				c := *g.Capacity
				c.Min = min(in.Capacity.Min, c.Desired)
				in.Capacity = c
			}
		}
		err = awsResize(rctx, in)
	}
	if err != nil {
		d.report["pinnedMinimum"] = map[string]any{"serverGroup": in.ServerGroup, "error": "could not restore its minimum size: " + describeErr(err)}
	} else if p, ok := d.report["pinnedMinimum"].(map[string]any); ok {
		p["restored"] = true
	}
}

// strategy waits for the new server group to be up, then moves the cluster's traffic to it as the
// strategy says, and checks the cluster ended as the strategy promises.
func (d *awsDeploy) strategy(ctx workflow.Context, before []cloud.ServerGroup) error {
	c := d.c
	if c.Strategy == pipeline.StrategyRollingRedBlack {
		return d.rollingRedBlack(ctx, slices.DeleteFunc(slices.Clone(before), func(g cloud.ServerGroup) bool { return g.Name == d.created }))
	}
	d.target = pipeline.HealthyTarget(d.report["capacity"].(pipeline.Capacity).Desired, c.TargetHealthyDeployPercentage)
	up := func(h cloud.ServerGroupHealth) bool {
		if c.StartDisabled {
			// Out of its load balancers by design: its instances need only be running.
			return runningOutOfTraffic(h) >= d.target
		}
		return h.Up >= d.target && !h.Disabled
	}
	_, err := healthWait{ref: d.ref(d.created), done: up, limit: waitLimit(d.st), goal: "come up", report: d.noteHealth}.await(ctx)
	if err != nil {
		return err
	}
	d.up = true
	d.unpin(ctx)
	others := slices.DeleteFunc(slices.Clone(before), func(g cloud.ServerGroup) bool { return g.Name == d.created })
	require := &activities.ServingRequirement{ServerGroup: d.created, Up: d.target}
	switch c.Strategy {
	case pipeline.StrategyRedBlack:
		return d.redBlack(ctx, others, require)
	case pipeline.StrategyHighlander:
		return d.highlander(ctx, others, require)
	}
	return nil
}

// redBlack disables the cluster's other enabled server groups once the new one is up (checked
// again right before each is disabled), then destroys the oldest beyond maxRemainingAsgs and
// scales the disabled ones down, as asked.
func (d *awsDeploy) redBlack(ctx workflow.Context, others []cloud.ServerGroup, require *activities.ServingRequirement) error {
	c := d.c
	if c.StartDisabled {
		return nil
	}
	var enabled []cloud.ServerGroup
	for _, g := range others {
		if !g.Disabled {
			enabled = append(enabled, g)
		}
	}
	if len(enabled) > 0 && c.DelayBeforeCleanupSec > 0 {
		if err := workflow.Sleep(ctx, time.Duration(c.DelayBeforeCleanupSec)*time.Second); err != nil {
			return err
		}
	}
	var draining []string
	for _, g := range enabled {
		res, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsDisable, activities.AWSTrafficInput{
			ServerGroupRef: d.ref(g.Name), Guard: true, RequireUp: require})
		if err != nil {
			return err
		}
		d.disabled = append(d.disabled, g.Name)
		d.report["disabled"] = d.disabled
		d.publish()
		if res.InTraffic > 0 {
			draining = append(draining, g.Name)
		}
	}
	for _, name := range draining {
		if err := d.awaitOutOfTraffic(ctx, name, nil); err != nil {
			return err
		}
	}
	return d.cleanUp(ctx, others)
}

// cleanUp ends red/black once traffic has moved: it destroys the oldest disabled server groups
// beyond maxRemainingAsgs, scales the disabled ones down when asked, and checks the end state.
func (d *awsDeploy) cleanUp(ctx workflow.Context, others []cloud.ServerGroup) error {
	c := d.c
	var destroyed []string
	if c.MaxRemainingAsgs > 0 && len(others)+1 > c.MaxRemainingAsgs {
		// Newest first: the new server group and the newest others stay; of the rest, the
		// disabled ones go.
		for _, g := range others[max(0, c.MaxRemainingAsgs-1):] {
			if !g.Disabled && !slices.Contains(d.disabled, g.Name) {
				continue
			}
			// Disabled, the group moves no traffic as it goes: the traffic guard is enough.
			if _, err := awsCall[activities.AWSDestroyInput, activities.AWSTrafficResult](ctx, awsDestroy, activities.AWSDestroyInput{
				ServerGroupRef: d.ref(g.Name), Guard: true}); err != nil {
				return err
			}
			destroyed = append(destroyed, g.Name)
			d.report["destroyed"] = destroyed
			d.publish()
		}
	}
	if c.ScaleDown {
		if c.DelayBeforeScaleDownSec > 0 {
			if err := workflow.Sleep(ctx, time.Duration(c.DelayBeforeScaleDownSec)*time.Second); err != nil {
				return err
			}
		}
		var scaled []string
		for _, g := range others {
			disabled := g.Disabled || slices.Contains(d.disabled, g.Name)
			if !disabled || slices.Contains(destroyed, g.Name) || g.Capacity == nil || *g.Capacity == (pipeline.Capacity{}) {
				continue
			}
			if err := awsResize(ctx, activities.AWSResizeInput{ServerGroupRef: d.ref(g.Name), Guard: true}); err != nil {
				return err
			}
			scaled = append(scaled, g.Name)
			d.report["scaledDown"] = scaled
			d.publish()
		}
	}
	return d.checkEnd(ctx, destroyed)
}

// highlander destroys every other server group of the cluster once the new one is up.
func (d *awsDeploy) highlander(ctx workflow.Context, others []cloud.ServerGroup, require *activities.ServingRequirement) error {
	var destroyed []string
	for _, g := range others {
		if _, err := awsCall[activities.AWSDestroyInput, activities.AWSTrafficResult](ctx, awsDestroy, activities.AWSDestroyInput{
			ServerGroupRef: d.ref(g.Name), Guard: true, RequireUp: require}); err != nil {
			return err
		}
		destroyed = append(destroyed, g.Name)
		d.report["destroyed"] = destroyed
		d.publish()
	}
	return d.checkEnd(ctx, destroyed)
}

// awaitOutOfTraffic waits until no load balancer sends a disabled server group requests or still
// drains them (a target group's deregistration delay); with instances given, only those.
func (d *awsDeploy) awaitOutOfTraffic(ctx workflow.Context, name string, instances []string) error {
	inTraffic := func(h cloud.ServerGroupHealth) int {
		n := 0
		for _, i := range h.Instances {
			if (i.TakingTraffic || i.Draining) && (instances == nil || slices.Contains(instances, i.ID)) {
				n++
			}
		}
		return n
	}
	_, err := healthWait{ref: d.ref(name), limit: waitLimit(d.st), goal: "leave its load balancers",
		done: func(h cloud.ServerGroupHealth) bool { return inTraffic(h) == 0 },
		report: func(h cloud.ServerGroupHealth) {
			if n := inTraffic(h); n > 0 {
				d.report["draining"] = map[string]any{"serverGroup": name, "instancesInTraffic": n}
			} else {
				delete(d.report, "draining")
			}
		}}.await(ctx)
	var timedOut *stageFailure
	if errors.As(err, &timedOut) {
		return failf("%s was disabled but did not leave its load balancers: %s", name, describeErr(err))
	}
	return err
}

// checkEnd reads the cluster once more: after red/black or highlander the new server group must be
// the only one enabled, and the destroyed ones gone; else the stage fails saying which remain.
// That the ones disabled left their load balancers was read as they were disabled.
func (d *awsDeploy) checkEnd(ctx workflow.Context, destroyed []string) error {
	res, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](ctx, awsCluster,
		activities.AWSClusterInput{Account: d.c.Account, Region: d.c.Region, Cluster: d.cluster})
	if err != nil {
		return err
	}
	var wrong []string
	for _, g := range res.ServerGroups {
		switch {
		case g.Name == d.created:
			if g.Disabled {
				wrong = append(wrong, g.Name+" (the new server group) is disabled")
			}
		case slices.Contains(destroyed, g.Name):
			wrong = append(wrong, g.Name+" was destroyed but is still there")
		case !g.Disabled:
			wrong = append(wrong, g.Name+" is still enabled")
		}
	}
	if len(wrong) > 0 {
		return failf("after %s the cluster %s is not as it should be: %s", d.c.Strategy, regionCluster(d.cluster, d.c.Region), strings.Join(wrong, "; "))
	}
	return nil
}

// failed handles a deploy that failed after creating its server group: with rollback.onFailure,
// the server groups it disabled are enabled again and up before the new one is disabled (and,
// with destroyLatest, destroyed). A rollback begun runs to its end even if the stage is cancelled.
func (d *awsDeploy) failed(ctx workflow.Context, cause error) error {
	cancelled := ctx.Err() != nil
	if cancelled && d.st.timedOut && d.lastHealth != nil && !d.up {
		// The stage's timeout ended the wait: say what it was waiting for.
		h := d.lastHealth
		cause = failf("%s did not come up in time: %d of %d instances up (%s)", d.created, h.Up, d.target, strings.Join(notUpOrNone(*h), "; "))
	}
	if !d.c.RollbackOnFailure || d.created == "" || (cancelled && !d.st.timedOut) {
		return cause
	}
	rctx, _ := workflow.NewDisconnectedContext(ctx)
	summary := d.rollBack(rctx)
	d.report["rollback"] = summary
	d.publish()
	return failf("%s; %s", describeErr(cause), summary)
}

// rollBack restores what served before the deploy and takes the new server group out.
func (d *awsDeploy) rollBack(ctx workflow.Context) string {
	var done []string
	for i := len(d.disabled) - 1; i >= 0; i-- {
		name := d.disabled[i]
		if _, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsEnable, activities.AWSTrafficInput{ServerGroupRef: d.ref(name)}); err != nil {
			return fmt.Sprintf("rollback failed: could not enable %s again: %s", name, describeErr(err))
		}
		_, err := healthWait{ref: d.ref(name), limit: 30 * time.Minute, goal: "come up again",
			done: func(h cloud.ServerGroupHealth) bool {
				return h.Up > 0 && h.Up >= pipeline.HealthyTarget(h.Capacity.Desired, 100)
			}}.await(ctx)
		if err != nil {
			return fmt.Sprintf("rollback failed: %s was enabled again but %s", name, describeErr(err))
		}
		done = append(done, "enabled "+name+" again")
	}
	_, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsDisable, activities.AWSTrafficInput{ServerGroupRef: d.ref(d.created), Guard: true})
	if err != nil {
		return fmt.Sprintf("rollback failed: could not disable %s: %s", d.created, describeErr(err))
	}
	done = append(done, "disabled "+d.created)
	if d.c.DestroyLatest {
		if _, err := awsCall[activities.AWSDestroyInput, activities.AWSTrafficResult](ctx, awsDestroy, activities.AWSDestroyInput{ServerGroupRef: d.ref(d.created), Guard: true}); err != nil {
			return fmt.Sprintf("rolled back (%s), but could not destroy %s: %s", strings.Join(done, ", "), d.created, describeErr(err))
		}
		done = append(done, "destroyed "+d.created)
	}
	return "rolled back: " + strings.Join(done, ", ")
}
