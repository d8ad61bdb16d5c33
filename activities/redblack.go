package activities

import (
	"context"

	"github.com/gennaker/gennaker/cloud"
)

// DeployClustersInput is a deploy whose clusters are wanted.
type DeployClustersInput struct {
	Account string              `json:"account"`
	Deploy  cloud.DeployRequest `json:"deploy"`
}

// DeployClustersResult lists the clusters the deploy's workloads belong to, sorted.
type DeployClustersResult struct {
	Clusters []cloud.ClusterRef `json:"clusters"`
}

// DeployClusters names the clusters a deploy will change, so that the stage can hold them while it
// deploys. It reads nothing from the cluster; it needs the account for its default namespace.
func (k *Kubernetes) DeployClusters(_ context.Context, in DeployClustersInput) (DeployClustersResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return DeployClustersResult{}, classify(err)
	}
	clusters, err := p.DeployClusters(in.Deploy)
	if err != nil {
		return DeployClustersResult{}, classify(err)
	}
	return DeployClustersResult{Clusters: clusters}, nil
}

// TrafficStrategyInput moves traffic to a deploy's new server group.
type TrafficStrategyInput struct {
	Account  string                `json:"account"`
	Strategy cloud.TrafficStrategy `json:"strategy"`
}

// TrafficStrategyResult says what moved.
type TrafficStrategyResult struct {
	Result cloud.TrafficStrategyResult `json:"result"`
}

// ApplyTrafficStrategy enables the new server group and disables, scales down or deletes the
// cluster's others as the strategy says; each step can be repeated, so retrying is safe.
func (k *Kubernetes) ApplyTrafficStrategy(ctx context.Context, in TrafficStrategyInput) (TrafficStrategyResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return TrafficStrategyResult{}, classify(err)
	}
	res, err := p.ApplyStrategy(ctx, in.Strategy)
	if err != nil {
		return TrafficStrategyResult{Result: res}, classify(err)
	}
	return TrafficStrategyResult{Result: res}, nil
}

// StartRollbackInput names the cluster to roll back.
type StartRollbackInput struct {
	Account  string                `json:"account"`
	Rollback cloud.RollbackRequest `json:"rollback"`
}

// StartRollbackResult is the rollback under way.
type StartRollbackResult struct {
	Plan cloud.RollbackPlan `json:"plan"`
}

// StartRollback picks the server group to restore and scales it back up.
func (k *Kubernetes) StartRollback(ctx context.Context, in StartRollbackInput) (StartRollbackResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return StartRollbackResult{}, classify(err)
	}
	plan, err := p.StartRollback(ctx, in.Rollback)
	if err != nil {
		return StartRollbackResult{}, classify(err)
	}
	return StartRollbackResult{Plan: plan}, nil
}

// FinishRollbackInput is a rollback whose restored server group is ready.
type FinishRollbackInput struct {
	Account string             `json:"account"`
	Plan    cloud.RollbackPlan `json:"plan"`
}

// FinishRollbackResult is empty: the plan says what was done.
type FinishRollbackResult struct{}

// FinishRollback sends traffic back to the restored server group, then away from the other.
func (k *Kubernetes) FinishRollback(ctx context.Context, in FinishRollbackInput) (FinishRollbackResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return FinishRollbackResult{}, classify(err)
	}
	return FinishRollbackResult{}, classify(p.FinishRollback(ctx, in.Plan))
}

// UndoDeploymentInput is a Deployment whose rollout failed, as the deploy applied it.
type UndoDeploymentInput struct {
	Account string         `json:"account"`
	Object  cloud.Resource `json:"object"`
}

// UndoDeploymentResult is the revision restored (0 when there was none to go back to) and the
// Deployment to wait for.
type UndoDeploymentResult struct {
	Restored int64          `json:"restored"`
	Wait     cloud.Resource `json:"wait"`
}

// UndoDeployment takes a Deployment whose rollout failed back to its previous revision, once: a
// retry finds the Deployment already changed and leaves it alone.
func (k *Kubernetes) UndoDeployment(ctx context.Context, in UndoDeploymentInput) (UndoDeploymentResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return UndoDeploymentResult{}, classify(err)
	}
	restored, wait, err := p.RollBackDeployment(ctx, in.Object.Namespace, in.Object.Name, in.Object.Generation)
	if err != nil {
		return UndoDeploymentResult{}, classify(err)
	}
	return UndoDeploymentResult{Restored: restored, Wait: wait}, nil
}
