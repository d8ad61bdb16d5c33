package workflows

import (
	"cmp"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// runCloneServerGroup deploys a copy of a server group: its settings are read back from AWS,
// changed where the stage says, and deployed as a deploy stage's cluster would be (named under the
// cluster lock, created exactly once, moved into traffic by the strategy). The image is the
// stage's, else the one an upstream stage found or baked for the region, else the source's.
func runCloneServerGroup(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.CloneServerGroupStage) (map[string]any, error) {
	refs, err := awsTargets(ctx, s.Source)
	if err != nil {
		return nil, err
	}
	ref := refs[0]
	src, err := awsCall[activities.ServerGroupRef, activities.AWSCloneSourceResult](ctx, awsCloneSource, ref)
	if err != nil {
		return nil, err
	}
	cluster := s.Cluster(src.Source.Cluster)
	if cluster.Image == "" {
		if image, ok := r.upstreamImage(st, ref.Region); ok {
			cluster.Image = image
		} else {
			cluster.Image = src.Source.ImageID
		}
	}
	return deployWithSource(ctx, r, st, cluster, ref)
}

// deployWithSource deploys one cluster, saying in the outputs which server group it copies.
func deployWithSource(ctx workflow.Context, r *interpreter, st *stageRun, cluster pipeline.AWSCluster, source activities.ServerGroupRef) (map[string]any, error) {
	sourceOutput := map[string]any{"account": source.Account, "region": source.Region, "serverGroupName": source.ServerGroup, "asgName": source.ServerGroup}
	outputs, err := runDeploy(ctx, r, st, pipeline.DeployStage{Clusters: []pipeline.AWSCluster{cluster}})
	outputs["source"] = sourceOutput
	st.view.Outputs = outputs
	return outputs, err
}

// rollBackToPreviousImage rolls a server group back by deploying a copy of it that launches the
// image it replaced (the stage's imageName or imageId, else the one gennaker recorded when it
// deployed the group), red/black: the group rolled back leaves traffic only once the copy is up.
func rollBackToPreviousImage(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.RollbackServerGroupStage) (map[string]any, error) {
	ref := activities.ServerGroupRef{Account: s.Account, Region: s.Region, ServerGroup: s.From}
	cluster, err := previousImageCluster(ctx, ref, s)
	if err != nil {
		return nil, err
	}
	if cluster == nil {
		return nil, failf("%s records no previous image (gennaker did not deploy it over another server group): give rollbackContext.imageName "+
			"or imageId, or roll back to a server group that still exists (EXPLICIT)", s.From)
	}
	return deployWithSource(ctx, r, st, *cluster, ref)
}

// previousImageCluster is the cluster a rollback of ref to its previous image deploys: a copy of
// it launching that image, red/black; nil when the image is neither given nor recorded.
func previousImageCluster(ctx workflow.Context, ref activities.ServerGroupRef, s pipeline.RollbackServerGroupStage) (*pipeline.AWSCluster, error) {
	src, err := awsCall[activities.ServerGroupRef, activities.AWSCloneSourceResult](ctx, awsCloneSource, ref)
	if err != nil {
		return nil, err
	}
	image := cmp.Or(s.Image, src.Source.PreviousImageID)
	if image == "" {
		return nil, nil
	}
	cluster := src.Source.Cluster
	cluster.Image = image
	cluster.Strategy = pipeline.StrategyRedBlack
	cluster.TargetHealthyDeployPercentage = s.TargetHealthyRollbackPercentage
	cluster.DelayBeforeCleanupSec = s.DelayBeforeDisableSec
	return &cluster, nil
}
