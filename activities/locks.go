package activities

import (
	"context"
	"errors"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// A cluster lock keeps two executions from deploying to the same cluster at once. Each lock is a
// workflow of its own (ClusterLockWorkflow, with the lock's key in its ID) that hands the lock to
// one execution at a time, in the order asked: an execution asks through RequestClusterLock, the
// lock workflow signals it (SignalLockGranted) when its turn comes, and the execution signals the
// lock workflow (SignalLockRelease) when done. Both sides are durable, so a lock outlives workers
// and restarts; a holder that ends without releasing is noticed and passed over.

// Names of the lock workflow and its signals and query.
const (
	ClusterLockWorkflow = "ClusterLock"
	// SignalLockAcquire queues a LockRequest at the lock workflow.
	SignalLockAcquire = "acquire"
	// SignalLockRelease (LockRelease) releases the lock or withdraws a queued request.
	SignalLockRelease = "release"
	// SignalLockGranted (LockGrant) tells an execution its request holds the lock.
	SignalLockGranted = "clusterLockGranted"
	// QueryLockState returns the lock's LockState.
	QueryLockState = "state"
)

// LockRequest is one execution's request for a lock.
type LockRequest struct {
	// Owner is the workflow ID of the requesting execution, which the grant is signalled to.
	Owner string `json:"owner"`
	// OwnerRunID is the run that asked: after a reset of the execution, the run that holds the
	// lock has ended even though the execution runs on.
	OwnerRunID string `json:"ownerRunId,omitempty"`
	// Token tells this request apart from the owner's others; it is also the release's.
	Token string `json:"token"`
	// Stage names the requesting stage, for people looking at who holds what.
	Stage string `json:"stage,omitempty"`
}

// LockRelease releases a lock held, or withdraws a request queued, under a token.
type LockRelease struct {
	Token string `json:"token"`
}

// LockGrant tells an execution that the request with this token holds the lock.
type LockGrant struct {
	Token string `json:"token"`
}

// LockState is who holds a lock and who waits for it.
type LockState struct {
	Key    string        `json:"key"`
	Holder *LockRequest  `json:"holder,omitempty"`
	Queue  []LockRequest `json:"queue,omitempty"`
}

// ClusterLockInput starts, or continues as new, a lock workflow.
type ClusterLockInput struct {
	State LockState `json:"state"`
}

// Locks asks lock workflows for locks on behalf of executions.
type Locks struct {
	Client client.Client
}

// RequestLockInput asks for the lock whose workflow has this ID.
type RequestLockInput struct {
	LockID  string      `json:"lockId"`
	Key     string      `json:"key"`
	Request LockRequest `json:"request"`
}

// RequestLockResult says who held the lock when the request was queued, if anyone.
type RequestLockResult struct {
	Holder *LockRequest `json:"holder,omitempty"`
}

// RequestClusterLock queues a request at the lock workflow, starting the workflow if no one holds
// the lock. Asking twice with the same token queues it once.
func (l *Locks) RequestClusterLock(ctx context.Context, in RequestLockInput) (RequestLockResult, error) {
	opts := client.StartWorkflowOptions{
		ID:                    in.LockID,
		TaskQueue:             activity.GetInfo(ctx).TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
	if _, err := l.Client.SignalWithStartWorkflow(ctx, in.LockID, SignalLockAcquire, in.Request, opts,
		ClusterLockWorkflow, ClusterLockInput{State: LockState{Key: in.Key}}); err != nil {
		return RequestLockResult{}, err
	}
	// Who holds the lock is only shown to people, so a failed query is no failure.
	v, err := l.Client.QueryWorkflow(ctx, in.LockID, "", QueryLockState)
	if err != nil {
		return RequestLockResult{}, nil
	}
	var st LockState
	if v.Get(&st) != nil || st.Holder == nil || st.Holder.Token == in.Request.Token {
		return RequestLockResult{}, nil
	}
	return RequestLockResult{Holder: st.Holder}, nil
}

// ExecutionRunningInput names an execution.
type ExecutionRunningInput struct {
	WorkflowID string `json:"workflowId"`
	// RunID, when set, asks about that run rather than the execution's latest.
	RunID string `json:"runId,omitempty"`
}

// ExecutionRunningResult says whether it still runs.
type ExecutionRunningResult struct {
	Running bool `json:"running"`
}

// ExecutionRunning tells a lock workflow whether its holder still runs, so a holder terminated
// without releasing does not keep the lock for ever.
func (l *Locks) ExecutionRunning(ctx context.Context, in ExecutionRunningInput) (ExecutionRunningResult, error) {
	d, err := l.Client.DescribeWorkflowExecution(ctx, in.WorkflowID, in.RunID)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return ExecutionRunningResult{}, nil
	}
	if err != nil {
		return ExecutionRunningResult{}, err
	}
	return ExecutionRunningResult{Running: d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING}, nil
}
