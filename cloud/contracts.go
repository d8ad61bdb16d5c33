package cloud

import (
	"fmt"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// The types below are what workflows and activities exchange about what a provider deploys and
// changes. They are written into workflow histories as JSON, so their JSON shapes stay as they are:
// executions already running read them back. Region fields are written "namespace", the region of
// a Kubernetes account, which the first provider wrote.

// Resource is one resource a provider applied or changed, as its API stored it: enough to wait for
// its rollout and to tell it from a later resource of the same name.
type Resource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace is the resource's namespace; empty for a cluster-scoped one.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Generation is the spec generation applied; a workload's rollout of it is done once its
	// status.observedGeneration reaches it.
	Generation int64 `json:"generation,omitempty"`
}

// KindRef is the resource's kind with its API group, such as Deployment.apps, as providers look
// kinds up.
func (r Resource) KindRef() string {
	group, _, versioned := strings.Cut(r.APIVersion, "/")
	if !versioned || group == "" {
		return r.Kind
	}
	return r.Kind + "." + group
}

// FullName is Spinnaker's "kind name" for a resource, such as "replicaSet web-v003"; it is also
// the cluster of a resource that names none.
func FullName(kind, name string) string {
	if kind == "" {
		return " " + name
	}
	return strings.ToLower(kind[:1]) + kind[1:] + " " + name
}

// ClusterRef names a cluster in Spinnaker's sense: the server groups of one moniker cluster in
// one region (a namespace, on Kubernetes) of an account.
type ClusterRef struct {
	Region  string `json:"namespace"`
	Cluster string `json:"cluster"`
}

// String is how messages and locks name the cluster.
func (c ClusterRef) String() string { return fmt.Sprintf("%s in %s", c.Cluster, c.Region) }

// DeployRequest is one deploy stage's manifests and what they are deployed for.
type DeployRequest struct {
	// Manifests are the stage's manifests, already expression-evaluated.
	Manifests []any `json:"manifests"`
	// Application is the pipeline's application, the moniker of every resource.
	Application string `json:"application"`
	// NamespaceOverride, when set, replaces the namespace of every namespaced manifest.
	NamespaceOverride string              `json:"namespaceOverride,omitempty"`
	ExecutionID       string              `json:"executionId,omitempty"`
	StageRefID        string              `json:"stageRefId,omitempty"`
	Artifacts         []pipeline.Artifact `json:"artifacts,omitempty"`
	// RequiredArtifacts must each be bound into the manifests, or the deploy is refused.
	RequiredArtifacts []pipeline.Artifact `json:"requiredArtifacts,omitempty"`
	// Traffic, when set, deploys the server groups for red/black: out of their load balancers'
	// traffic until enabled once ready. Other workloads are refused.
	Traffic *TrafficOptions `json:"traffic,omitempty"`
}

// TrafficOptions is the traffic management of a deploy.
type TrafficOptions struct {
	// Services are the load balancers ("service web", or "web") whose traffic the deploy's server
	// groups take once enabled. Each must exist, or be among the deploy's manifests.
	Services []string `json:"services"`
}

// DeployResult is what a deploy applied.
type DeployResult struct {
	// Deployed describes each resource applied, in the order applied.
	Deployed []DeployedResource `json:"deployed"`
	// Applied are the same resources as the provider's API stored them, in the same order.
	Applied []Resource `json:"applied"`
	// CreatedArtifacts are the artifacts of the deployed resources (kubernetes/configMap …).
	CreatedArtifacts []pipeline.Artifact `json:"createdArtifacts,omitempty"`
	// BoundArtifacts are the artifacts substituted into the manifests.
	BoundArtifacts []pipeline.Artifact `json:"boundArtifacts,omitempty"`
}

// DeployedResource describes one resource a deploy applies.
type DeployedResource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace is empty for a cluster-scoped resource.
	Namespace string `json:"namespace,omitempty"`
	// Name is the name applied, versioned or not: web-config-v003.
	Name string `json:"name"`
	// Version is the vNNN of a versioned resource; empty otherwise.
	Version   string `json:"version,omitempty"`
	Versioned bool   `json:"versioned"`
}

