package workflows

import (
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// The manifest operation stages work on one object already in a Kubernetes account. Each resolves
// its object once (by name, or as a server group of a cluster picked by a criterion), changes it
// through an activity that is safe to retry, and waits until the change has really rolled out.

// manifestOp is one run of a manifest operation stage, once its object is resolved.
type manifestOp struct {
	stageType string
	account   string
	target    cloud.Resource
	// templateHash fingerprints the pod template as resolved, for retries to see their own change.
	templateHash string
	limit        time.Duration // how long waiting for a rollout or a deletion may take
	// release lets go of the cluster the stage holds while it changes it.
	release func()
	lock    map[string]any
}

// resolveManifestOp finds the object the stage's target names. A stage that changes the object
// holds its cluster first, as deploys do, so it never interleaves with a deploy or a rollback of
// the same cluster; a target chosen by criteria is chosen again once held, since the deploy it
// waited for may have added a server group.
func resolveManifestOp(ctx workflow.Context, r *interpreter, st *stageRun, t pipeline.ManifestTarget) (*manifestOp, error) {
	op := newManifestOp(st, t.Account)
	in := activities.ResolveManifestTargetInput{Account: op.account, Namespace: t.Namespace}
	switch t.Mode {
	case pipeline.ManifestModeDynamic:
		in.Cluster, in.Criteria, in.Kind = t.Cluster, t.Criteria, t.Kind
	case pipeline.ManifestModeStatic:
		in.ManifestName = t.ManifestName
	default:
		return nil, failf("%s: mode %q names no single object; use %s or %s", op.stageType, t.Mode, pipeline.ManifestModeStatic, pipeline.ManifestModeDynamic)
	}
	var k8s *activities.Kubernetes
	var resolved activities.ResolveManifestTargetResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.ResolveManifestTarget, in).Get(ctx, &resolved); err != nil {
		return nil, err
	}
	if op.stageType != pipeline.StageFindArtifactFromResource {
		release, lock, err := r.lockClusters(ctx, st, op.account, []cloud.ClusterRef{{Region: resolved.Target.Namespace, Cluster: resolved.Cluster}})
		if err != nil {
			return nil, err
		}
		op.release, op.lock = release, lock
		if in.Cluster != "" {
			if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.ResolveManifestTarget, in).Get(ctx, &resolved); err != nil {
				op.release()
				return nil, err
			}
		}
	}
	op.target, op.templateHash = resolved.Target, resolved.TemplateHash
	return op, nil
}

func newManifestOp(st *stageRun, account string) *manifestOp {
	op := &manifestOp{stageType: pipeline.CanonicalStageType(st.cfg.Type), account: account, limit: defaultRolloutTimeout, release: func() {}}
	if t := stageTimeout(st.cfg); t > 0 {
		op.limit = t
	}
	return op
}

// callCtx runs an activity that reads or changes the object. Each is safe to retry.
func (op *manifestOp) callCtx(ctx workflow.Context) workflow.Context { return quickKubernetes(ctx) }

// waitCtx runs an activity that waits, heartbeating, for as long as the stage may take.
func (op *manifestOp) waitCtx(ctx workflow.Context) workflow.Context {
	return waitingKubernetes(ctx, op.limit)
}

// awaitRollout waits until the object has rolled out its change: a workload's controller has
// observed its new generation and its pods are ready.
func (op *manifestOp) awaitRollout(ctx workflow.Context, obj cloud.Resource) error {
	var k8s *activities.Kubernetes
	return workflow.ExecuteActivity(op.waitCtx(ctx), k8s.WaitForManifests, activities.WaitForManifestsInput{
		Account: op.account, Objects: []cloud.Resource{obj},
	}).Get(ctx, nil)
}

// outputs are what every manifest operation stage reports, as Spinnaker does, plus extra.
func (op *manifestOp) outputs(extra map[string]any) map[string]any {
	name := cloud.FullName(op.target.Kind, op.target.Name)
	out := map[string]any{
		"manifestNamesByNamespace": map[string]any{op.target.Namespace: []any{name}},
		"manifestName":             name,
		"location":                 op.target.Namespace,
		"account":                  op.account,
	}
	if op.lock != nil {
		out["clusterLock"] = op.lock
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func runScaleManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.ScaleManifestStage) (map[string]any, error) {
	replicas := s.Replicas
	op, err := resolveManifestOp(ctx, r, st, s.ManifestTarget)
	if err != nil {
		return nil, err
	}
	defer op.release()
	var k8s *activities.Kubernetes
	var res activities.ManifestOperationResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.ScaleManifest, activities.ScaleManifestInput{
		Account: op.account, Target: op.target, Replicas: replicas,
	}).Get(ctx, &res); err != nil {
		return nil, err
	}
	return op.outputs(map[string]any{"replicas": replicas}), op.awaitRollout(ctx, res.Object)
}

func runPatchManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.PatchManifestStage) (map[string]any, error) {
	strategy, body := s.MergeStrategy, s.Patch
	op, err := resolveManifestOp(ctx, r, st, s.ManifestTarget)
	if err != nil {
		return nil, err
	}
	defer op.release()
	var k8s *activities.Kubernetes
	var res activities.ManifestOperationResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.PatchManifest, activities.PatchManifestInput{
		Account: op.account, Target: op.target, MergeStrategy: strategy, Patch: body,
	}).Get(ctx, &res); err != nil {
		return nil, err
	}
	return op.outputs(nil), op.awaitRollout(ctx, res.Object)
}

func runUndoRolloutManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.UndoRolloutManifestStage) (map[string]any, error) {
	back := s.RevisionsBack
	op, err := resolveManifestOp(ctx, r, st, s.ManifestTarget)
	if err != nil {
		return nil, err
	}
	defer op.release()
	var k8s *activities.Kubernetes
	var res activities.UndoRolloutManifestResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.UndoRolloutManifest, activities.UndoRolloutManifestInput{
		Account: op.account, Target: op.target, RevisionsBack: back, TemplateHash: op.templateHash,
	}).Get(ctx, &res); err != nil {
		return nil, err
	}
	extra := map[string]any{"numRevisionsBack": back}
	if res.RestoredRevision > 0 {
		extra["restoredRevision"] = res.RestoredRevision
	}
	return op.outputs(extra), op.awaitRollout(ctx, res.Object)
}

func runRollingRestartManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.ManifestTargetStage) (map[string]any, error) {
	op, err := resolveManifestOp(ctx, r, st, s.ManifestTarget)
	if err != nil {
		return nil, err
	}
	defer op.release()
	var k8s *activities.Kubernetes
	var res activities.ManifestOperationResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.RollingRestartManifest, activities.RollingRestartManifestInput{
		Account: op.account, Target: op.target, TemplateHash: op.templateHash,
	}).Get(ctx, &res); err != nil {
		return nil, err
	}
	return op.outputs(nil), op.awaitRollout(ctx, res.Object)
}

func runDeleteManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.DeleteManifestStage) (map[string]any, error) {
	opts := cloud.DeleteOptions{Cascading: s.Cascading, GracePeriodSeconds: s.GracePeriodSeconds}
	if s.Cascading == pipeline.CascadeBackground {
		// The provider's default; leaving it unset keeps what executions already running sent.
		opts.Cascading = ""
	}
	if s.Labels != nil {
		return deleteByLabel(ctx, r, st, s, opts)
	}
	op, err := resolveManifestOp(ctx, r, st, s.ManifestTarget)
	if err != nil {
		return nil, err
	}
	defer op.release()
	var k8s *activities.Kubernetes
	if err := workflow.ExecuteActivity(op.waitCtx(ctx), k8s.DeleteManifest, activities.DeleteManifestInput{
		Account: op.account, Target: op.target, Options: opts,
	}).Get(ctx, nil); err != nil {
		return nil, err
	}
	return op.outputs(nil), nil
}

