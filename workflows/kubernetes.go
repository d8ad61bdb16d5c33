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

// defaultRolloutTimeout bounds the wait for a deploy's rollout when the stage sets no stageTimeoutMs.
const defaultRolloutTimeout = 30 * time.Minute

// runDeployManifest applies the stage's manifests to its account and waits until every one of them
// has really rolled out: Deployments available, Jobs complete, claims bound. It holds the clusters it
// deploys to for the whole time, so that two executions never deploy to one cluster at once. With
// traffic management the new server groups take traffic once ready, as the strategy says; with
// rollback on failure a failed rollout restores what ran before.
func runDeployManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.DeployManifestStage) (map[string]any, error) {
	account := s.Account
	manifests, err := r.stageManifests(ctx, st, s.Manifests, s.FromArtifact, s.SkipExpressionEvaluation)
	if err != nil {
		return nil, err
	}
	if len(manifests) == 0 {
		return nil, failf("deployManifest needs at least one manifest")
	}
	traffic := s.Traffic
	rollbackOnFailure := s.RollbackOnFailure

	in := cloud.DeployRequest{
		Manifests:         manifests,
		Application:       r.exec.Application,
		NamespaceOverride: s.NamespaceOverride,
		ExecutionID:       r.exec.ID,
		StageRefID:        st.cfg.RefID,
	}
	if traffic != nil {
		in.Traffic = &cloud.TrafficOptions{Services: traffic.Services}
	}
	// The trigger's images are bound into the manifests, as Spinnaker binds an execution's artifacts.
	for _, a := range r.exec.Trigger.Artifacts {
		in.Artifacts = append(in.Artifacts, bindingArtifact(a))
	}
	for _, src := range s.RequiredArtifacts {
		a, err := r.artifactOf(st, src)
		if err != nil {
			return nil, err
		}
		in.RequiredArtifacts = append(in.RequiredArtifacts, bindingArtifact(a))
	}
	var k8s *activities.Kubernetes
	var clusters activities.DeployClustersResult
	if err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.DeployClusters, activities.DeployClustersInput{Account: account, Deploy: in}).Get(ctx, &clusters); err != nil {
		return nil, err
	}
	release, lock, err := r.lockClusters(ctx, st, account, clusters.Clusters)
	if err != nil {
		return nil, err
	}
	defer release()

	var deployed activities.DeployManifestResult
	if err := workflow.ExecuteActivity(deployActivity(ctx), k8s.DeployManifest, activities.DeployManifestInput{Account: account, Deploy: in}).Get(ctx, &deployed); err != nil {
		return nil, err
	}
	outputs := deployOutputs(account, deployed.Result)
	if lock != nil {
		outputs["clusterLock"] = lock
	}

	failed := func(cause error) (map[string]any, error) {
		// Cancelled here means the cause is the cancellation: a person's, or the stage's timeout.
		cancelled := ctx.Err() != nil
		if !rollbackOnFailure || (cancelled && !st.timedOut) {
			return outputs, cause
		}
		// A rollout that outlived the stage's timeout is rolled back too, after the stage was
		// cancelled; and a rollback begun before the stage is cancelled, by its timeout or a
		// person, runs to its end, as cut short it would leave the cluster half restored. So the
		// rollback runs on a context of its own.
		rctx, _ := workflow.NewDisconnectedContext(ctx)
		summary := r.rollBackDeploy(rctx, st, account, deployed.Result, traffic != nil)
		outputs["rollback"] = summary
		if cancelled {
			return outputs, failf("%s", summary)
		}
		return outputs, failf("%s; %s", describeError(cause), summary)
	}
	if err := waitForRollout(ctx, st, account, deployed.Result.Applied); err != nil {
		return failed(err)
	}
	if traffic == nil {
		return outputs, nil
	}
	var moved []any
	for _, d := range deployed.Result.Deployed {
		if d.Kind != "ReplicaSet" {
			continue
		}
		var res activities.TrafficStrategyResult
		err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.ApplyTrafficStrategy, activities.TrafficStrategyInput{
			Account: account,
			Strategy: cloud.TrafficStrategy{
				Region: d.Namespace, ServerGroup: d.Name, Services: traffic.Services, EnableTraffic: traffic.EnableTraffic,
				Strategy: traffic.Strategy, MaxRemaining: traffic.MaxRemaining, ScaleDown: traffic.ScaleDown,
			},
		}).Get(ctx, &res)
		moved = append(moved, map[string]any{
			"serverGroup": d.FullName(), "namespace": d.Namespace, "strategy": traffic.Strategy,
			"enabled": res.Result.Enabled, "disabled": res.Result.Disabled, "scaledDown": res.Result.ScaledDown, "deleted": res.Result.Deleted,
		})
		outputs["trafficManagement"] = moved
		if err != nil {
			return failed(err)
		}
	}
	return outputs, nil
}

