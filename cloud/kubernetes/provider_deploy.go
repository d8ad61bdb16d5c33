package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/gennaker/gennaker/cloud"
)

// maxAnnotationBytes is what the API server allows all of an object's annotations together.
const maxAnnotationBytes = 256 * 1024

// crdEstablishTimeout bounds the wait for a CustomResourceDefinition applied by a deploy to serve
// the custom resources the same deploy applies next.
const crdEstablishTimeout = 30 * time.Second

// Deploy applies a deploy stage's manifests as Spinnaker's Kubernetes provider does (see
// PrepareManifests): it lists the versions already in the cluster of every versioned resource the
// manifests hold or refer to, prepares the manifests, refuses namespaces the account may not use,
// and applies them in order, server-side, under FieldManager, taking over fields others own.
//
// A deploy is idempotent: every object is applied with a record of what was applied (kubectl's
// last-applied annotation), and a versioned manifest identical to a version in the cluster reuses
// that version. Running the same deploy again, such as a retry after a crash, lands on the
// versions the first attempt created instead of creating new ones. A new version is created, not
// applied, so two deploys racing for the same version number cannot both have it: the loser fails
// with a retryable error and picks the next number when retried.
func (p *Provider) Deploy(ctx context.Context, in cloud.DeployRequest) (cloud.DeployResult, error) {
	res, err := p.deploy(ctx, in)
	if err != nil {
		return cloud.DeployResult{}, fmt.Errorf("deploy to account %s: %w", p.account.Name, err)
	}
	return res, nil
}

func (p *Provider) deploy(ctx context.Context, in cloud.DeployRequest) (cloud.DeployResult, error) {
	prep := PrepareInput{
		Manifests:         in.Manifests,
		Account:           p.account.Name,
		Application:       in.Application,
		NamespaceOverride: in.NamespaceOverride,
		DefaultNamespace:  p.account.defaultNamespace(),
		ExecutionID:       in.ExecutionID,
		StageRefID:        in.StageRefID,
		Artifacts:         in.Artifacts,
		RequiredArtifacts: in.RequiredArtifacts,
	}
	if in.Traffic != nil {
		manifests, err := p.prepareTraffic(ctx, prep, in.Traffic)
		if err != nil {
			return cloud.DeployResult{}, err
		}
		prep.Manifests = manifests
	}
	items, err := parse(prep)
	if err != nil {
		return cloud.DeployResult{}, err
	}
	kinds, err := p.deployKinds(items)
	if err != nil {
		return cloud.DeployResult{}, err
	}
	for _, k := range kinds {
		if !k.namespaced && !slices.Contains(prep.ClusterScopedKinds, k.gvk.Kind) {
			prep.ClusterScopedKinds = append(prep.ClusterScopedKinds, k.gvk.Kind)
		}
	}
	// Parsed again now that the scope of custom kinds is known, to check every namespace before
	// anything is read or written.
	if items, err = parse(prep); err != nil {
		return cloud.DeployResult{}, err
	}
	for _, it := range items {
		if err := p.allowed(it.kind, it.namespace, it.base); err != nil {
			return cloud.DeployResult{}, fmt.Errorf("%s (%s %s): %w", it.label, it.kind, it.base, err)
		}
	}

	keys, err := LookupKeys(prep)
	if err != nil {
		return cloud.DeployResult{}, err
	}
	if prep.Existing, err = p.existingVersions(ctx, keys, kinds); err != nil {
		return cloud.DeployResult{}, err
	}
	prepared, err := PrepareManifests(prep)
	if err != nil {
		return cloud.DeployResult{}, err
	}

	res := cloud.DeployResult{
		Deployed:         prepared.Deployed,
		CreatedArtifacts: prepared.CreatedArtifacts,
		BoundArtifacts:   prepared.BoundArtifacts,
	}
	for i, obj := range prepared.Manifests {
		d := prepared.Deployed[i]
		if err := ctx.Err(); err != nil {
			return cloud.DeployResult{}, fmt.Errorf("stopped after applying %d of %d manifests: %w", i, len(prepared.Manifests), err)
		}
		isNew := d.Versioned && !slices.ContainsFunc(prep.Existing[ResourceKey{Namespace: d.Namespace, Kind: d.Kind, Name: baseName(d)}],
			func(v ExistingVersion) bool { return v.Name == d.Name })
		applied, err := p.apply(ctx, obj, d, isNew, kinds)
		if err != nil {
			return cloud.DeployResult{}, fmt.Errorf("%w (%d of %d manifests applied before it)", err, i, len(prepared.Manifests))
		}
		res.Applied = append(res.Applied, cloud.Resource{
			APIVersion: applied.GetAPIVersion(), Kind: applied.GetKind(), Namespace: applied.GetNamespace(),
			Name: applied.GetName(), UID: string(applied.GetUID()), Generation: applied.GetGeneration(),
		})
	}
	return res, nil
}

