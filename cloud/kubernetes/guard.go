package kubernetes

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
)

// The traffic guard keeps a cluster serving: as Spinnaker's traffic guards do, it refuses to take
// the last server group of a cluster that takes traffic out of service. Spinnaker enables it per
// cluster; gennaker always does.

// Actions CheckTrafficGuard guards, as its refusals name them.
const (
	GuardDisable     = "disable"
	GuardDelete      = "delete"
	GuardScaleToZero = "scale to 0"
)

// ErrTrafficGuard marks a refusal of the traffic guard. Such an error also matches ErrInvalid,
// since retrying cannot change the answer until someone enables another server group.
var ErrTrafficGuard = errors.New("refused by the traffic guard")

// guardError is a refusal of the traffic guard.
type guardError struct{ msg string }

func (e *guardError) Error() string { return e.msg }
func (e *guardError) Is(target error) bool {
	return target == ErrTrafficGuard || target == ErrInvalid
}

// CheckTrafficGuard says whether an action may take a server group out of service. It returns an
// error matching ErrTrafficGuard (and ErrInvalid) when the server group — a Deployment, ReplicaSet,
// StatefulSet or DaemonSet of the account — takes traffic (a Service in its namespace selects its
// pod template's labels) and no other server group of its moniker cluster and application in the
// namespace both takes traffic and has a ready pod. It returns nil for any other object, for a
// server group that takes no traffic, and for one that does not exist (there is nothing left to
// guard). action is one of GuardDisable, GuardDelete and GuardScaleToZero, and only words the
// refusal; call it before disabling, deleting or scaling to 0 replicas. An empty namespace means
// the account's default. The check and the action are not atomic: two stages taking out the
// last two server groups of a cluster at the same moment can both pass.
func (p *Provider) CheckTrafficGuard(ctx context.Context, namespace, kind, name, action string) error {
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return fmt.Errorf("check the traffic guard for %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	resources, err := p.serverGroupResources()
	if err != nil {
		return wrap(err, "check the traffic guard for %s", t)
	}
	if !isServerGroupResource(t.mapping, resources) {
		return nil
	}
	obj, err := t.client.Get(ctx, name, metav1.GetOptions{})
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return wrap(err, "check the traffic guard for %s", t)
	}
	if deploymentControlled(obj) {
		// Its Deployment replaces it; the Deployment is the server group that is guarded.
		return nil
	}
	cluster, app := monikerCluster(obj), obj.GetAnnotations()[AnnotationApplication]
	members, err := p.listClusterMembers(ctx, t.namespace, cluster, app, resources)
	if err != nil {
		return wrap(err, "check the traffic guard for %s", t)
	}
	var self *clusterMember
	var idle []string // others that take traffic with no pod ready to serve it
	for i, m := range members {
		switch {
		case m.obj.GetUID() == obj.GetUID():
			self = &members[i]
		case m.sg.TakingTraffic && m.sg.Ready > 0:
			return nil
		case m.sg.TakingTraffic:
			idle = append(idle, cloud.FullName(m.obj.GetKind(), m.obj.GetName()))
		}
	}
	if self == nil || !self.sg.TakingTraffic {
		return nil
	}
	what := action + " " + t.String()
	if action == GuardScaleToZero {
		what = "scale " + t.String() + " to 0 replicas"
	}
	msg := fmt.Sprintf("refusing to %s: it is the only server group of cluster %q taking traffic (traffic guard); enable another server group first",
		what, cluster)
	if len(idle) > 0 {
		msg += fmt.Sprintf(" (%s %s traffic but no ready pods)", strings.Join(idle, ", "), plural(len(idle), "takes", "take"))
	}
	return &guardError{msg: msg}
}

func isServerGroupResource(m *meta.RESTMapping, resources []*meta.RESTMapping) bool {
	for _, r := range resources {
		if r.Resource.GroupResource() == m.Resource.GroupResource() {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// LoadBalancers reads the Services a workload's traffic goes through from its annotation
// traffic.spinnaker.io/load-balancers, a JSON list such as ["service web"], as Spinnaker writes
// it. A workload without the annotation has none; one that is not such a list is an error matching
// ErrInvalid.
func LoadBalancers(obj *unstructured.Unstructured) ([]string, error) {
	if obj == nil {
		return nil, invalidf("no workload given")
	}
	raw := strings.TrimSpace(obj.GetAnnotations()[AnnotationLoadBalancers])
	if raw == "" {
		return nil, nil
	}
	var services []string
	if err := json.Unmarshal([]byte(raw), &services); err != nil {
		return nil, invalidf("%s: its annotation %s is %q, which is not a JSON list of services such as [\"service web\"]",
			cloud.FullName(obj.GetKind(), obj.GetName()), AnnotationLoadBalancers, raw)
	}
	out := services[:0]
	for _, s := range services {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
