package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// What a manifest stage works on is named as Spinnaker names it: statically, by "kind name"
// (ParseManifestName), or dynamically, by a moniker cluster and a criterion that picks one of its
// server groups when the stage runs (ResolveTarget).

// Criteria that pick a server group of a cluster, with Spinnaker's names.
const (
	CriteriaNewest       = "newest"
	CriteriaSecondNewest = "second_newest"
	CriteriaOldest       = "oldest"
	CriteriaLargest      = "largest"
	CriteriaSmallest     = "smallest"
)

// TargetCriteria lists the criteria ResolveTarget accepts.
var TargetCriteria = []string{CriteriaNewest, CriteriaSecondNewest, CriteriaOldest, CriteriaLargest, CriteriaSmallest}

// ParseManifestName reads Spinnaker's "kind name" of an object, such as "replicaSet web-v003" or
// "deployment web". The kind is returned as written; the Provider's methods accept any case.
func ParseManifestName(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(strings.TrimSpace(s), " ")
	name = strings.TrimSpace(name)
	if !ok || kind == "" || name == "" || strings.ContainsAny(name, " \t") {
		return "", "", invalidf("manifest name %q: write it as kind and name, as in \"deployment web\" or \"replicaSet web-v003\"", s)
	}
	return kind, name, nil
}

// IsNotFound reports whether an error of a Provider method says the object does not exist.
func IsNotFound(err error) bool { return apierrors.IsNotFound(err) }

// Get reads an object as the API server has it. An empty namespace means the account's default
// for a namespaced kind. A missing object is an error that matches ErrInvalid and IsNotFound.
func (p *Provider) Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	obj, err := t.client.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, wrap(err, "read %s", t)
	}
	return obj, nil
}

// ResolveTarget picks the server group of a moniker cluster (the annotation
// moniker.spinnaker.io/cluster, such as "replicaSet web") in a namespace that a criterion names:
// newest and oldest by creation time (then sequence), second_newest the one before the newest,
// largest and smallest by the replicas asked for (the newer wins a tie). An empty namespace means
// the account's default. kind, when given, limits the search to that kind (custom resources
// included); otherwise Deployments, ReplicaSets, StatefulSets and DaemonSets are searched.
// Workloads being deleted and ReplicaSets a Deployment controls are never picked. It returns the
// picked object's kind (as the API server names it, "ReplicaSet") and name; a cluster with no
// such server group is an error that matches ErrInvalid.
func (p *Provider) ResolveTarget(ctx context.Context, namespace, cluster, criteria, kind string) (resolvedKind, name string, err error) {
	namespace = cmp.Or(namespace, p.account.defaultNamespace())
	what := fmt.Sprintf("find the %s server group of cluster %q in %s", strings.ReplaceAll(criteria, "_", " "), cluster, namespace)
	if strings.TrimSpace(cluster) == "" {
		return "", "", invalidf("find a server group in %s: no cluster given", namespace)
	}
	if !slices.Contains(TargetCriteria, criteria) {
		return "", "", invalidf("find a server group of cluster %q in %s: criteria %q; use one of %s", cluster, namespace, criteria, strings.Join(TargetCriteria, ", "))
	}
	if err := p.allowed("", namespace, ""); err != nil {
		return "", "", fmt.Errorf("%s: %w", what, err)
	}
	var mappings []*meta.RESTMapping
	if kind != "" {
		m, err := p.kindMapping(kind)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", what, err)
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			return "", "", invalidf("%s: a %s is not in a namespace, so it is not a server group", what, m.GroupVersionKind.Kind)
		}
		mappings = []*meta.RESTMapping{m}
	} else if mappings, err = p.serverGroupResources(); err != nil {
		return "", "", wrap(err, "%s", what)
	}
	members, err := p.listClusterMembers(ctx, namespace, cluster, "", mappings)
	if err != nil {
		return "", "", wrap(err, "%s", what)
	}
	if len(members) == 0 {
		of := "server group"
		if kind != "" {
			of = kind
		}
		return "", "", invalidf("%s: no %s of that cluster is there (a server group's cluster is its annotation %s)", what, of, AnnotationCluster)
	}
	picked, err := pickByCriteria(members, criteria)
	if err != nil {
		return "", "", invalidf("%s: %v", what, err)
	}
	return picked.obj.GetKind(), picked.obj.GetName(), nil
}

