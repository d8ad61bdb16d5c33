package activities

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/pipeline"
)

// The manifest operation stages (scale, patch, undo, restart, delete, enable, disable, find
// artifacts) each run two activities: ResolveManifestTarget picks the object once, and the
// operation then works on exactly that object, so a retry reaches the same one even when a
// dynamic target ("the newest server group") would pick another by then.

// ResolveManifestTargetInput names the object a manifest stage works on, its expressions already
// evaluated: statically by ManifestName, or dynamically by Cluster and Criteria when Cluster is set.
type ResolveManifestTargetInput struct {
	Account string `json:"account"`
	// Namespace is the stage's location; empty means the account's default namespace.
	Namespace string `json:"namespace,omitempty"`
	// ManifestName is Spinnaker's "kind name", such as "deployment web".
	ManifestName string `json:"manifestName,omitempty"`
	// Cluster is a moniker cluster such as "replicaSet web"; Criteria picks one of its server
	// groups (newest, second_newest, oldest, largest, smallest); Kind, optional, limits the search.
	Cluster  string `json:"cluster,omitempty"`
	Criteria string `json:"criteria,omitempty"`
	Kind     string `json:"kind,omitempty"`
}

// ResolveManifestTargetResult is the object found, as the API server has it.
type ResolveManifestTargetResult struct {
	Target cloud.Resource `json:"target"`
	// TemplateHash fingerprints the object's pod template as it was found, so that a retried
	// undo or restart can tell whether the attempt before already changed it.
	TemplateHash string `json:"templateHash,omitempty"`
	// Cluster is the object's moniker cluster ("replicaSet web"), or its own "kind name" when it
	// has none: what the stage holds while it changes the object.
	Cluster string `json:"cluster"`
}

// ResolveManifestTarget finds the object a manifest stage works on. An object or cluster that is
// not there, a namespace the account may not use and an unknown account fail for good.
func (k *Kubernetes) ResolveManifestTarget(ctx context.Context, in ResolveManifestTargetInput) (ResolveManifestTargetResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return ResolveManifestTargetResult{}, classify(err)
	}
	var kind, name string
	if in.Cluster != "" {
		kind, name, err = p.ResolveTarget(ctx, in.Namespace, in.Cluster, in.Criteria, in.Kind)
	} else {
		kind, name, err = kubernetes.ParseManifestName(in.ManifestName)
	}
	if err != nil {
		return ResolveManifestTargetResult{}, classify(err)
	}
	obj, err := p.Get(ctx, kind, in.Namespace, name)
	if err != nil {
		return ResolveManifestTargetResult{}, classify(err)
	}
	return ResolveManifestTargetResult{Target: appliedFrom(obj), TemplateHash: templateHash(obj),
		Cluster: cmp.Or(obj.GetAnnotations()[kubernetes.AnnotationCluster], cloud.FullName(obj.GetKind(), obj.GetName()))}, nil
}

// SelectManifestsInput names objects by label, as a deleteManifest by label selector does.
type SelectManifestsInput struct {
	Account string `json:"account"`
	// Namespace is the stage's location; empty means the account's default namespace.
	Namespace string   `json:"namespace,omitempty"`
	Kinds     []string `json:"kinds"`
	// Selector is in Kubernetes' label selector syntax: app=web,track!=canary.
	Selector string `json:"selector"`
}

// SelectManifestsResult lists the objects found, kind by kind in the order the stage gives its
// kinds, each kind's by name.
type SelectManifestsResult struct {
	Targets []ResolveManifestTargetResult `json:"targets"`
}

// SelectManifests finds the objects of some kinds whose labels match a selector. A kind the
// cluster does not serve, a namespace the account may not use and an unknown account fail for good.
func (k *Kubernetes) SelectManifests(ctx context.Context, in SelectManifestsInput) (SelectManifestsResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return SelectManifestsResult{}, classify(err)
	}
	var res SelectManifestsResult
	for _, kind := range in.Kinds {
		objs, err := p.Select(ctx, kind, in.Namespace, in.Selector)
		if err != nil {
			return SelectManifestsResult{}, classify(err)
		}
		for _, obj := range objs {
			res.Targets = append(res.Targets, ResolveManifestTargetResult{Target: appliedFrom(obj), TemplateHash: templateHash(obj),
				Cluster: cmp.Or(obj.GetAnnotations()[kubernetes.AnnotationCluster], cloud.FullName(obj.GetKind(), obj.GetName()))})
		}
	}
	return res, nil
}

// templateHash fingerprints an object's pod template; empty when it has none.
func templateHash(obj *unstructured.Unstructured) string {
	template, found, err := unstructured.NestedMap(obj.Object, "spec", "template")
	if err != nil || !found {
		return ""
	}
	// encoding/json writes map keys sorted, so equal templates give equal text.
	text, err := json.Marshal(template)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])
}

