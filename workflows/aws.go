package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// quickAWS runs a short AWS activity; every one can be repeated safely. Its retries outlast a
// throttling storm (the SDK already retries each call ten times); errors retrying cannot cure are
// non-retryable and end it at once. A cancelled stage waits for the call to end, so that nothing
// changes AWS after the stage released its cluster.
func quickAWS(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 3 * time.Minute,
		// The activities heartbeat while they work: a worker lost mid-call is noticed quickly.
		HeartbeatTimeout:    20 * time.Second,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 30},
	})
}

// awsPoll is how often a wait reads a server group's health: at first soon, since on a warm
// account instances come up within a minute, then every awsPollMax.
const (
	awsPollFirst = 2 * time.Second
	awsPollMax   = 15 * time.Second
)

// awsCall runs one AWS activity and reads its result.
func awsCall[In, Out any](ctx workflow.Context, activity func(*activities.AWS) any, in In) (Out, error) {
	var out Out
	var a *activities.AWS
	err := workflow.ExecuteActivity(quickAWS(ctx), activity(a), in).Get(ctx, &out)
	return out, err
}

// Handles of the AWS activities, for awsCall.
var (
	awsCreate        = func(a *activities.AWS) any { return a.AWSCreateServerGroup }
	awsCluster       = func(a *activities.AWS) any { return a.AWSClusterServerGroups }
	awsHealth        = func(a *activities.AWS) any { return a.AWSServerGroupHealth }
	awsDisable       = func(a *activities.AWS) any { return a.AWSDisableServerGroup }
	awsEnable        = func(a *activities.AWS) any { return a.AWSEnableServerGroup }
	awsDestroy       = func(a *activities.AWS) any { return a.AWSDestroyServerGroup }
	awsTarget        = func(a *activities.AWS) any { return a.AWSResolveTarget }
	awsImageFromTags = func(a *activities.AWS) any { return a.AWSFindImageFromTags }
	awsClusterImage  = func(a *activities.AWS) any { return a.AWSClusterImage }
	awsCloneSource   = func(a *activities.AWS) any { return a.AWSReadCloneSource }
	awsBakePrepare   = func(a *activities.AWS) any { return a.AWSBakePrepare }
	awsBakeProvision = func(a *activities.AWS) any { return a.AWSBakeProvision }
	awsBakeImage     = func(a *activities.AWS) any { return a.AWSBakeImage }
	awsBakeCopy      = func(a *activities.AWS) any { return a.AWSBakeCopy }
	awsBakeShare     = func(a *activities.AWS) any { return a.AWSBakeShare }
	awsBakeCleanup   = func(a *activities.AWS) any { return a.AWSBakeCleanup }
)

// awsResize sets a server group's size.
func awsResize(ctx workflow.Context, in activities.AWSResizeInput) error {
	var a *activities.AWS
	return workflow.ExecuteActivity(quickAWS(ctx), a.AWSResizeServerGroup, in).Get(ctx, nil)
}

// healthWait is a wait for a server group's health to reach a goal, reporting each read.
type healthWait struct {
	ref activities.ServerGroupRef
	// done says whether a read reaches the goal.
	done func(cloud.ServerGroupHealth) bool
	// report receives every read, to show in the stage's outputs.
	report func(cloud.ServerGroupHealth)
	// limit bounds the wait.
	limit time.Duration
	// goal words what is waited for, for the message when the wait runs out.
	goal string
}

// await reads the server group's health until it reaches the goal, the limit passes (failing
// with the last read's reasons) or the stage is cancelled.
func (w healthWait) await(ctx workflow.Context) (cloud.ServerGroupHealth, error) {
	deadline := workflow.Now(ctx).Add(w.limit)
	interval := awsPollFirst
	for {
		res, err := awsCall[activities.ServerGroupRef, activities.AWSHealthResult](ctx, awsHealth, w.ref)
		if err != nil {
			return cloud.ServerGroupHealth{}, err
		}
		h := res.Health
		if w.report != nil {
			w.report(h)
		}
		if h.Missing {
			return h, failf("server group %s in %s is gone", w.ref.ServerGroup, w.ref.Region)
		}
		if w.done(h) {
			return h, nil
		}
		if !workflow.Now(ctx).Before(deadline) {
			return h, failf("server group %s in %s did not %s within %s: %d of %d instances up; %s", w.ref.ServerGroup, w.ref.Region, w.goal,
				w.limit, h.Up, len(h.Instances), strings.Join(notUpOrNone(h), "; "))
		}
		if err := workflow.Sleep(ctx, min(interval, deadline.Sub(workflow.Now(ctx)))); err != nil {
			return h, err
		}
		interval = min(interval*2, awsPollMax)
	}
}