// pickByCriteria applies a criterion to server groups sorted oldest first.
func pickByCriteria(members []clusterMember, criteria string) (clusterMember, error) {
	switch criteria {
	case CriteriaNewest:
		return members[len(members)-1], nil
	case CriteriaSecondNewest:
		if len(members) < 2 {
			return clusterMember{}, fmt.Errorf("it has only one, %s", cloud.FullName(members[0].obj.GetKind(), members[0].obj.GetName()))
		}
		return members[len(members)-2], nil
	case CriteriaOldest:
		return members[0], nil
	case CriteriaLargest, CriteriaSmallest:
		// Scanning newest first with a strict comparison lets the newer win a tie.
		best := members[len(members)-1]
		for i := len(members) - 2; i >= 0; i-- {
			d := members[i].sg.Desired
			if criteria == CriteriaLargest && d > best.sg.Desired || criteria == CriteriaSmallest && d < best.sg.Desired {
				best = members[i]
			}
		}
		return best, nil
	}
	return clusterMember{}, fmt.Errorf("unknown criteria %q", criteria)
}

// clusterMember is one server group of a cluster as target selection and the traffic guard see it.
type clusterMember struct {
	obj *unstructured.Unstructured
	// sg describes it, TakingTraffic included.
	sg cloud.ServerGroup
}