// changedSince reports whether, on a retry, the object's pod template differs from the one the
// stage resolved: the attempt before (or, in the moment between, someone else) changed it, and
// undoing or restarting again would do it twice.
func changedSince(ctx context.Context, p *kubernetes.Provider, o cloud.Resource, resolvedHash string) (*unstructured.Unstructured, bool, error) {
	if activity.GetInfo(ctx).Attempt < 2 || resolvedHash == "" {
		return nil, false, nil
	}
	obj, err := p.Get(ctx, o.KindRef(), o.Namespace, o.Name)
	if err != nil {
		return nil, false, classify(err)
	}
	return obj, templateHash(obj) != resolvedHash, nil
}

// appliedFrom names an object as WaitForManifests and the operations take it.
func appliedFrom(obj *unstructured.Unstructured) cloud.Resource {
	return cloud.Resource{
		APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(),
		Name: obj.GetName(), UID: string(obj.GetUID()), Generation: obj.GetGeneration(),
	}
}

// rereadTarget reads an object again after a change, for the generation its rollout is waited on at.
func rereadTarget(ctx context.Context, p *kubernetes.Provider, o cloud.Resource) (cloud.Resource, error) {
	obj, err := p.Get(ctx, o.KindRef(), o.Namespace, o.Name)
	if err != nil {
		return cloud.Resource{}, classify(err)
	}
	return appliedFrom(obj), nil
}

// checkGuard runs the traffic guard, whose refusal fails the stage for good with its own words.
func checkGuard(ctx context.Context, p *kubernetes.Provider, o cloud.Resource, action string) error {
	if err := p.CheckTrafficGuard(ctx, o.Namespace, o.KindRef(), o.Name, action); err != nil {
		if errors.Is(err, kubernetes.ErrTrafficGuard) {
			return temporal.NewNonRetryableApplicationError(err.Error(), "TrafficGuard", nil)
		}
		return classify(err)
	}
	return nil
}

// ScaleManifestInput sets the replicas of a resolved object.
type ScaleManifestInput struct {
	Account  string         `json:"account"`
	Target   cloud.Resource `json:"target"`
	Replicas int            `json:"replicas"`
}

// ManifestOperationResult is the object after an operation, to wait for its rollout.
type ManifestOperationResult struct {
	Object cloud.Resource `json:"object"`
}

// ScaleManifest sets how many replicas a workload asks for. Scaling to 0 the last server group of
// a cluster that takes traffic is refused (the traffic guard). Scaling again to the same count
// changes nothing, so a retry is safe.
func (k *Kubernetes) ScaleManifest(ctx context.Context, in ScaleManifestInput) (ManifestOperationResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return ManifestOperationResult{}, classify(err)
	}
	if in.Replicas == 0 {
		if err := checkGuard(ctx, p, in.Target, kubernetes.GuardScaleToZero); err != nil {
			return ManifestOperationResult{}, err
		}
	}
	if err := p.Scale(ctx, in.Target.KindRef(), in.Target.Namespace, in.Target.Name, in.Replicas); err != nil {
		return ManifestOperationResult{}, classify(err)
	}
	obj, err := rereadTarget(ctx, p, in.Target)
	return ManifestOperationResult{Object: obj}, err
}

// PatchManifestInput is a patch of a resolved object.
type PatchManifestInput struct {
	Account string         `json:"account"`
	Target  cloud.Resource `json:"target"`
	// MergeStrategy is strategic, merge or json.
	MergeStrategy string `json:"mergeStrategy"`
	// Patch is the patch: an object, or a json patch's list of operations.
	Patch any `json:"patch"`
}

// PatchManifest patches an object. A strategic or merge patch applied twice gives the same object,
// so a retry is safe; a json patch is applied again, which only operations such as replace and
// test survive unchanged.
func (k *Kubernetes) PatchManifest(ctx context.Context, in PatchManifestInput) (ManifestOperationResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return ManifestOperationResult{}, classify(err)
	}
	body, err := json.Marshal(in.Patch)
	if err != nil || in.Patch == nil {
		return ManifestOperationResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("patch %s: the patch is not a JSON object or list (%v)", describeObject(in.Target), err), "InvalidKubernetesRequest", nil)
	}
	if err := p.Patch(ctx, in.Target.KindRef(), in.Target.Namespace, in.Target.Name, in.MergeStrategy, body); err != nil {
		return ManifestOperationResult{}, classify(err)
	}
	obj, err := rereadTarget(ctx, p, in.Target)
	return ManifestOperationResult{Object: obj}, err
}

// UndoRolloutManifestInput rolls a resolved Deployment back.
type UndoRolloutManifestInput struct {
	Account       string         `json:"account"`
	Target        cloud.Resource `json:"target"`
	RevisionsBack int            `json:"revisionsBack"`
	// TemplateHash is the pod template's fingerprint when the stage resolved the Deployment.
	TemplateHash string `json:"templateHash,omitempty"`
}

