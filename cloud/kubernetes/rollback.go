package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gennaker/gennaker/cloud"
)

// A rollback restores a cluster's previous server group in the order that keeps the service up:
// the previous server group is scaled back and waited for, then added to traffic, and only then is
// the server group rolled back from taken out of it. StartRollback does the first step and says
// what to wait for; FinishRollback does the rest.

// StartRollback chooses the server groups of a rollback and scales the previous one back up: to
// the size recorded when a red/black deploy scaled it down, or else to the size of the one rolled
// back from. Run again, it finds the same server groups and changes nothing more.
func (p *Provider) StartRollback(ctx context.Context, in cloud.RollbackRequest) (cloud.RollbackPlan, error) {
	namespace := cmp.Or(in.Region, p.account.defaultNamespace())
	if in.Cluster == "" && in.From != "" {
		// A deploy rolling back its own server group knows it by name only.
		t, err := p.target("ReplicaSet", namespace, in.From)
		if err != nil {
			return cloud.RollbackPlan{}, fmt.Errorf("roll back from replicaSet %s: %w", in.From, err)
		}
		from, err := t.client.Get(ctx, in.From, metav1.GetOptions{})
		if err != nil {
			return cloud.RollbackPlan{}, wrap(err, "roll back from %s", t)
		}
		in.Cluster = cmp.Or(from.GetAnnotations()[AnnotationCluster], cloud.FullName("ReplicaSet", in.From))
		// The server group's own application, which its manifest may set, finds its cluster.
		in.Application = cmp.Or(from.GetAnnotations()[AnnotationApplication], in.Application)
	}
	if in.Cluster == "" {
		return cloud.RollbackPlan{}, invalidf("roll back: no cluster given")
	}
	what := fmt.Sprintf("roll back cluster %s in %s", in.Cluster, namespace)
	groups, err := p.clusterReplicaSets(ctx, namespace, in.Application, in.Cluster)
	if err != nil {
		return cloud.RollbackPlan{}, fmt.Errorf("%s: %w", what, err)
	}
	if len(groups) == 0 {
		return cloud.RollbackPlan{}, invalidf("%s: the cluster has no server groups (ReplicaSets annotated %s=%q)", what, AnnotationCluster, in.Cluster)
	}
	from := -1
	if in.From != "" {
		from = slices.IndexFunc(groups, func(o *unstructured.Unstructured) bool { return o.GetName() == in.From })
		if from < 0 {
			return cloud.RollbackPlan{}, invalidf("%s: replicaSet %s is not one of its server groups", what, in.From)
		}
	} else {
		for i := len(groups) - 1; i >= 0 && from < 0; i-- {
			taking, err := p.takesOwnTraffic(ctx, groups[i])
			if err != nil {
				return cloud.RollbackPlan{}, fmt.Errorf("%s: %w", what, err)
			}
			if taking {
				from = i
			}
		}
		if from < 0 {
			from = len(groups) - 1
		}
	}
	// Back to the newest older server group that serves now, or else that once served: never to
	// one whose own deploy failed before it took traffic.
	to := -1
	for i := from - 1; i >= 0 && to < 0; i-- {
		taking, err := p.takesOwnTraffic(ctx, groups[i])
		if err != nil {
			return cloud.RollbackPlan{}, fmt.Errorf("%s: %w", what, err)
		}
		if taking {
			to = i
		}
	}
	for i := from - 1; i >= 0 && to < 0; i-- {
		if groups[i].GetAnnotations()[AnnotationServed] == "true" {
			to = i
		}
	}
	if to < 0 {
		return cloud.RollbackPlan{}, invalidf("%s: there is no server group older than replicaSet %s that has served traffic to roll back to", what, groups[from].GetName())
	}
	fromObj, toObj := groups[from], groups[to]
	services, err := LoadBalancers(toObj)
	if err != nil {
		return cloud.RollbackPlan{}, err
	}
	if fromServices, err := LoadBalancers(fromObj); err != nil {
		return cloud.RollbackPlan{}, err
	} else if len(services) == 0 {
		services = fromServices
	}
	if len(services) == 0 {
		return cloud.RollbackPlan{}, invalidf("%s: neither replicaSet %s nor replicaSet %s says which services it serves (annotation %s); deploy with traffic management",
			what, fromObj.GetName(), toObj.GetName(), AnnotationLoadBalancers)
	}
	plan := cloud.RollbackPlan{Region: namespace, Cluster: in.Cluster, From: fromObj.GetName(), To: toObj.GetName(), Services: services}
	if in.ChooseOnly {
		return plan, nil
	}

	replicas, _ := intAt(toObj.Object, "spec", "replicas")
	if replicas == 0 {
		want, err := strconv.Atoi(toObj.GetAnnotations()[AnnotationReplicasBeforeScaleDown])
		if err != nil || want <= 0 {
			n, _ := intAt(fromObj.Object, "spec", "replicas")
			want = max(int(n), 1)
		}
		if err := p.Scale(ctx, "ReplicaSet", namespace, toObj.GetName(), want); err != nil {
			return cloud.RollbackPlan{}, fmt.Errorf("%s: %w", what, err)
		}
		plan.Replicas = want
	}
	t, err := p.target("ReplicaSet", namespace, toObj.GetName())
	if err != nil {
		return cloud.RollbackPlan{}, err
	}
	live, err := t.client.Get(ctx, toObj.GetName(), metav1.GetOptions{})
	if err != nil {
		return cloud.RollbackPlan{}, wrap(err, "%s: read %s", what, t)
	}
	plan.Wait = cloud.Resource{APIVersion: live.GetAPIVersion(), Kind: live.GetKind(), Namespace: namespace,
		Name: live.GetName(), UID: string(live.GetUID()), Generation: live.GetGeneration()}
	return plan, nil
}

