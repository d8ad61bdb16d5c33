package workflows

import (
	"fmt"
	"math"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// rollingRedBlack moves a cluster's traffic to the new server group in steps. The group was
// created empty; at each of the cluster's targetPercentages it grows to that share of its
// capacity, its instances must come up (checked again right before traffic moves), the
// pipelineBeforeCleanup runs if there is one, and then the same share of the source's instances
// leaves its load balancers. At 100 the source is disabled whole, and red/black's cleanup follows.
// A failed step leaves both groups serving; rollback.onFailure then restores the source. The
// create refused a cluster with more enabled server groups than maxInitialAsgs.
func (d *awsDeploy) rollingRedBlack(ctx workflow.Context, others []cloud.ServerGroup) error {
	c := d.c
	full := d.report["capacity"].(pipeline.Capacity)
	var enabled []string
	for _, g := range others {
		if !g.Disabled {
			enabled = append(enabled, g.Name)
		}
	}
	var steps []any
	for _, pct := range c.TargetPercentages {
		step := map[string]any{"percentage": pct}
		steps = append(steps, step)
		d.report["steps"] = steps
		size := full
		if pct < 100 {
			// The minimum is held at the step's size, so that nothing scales the group in
			// between steps; the last step sets the capacity the cluster asked for.
			n := int(math.Ceil(float64(full.Desired) * float64(pct) / 100))
			size = pipeline.Capacity{Min: n, Desired: n, Max: full.Max}
		}
		step["capacity"] = size
		d.publish()
		if err := d.rollingStep(ctx, step, size, pct, enabled); err != nil {
			step["error"] = describeErr(err)
			return err
		}
		step["done"] = true
		d.publish()
	}
	d.up = true
	d.unpin(ctx)
	return d.cleanUp(ctx, others)
}

// rollingStep is one step of rolling red/black: grow the new group, wait for it, run the
// pipeline before cleanup, and take the step's share of each source out of traffic.
func (d *awsDeploy) rollingStep(ctx workflow.Context, step map[string]any, size pipeline.Capacity, pct int, sources []string) error {
	c := d.c
	if err := awsResize(ctx, activities.AWSResizeInput{ServerGroupRef: d.ref(d.created), Capacity: size}); err != nil {
		return err
	}
	d.target = pipeline.HealthyTarget(size.Desired, c.TargetHealthyDeployPercentage)
	_, err := healthWait{ref: d.ref(d.created), limit: waitLimit(d.st), goal: fmt.Sprintf("come up at %d%%", pct),
		done:   func(h cloud.ServerGroupHealth) bool { return h.Up >= d.target && !h.Disabled },
		report: d.noteHealth}.await(ctx)
	if err != nil {
		return err
	}
	if p := c.PipelineBeforeCleanup; p != nil {
		child := *p
		if child.Application == "" {
			child.Application = d.r.exec.Application
		}
		out, err := runPipelineStage(ctx, d.r, d.st, child)
		step["pipelineBeforeCleanup"] = out
		d.publish()
		if err != nil {
			return failf("the pipeline before cleanup at %d%%: %s", pct, describeErr(err))
		}
	}
	require := &activities.ServingRequirement{ServerGroup: d.created, Up: d.target}
	var disabled []any
	for _, name := range sources {
		res, err := awsCall[activities.AWSTrafficInput, activities.AWSTrafficResult](ctx, awsDisable, activities.AWSTrafficInput{
			ServerGroupRef: d.ref(name), Percentage: pct, Guard: true, RequireUp: require})
		if err != nil {
			return err
		}
		// Partly disabled is enough for a rollback to enable it again.
		if !slices.Contains(d.disabled, name) {
			d.disabled = append(d.disabled, name)
			d.report["disabled"] = d.disabled
		}
		disabled = append(disabled, map[string]any{"serverGroup": name, "instances": res.Instances})
		step["disabled"] = disabled
		d.publish()
		if res.InTraffic > 0 {
			if err := d.awaitOutOfTraffic(ctx, name, res.Instances); err != nil {
				return err
			}
		}
	}
	return nil
}
