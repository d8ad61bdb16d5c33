package kubernetes

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// Red/black deploys, Spinnaker's way: the new server group (a ReplicaSet) is deployed without
// traffic, waited for until every pod is ready, then added to its Services, and only then are the
// cluster's older server groups taken out of them — kept running for a quick rollback, scaled
// down, or deleted, as the strategy says.

// AnnotationReplicasBeforeScaleDown records the replicas of a server group a red/black deploy
// scaled down, so a rollback can bring it back at its old size.
const AnnotationReplicasBeforeScaleDown = "gennaker.io/replicas-before-scale-down"

// AnnotationServed marks a server group that has been added to traffic at least once; a rollback
// returns only to one that has, never to one whose deploy failed before it served.
const AnnotationServed = "gennaker.io/served"

// workloadKinds are the kinds whose versions make up a cluster's server groups.
var workloadKinds = []string{"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}

// DeployClusters lists the clusters a deploy's workloads belong to, sorted and without repeats, so
// that deploys to the same cluster can be kept from interleaving. Nothing is read from the cluster.
func (p *Provider) DeployClusters(in cloud.DeployRequest) ([]cloud.ClusterRef, error) {
	items, err := parse(PrepareInput{
		Manifests: in.Manifests, Application: in.Application, NamespaceOverride: in.NamespaceOverride,
		DefaultNamespace: p.account.defaultNamespace(),
	})
	if err != nil {
		return nil, err
	}
	var out []cloud.ClusterRef
	for _, it := range items {
		if !slices.Contains(workloadKinds, it.kind) {
			continue
		}
		c := cloud.ClusterRef{Region: it.namespace, Cluster: cmp.Or(stringAt(it.obj, "metadata", "annotations", AnnotationCluster), cloud.FullName(it.kind, it.base))}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b cloud.ClusterRef) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Cluster, b.Cluster))
	})
	return out, nil
}

// serviceName reads "service web" or "web" as a Service's name.
func serviceName(s string) (string, error) {
	kind, name := coordinate(s, "Service")
	if !strings.EqualFold(kind, "Service") || name == "" {
		return "", invalidf("traffic is managed through Services: %q is not a Service (write \"service NAME\")", s)
	}
	return name, nil
}

// prepareTraffic readies a deploy's ReplicaSets for traffic management: each is checked against
// its Services' selectors, annotated with the Services, and stripped of the Services' labels, so
// it takes no traffic until enabled once ready. Any other workload is refused.
func (p *Provider) prepareTraffic(ctx context.Context, prep PrepareInput, t *cloud.TrafficOptions) ([]any, error) {
	if len(t.Services) == 0 {
		return nil, invalidf("traffic management needs at least one service")
	}
	var names []string
	for _, s := range t.Services {
		name, err := serviceName(s)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	items, err := parse(prep)
	if err != nil {
		return nil, err
	}
	// Services deployed by the same stage are read from their manifests.
	inline := map[ResourceKey]*unstructured.Unstructured{}
	for _, it := range items {
		if it.kind == "Service" {
			inline[it.key()] = &unstructured.Unstructured{Object: it.obj}
		}
	}
	selectors := map[ResourceKey]map[string]string{}
	selectorOf := func(namespace, name string) (map[string]string, error) {
		key := ResourceKey{Namespace: namespace, Kind: "Service", Name: name}
		if sel, ok := selectors[key]; ok {
			return sel, nil
		}
		svc := inline[key]
		if svc == nil {
			t, err := p.target("Service", namespace, name)
			if err != nil {
				return nil, err
			}
			if svc, err = t.client.Get(ctx, name, metav1.GetOptions{}); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, invalidf("service %s not found in %s: deploy it first, or in the same stage", name, namespace)
				}
				return nil, wrap(err, "read service %s in %s", name, namespace)
			}
		}
		sel, err := TrafficSelector(svc)
		if err != nil {
			return nil, err
		}
		selectors[key] = sel
		return sel, nil
	}

	annotation, _ := json.Marshal(slices.Collect(func(yield func(string) bool) {
		for _, n := range names {
			if !yield("service " + n) {
				return
			}
		}
	}))
	out := slices.Clone(prep.Manifests)
	for i, raw := range prep.Manifests {
		obj, err := normalize(raw)
		if err != nil {
			return nil, invalidf("manifest %d: %v", i, err)
		}
		kind, _ := obj["kind"].(string)
		if strings.HasSuffix(kind, "List") {
			if _, ok := obj["items"].([]any); ok {
				return nil, invalidf("manifest %d: with traffic management, give each manifest on its own rather than in a %s", i, kind)
			}
		}
		if !slices.Contains(workloadKinds, kind) {
			continue
		}
		rs := &unstructured.Unstructured{Object: obj}
		namespace := cmp.Or(prep.NamespaceOverride, rs.GetNamespace(), prep.DefaultNamespace, "default")
		for _, name := range names {
			sel, err := selectorOf(namespace, name)
			if err != nil {
				return nil, fmt.Errorf("manifest %d (%s %s): %w", i, kind, rs.GetName(), err)
			}
			if err := CheckTrafficManagement(rs, sel); err != nil {
				return nil, fmt.Errorf("manifest %d: %w", i, err)
			}
			if rs, err = DisableTrafficLabels(rs, sel); err != nil {
				return nil, fmt.Errorf("manifest %d: %w", i, err)
			}
		}
		ensureMap(rs.Object, "metadata", "annotations")[AnnotationLoadBalancers] = string(annotation)
		out[i] = rs.Object
	}
	return out, nil
}

