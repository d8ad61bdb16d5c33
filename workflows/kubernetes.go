package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud/kubernetes"
)

// defaultRolloutTimeout bounds the wait for a deploy's rollout when the stage sets no stageTimeoutMs.
const defaultRolloutTimeout = 30 * time.Minute

// runDeployManifest applies the stage's manifests to its account and waits until every one of them
// has really rolled out: Deployments available, Jobs complete, claims bound.
func runDeployManifest(ctx workflow.Context, r *interpreter, st *stageRun, sc map[string]any) (map[string]any, error) {
	account, _ := sc["account"].(string)
	manifests, _ := sc["manifests"].([]any)
	if account == "" || len(manifests) == 0 {
		return nil, failf("deployManifest needs an account and at least one manifest")
	}
	namespace, _ := sc["namespaceOverride"].(string)
	deployCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		// A retry after a crash re-applies the same versions, so retrying is safe.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	var k8s *activities.Kubernetes
	var deployed activities.DeployManifestResult
	err := workflow.ExecuteActivity(deployCtx, k8s.DeployManifest, activities.DeployManifestInput{
		Account: account,
		Deploy: kubernetes.DeployInput{
			Manifests:         manifests,
			Application:       r.exec.Application,
			NamespaceOverride: namespace,
			ExecutionID:       r.exec.ID,
			StageRefID:        st.cfg.RefID,
		},
	}).Get(ctx, &deployed)
	if err != nil {
		return nil, err
	}
	outputs := deployOutputs(account, deployed.Result)

	limit := defaultRolloutTimeout
	if t := stageTimeout(st.cfg); t > 0 {
		limit = t
	}
	waitCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    limit,
		ScheduleToCloseTimeout: limit,
		HeartbeatTimeout:       time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var waited activities.WaitForManifestsResult
	if err := workflow.ExecuteActivity(waitCtx, k8s.WaitForManifests, activities.WaitForManifestsInput{
		Account: account,
		Objects: deployed.Result.Applied,
	}).Get(ctx, &waited); err != nil {
		return outputs, err
	}
	return outputs, nil
}

// deployOutputs are Spinnaker's outputs of a deploy: what was deployed, by namespace.
func deployOutputs(account string, res kubernetes.DeployResult) map[string]any {
	byNamespace := map[string]any{}
	deployed := make([]any, 0, len(res.Deployed))
	for _, d := range res.Deployed {
		names, _ := byNamespace[d.Namespace].([]any)
		byNamespace[d.Namespace] = append(names, d.FullName())
		deployed = append(deployed, map[string]any{
			"kind": d.Kind, "namespace": d.Namespace, "name": d.Name, "version": d.Version,
		})
	}
	out := map[string]any{
		"deploy.account.name":      account,
		"manifestNamesByNamespace": byNamespace,
		"deployedManifests":        deployed,
	}
	if len(res.BoundArtifacts) > 0 {
		out["boundArtifacts"] = res.BoundArtifacts
	}
	if len(res.CreatedArtifacts) > 0 {
		out["createdArtifacts"] = res.CreatedArtifacts
	}
	return out
}
