package activities

import (
	"context"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// A pipeline with limitConcurrent runs at most maxConcurrentExecutions executions at once (one
// when it is not set); the others wait in order. Each such pipeline has a queue workflow of its own
// (PipelineQueueWorkflow, the pipeline in its ID): an execution joins it (JoinPipelineQueue) before
// running any stage, the queue signals it when its turn comes (SignalQueueAdmitted), or tells it
// that a newer execution took its place (SignalQueueSuperseded) when keepWaitingPipelines is false,
// and the execution leaves the queue when it ends (SignalQueueLeave). Both sides are durable, so the
// limit holds across API replicas, worker crashes and restarts.

// Names of the queue workflow and its signals and query.
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
	// QueryQueueState returns the queue's QueueState.
	QueryQueueState = "state"
)

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

// QueueLeave frees a place or withdraws a request.
type QueueLeave struct {
	Token string `json:"token"`
}

// QueueAdmission lets a waiting execution run.
type QueueAdmission struct {
	Token string `json:"token"`
}

// QueueSupersession tells a waiting execution that it will not run: By runs instead.
type QueueSupersession struct {
	Token string `json:"token"`
	By    string `json:"by"`
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
	opts := client.StartWorkflowOptions{
		ID:                    in.QueueID,
		TaskQueue:             activity.GetInfo(ctx).TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
	if _, err := l.Client.SignalWithStartWorkflow(ctx, in.QueueID, SignalQueueJoin, in.Request, opts,
		PipelineQueueWorkflow, PipelineQueueInput{State: QueueState{Key: in.Key}}); err != nil {
		return JoinQueueResult{}, err
	}
	// Who runs is only shown to people, so a failed query is no failure.
	v, err := l.Client.QueryWorkflow(ctx, in.QueueID, "", QueryQueueState)
	if err != nil {
		return JoinQueueResult{}, nil
	}
	var st QueueState
	if v.Get(&st) != nil {
		return JoinQueueResult{}, nil
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