// deleteByLabel deletes every object of the stage's kinds whose labels match its selector, as
// Spinnaker's deleteManifest by label does. It holds the clusters of what it found, finds them
// again once held (a deploy it waited for may have added some), and deletes them one by one,
// each subject to the traffic guard, waiting until each is gone. Finding nothing succeeds.
func deleteByLabel(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.DeleteManifestStage, opts cloud.DeleteOptions) (map[string]any, error) {
	op := newManifestOp(st, s.Account)
	var k8s *activities.Kubernetes
	in := activities.SelectManifestsInput{Account: s.Account, Namespace: s.Namespace, Kinds: s.Labels.Kinds, Selector: s.Labels.Selector}
	var found activities.SelectManifestsResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.SelectManifests, in).Get(ctx, &found); err != nil {
		return nil, err
	}
	clusters := selectedClusters(found.Targets)
	release, lock, err := r.lockClusters(ctx, st, s.Account, clusters)
	if err != nil {
		return nil, err
	}
	defer release()
	if len(clusters) > 0 {
		if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.SelectManifests, in).Get(ctx, &found); err != nil {
			return nil, err
		}
	}
	byNamespace := map[string]any{}
	deleted := []any{}
	for _, t := range found.Targets {
		if !slices.Contains(clusters, cloud.ClusterRef{Region: t.Target.Namespace, Cluster: t.Cluster}) {
			// Appeared while the stage waited for the clusters it held: another stage's, left alone.
			continue
		}
		if err := workflow.ExecuteActivity(op.waitCtx(ctx), k8s.DeleteManifest, activities.DeleteManifestInput{
			Account: s.Account, Target: t.Target, Options: opts,
		}).Get(ctx, nil); err != nil {
			return map[string]any{"manifestNamesByNamespace": byNamespace, "deletedManifests": deleted}, err
		}
		name := cloud.FullName(t.Target.Kind, t.Target.Name)
		names, _ := byNamespace[t.Target.Namespace].([]any)
		byNamespace[t.Target.Namespace] = append(names, name)
		deleted = append(deleted, map[string]any{"kind": t.Target.Kind, "namespace": t.Target.Namespace, "name": t.Target.Name})
	}
	out := map[string]any{"manifestNamesByNamespace": byNamespace, "deletedManifests": deleted, "account": s.Account,
		"labelSelector": s.Labels.Selector}
	if lock != nil {
		out["clusterLock"] = lock
	}
	return out, nil
}

// selectedClusters are the clusters of the objects a selection found, sorted, each once.
func selectedClusters(targets []activities.ResolveManifestTargetResult) []cloud.ClusterRef {
	var out []cloud.ClusterRef
	for _, t := range targets {
		c := cloud.ClusterRef{Region: t.Target.Namespace, Cluster: t.Cluster}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b cloud.ClusterRef) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func runEnableManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.ManifestTargetStage) (map[string]any, error) {
	return runSetManifestTraffic(ctx, r, st, s.ManifestTarget, true)
}

func runDisableManifest(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.ManifestTargetStage) (map[string]any, error) {
	return runSetManifestTraffic(ctx, r, st, s.ManifestTarget, false)
}

// runSetManifestTraffic adds a server group to, or removes it from, the traffic of the Services it
// names. Relabelling its pods is the whole change, so there is no rollout to wait for.
func runSetManifestTraffic(ctx workflow.Context, r *interpreter, st *stageRun, t pipeline.ManifestTarget, enabled bool) (map[string]any, error) {
	op, err := resolveManifestOp(ctx, r, st, t)
	if err != nil {
		return nil, err
	}
	defer op.release()
	var k8s *activities.Kubernetes
	var res activities.SetManifestTrafficResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.SetManifestTraffic, activities.SetManifestTrafficInput{
		Account: op.account, Target: op.target, Enabled: enabled,
	}).Get(ctx, &res); err != nil {
		return nil, err
	}
	services := make([]any, len(res.Services))
	for i, s := range res.Services {
		services[i] = s
	}
	return op.outputs(map[string]any{"loadBalancers": services}), nil
}

func runFindArtifactsFromResource(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.ManifestTargetStage) (map[string]any, error) {
	op, err := resolveManifestOp(ctx, r, st, s.ManifestTarget)
	if err != nil {
		return nil, err
	}
	defer op.release()
	var k8s *activities.Kubernetes
	var res activities.FindArtifactFromResourceResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.FindArtifactFromResource, activities.FindArtifactFromResourceInput{
		Account: op.account, Target: op.target,
	}).Get(ctx, &res); err != nil {
		return nil, err
	}
	artifacts := make([]any, len(res.Artifacts))
	for i, a := range res.Artifacts {
		m := map[string]any{"type": a.Type, "name": a.Name, "reference": a.Reference}
		if a.Version != "" {
			m["version"] = a.Version
		}
		if a.Location != "" {
			m["location"] = a.Location
		}
		artifacts[i] = m
	}
	return op.outputs(map[string]any{"manifest": res.Manifest, "artifacts": artifacts}), nil
}
