package activities

import (
	"context"
	"errors"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// Cluster locks and pipeline queues are durable semaphores. Each is a workflow of its own, with
// what it guards in its ID, that hands a limited number of places to executions in turn: an
// execution asks through an activity that signals the semaphore, starting it when it is not
// running (RequestClusterLock, JoinPipelineQueue); the semaphore signals the execution when its
// turn comes, and the execution signals the semaphore when it is done, or to withdraw a request
// still waiting. Both sides are durable, so places outlive workers and restarts; a holder that
// ends without giving its place back is noticed (ExecutionRunning) and passed over.
//
// A cluster lock (ClusterLockWorkflow) keeps two executions from deploying to the same cluster at
// once: one place, given in the order asked. A pipeline queue (PipelineQueueWorkflow) runs at most
// maxConcurrentExecutions executions of a limitConcurrent pipeline at once, in the order they were
// asked for; with keepWaitingPipelines false a freed place goes to the newest waiting execution and
// the others are told that it superseded them.
//
// Executions already running reach these workflows by the names, IDs and payload shapes below:
// they must not change.

// QuerySemaphoreState returns a semaphore's state: a LockState or a QueueState.
const QuerySemaphoreState = "state"

// Names of the cluster lock workflow and its signals.
const (
	ClusterLockWorkflow = "ClusterLock"
	// SignalLockAcquire queues a LockRequest at the lock workflow.
	SignalLockAcquire = "acquire"
	// SignalLockRelease (LockRelease) releases the lock or withdraws a queued request.
	SignalLockRelease = "release"
	// SignalLockGranted (LockGrant) tells an execution its request holds the lock.
	SignalLockGranted = "clusterLockGranted"
)

// Names of the pipeline queue workflow and its signals.
const (
	PipelineQueueWorkflow = "PipelineQueue"
	// SignalQueueJoin (QueueRequest) puts an execution in the queue.
	SignalQueueJoin = "queueJoin"
	// SignalQueueLeave (QueueLeave) frees a running execution's place, or withdraws a waiting one.
	SignalQueueLeave = "queueLeave"
	// SignalQueueAdmitted (QueueAdmission) tells an execution it may run.
	SignalQueueAdmitted = "queueAdmitted"
	// SignalQueueSuperseded (QueueSupersession) tells a waiting execution a newer one runs instead.
	SignalQueueSuperseded = "queueSuperseded"
)

// ClusterLockID is the workflow ID of the lock on a cluster, keyed account/namespace/cluster.
func ClusterLockID(key string) string { return "gennaker-lock/" + key }

// PipelineQueueID is the workflow ID of a pipeline's queue, keyed by the pipeline's ID, or
// application/name when it has none.
func PipelineQueueID(key string) string { return "gennaker-queue/" + key }

// SemaphoreToken names one request in a signal about it: the grant of a place, the release of a
// place held, or the withdrawal of a request still waiting.
type SemaphoreToken struct {
	Token string `json:"token"`
}

// LockGrant tells an execution that the request with this token holds the lock.
type LockGrant = SemaphoreToken

// LockRelease releases a lock held, or withdraws a request queued, under a token.
type LockRelease = SemaphoreToken

// QueueAdmission lets a waiting execution run.
type QueueAdmission = SemaphoreToken

// QueueLeave frees a place or withdraws a request.
type QueueLeave = SemaphoreToken

// QueueSupersession tells a waiting execution that it will not run: By runs instead.
type QueueSupersession struct {
	Token string `json:"token"`
	By    string `json:"by"`
}

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

// QueueRequest is one execution asking to run.
type QueueRequest struct {
	// Owner is the execution's workflow ID; OwnerRunID the run that asked.
	Owner      string `json:"owner"`
	OwnerRunID string `json:"ownerRunId,omitempty"`
	// Token tells this request apart; the leave names it.
	Token string `json:"token"`
	// BuildTime is when the execution was asked for, in Unix milliseconds: the queue's order.
	BuildTime int64 `json:"buildTime"`
	// Capacity and KeepWaiting are the pipeline's settings when the execution started; the newest
	// request's apply to the queue.
	Capacity    int  `json:"capacity"`
	KeepWaiting bool `json:"keepWaiting"`
}

// QueueState is who runs and who waits.
type QueueState struct {
	Key         string         `json:"key"`
	Capacity    int            `json:"capacity"`
	KeepWaiting bool           `json:"keepWaiting"`
	Running     []QueueRequest `json:"running,omitempty"`
	Waiting     []QueueRequest `json:"waiting,omitempty"`
}

// PipelineQueueInput starts, or continues as new, a queue workflow.
type PipelineQueueInput struct {
	State QueueState `json:"state"`
}

// Locks asks semaphore workflows for places on behalf of executions.
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
	var st LockState
	read, err := l.enter(ctx, in.LockID, SignalLockAcquire, in.Request,
		ClusterLockWorkflow, ClusterLockInput{State: LockState{Key: in.Key}}, &st)
	if err != nil || !read || st.Holder == nil || st.Holder.Token == in.Request.Token {
		return RequestLockResult{}, err
	}
	return RequestLockResult{Holder: st.Holder}, nil
}

// JoinQueueInput asks to join the queue whose workflow has this ID.
type JoinQueueInput struct {
	QueueID string       `json:"queueId"`
	Key     string       `json:"key"`
	Request QueueRequest `json:"request"`
}

// JoinQueueResult says who ran when the request joined, for people reading why it waits.
type JoinQueueResult struct {
	Running []string `json:"running,omitempty"`
	Waiting int      `json:"waiting,omitempty"`
}

// JoinPipelineQueue puts an execution in its pipeline's queue, starting the queue workflow when it
// is not running. Joining twice with the same token queues once.
func (l *Locks) JoinPipelineQueue(ctx context.Context, in JoinQueueInput) (JoinQueueResult, error) {
	var st QueueState
	read, err := l.enter(ctx, in.QueueID, SignalQueueJoin, in.Request,
		PipelineQueueWorkflow, PipelineQueueInput{State: QueueState{Key: in.Key}}, &st)
	if err != nil || !read {
		return JoinQueueResult{}, err
	}
	var res JoinQueueResult
	for _, r := range st.Running {
		if r.Token != in.Request.Token {
			res.Running = append(res.Running, r.Owner)
		}
	}
	res.Waiting = len(st.Waiting)
	return res, nil
}

// enter signals a request to the semaphore workflow with this ID, starting it with start when it
// is not running, and then reads the semaphore's state into state. It reports whether the state
// was read: the state is only shown to people, so a failed read is no failure.
func (l *Locks) enter(ctx context.Context, id, signal string, request any, workflowType string, start, state any) (read bool, err error) {
	opts := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             activity.GetInfo(ctx).TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
	if _, err := l.Client.SignalWithStartWorkflow(ctx, id, signal, request, opts, workflowType, start); err != nil {
		return false, err
	}
	v, err := l.Client.QueryWorkflow(ctx, id, "", QuerySemaphoreState)
	if err != nil {
		return false, nil
	}
	return v.Get(state) == nil, nil
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

// ExecutionRunning tells a semaphore workflow whether a holder still runs, so a holder terminated
// without giving its place back does not keep it for ever.
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