// FinishRollback adds the restored server group to its Services, once it is ready, and then takes
// the one rolled back from out of them, leaving it running for a look at what went wrong.
func (p *Provider) FinishRollback(ctx context.Context, plan cloud.RollbackPlan) error {
	t, err := p.target("ReplicaSet", plan.Region, plan.To)
	if err != nil {
		return err
	}
	to, err := t.client.Get(ctx, plan.To, metav1.GetOptions{})
	if err != nil {
		return wrap(err, "roll back to %s", t)
	}
	// Retried rather than final: the status may be a moment behind a change of traffic labels.
	if st := RolloutStatus(to); !st.Done {
		return fmt.Errorf("refusing to send traffic back to %s: it is not ready (%s)", t, st.Message)
	}
	for _, svc := range plan.Services {
		if err := p.SetTraffic(ctx, plan.Region, plan.To, svc, true); err != nil {
			return err
		}
	}
	for _, svc := range plan.Services {
		if err := p.SetTraffic(ctx, plan.Region, plan.From, svc, false); err != nil {
			return err
		}
	}
	return nil
}

// RollBackDeployment undoes a Deployment's rollout that failed: the Deployment goes back to the
// revision before the current one (see UndoRollout). failedGeneration is the generation the failed
// deploy applied; a Deployment changed since then — by an earlier attempt at this rollback, or by
// someone else — is left alone, so that running this twice never goes back two revisions. It
// returns the revision restored, 0 when there is no earlier one, and the Deployment to wait for.
func (p *Provider) RollBackDeployment(ctx context.Context, namespace, name string, failedGeneration int64) (restored int64, wait cloud.Resource, err error) {
	t, err := p.target("Deployment", namespace, name)
	if err != nil {
		return 0, cloud.Resource{}, fmt.Errorf("roll back deployment %s: %w", name, err)
	}
	live, err := t.client.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, cloud.Resource{}, wrap(err, "roll back %s", t)
	}
	applied := func(o *unstructured.Unstructured) cloud.Resource {
		return cloud.Resource{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), UID: string(o.GetUID()), Generation: o.GetGeneration()}
	}
	current, _ := strconv.ParseInt(live.GetAnnotations()[AnnotationRevision], 10, 64)
	if live.GetGeneration() > failedGeneration {
		return current, applied(live), nil
	}
	owned, err := p.ownedBy(ctx, live, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"})
	if err != nil {
		return 0, cloud.Resource{}, wrap(err, "roll back %s", t)
	}
	earlier := slices.ContainsFunc(owned, func(rs *unstructured.Unstructured) bool {
		rev, err := strconv.ParseInt(rs.GetAnnotations()[AnnotationRevision], 10, 64)
		return err == nil && rev < current
	})
	if !earlier {
		return 0, applied(live), nil
	}
	if restored, err = p.UndoRollout(ctx, "Deployment", t.namespace, name, 1); err != nil {
		return 0, cloud.Resource{}, err
	}
	if live, err = t.client.Get(ctx, name, metav1.GetOptions{}); err != nil {
		return 0, cloud.Resource{}, wrap(err, "roll back %s", t)
	}
	return restored, applied(live), nil
}

// takesOwnTraffic reports whether a server group takes traffic from one of the Services its
// annotation lists; Services that merely happen to select its pods (monitoring, headless) do not
// count.
func (p *Provider) takesOwnTraffic(ctx context.Context, o *unstructured.Unstructured) (bool, error) {
	services, err := LoadBalancers(o)
	if err != nil {
		return false, err
	}
	for _, svc := range services {
		if taking, err := p.takesTraffic(ctx, o, svc); err != nil || taking {
			return taking, err
		}
	}
	return false, nil
}
