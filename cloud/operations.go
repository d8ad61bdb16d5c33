package cloud

import "context"

// The operations the stage types a cloud provider offers share, each a small interface a provider
// implements (and states it implements at compile time). Resources are named by kind, region (a
// namespace, on Kubernetes) and name; server groups by their "kind name" where a provider has
// several kinds of them.

// ServerGroupLister lists an application's server groups, cluster by cluster, for the
// infrastructure view and clusterSize preconditions.
type ServerGroupLister interface {
	ServerGroups(ctx context.Context, application string) ([]Cluster, error)
}

// Deployer deploys, and names beforehand the clusters a deploy changes, which the stage holds
// while it deploys.
type Deployer interface {
	Deploy(ctx context.Context, in DeployRequest) (DeployResult, error)
	DeployClusters(in DeployRequest) ([]ClusterRef, error)
}

// HealthReader reads how far a resource's rollout has come.
type HealthReader interface {
	Status(ctx context.Context, kind, region, name string) (Health, error)
}

// Resizer sets how many instances a server group asks for.
type Resizer interface {
	Scale(ctx context.Context, kind, region, name string, size int) error
}

// TrafficManager puts server groups into a load balancer's traffic and takes them out, one at a
// time or as a deploy's strategy says.
type TrafficManager interface {
	SetTraffic(ctx context.Context, region, serverGroup, loadBalancer string, enabled bool) error
	ApplyStrategy(ctx context.Context, in TrafficStrategy) (TrafficStrategyResult, error)
}

// Destroyer deletes resources.
type Destroyer interface {
	Delete(ctx context.Context, kind, region, name string, opts DeleteOptions) error
}

// RollbackPlanner chooses the server group a cluster rolls back to and brings it back (StartRollback,
// after which the caller waits until it is healthy), then moves the traffic to it (FinishRollback).
type RollbackPlanner interface {
	StartRollback(ctx context.Context, in RollbackRequest) (RollbackPlan, error)
	FinishRollback(ctx context.Context, plan RollbackPlan) error
}