// quickKubernetes runs a short Kubernetes activity: every one of them can be repeated safely. A
// cancelled stage waits for it to end: the call does not heartbeat and would otherwise go on
// changing the cluster after the stage released it, or beside the rollback that follows.
func quickKubernetes(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
}

// deployActivity runs a deploy: a retry after a crash re-applies the same versions, so retrying is safe.
func deployActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
}

// waitForRollout waits until the objects have rolled out, within the stage's timeout or
// defaultRolloutTimeout.
func waitForRollout(ctx workflow.Context, st *stageRun, account string, objects []cloud.Resource) error {
	limit := defaultRolloutTimeout
	if t := stageTimeout(st.cfg); t > 0 {
		limit = t
	}
	var k8s *activities.Kubernetes
	return workflow.ExecuteActivity(waitingKubernetes(ctx, limit), k8s.WaitForManifests, activities.WaitForManifestsInput{Account: account, Objects: objects}).Get(ctx, nil)
}

// waitingKubernetes runs an activity that waits, heartbeating, for at most limit; a lost worker
// is noticed within a minute and the wait taken up again.
func waitingKubernetes(ctx workflow.Context, limit time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    limit,
		ScheduleToCloseTimeout: limit,
		HeartbeatTimeout:       time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 5},
	})
}

// rollBackDeploy restores what ran before a failed deploy and says what it did. Each new server
// group is rolled back to the previous one of its cluster (scaled back, ready, in traffic, and
// only then the failed one out of it); without traffic management, each Deployment goes back to
// its previous revision.
func (r *interpreter) rollBackDeploy(ctx workflow.Context, st *stageRun, account string, res cloud.DeployResult, trafficManaged bool) string {
	var k8s *activities.Kubernetes
	var done []string
	for i, d := range res.Deployed {
		switch {
		case trafficManaged && d.Kind == "ReplicaSet":
			var started activities.StartRollbackResult
			err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.StartRollback, activities.StartRollbackInput{
				Account: account, Rollback: cloud.RollbackRequest{Region: d.Namespace, Application: r.exec.Application, From: d.Name},
			}).Get(ctx, &started)
			if err == nil {
				err = waitForRollout(ctx, st, account, []cloud.Resource{started.Plan.Wait})
			}
			if err == nil {
				err = workflow.ExecuteActivity(quickKubernetes(ctx), k8s.FinishRollback, activities.FinishRollbackInput{Account: account, Plan: started.Plan}).Get(ctx, nil)
			}
			if err != nil {
				done = append(done, fmt.Sprintf("rollback of %s failed: %s", d.FullName(), describeError(err)))
				continue
			}
			done = append(done, fmt.Sprintf("rolled back from %s to %s, which takes traffic again", d.FullName(), cloud.FullName("ReplicaSet", started.Plan.To)))
		case d.Kind == "Deployment" && i < len(res.Applied):
			var undone activities.UndoDeploymentResult
			err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.UndoDeployment, activities.UndoDeploymentInput{Account: account, Object: res.Applied[i]}).Get(ctx, &undone)
			if err == nil && undone.Restored == 0 {
				done = append(done, fmt.Sprintf("%s has no earlier revision to roll back to", d.FullName()))
				continue
			}
			if err == nil {
				err = waitForRollout(ctx, st, account, []cloud.Resource{undone.Wait})
			}
			if err != nil {
				done = append(done, fmt.Sprintf("rollback of %s failed: %s", d.FullName(), describeError(err)))
				continue
			}
			done = append(done, fmt.Sprintf("rolled %s back to revision %d", d.FullName(), undone.Restored))
		}
	}
	if len(done) == 0 {
		return "nothing to roll back"
	}
	return strings.Join(done, "; ")
}