// ApplyStrategy moves traffic to a new server group once it is ready. Before anything else it
// checks the new server group is really ready: an older server group is never taken out of
// traffic for one that is not. Then it adds the new one to the Services and, by strategy, takes
// the cluster's other server groups out of them (red/black: keeping them, scaled down, or
// deleting the oldest beyond MaxRemaining; highlander: deleting them all). Every step can be done
// twice, so a retry after a crash finishes the job.
func (p *Provider) ApplyStrategy(ctx context.Context, in cloud.TrafficStrategy) (cloud.TrafficStrategyResult, error) {
	var res cloud.TrafficStrategyResult
	strategy := cmp.Or(in.Strategy, pipeline.StrategyNone)
	if !slices.Contains([]string{pipeline.StrategyRedBlack, pipeline.StrategyHighlander, pipeline.StrategyNone}, strategy) {
		return res, invalidf("traffic strategy %q; use %s, %s or %s", in.Strategy, pipeline.StrategyRedBlack, pipeline.StrategyHighlander, pipeline.StrategyNone)
	}
	if strategy != pipeline.StrategyNone && !in.EnableTraffic {
		return res, invalidf("the %s strategy moves traffic to the new server group, so it needs enableTraffic", strategy)
	}
	t, err := p.target("ReplicaSet", in.Region, in.ServerGroup)
	if err != nil {
		return res, fmt.Errorf("move traffic to replicaSet %s: %w", in.ServerGroup, err)
	}
	newest, err := t.client.Get(ctx, in.ServerGroup, metav1.GetOptions{})
	if err != nil {
		return res, wrap(err, "move traffic to %s", t)
	}
	// Not ready is retried rather than final: the status may be a moment behind (changing the
	// traffic labels bumps the generation), and the refusal is what keeps traffic safe.
	if st := RolloutStatus(newest); !st.Done {
		return res, fmt.Errorf("refusing to move traffic to %s: it is not ready (%s)", t, st.Message)
	}
	if replicas, _ := intAt(newest.Object, "spec", "replicas"); replicas == 0 {
		return res, invalidf("refusing to move traffic to %s: it asks for no replicas", t)
	}
	if !in.EnableTraffic {
		return res, nil
	}
	for _, svc := range in.Services {
		if err := p.SetTraffic(ctx, t.namespace, in.ServerGroup, svc, true); err != nil {
			return res, err
		}
	}
	res.Enabled = append(res.Enabled, cloud.FullName("ReplicaSet", in.ServerGroup))
	if strategy == pipeline.StrategyNone {
		return res, nil
	}

	others, err := p.clusterOf(ctx, newest)
	if err != nil {
		return res, err
	}
	others = slices.DeleteFunc(others, func(o *unstructured.Unstructured) bool { return o.GetName() == in.ServerGroup })
	for _, o := range others {
		disabled := false
		for _, svc := range in.Services {
			taking, err := p.takesTraffic(ctx, o, svc)
			if err != nil {
				return res, err
			}
			if !taking {
				continue
			}
			if err := p.SetTraffic(ctx, t.namespace, o.GetName(), svc, false); err != nil {
				return res, err
			}
			disabled = true
		}
		if disabled {
			res.Disabled = append(res.Disabled, cloud.FullName("ReplicaSet", o.GetName()))
		}
	}

	remove := others
	if strategy == pipeline.StrategyRedBlack {
		remove = nil
		if in.MaxRemaining > 0 && len(others) > in.MaxRemaining-1 {
			remove = others[:len(others)-max(in.MaxRemaining-1, 0)]
		}
		if in.ScaleDown {
			for _, o := range others[len(remove):] {
				scaled, err := p.scaleDown(ctx, t.namespace, o)
				if err != nil {
					return res, err
				}
				if scaled {
					res.ScaledDown = append(res.ScaledDown, cloud.FullName("ReplicaSet", o.GetName()))
				}
			}
		}
	}
	for _, o := range remove {
		// A server group still serving a Service of its own that this deploy does not manage is
		// left running: deleting it would take that traffic down.
		serving, err := p.servesOtherServices(ctx, o, in.Services)
		if err != nil {
			return res, err
		}
		if serving {
			continue
		}
		if err := p.Delete(ctx, "ReplicaSet", t.namespace, o.GetName(), cloud.DeleteOptions{}); err != nil {
			return res, err
		}
		res.Deleted = append(res.Deleted, cloud.FullName("ReplicaSet", o.GetName()))
	}
	return res, nil
}