func notUpOrNone(h cloud.ServerGroupHealth) []string {
	if lines := h.NotUp(10); len(lines) > 0 {
		return lines
	}
	return []string{"no instance yet"}
}

// healthReport is a health read as stage outputs show it.
func healthReport(h cloud.ServerGroupHealth, target int) map[string]any {
	report := map[string]any{"up": h.Up, "instances": len(h.Instances), "target": target, "desired": h.Capacity.Desired,
		"takingTraffic": h.TakingTraffic()}
	if notUp := h.NotUp(10); len(notUp) > 0 {
		report["notUp"] = notUp
	}
	return report
}

// waitLimit is how long a stage waits for a server group: its timeout, or defaultRolloutTimeout.
func waitLimit(st *stageRun) time.Duration {
	if t := stageTimeout(st.cfg); t > 0 {
		return t
	}
	return defaultRolloutTimeout
}

// awsServerGroupsOutput is Spinnaker's "deploy.server.groups": the server groups by region.
func awsServerGroupsOutput(byRegion map[string][]string) map[string]any {
	out := map[string]any{}
	for region, names := range byRegion {
		list := make([]any, len(names))
		for i, n := range names {
			list[i] = n
		}
		out[region] = list
	}
	return out
}

// upstreamImage finds the image an upstream stage found or baked for a region: the nearest stage
// (one level of requisites at a time) whose deploymentDetails name one, else the trigger's
// aws/image artifacts. ok is false when there is none.
func (r *interpreter) upstreamImage(st *stageRun, region string) (image string, found bool) {
	r.upstream(st, func(up *stageRun) bool {
		image, found = deploymentDetailsImage(up.view.Outputs["deploymentDetails"], region)
		return found
	})
	if found {
		return image, true
	}
	for _, a := range r.exec.Trigger.Artifacts {
		if a.Type == "aws/image" && (a.Location == region || a.Location == "") && a.Reference != "" {
			return a.Reference, true
		}
	}
	return "", false
}

// deploymentDetailsImage reads the image of a region from Spinnaker's deploymentDetails: a list
// of {region, ami, imageId, imageName, …}.
func deploymentDetailsImage(v any, region string) (string, bool) {
	list, _ := v.([]any)
	for _, item := range list {
		d, _ := item.(map[string]any)
		if d == nil || d["region"] != region {
			continue
		}
		for _, key := range []string{"imageId", "ami", "amiName", "imageName"} {
			if s, _ := d[key].(string); s != "" {
				return s, true
			}
		}
	}
	return "", false
}

// imageDetails is one region's entry of deploymentDetails, as Spinnaker's image stages write it.
func imageDetails(img cloud.Image, extra map[string]any) map[string]any {
	d := map[string]any{"ami": img.ID, "imageId": img.ID, "imageName": img.Name, "amiName": img.Name, "region": img.Region,
		"cloudProvider": pipeline.CloudAWS}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// imageArtifact is the aws/image artifact of an image.
func imageArtifact(img cloud.Image) map[string]any {
	return map[string]any{"type": "aws/image", "name": img.Name, "reference": img.ID, "location": img.Region,
		"metadata": map[string]any{"build_info_url": img.Tags["build_info_url"], "build_number": img.Tags["build_number"]}}
}

// describeErr words an error for an output or a combined message.
func describeErr(err error) string {
	if err == nil {
		return ""
	}
	return describeError(err)
}

// joinErrors fails a stage with each cluster's failure, in order.
func joinErrors(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return failf("%s", strings.Join(errs, "; "))
}

// regionCluster names a cluster in a region, for messages.
func regionCluster(cluster, region string) string { return fmt.Sprintf("%s in %s", cluster, region) }