// FullName is Spinnaker's "kind name" of the resource, such as "configMap web-config-v003", as its
// stage outputs list them.
func (d DeployedResource) FullName() string { return FullName(d.Kind, d.Name) }

// TrafficStrategy moves traffic to a deploy's new server group once it is ready.
type TrafficStrategy struct {
	Region string `json:"namespace"`
	// ServerGroup is the new server group's name, such as web-v003.
	ServerGroup string `json:"serverGroup"`
	// Services take the new server group's traffic ("service web").
	Services []string `json:"services"`
	// EnableTraffic adds the new server group to the load balancers; without it the new server
	// group is left out of traffic and the others are left alone.
	EnableTraffic bool `json:"enableTraffic"`
	// Strategy is pipeline.StrategyRedBlack, StrategyHighlander or StrategyNone (the default).
	Strategy string `json:"strategy,omitempty"`
	// MaxRemaining, for red/black, is how many server groups the cluster keeps, the new one
	// included; the oldest beyond it are deleted. 0 keeps them all.
	MaxRemaining int `json:"maxRemaining,omitempty"`
	// ScaleDown, for red/black, scales the server groups taken out of traffic to zero.
	ScaleDown bool `json:"scaleDown,omitempty"`
}

// TrafficStrategyResult says what a strategy did, by "kind name".
type TrafficStrategyResult struct {
	Enabled    []string `json:"enabled,omitempty"`
	Disabled   []string `json:"disabled,omitempty"`
	ScaledDown []string `json:"scaledDown,omitempty"`
	Deleted    []string `json:"deleted,omitempty"`
}

// RollbackRequest names the cluster to roll back.
type RollbackRequest struct {
	// Region is the namespace on Kubernetes; empty means the account's default.
	Region      string `json:"namespace"`
	Application string `json:"application"`
	// Cluster is the moniker cluster, such as "replicaSet web".
	Cluster string `json:"cluster"`
	// From is the server group to roll back from (web-v003); empty means the newest one taking
	// traffic, or the newest one when none does.
	From string `json:"from,omitempty"`
	// ChooseOnly chooses the server groups without changing anything.
	ChooseOnly bool `json:"chooseOnly,omitempty"`
}

// RollbackPlan is a rollback under way.
type RollbackPlan struct {
	Region  string `json:"namespace"`
	Cluster string `json:"cluster"`
	// From is the server group rolled back from; To the previous one, restored.
	From string `json:"from"`
	To   string `json:"to"`
	// Services are the load balancers To is added to and From taken out of ("service web").
	Services []string `json:"services"`
	// Replicas is the size To was scaled back to; 0 when it was not scaled.
	Replicas int `json:"replicas,omitempty"`
	// Wait is To as it was scaled, for waiting until it is ready.
	Wait Resource `json:"wait"`
}

// Cascading modes of a deletion, as kubectl delete --cascade names them.
const (
	// CascadeBackground deletes the resource at once and its dependents after; the default.
	CascadeBackground = "background"
	// CascadeForeground deletes the dependents first; the resource stays, being deleted, until
	// they are gone.
	CascadeForeground = "foreground"
	// CascadeOrphan deletes the resource and leaves its dependents running.
	CascadeOrphan = "orphan"
)

// DeleteOptions are the choices of a deletion.
type DeleteOptions struct {
	// Cascading is CascadeBackground (the default when empty), CascadeForeground or CascadeOrphan.
	Cascading string `json:"cascading,omitempty"`
	// GracePeriodSeconds overrides the pods' termination grace period; 0 deletes them at once.
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
}

// Health is how far a resource's rollout has come. Done and Failed are never both true; with
// neither, the rollout is still under way and worth checking again.
type Health struct {
	// Done means the resource is rolled out and serving as asked.
	Done bool `json:"done"`
	// Failed means it will not get there without someone changing something.
	Failed bool `json:"failed"`
	// Message says where the rollout stands in words a person can act on.
	Message string `json:"message"`
}