// UndoRolloutManifestResult is the Deployment after the undo.
type UndoRolloutManifestResult struct {
	Object cloud.Resource `json:"object"`
	// RestoredRevision is the revision whose pod template was put back; 0 when a retry found the
	// undo already done.
	RestoredRevision int64 `json:"restoredRevision,omitempty"`
}

// UndoRolloutManifest puts an earlier revision's pod template back into a Deployment. An undo moves
// the Deployment to a new revision, so undoing again would go back further: a retry that finds the
// pod template changed since the stage resolved the Deployment takes the undo as done by the
// attempt before. (The revision number cannot tell: the controller assigns it some time after.)
func (k *Kubernetes) UndoRolloutManifest(ctx context.Context, in UndoRolloutManifestInput) (UndoRolloutManifestResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return UndoRolloutManifestResult{}, classify(err)
	}
	if obj, done, err := changedSince(ctx, p, in.Target, in.TemplateHash); err != nil || done {
		if err != nil {
			return UndoRolloutManifestResult{}, err
		}
		return UndoRolloutManifestResult{Object: appliedFrom(obj)}, nil
	}
	restored, err := p.UndoRollout(ctx, in.Target.KindRef(), in.Target.Namespace, in.Target.Name, in.RevisionsBack)
	if err != nil {
		return UndoRolloutManifestResult{}, classify(err)
	}
	obj, err := rereadTarget(ctx, p, in.Target)
	return UndoRolloutManifestResult{Object: obj, RestoredRevision: restored}, err
}

// RollingRestartManifestInput restarts a resolved workload's pods.
type RollingRestartManifestInput struct {
	Account string         `json:"account"`
	Target  cloud.Resource `json:"target"`
	// TemplateHash is the pod template's fingerprint when the stage resolved the workload.
	TemplateHash string `json:"templateHash,omitempty"`
}

// RollingRestartManifest rolls a Deployment's, StatefulSet's or DaemonSet's pods as kubectl rollout
// restart does. A retry that finds the pod template changed since the stage resolved the workload
// takes the restart as done by the attempt before, and does not restart the pods again.
func (k *Kubernetes) RollingRestartManifest(ctx context.Context, in RollingRestartManifestInput) (ManifestOperationResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return ManifestOperationResult{}, classify(err)
	}
	if obj, done, err := changedSince(ctx, p, in.Target, in.TemplateHash); err != nil || done {
		if err != nil {
			return ManifestOperationResult{}, err
		}
		return ManifestOperationResult{Object: appliedFrom(obj)}, nil
	}
	if err := p.RollingRestart(ctx, in.Target.KindRef(), in.Target.Namespace, in.Target.Name); err != nil {
		return ManifestOperationResult{}, classify(err)
	}
	obj, err := rereadTarget(ctx, p, in.Target)
	return ManifestOperationResult{Object: obj}, err
}

// DeleteManifestInput deletes a resolved object.
type DeleteManifestInput struct {
	Account string              `json:"account"`
	Target  cloud.Resource      `json:"target"`
	Options cloud.DeleteOptions `json:"options"`
	// Unguarded skips the traffic guard: for server groups a stage created for itself, such as a
	// canary analysis' baseline and canary, which are its own clusters.
	Unguarded bool `json:"unguarded,omitempty"`
}

// DeleteManifestResult says how the deletion went.
type DeleteManifestResult struct {
	// AlreadyGone is set when the object was gone before this attempt deleted it, as after a
	// retry.
	AlreadyGone bool `json:"alreadyGone,omitempty"`
}

// DeleteManifest deletes an object and waits, heartbeating, until the API server no longer has it
// (finalizers run and, with foreground cascading, dependents go first). Deleting the last server
// group of a cluster that takes traffic is refused (the traffic guard). An object already gone is
// deleted, so a retry succeeds.
func (k *Kubernetes) DeleteManifest(ctx context.Context, in DeleteManifestInput) (DeleteManifestResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return DeleteManifestResult{}, classify(err)
	}
	o := in.Target
	if _, err := p.Get(ctx, o.KindRef(), o.Namespace, o.Name); kubernetes.IsNotFound(err) {
		return DeleteManifestResult{AlreadyGone: true}, nil
	}
	if !in.Unguarded {
		if err := checkGuard(ctx, p, o, kubernetes.GuardDelete); err != nil {
			return DeleteManifestResult{}, err
		}
	}
	if err := p.Delete(ctx, o.KindRef(), o.Namespace, o.Name, in.Options); err != nil {
		return DeleteManifestResult{}, classify(err)
	}
	ticker := time.NewTicker(k.pollInterval())
	defer ticker.Stop()
	for {
		obj, err := p.Get(ctx, o.KindRef(), o.Namespace, o.Name)
		switch {
		case kubernetes.IsNotFound(err):
			return DeleteManifestResult{}, nil
		case err != nil:
			activity.RecordHeartbeat(ctx, fmt.Sprintf("%s: %v", describeObject(o), err))
		case string(obj.GetUID()) != o.UID && o.UID != "":
			// Deleted, and something created another of the same name since.
			return DeleteManifestResult{}, nil
		default:
			msg := describeObject(o) + " is being deleted"
			if f := obj.GetFinalizers(); len(f) > 0 {
				msg += "; waiting for finalizers " + strings.Join(f, ", ")
			}
			activity.RecordHeartbeat(ctx, msg)
		}
		select {
		case <-ctx.Done():
			return DeleteManifestResult{}, ctx.Err()
		case <-ticker.C:
		}
	}
}