// serverGroupResources finds the resources of the workload kinds that are server groups.
func (p *Provider) serverGroupResources() ([]*meta.RESTMapping, error) {
	out := make([]*meta.RESTMapping, 0, len(serverGroupKinds))
	for _, kind := range serverGroupKinds {
		m, err := p.mapping(schema.GroupKind{Group: "apps", Kind: kind}, "v1")
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", kind, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// listClusterMembers lists the objects of some resources in a namespace that belong to a moniker
// cluster (and to an application, unless app is empty), oldest first, leaving out those being
// deleted and ReplicaSets a Deployment controls, whose Deployment is the server group.
func (p *Provider) listClusterMembers(ctx context.Context, namespace, cluster, app string, mappings []*meta.RESTMapping) ([]clusterMember, error) {
	var out []clusterMember
	for _, m := range mappings {
		list, err := listAll(ctx, p.dynamic.Resource(m.Resource).Namespace(namespace), metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", m.Resource.Resource, namespace, err)
		}
		for i := range list {
			obj := &list[i]
			if obj.GetDeletionTimestamp() != nil || deploymentControlled(obj) {
				continue
			}
			if monikerCluster(obj) != cluster || app != "" && obj.GetAnnotations()[AnnotationApplication] != app {
				continue
			}
			out = append(out, clusterMember{obj: obj, sg: p.serverGroup(obj)})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	selectors, err := p.serviceSelectors(ctx, namespace)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].sg.TakingTraffic = selectedByAService(out[i].obj, selectors)
	}
	slices.SortFunc(out, func(a, b clusterMember) int {
		return cmp.Or(a.sg.CreatedAt.Compare(b.sg.CreatedAt), cmp.Compare(monikerSequence(a.sg), monikerSequence(b.sg)), cmp.Compare(a.obj.GetName(), b.obj.GetName()))
	})
	return out, nil
}

// monikerCluster is an object's moniker cluster; one without the annotation is a cluster of its own,
// as Spinnaker names it.
func monikerCluster(obj *unstructured.Unstructured) string {
	return cmp.Or(obj.GetAnnotations()[AnnotationCluster], cloud.FullName(obj.GetKind(), obj.GetName()))
}

func deploymentControlled(obj *unstructured.Unstructured) bool {
	ref := metav1.GetControllerOf(obj)
	return obj.GetKind() == gkReplicaSet.Kind && ref != nil && ref.Kind == gkDeployment.Kind
}

// selectedByAService reports whether a Service of the namespace selects the workload's pods.
func selectedByAService(obj *unstructured.Unstructured, serviceSelectors []map[string]string) bool {
	labels := stringMapAt(obj.Object, "spec", "template", "metadata", "labels")
	return slices.ContainsFunc(serviceSelectors, func(sel map[string]string) bool { return MatchesSelector(labels, sel) })
}

func monikerSequence(sg cloud.ServerGroup) int {
	if sg.Moniker.Sequence == nil {
		return -1
	}
	return *sg.Moniker.Sequence
}

// ResourceArtifacts lists the artifacts an object carries, as Spinnaker's findArtifactFromResource
// reports them: a docker/image artifact for each image its containers and init containers run
// (Name the image without tag or digest, Version the tag or digest, Reference the image as
// written), then the kubernetes/<kind> artifact of the object itself, read from its artifact
// annotations or, without them, from its kind, name and namespace.
func ResourceArtifacts(obj *unstructured.Unstructured) []pipeline.Artifact {
	if obj == nil {
		return nil
	}
	var out []pipeline.Artifact
	seen := map[string]bool{}
	for _, spec := range podSpecs(obj.GetKind(), obj.Object) {
		for _, list := range []string{"initContainers", "containers"} {
			for _, c := range mapsIn(spec[list]) {
				image, _ := c["image"].(string)
				if image == "" || seen[image] {
					continue
				}
				seen[image] = true
				name := imageName(image)
				out = append(out, pipeline.Artifact{
					Type: ArtifactTypeDockerImage, Name: name,
					Version: strings.TrimLeft(strings.TrimPrefix(image, name), ":@"), Reference: image,
				})
			}
		}
	}
	self := pipeline.Artifact{Type: ArtifactTypePrefix + kindName(obj.GetKind()), Name: obj.GetName(), Location: obj.GetNamespace(), Reference: obj.GetName()}
	if a := obj.GetAnnotations(); a[AnnotationArtifactType] != "" {
		// What deployed it said what it is; an unversioned resource has no version annotation.
		self.Type, self.Name, self.Location, self.Version = a[AnnotationArtifactType], cmp.Or(a[AnnotationArtifactName], self.Name), a[AnnotationArtifactLocation], a[AnnotationArtifactVersion]
	} else if base, seq, ok := SplitVersion(obj.GetName()); ok {
		self.Name, self.Version = base, cloud.VersionSuffix(seq)
	}
	return append(out, self)
}

// Select lists the objects of a kind in a namespace whose labels match a selector, in Kubernetes'
// label selector syntax (app=web,track!=canary), sorted by name; objects being deleted are left
// out. An empty namespace means the account's default for a namespaced kind. An empty selector
// selects nothing: a deletion by label must say what it deletes.
func (p *Provider) Select(ctx context.Context, kind, namespace, selector string) ([]*unstructured.Unstructured, error) {
	if strings.TrimSpace(selector) == "" {
		return nil, invalidf("select %s: no label selector given", cmp.Or(kind, "objects"))
	}
	if _, err := labels.Parse(selector); err != nil {
		return nil, invalidf("select %s: label selector %q: %v", cmp.Or(kind, "objects"), selector, err)
	}
	m, err := p.kindMapping(kind)
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", kind, err)
	}
	var client dynamic.ResourceInterface = p.dynamic.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		namespace = cmp.Or(namespace, p.account.defaultNamespace())
		client = p.dynamic.Resource(m.Resource).Namespace(namespace)
	} else {
		namespace = ""
	}
	if err := p.allowed(m.GroupVersionKind.Kind, namespace, "*"); err != nil {
		return nil, err
	}
	list, err := listAll(ctx, client, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, wrap(err, "list %s %s", m.Resource.Resource, where(namespace))
	}
	var out []*unstructured.Unstructured
	for i := range list {
		if list[i].GetDeletionTimestamp() == nil {
			out = append(out, &list[i])
		}
	}
	slices.SortFunc(out, func(a, b *unstructured.Unstructured) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out, nil
}