// baseName is a deployed resource's name without its version.
func baseName(d cloud.DeployedResource) string {
	if base, _, ok := SplitVersion(d.Name); ok && d.Versioned {
		return base
	}
	return d.Name
}

// deployKind is how a kind in a deploy is reached: its mapping, or, for a custom kind whose
// definition the same deploy applies, the definition that will serve it.
type deployKind struct {
	gvk        schema.GroupVersionKind
	mapping    *meta.RESTMapping // nil until the definition is served
	namespaced bool
	crd        string // name of the CustomResourceDefinition in the deploy that defines the kind
}

// deployKinds looks up every kind the deploy holds, by apiVersion and kind. A kind the cluster
// does not serve is an error unless a CustomResourceDefinition in the deploy defines it.
func (p *Provider) deployKinds(items []*item) (map[schema.GroupVersionKind]*deployKind, error) {
	out := map[schema.GroupVersionKind]*deployKind{}
	for _, it := range items {
		gv, err := schema.ParseGroupVersion(it.apiVersion)
		if err != nil {
			return nil, invalidf("%s (%s %s): apiVersion %q: %v", it.label, it.kind, it.base, it.apiVersion, err)
		}
		gvk := gv.WithKind(it.kind)
		if out[gvk] != nil {
			continue
		}
		m, err := p.mapping(gvk.GroupKind(), gvk.Version)
		switch {
		case err == nil:
			out[gvk] = &deployKind{gvk: gvk, mapping: m, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}
		case meta.IsNoMatchError(err):
			crd, namespaced, ok := definedIn(items, gvk)
			if !ok {
				return nil, invalidf("%s (%s %s): the cluster does not serve %s %s; check the apiVersion, "+
					"or install the CustomResourceDefinition first", it.label, it.kind, it.base, it.apiVersion, it.kind)
			}
			out[gvk] = &deployKind{gvk: gvk, namespaced: namespaced, crd: crd}
		default:
			return nil, fmt.Errorf("look up %s %s: %w", it.apiVersion, it.kind, err)
		}
	}
	return out, nil
}

// definedIn finds a CustomResourceDefinition among the items that serves gvk, and its scope.
func definedIn(items []*item, gvk schema.GroupVersionKind) (name string, namespaced, ok bool) {
	for _, it := range items {
		if it.kind != "CustomResourceDefinition" || stringAt(it.obj, "spec", "group") != gvk.Group ||
			stringAt(it.obj, "spec", "names", "kind") != gvk.Kind {
			continue
		}
		for _, v := range mapsIn(mapAt(it.obj, "spec")["versions"]) {
			if name, _ := v["name"].(string); name == gvk.Version {
				return it.base, stringAt(it.obj, "spec", "scope") != "Cluster", true
			}
		}
	}
	return "", false, false
}

// builtinGroups gives the group of the built-in kinds a manifest refers to by name (mounted
// ConfigMaps and Secrets, autoscaler targets) when the deploy does not hold one.
var builtinGroups = map[string]string{
	"ConfigMap": "", "Secret": "", "Pod": "", "ReplicationController": "",
	"ReplicaSet": "apps", "Deployment": "apps", "StatefulSet": "apps",
}

// existingVersions lists the versions in the cluster of every key. Versions are found by the
// sequence label gennaker (and Spinnaker) put on them; an object named like a version without it
// is not counted, and creating over it fails with a clear error.
func (p *Provider) existingVersions(ctx context.Context, keys []ResourceKey, kinds map[schema.GroupVersionKind]*deployKind) (map[ResourceKey][]ExistingVersion, error) {
	type listKey struct {
		gvr       schema.GroupVersionResource
		namespace string
	}
	listed := map[listKey]bool{}
	var objs []*unstructured.Unstructured
	for _, key := range keys {
		m, err := p.keyMapping(key.Kind, kinds)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue // a kind not served yet has no versions
		}
		lk := listKey{gvr: m.Resource, namespace: key.Namespace}
		if listed[lk] {
			continue
		}
		listed[lk] = true
		var client dynamic.ResourceInterface = p.dynamic.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			client = p.dynamic.Resource(m.Resource).Namespace(key.Namespace)
		}
		list, err := listAll(ctx, client, metav1.ListOptions{LabelSelector: LabelSequence})
		if err != nil {
			return nil, wrap(err, "list versions of %s %s", kindName(key.Kind), where(key.Namespace))
		}
		for i := range list {
			objs = append(objs, &list[i])
		}
	}
	byName := map[ResourceKey]*unstructured.Unstructured{}
	for _, o := range objs {
		byName[ResourceKey{Namespace: o.GetNamespace(), Kind: o.GetKind(), Name: o.GetName()}] = o
	}
	existing := ExistingVersions(objs)
	for key, versions := range existing {
		for i := range versions {
			o := byName[ResourceKey{Namespace: key.Namespace, Kind: key.Kind, Name: versions[i].Name}]
			switch {
			case o.GetDeletionTimestamp() != nil:
				// Its number stays taken until it is gone, but it cannot be reused.
				versions[i].Manifest = nil
			case versions[i].Manifest == nil:
				// Without a record of what was applied (it was too large to keep, or someone else
				// created it), the live object still matches a manifest that has no defaults
				// filled in by the API server, such as a ConfigMap's.
				versions[i].Manifest = liveContent(o)
			}
		}
	}
	return existing, nil
}