// servesOtherServices reports whether a server group takes traffic from one of the Services its
// annotation lists besides these.
func (p *Provider) servesOtherServices(ctx context.Context, o *unstructured.Unstructured, these []string) (bool, error) {
	own, err := LoadBalancers(o)
	if err != nil {
		return false, err
	}
	for _, svc := range own {
		name, err := serviceName(svc)
		if err != nil || slices.ContainsFunc(these, func(s string) bool { n, _ := serviceName(s); return n == name }) {
			continue
		}
		if taking, err := p.takesTraffic(ctx, o, svc); err != nil || taking {
			return taking, err
		}
	}
	return false, nil
}

// clusterOf lists the ReplicaSets of a server group's cluster — same namespace, application and
// moniker cluster — oldest first, the server group itself included.
func (p *Provider) clusterOf(ctx context.Context, sg *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	a := sg.GetAnnotations()
	return p.clusterReplicaSets(ctx, sg.GetNamespace(), a[AnnotationApplication], cmp.Or(a[AnnotationCluster], cloud.FullName("ReplicaSet", sg.GetName())))
}

// clusterReplicaSets lists the ReplicaSets of one cluster (see listClusterMembers), in version
// order: the sequence says which came first even of two created within the same second.
func (p *Provider) clusterReplicaSets(ctx context.Context, namespace, application, cluster string) ([]*unstructured.Unstructured, error) {
	if err := p.allowed("ReplicaSet", namespace, ""); err != nil {
		return nil, err
	}
	m, err := p.mapping(gkReplicaSet, "v1")
	if err != nil {
		return nil, wrap(err, "list the server groups of cluster %s in %s", cluster, namespace)
	}
	members, err := p.listClusterMembers(ctx, namespace, cluster, application, []*meta.RESTMapping{m})
	if err != nil {
		return nil, wrap(err, "list the server groups of cluster %s in %s", cluster, namespace)
	}
	slices.SortStableFunc(members, func(a, b clusterMember) int { return cmp.Compare(monikerSequence(a.sg), monikerSequence(b.sg)) })
	out := make([]*unstructured.Unstructured, len(members))
	for i, mb := range members {
		out[i] = mb.obj
	}
	return out, nil
}

// takesTraffic reports whether a Service selects a workload's pods.
func (p *Provider) takesTraffic(ctx context.Context, workload *unstructured.Unstructured, service string) (bool, error) {
	name, err := serviceName(service)
	if err != nil {
		return false, err
	}
	t, err := p.target("Service", workload.GetNamespace(), name)
	if err != nil {
		return false, err
	}
	svc, err := t.client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap(err, "read %s", t)
	}
	return MatchesSelector(stringMapAt(workload.Object, "spec", "template", "metadata", "labels"), stringMapAt(svc.Object, "spec", "selector")), nil
}

// scaleDown scales a server group to zero, recording its replicas first so a rollback can restore
// them; it reports whether there was anything to scale.
func (p *Provider) scaleDown(ctx context.Context, namespace string, o *unstructured.Unstructured) (bool, error) {
	replicas, _ := intAt(o.Object, "spec", "replicas")
	if replicas == 0 {
		return false, nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationReplicasBeforeScaleDown: strconv.FormatInt(replicas, 10),
	}}})
	if err := p.Patch(ctx, "ReplicaSet", namespace, o.GetName(), PatchMerge, patch); err != nil {
		return false, err
	}
	return true, p.Scale(ctx, "ReplicaSet", namespace, o.GetName(), 0)
}