func (k *Kubernetes) pollInterval() time.Duration {
	if k.PollInterval <= 0 {
		return 2 * time.Second
	}
	return k.PollInterval
}

// describeObject names an object for messages: replicaSet web-v003 in staging.
func describeObject(o cloud.Resource) string {
	name := cloud.FullName(o.Kind, o.Name)
	if o.Namespace != "" {
		name += " in " + o.Namespace
	}
	return name
}

// SetManifestTrafficInput enables or disables a resolved server group's traffic.
type SetManifestTrafficInput struct {
	Account string         `json:"account"`
	Target  cloud.Resource `json:"target"`
	Enabled bool           `json:"enabled"`
}

// SetManifestTrafficResult names the Services whose traffic changed.
type SetManifestTrafficResult struct {
	Services []string `json:"services"`
}

// SetManifestTraffic adds a ReplicaSet to, or removes it from, the traffic of the Services its
// annotation traffic.spinnaker.io/load-balancers names, relabelling its pod template and pods.
// Disabling the last server group of a cluster that takes traffic is refused (the traffic guard).
// Doing it again changes nothing, so a retry is safe.
func (k *Kubernetes) SetManifestTraffic(ctx context.Context, in SetManifestTrafficInput) (SetManifestTrafficResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return SetManifestTrafficResult{}, classify(err)
	}
	o := in.Target
	obj, err := p.Get(ctx, o.KindRef(), o.Namespace, o.Name)
	if err != nil {
		return SetManifestTrafficResult{}, classify(err)
	}
	services, err := kubernetes.LoadBalancers(obj)
	if err != nil {
		return SetManifestTrafficResult{}, classify(err)
	}
	action := "disable"
	if in.Enabled {
		action = "enable"
	}
	if len(services) == 0 {
		return SetManifestTrafficResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"cannot %s %s: it names no Services to take traffic from; list them in its annotation %s, as in [\"service web\"]",
			action, describeObject(o), kubernetes.AnnotationLoadBalancers), "InvalidKubernetesRequest", nil)
	}
	if !in.Enabled {
		if err := checkGuard(ctx, p, o, kubernetes.GuardDisable); err != nil {
			return SetManifestTrafficResult{}, err
		}
	}
	for _, svc := range services {
		if err := p.SetTraffic(ctx, o.Namespace, cloud.FullName(o.Kind, o.Name), svc, in.Enabled); err != nil {
			return SetManifestTrafficResult{}, classify(err)
		}
	}
	return SetManifestTrafficResult{Services: services}, nil
}

// FindArtifactFromResourceInput names a resolved object whose artifacts are wanted.
type FindArtifactFromResourceInput struct {
	Account string         `json:"account"`
	Target  cloud.Resource `json:"target"`
}

// FindArtifactFromResourceResult is the object and the artifacts it carries.
type FindArtifactFromResourceResult struct {
	// Manifest is the object as the API server has it, without managedFields and status.
	Manifest  map[string]any      `json:"manifest"`
	Artifacts []pipeline.Artifact `json:"artifacts"`
}

// FindArtifactFromResource reads an object and lists its artifacts: the images its containers run
// and the object itself (see kubernetes.ResourceArtifacts).
func (k *Kubernetes) FindArtifactFromResource(ctx context.Context, in FindArtifactFromResourceInput) (FindArtifactFromResourceResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return FindArtifactFromResourceResult{}, classify(err)
	}
	obj, err := p.Get(ctx, in.Target.KindRef(), in.Target.Namespace, in.Target.Name)
	if err != nil {
		return FindArtifactFromResourceResult{}, classify(err)
	}
	// Both change with every reconciliation and say nothing about what was deployed.
	unstructured.RemoveNestedField(obj.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(obj.Object, "status")
	return FindArtifactFromResourceResult{Manifest: obj.Object, Artifacts: kubernetes.ResourceArtifacts(obj)}, nil
}