// deployOutputs are Spinnaker's outputs of a deploy: what was deployed, by namespace.
func deployOutputs(account string, res cloud.DeployResult) map[string]any {
	byNamespace := map[string]any{}
	deployed := make([]any, 0, len(res.Deployed))
	for _, d := range res.Deployed {
		names, _ := byNamespace[d.Namespace].([]any)
		byNamespace[d.Namespace] = append(names, d.FullName())
		deployed = append(deployed, map[string]any{
			"kind": d.Kind, "namespace": d.Namespace, "name": d.Name, "version": d.Version,
		})
	}
	out := map[string]any{
		"deploy.account.name":      account,
		"manifestNamesByNamespace": byNamespace,
		"deployedManifests":        deployed,
	}
	if len(res.BoundArtifacts) > 0 {
		out["boundArtifacts"] = res.BoundArtifacts
	}
	if len(res.CreatedArtifacts) > 0 {
		out["createdArtifacts"] = res.CreatedArtifacts
		// Spinnaker's deploy outputs what it created as its artifacts too, which the stage's
		// own expectedArtifacts bind to.
		out[outputArtifacts] = res.CreatedArtifacts
	}
	return out
}

// stageManifests are the manifests a stage deploys: given inline (source "text", the default), or
// read from an artifact (source "artifact": an expected artifact by id, or the artifact itself).
func (r *interpreter) stageManifests(ctx workflow.Context, st *stageRun, inline []any, from *pipeline.ArtifactSource, skipExpressions bool) ([]any, error) {
	if from == nil {
		return inline, nil
	}
	art, err := r.artifactOf(st, *from)
	if err != nil {
		return nil, err
	}
	var fetched activities.FetchManifestsResult
	var artifacts *activities.Artifacts
	if err := workflow.ExecuteActivity(quickKubernetes(ctx), artifacts.FetchManifests, activities.FetchManifestsInput{Artifact: art}).Get(ctx, &fetched); err != nil {
		return nil, err
	}
	if skipExpressions {
		return fetched.Manifests, nil
	}
	// Expressions in a fetched file are evaluated as if it had been written in the stage.
	evaluated, problems := pipeline.EvaluateContext(map[string]any{"manifests": fetched.Manifests}, r.stageEnv(st))
	if len(problems) > 0 {
		lines := make([]string, len(problems))
		for i, p := range problems {
			lines[i] = fmt.Sprintf("%s: %s: %s", p.Path, p.Expression, p.Reason)
		}
		return nil, failf("expressions in the manifests of artifact %s could not be evaluated: %s", art.Type, strings.Join(lines, "; "))
	}
	manifests, _ := evaluated["manifests"].([]any)
	return manifests, nil
}

// artifactOf is the artifact a stage names: given whole, or by the id of an expected artifact.
func (r *interpreter) artifactOf(st *stageRun, src pipeline.ArtifactSource) (pipeline.Artifact, error) {
	if src.Artifact != nil {
		return *src.Artifact, nil
	}
	return r.expectedArtifact(st, src.ID)
}

// expectedArtifact is what an expected artifact is bound to: one an earlier stage of this one
// produced (its own expectedArtifacts, bound when it succeeded), or one of the pipeline's, bound when
// the execution started. An execution started before artifacts were bound at start (or a child
// pipeline's) resolves the pipeline's against the trigger's artifacts now.
func (r *interpreter) expectedArtifact(st *stageRun, id string) (pipeline.Artifact, error) {
	if a, ok := r.producedArtifact(st, id); ok {
		return a, nil
	}
	if a, ok := pipeline.BoundExpectedArtifact(r.exec.Trigger.ResolvedExpectedArtifacts, id); ok {
		return a, nil
	}
	expected, err := r.in.Pipeline.ExpectedArtifacts()
	if err != nil {
		return pipeline.Artifact{}, failf("%v", err)
	}
	a, err := pipeline.ResolveExpectedArtifact(expected, id, r.exec.Trigger.Artifacts)
	if err != nil {
		return pipeline.Artifact{}, failf("%v", err)
	}
	return a, nil
}

// bindingArtifact is what a deploy binds an artifact by; its account and metadata stay out of the
// deploy's input, and so out of the history.
func bindingArtifact(a pipeline.Artifact) pipeline.Artifact {
	return pipeline.Artifact{Type: a.Type, Name: a.Name, Version: a.Version, Location: a.Location, Reference: a.Reference}
}

