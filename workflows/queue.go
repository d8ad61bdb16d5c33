package workflows

import (
	"cmp"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// pipelineQueueKind is a semaphore whose capacity and handling of waiters come from the newest
// request, and whose waiters are ordered by when their executions were asked for, not by when
// their requests arrived.
var pipelineQueueKind = &semaphoreKind[activities.QueueRequest]{
	acquire:    activities.SignalQueueJoin,
	release:    activities.SignalQueueLeave,
	granted:    activities.SignalQueueAdmitted,
	superseded: activities.SignalQueueSuperseded,
	ticket: func(r activities.QueueRequest) ticket {
		return ticket{owner: r.Owner, ownerRunID: r.OwnerRunID, token: r.Token}
	},
	settings: func(r activities.QueueRequest) (int, bool) { return max(r.Capacity, 1), !r.KeepWaiting },
	compare: func(a, b activities.QueueRequest) int {
		return cmp.Or(cmp.Compare(a.BuildTime, b.BuildTime), cmp.Compare(a.Owner, b.Owner))
	},
}

// PipelineQueue admits a pipeline's executions, at most Capacity at once, in the order they were
// asked for (see activities.JoinPipelineQueue). With KeepWaiting false, a freed place goes to the
// newest waiting execution and the others are told they were superseded. It ends when no execution
// runs or waits; the next one to join starts it again.
func PipelineQueue(ctx workflow.Context, in activities.PipelineQueueInput) error {
	s := &semaphore[activities.QueueRequest]{kind: pipelineQueueKind, capacity: in.State.Capacity,
		supersede: !in.State.KeepWaiting, holding: in.State.Running, waiting: in.State.Waiting}
	state := func() activities.QueueState {
		return activities.QueueState{Key: in.State.Key, Capacity: s.capacity, KeepWaiting: !s.supersede,
			Running: s.holding, Waiting: s.waiting}
	}
	if err := workflow.SetQueryHandler(ctx, activities.QuerySemaphoreState, func() (activities.QueueState, error) {
		return state(), nil
	}); err != nil {
		return err
	}
	return s.run(ctx, func() error {
		return workflow.NewContinueAsNewError(ctx, activities.PipelineQueueWorkflow, activities.PipelineQueueInput{State: state()})
	})
}

// versionConcurrency marks executions of limitConcurrent pipelines that wait for their turn.
const versionConcurrency = "concurrency"

// queueTurn is an execution's place in its pipeline's queue.
type queueTurn struct {
	seat
	// admitted is set once the execution may run.
	admitted bool
}

// usesQueue reports whether the execution waits for its turn: its pipeline limits concurrent
// executions and it was started by a release that knows how.
func (r *interpreter) usesQueue() bool {
	return r.in.Pipeline.LimitConcurrent && workflow.GetVersion(r.ctx, versionConcurrency, workflow.DefaultVersion, 1) >= 1
}

// queueID names a pipeline's queue workflow.
func queueID(p pipeline.Pipeline) string {
	key := p.ID
	if key == "" {
		key = p.Application + "/" + p.Name
	}
	return activities.PipelineQueueID(key)
}

// waitForTurn joins the pipeline's queue and waits until the execution may run. It reports false
// when the execution will not run: superseded by a newer one, or cancelled while it waited.
func (r *interpreter) waitForTurn() bool {
	p := r.in.Pipeline
	info := workflow.GetInfo(r.ctx)
	turn := &queueTurn{seat: seat{semaphoreID: queueID(p), releaseSignal: activities.SignalQueueLeave, token: info.WorkflowExecution.RunID}}
	r.turn = turn
	admitted := workflow.GetSignalChannel(r.ctx, activities.SignalQueueAdmitted)
	superseded := workflow.GetSignalChannel(r.ctx, activities.SignalQueueSuperseded)
	cancels := workflow.GetSignalChannel(r.ctx, SignalCancel)

	capacity := p.MaxConcurrentExecutions
	if capacity <= 0 {
		capacity = 1
	}
	var locks *activities.Locks
	var joined activities.JoinQueueResult
	joinFuture := turn.ask(r.ctx, locks.JoinPipelineQueue, activities.JoinQueueInput{
		QueueID: turn.semaphoreID, Key: p.Application + "/" + p.Name,
		Request: activities.QueueRequest{Owner: r.exec.ID, OwnerRunID: info.WorkflowExecution.RunID, Token: turn.token,
			BuildTime: r.exec.BuildTime, Capacity: capacity, KeepWaiting: p.KeepWaitingPipelines},
	})
	r.exec.WaitingFor = fmt.Sprintf("its turn: %s/%s runs %d execution(s) at a time (limitConcurrent)", p.Application, p.Name, capacity)
	r.publishStatus()

	proceed := false
	for !turn.admitted && !r.cancelled {
		sel := workflow.NewSelector(r.ctx)
		if joinFuture != nil {
			sel.AddFuture(joinFuture, func(f workflow.Future) {
				joinFuture = nil
				if err := f.Get(r.ctx, &joined); err != nil {
					r.cancel(CancelSignal{User: "gennaker", Reason: "the pipeline's queue could not be joined: " + describeError(err)})
					return
				}
				if len(joined.Running) > 0 {
					r.exec.WaitingFor = fmt.Sprintf("its turn: execution %s of %s/%s is running (limitConcurrent, %d at a time)",
						joined.Running[0], p.Application, p.Name, capacity)
				}
			})
		}
		sel.AddReceive(admitted, func(c workflow.ReceiveChannel, _ bool) {
			var a activities.QueueAdmission
			c.Receive(r.ctx, &a)
			if a.Token == turn.token {
				turn.admitted = true
			}
		})
		sel.AddReceive(superseded, func(c workflow.ReceiveChannel, _ bool) {
			var s activities.QueueSupersession
			c.Receive(r.ctx, &s)
			if s.Token == turn.token {
				turn.released = true // the queue already dropped it
				r.cancel(CancelSignal{User: "gennaker", Reason: fmt.Sprintf("superseded by the newer execution %s (keepWaitingPipelines is false)", s.By)})
			}
		})
		sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
			var sig CancelSignal
			c.Receive(r.ctx, &sig)
			r.cancel(sig)
		})
		sel.AddReceive(r.ctx.Done(), func(workflow.ReceiveChannel, bool) {
			var sig CancelSignal
			if !cancels.ReceiveAsync(&sig) {
				sig = CancelSignal{Reason: "the workflow was cancelled in Temporal"}
			}
			r.cancel(sig)
		})
		sel.Select(r.ctx)
	}
	if joinFuture != nil {
		// Cancelled before the join landed: it must land before the withdrawal.
		_ = joinFuture.Get(r.ctx, nil)
	}
	proceed = turn.admitted && !r.cancelled
	r.exec.WaitingFor = ""
	return proceed
}

// leaveQueue gives the execution's place back, or withdraws its request; it is called once it ends.
func (r *interpreter) leaveQueue() {
	if r.turn != nil {
		r.turn.release(r.ctx)
	}
}
