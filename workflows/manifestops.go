package workflows

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/pipeline"
)

// The manifest operation stages work on one object already in a Kubernetes account. Each resolves
// its object once (by name, or as a server group of a cluster picked by a criterion), changes it
// through an activity that is safe to retry, and waits until the change has really rolled out.

// manifestOp is one run of a manifest operation stage, once its object is resolved.
type manifestOp struct {
	stageType string
	account   string
	target    kubernetes.AppliedObject
	// templateHash fingerprints the pod template as resolved, for retries to see their own change.
	templateHash string
	limit        time.Duration // how long waiting for a rollout or a deletion may take
	// release lets go of the cluster the stage holds while it changes it.
	release func()
	lock    map[string]any
}

// resolveManifestOp reads the stage's target settings and finds the object they name. A stage that
// changes the object holds its cluster first, as deploys do, so it never interleaves with a deploy
// or a rollback of the same cluster; a target chosen by criteria is chosen again once held, since
// the deploy it waited for may have added a server group.
func resolveManifestOp(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (*manifestOp, error) {
	op := &manifestOp{stageType: st.cfg.Type, limit: defaultRolloutTimeout, release: func() {}}
	if t := stageTimeout(st.cfg); t > 0 {
		op.limit = t
	}
	op.account, _ = sc["account"].(string)
	if op.account == "" {
		return nil, failf("%s needs an account", op.stageType)
	}
	in := activities.ResolveManifestTargetInput{Account: op.account}
	in.Namespace, _ = sc["location"].(string)
	switch mode, _ := sc["mode"].(string); mode {
	case "", pipeline.ManifestModeStatic:
		in.ManifestName, _ = sc["manifestName"].(string)
		if in.ManifestName == "" {
			return nil, failf("%s needs a manifestName such as \"deployment web\"", op.stageType)
		}
	case pipeline.ManifestModeDynamic:
		in.Cluster, _ = sc["cluster"].(string)
		in.Criteria, _ = sc["criteria"].(string)
		in.Kind, _ = sc["kind"].(string)
		if in.Cluster == "" || in.Criteria == "" {
			return nil, failf("%s in dynamic mode needs a cluster and criteria", op.stageType)
		}
	default:
		return nil, failf("%s: mode %q is not supported; use %s or %s", op.stageType, mode, pipeline.ManifestModeStatic, pipeline.ManifestModeDynamic)
	}
	var k8s *activities.Kubernetes
	var resolved activities.ResolveManifestTargetResult
	if err := workflow.ExecuteActivity(op.callCtx(ctx), k8s.ResolveManifestTarget, in).Get(ctx, &resolved); err != nil {
		return nil, err
	}
	if op.stageType != pipeline.StageFindArtifactFromResource {
		release, lock, err := r.lockClusters(ctx, st, op.account, []kubernetes.ClusterRef{{Namespace: resolved.Target.Namespace, Cluster: resolved.Cluster}})
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

// callCtx runs an activity that reads or changes the object. Each is safe to retry.
func (op *manifestOp) callCtx(ctx workflow.Context) workflow.Context { return quickKubernetes(ctx) }

// waitCtx runs an activity that waits, heartbeating, for as long as the stage may take.
func (op *manifestOp) waitCtx(ctx workflow.Context) workflow.Context {
	return waitingKubernetes(ctx, op.limit)
}

// awaitRollout waits until the object has rolled out its change: a workload's controller has
// observed its new generation and its pods are ready.
func (op *manifestOp) awaitRollout(ctx workflow.Context, obj kubernetes.AppliedObject) error {
	var k8s *activities.Kubernetes
	return workflow.ExecuteActivity(op.waitCtx(ctx), k8s.WaitForManifests, activities.WaitForManifestsInput{
		Account: op.account, Objects: []kubernetes.AppliedObject{obj},
	}).Get(ctx, nil)
}

// outputs are what every manifest operation stage reports, as Spinnaker does, plus extra.
func (op *manifestOp) outputs(extra map[string]any) map[string]any {
	name := kubernetes.FullName(op.target.Kind, op.target.Name)
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

// manifestCount reads a whole number setting of at least min, written as a number or as text;
// absent, it is def, or an error when def is negative.
func manifestCount(v any, name string, min, def int) (int, error) {
	if v == nil || v == "" {
		if def < 0 {
			return 0, failf("%s is required", name)
		}
		return def, nil
	}
	f, err := number(v)
	if err != nil || f != math.Trunc(f) || f < float64(min) || f > math.MaxInt32 {
		return 0, failf("%s must be a whole number of at least %d, got %v", name, min, v)
	}
	return int(f), nil
}

func runScaleManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	replicas, err := manifestCount(sc["replicas"], "replicas", 0, -1)
	if err != nil {
		return nil, err
	}
	op, err := resolveManifestOp(ctx, r, st, sc)
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

func runPatchManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	strategy := kubernetes.PatchStrategic
	options, _ := sc["options"].(map[string]any)
	if s, _ := options["mergeStrategy"].(string); s != "" {
		strategy = s
	}
	body, err := manifestPatchBody(sc["patchBody"], strategy)
	if err != nil {
		return nil, err
	}
	op, err := resolveManifestOp(ctx, r, st, sc)
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

// manifestPatchBody reads patchBody: an object, or a json patch's list of operations. Spinnaker
// keeps a strategic or merge patch as a list of one object; an expression may give the patch as
// JSON text.
func manifestPatchBody(v any, strategy string) (any, error) {
	if text, ok := v.(string); ok {
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return nil, failf("patchBody is text that is not JSON: %v", err)
		}
	}
	switch b := v.(type) {
	case map[string]any:
		if strategy == kubernetes.PatchJSON {
			return nil, failf("a json patch is a list of operations, not an object")
		}
		return b, nil
	case []any:
		if strategy == kubernetes.PatchJSON {
			return b, nil
		}
		if len(b) == 1 {
			if m, ok := b[0].(map[string]any); ok {
				return m, nil
			}
		}
		return nil, failf("a %s patch is one object; patchBody has %d items", strategy, len(b))
	}
	return nil, failf("patchBody must be an object or a list, got %v", v)
}

func runUndoRolloutManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	back, err := manifestCount(sc["numRevisionsBack"], "numRevisionsBack", 1, 1)
	if err != nil {
		return nil, err
	}
	op, err := resolveManifestOp(ctx, r, st, sc)
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

func runRollingRestartManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	op, err := resolveManifestOp(ctx, r, st, sc)
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

func runDeleteManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	opts, err := manifestDeleteOptions(sc)
	if err != nil {
		return nil, err
	}
	op, err := resolveManifestOp(ctx, r, st, sc)
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

// manifestDeleteOptions reads Spinnaker's delete options: cascading true (the default) deletes the
// dependents in the background, false leaves them (orphans them); gracePeriodSeconds overrides
// the pods' grace period.
func manifestDeleteOptions(sc map[string]any) (kubernetes.DeleteOptions, error) {
	options, _ := sc["options"].(map[string]any)
	var out kubernetes.DeleteOptions
	switch c := options["cascading"].(type) {
	case nil:
	case bool:
		if !c {
			out.Cascading = kubernetes.CascadeOrphan
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(c)) {
		case "", "true":
		case "false":
			out.Cascading = kubernetes.CascadeOrphan
		case kubernetes.CascadeBackground, kubernetes.CascadeForeground, kubernetes.CascadeOrphan:
			out.Cascading = strings.ToLower(strings.TrimSpace(c))
		default:
			return out, failf("options.cascading must be true, false, or one of background, foreground, orphan, got %q", c)
		}
	default:
		return out, failf("options.cascading must be true or false, got %v", c)
	}
	if v := options["gracePeriodSeconds"]; v != nil && v != "" {
		seconds, err := manifestCount(v, "options.gracePeriodSeconds", 0, 0)
		if err != nil {
			return out, err
		}
		grace := int64(seconds)
		out.GracePeriodSeconds = &grace
	}
	return out, nil
}

func runEnableManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	return runSetManifestTraffic(ctx, r, st, sc, true)
}

func runDisableManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	return runSetManifestTraffic(ctx, r, st, sc, false)
}

// runSetManifestTraffic adds a server group to, or removes it from, the traffic of the Services it
// names. Relabelling its pods is the whole change, so there is no rollout to wait for.
func runSetManifestTraffic(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any, enabled bool) (map[string]any, error) {
	op, err := resolveManifestOp(ctx, r, st, sc)
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

func runFindArtifactFromResource(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	op, err := resolveManifestOp(ctx, r, st, sc)
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