// runRollbackCluster restores a cluster's previous server group: scaled back up and ready, then in
// traffic, and only then is the current one taken out of it. It holds the cluster while it works.
func runRollbackCluster(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.RollbackClusterStage) (map[string]any, error) {
	account, cluster, location, application := s.Account, s.Cluster, s.Location, s.Application
	if application == "" {
		application = r.exec.Application
	}
	var k8s *activities.Kubernetes
	var chosen, started activities.StartRollbackResult
	in := activities.StartRollbackInput{Account: account, Rollback: cloud.RollbackRequest{Region: location, Application: application, Cluster: cluster, ChooseOnly: true}}
	// The namespace (the account's default when no location is given) is known once the
	// rollback's server groups are chosen; nothing changes before the cluster is held.
	if err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.StartRollback, in).Get(ctx, &chosen); err != nil {
		return nil, err
	}
	release, lock, err := r.lockClusters(ctx, st, account, []cloud.ClusterRef{{Region: chosen.Plan.Region, Cluster: chosen.Plan.Cluster}})
	if err != nil {
		return nil, err
	}
	defer release()
	in.Rollback.ChooseOnly, in.Rollback.Region = false, chosen.Plan.Region
	if err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.StartRollback, in).Get(ctx, &started); err != nil {
		return nil, err
	}
	plan := started.Plan
	outputs := map[string]any{
		"rollback": map[string]any{
			"from": cloud.FullName("ReplicaSet", plan.From), "to": cloud.FullName("ReplicaSet", plan.To),
			"namespace": plan.Region, "cluster": plan.Cluster, "services": plan.Services,
		},
		"manifestNamesByNamespace": map[string]any{plan.Region: []any{cloud.FullName("ReplicaSet", plan.To)}},
		"clusterLock":              lock,
	}
	if err := waitForRollout(ctx, st, account, []cloud.Resource{plan.Wait}); err != nil {
		return outputs, err
	}
	if err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.FinishRollback, activities.FinishRollbackInput{Account: account, Plan: plan}).Get(ctx, nil); err != nil {
		return outputs, err
	}
	return outputs, nil
}

// checkClusterSize checks a clusterSize precondition: in each of its regions (namespaces) the
// cluster has as many server groups as expected (only those taking traffic, with
// onlyEnabledServerGroups). It says why it does not hold, in Spinnaker's words, or returns "".
func (r *interpreter) checkClusterSize(ctx workflow.Context, i int, c pipeline.ClusterSizePrecondition) (string, error) {
	app := c.Application
	if app == "" {
		app = r.exec.Application
	}
	var res activities.ClusterServerGroupsResult
	if c.CloudProvider == pipeline.CloudAWS {
		res.ByRegion = map[string][]activities.ServerGroupSummary{}
		for _, region := range c.Regions {
			groups, err := awsCall[activities.AWSClusterInput, activities.AWSClusterResult](ctx, awsCluster,
				activities.AWSClusterInput{Account: c.Account, Region: region, Cluster: c.Cluster})
			if err != nil {
				return "", err
			}
			res.ByRegion[region] = []activities.ServerGroupSummary{}
			for _, g := range groups.ServerGroups {
				res.ByRegion[region] = append(res.ByRegion[region], activities.ServerGroupSummary{Name: g.Name, TakingTraffic: !g.Disabled})
			}
		}
	} else {
		var k8s *activities.Kubernetes
		if err := workflow.ExecuteActivity(quickKubernetes(ctx), k8s.ClusterServerGroups, activities.ClusterServerGroupsInput{
			Account: c.Account, Application: app, Cluster: c.Cluster, Regions: c.Regions,
		}).Get(ctx, &res); err != nil {
			return "", err
		}
	}
	var failures []string
	for _, region := range c.Regions {
		var names []string
		for _, sg := range res.ByRegion[region] {
			if sg.TakingTraffic || !c.OnlyEnabled {
				names = append(names, sg.Name)
			}
		}
		if c.Holds(len(names)) {
			continue
		}
		enabled := ""
		if c.OnlyEnabled {
			enabled = "enabled "
		}
		failures = append(failures, fmt.Sprintf("expected %s %d %sserver groups of cluster %q in %s but found %d: [%s]",
			c.Comparison, c.Expected, enabled, c.Cluster, region, len(names), strings.Join(names, ", ")))
	}
	if len(failures) == 0 {
		return "", nil
	}
	return fmt.Sprintf("precondition %d: %s", i+1, strings.Join(failures, "; ")), nil
}