// keyMapping finds the resource of a kind named by a lookup key: the deploy's own, else a built-in
// kind's, else whatever the cluster serves by that name. nil without an error means a custom kind
// not served yet.
func (p *Provider) keyMapping(kind string, kinds map[schema.GroupVersionKind]*deployKind) (*meta.RESTMapping, error) {
	for gvk, k := range kinds {
		if gvk.Kind == kind {
			return k.mapping, nil
		}
	}
	if group, ok := builtinGroups[kind]; ok {
		m, err := p.mapping(schema.GroupKind{Group: group, Kind: kind}, "")
		if err != nil {
			return nil, fmt.Errorf("look up kind %s: %w", kind, err)
		}
		return m, nil
	}
	m, err := p.kindMapping(kind)
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, nil // nothing of a kind the cluster does not serve exists
		}
		return nil, err
	}
	return m, nil
}

// liveContent is a live object without what the API server keeps about it.
func liveContent(o *unstructured.Unstructured) map[string]any {
	out := make(map[string]any, len(o.Object))
	for k, v := range o.Object {
		if k != "metadata" && k != "status" {
			out[k] = v
		}
	}
	return out
}

// apply writes one prepared manifest: a new version is created, anything else applied
// server-side.
func (p *Provider) apply(ctx context.Context, obj *unstructured.Unstructured, d cloud.DeployedResource, isNew bool, kinds map[schema.GroupVersionKind]*deployKind) (*unstructured.Unstructured, error) {
	recordLastApplied(obj)
	gvk := obj.GroupVersionKind()
	loc := where(d.Namespace)
	k := kinds[gvk]
	if k == nil { // cannot happen: every manifest's kind was looked up
		return nil, fmt.Errorf("apply %s %s: kind %s was not looked up", d.FullName(), loc, gvk)
	}
	if k.mapping == nil {
		if err := p.awaitDefinition(ctx, k); err != nil {
			return nil, fmt.Errorf("apply %s %s: %w", d.FullName(), loc, err)
		}
	}
	var client dynamic.ResourceInterface = p.dynamic.Resource(k.mapping.Resource)
	if k.namespaced {
		client = p.dynamic.Resource(k.mapping.Resource).Namespace(d.Namespace)
	}
	if !isNew {
		out, err := client.Apply(ctx, d.Name, obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		if apierrors.IsNotFound(err) && d.Namespace != "" {
			return nil, wrap(err, "apply %s %s (does namespace %s exist?)", d.FullName(), loc, d.Namespace)
		}
		return out, wrap(err, "apply %s %s", d.FullName(), loc)
	}
	out, err := client.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		live, getErr := client.Get(ctx, d.Name, metav1.GetOptions{})
		if getErr == nil && live.GetLabels()[LabelSequence] == "" {
			return nil, invalidf("create %s %s: an object of that name exists but carries no %s label, so it is not "+
				"counted as a version; delete or rename it", d.FullName(), loc, LabelSequence)
		}
		return nil, fmt.Errorf("create %s %s: another deploy created this version meanwhile; "+
			"a retry picks the next version: %w", d.FullName(), loc, err)
	}
	if apierrors.IsNotFound(err) && d.Namespace != "" {
		return nil, wrap(err, "create %s %s (does namespace %s exist?)", d.FullName(), loc, d.Namespace)
	}
	return out, wrap(err, "create %s %s", d.FullName(), loc)
}

// recordLastApplied keeps the manifest in kubectl's last-applied annotation, which is what tells a
// later deploy that an identical version exists. A manifest too large for the annotation is applied
// without it; its version is then reused only if the live object matches it exactly.
func recordLastApplied(obj *unstructured.Unstructured) {
	annotations := obj.GetAnnotations()
	delete(annotations, AnnotationLastApplied)
	obj.SetAnnotations(annotations)
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return
	}
	size := len(AnnotationLastApplied) + len(data)
	for k, v := range annotations {
		size += len(k) + len(v)
	}
	if size > maxAnnotationBytes {
		return
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationLastApplied] = string(data)
	obj.SetAnnotations(annotations)
}

// awaitDefinition waits until the CustomResourceDefinition the deploy applied serves k's kind.
func (p *Provider) awaitDefinition(ctx context.Context, k *deployKind) error {
	deadline := time.Now().Add(crdEstablishTimeout)
	for {
		p.mapper.Reset()
		m, err := p.mapper.RESTMapping(k.gvk.GroupKind(), k.gvk.Version)
		if err == nil {
			k.mapping = m
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CustomResourceDefinition %s did not start serving %s within %s: %w", k.crd, k.gvk, crdEstablishTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
