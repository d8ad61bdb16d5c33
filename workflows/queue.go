package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// PipelineQueue admits a pipeline's executions, at most Capacity at once, in the order they were
// asked for (see activities.JoinPipelineQueue). With KeepWaiting false, a freed place goes to the
// newest waiting execution and the others are told they were superseded. It ends when no execution
// runs or waits; the next one to join starts it again.
func PipelineQueue(ctx workflow.Context, in activities.PipelineQueueInput) error {
	st := in.State
	if err := workflow.SetQueryHandler(ctx, activities.QueryQueueState, func() (activities.QueueState, error) {
		return st, nil
	}); err != nil {
		return err
	}
	joins := workflow.GetSignalChannel(ctx, activities.SignalQueueJoin)
	leaves := workflow.GetSignalChannel(ctx, activities.SignalQueueLeave)

	has := func(list []activities.QueueRequest, token string) bool {
		return slices.ContainsFunc(list, func(r activities.QueueRequest) bool { return r.Token == token })
	}
	join := func(req activities.QueueRequest) {
		st.Capacity, st.KeepWaiting = max(req.Capacity, 1), req.KeepWaiting
		if has(st.Running, req.Token) || has(st.Waiting, req.Token) {
			return
		}
		st.Waiting = append(st.Waiting, req)
		// Ordered by when the executions were asked for, not by when their requests arrived.
		slices.SortStableFunc(st.Waiting, func(a, b activities.QueueRequest) int {
			return cmp.Or(cmp.Compare(a.BuildTime, b.BuildTime), cmp.Compare(a.Owner, b.Owner))
		})
	}
	leave := func(l activities.QueueLeave) {
		drop := func(r activities.QueueRequest) bool { return r.Token == l.Token }
		st.Running = slices.DeleteFunc(st.Running, drop)
		st.Waiting = slices.DeleteFunc(st.Waiting, drop)
	}
	drain := func() {
		var req activities.QueueRequest
		for joins.ReceiveAsync(&req) {
			join(req)
		}
		var l activities.QueueLeave
		for leaves.ReceiveAsync(&l) {
			leave(l)
		}
	}
	admit := func() {
		for len(st.Running) < max(st.Capacity, 1) && len(st.Waiting) > 0 {
			next := st.Waiting[0]
			if !st.KeepWaiting {
				next = st.Waiting[len(st.Waiting)-1]
				for _, old := range st.Waiting[:len(st.Waiting)-1] {
					// An execution that has ended meanwhile cannot be told; that is no failure.
					_ = workflow.SignalExternalWorkflow(ctx, old.Owner, "", activities.SignalQueueSuperseded,
						activities.QueueSupersession{Token: old.Token, By: next.Owner}).Get(ctx, nil)
				}
				st.Waiting = nil
			} else {
				st.Waiting = st.Waiting[1:]
			}
			// An execution that has ended cannot run; the place goes to the next.
			if err := workflow.SignalExternalWorkflow(ctx, next.Owner, "", activities.SignalQueueAdmitted,
				activities.QueueAdmission{Token: next.Token}).Get(ctx, nil); err == nil {
				st.Running = append(st.Running, next)
			}
		}
	}
	checkCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 30 * time.Second},
	})
	var checkAt time.Time
	for {
		drain()
		admit()
		if len(st.Running) == 0 && len(st.Waiting) == 0 {
			// Signals that came in meanwhile are taken before ending; if any arrive while the
			// workflow completes, Temporal refuses the completion and runs this again with them.
			drain()
			if len(st.Running) == 0 && len(st.Waiting) == 0 {
				return nil
			}
			continue
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > maxLockHistory {
			drain()
			return workflow.NewContinueAsNewError(ctx, PipelineQueue, activities.PipelineQueueInput{State: st})
		}
		// Running executions are checked a minute apart, so one terminated without leaving
		// does not keep its place for ever.
		if checkAt.IsZero() {
			checkAt = workflow.Now(ctx).Add(holderCheckInterval)
		}
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		check := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(joins, func(c workflow.ReceiveChannel, _ bool) {
			var req activities.QueueRequest
			c.Receive(ctx, &req)
			join(req)
		})
		sel.AddReceive(leaves, func(c workflow.ReceiveChannel, _ bool) {
			var l activities.QueueLeave
			c.Receive(ctx, &l)
			leave(l)
		})
		sel.AddFuture(workflow.NewTimer(timerCtx, max(checkAt.Sub(workflow.Now(ctx)), 0)), func(workflow.Future) { check, checkAt = true, time.Time{} })
		sel.Select(ctx)
		cancelTimer()
		if !check {
			continue
		}
		for _, run := range slices.Clone(st.Running) {
			var locks *activities.Locks
			var res activities.ExecutionRunningResult
			err := workflow.ExecuteActivity(checkCtx, locks.ExecutionRunning, activities.ExecutionRunningInput{WorkflowID: run.Owner, RunID: run.OwnerRunID}).Get(ctx, &res)
			if err == nil && !res.Running {
				leave(activities.QueueLeave{Token: run.Token})
			}
		}
	}
}

// versionConcurrency marks executions of limitConcurrent pipelines that wait for their turn.
const versionConcurrency = "concurrency"

// queueTurn is an execution's place in its pipeline's queue.
type queueTurn struct {
	queueID, token string
	// admitted is set once the execution may run; left once it gave its place back.
	admitted, left bool
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
	return "gennaker-queue/" + key
}

// waitForTurn joins the pipeline's queue and waits until the execution may run. It reports false
// when the execution will not run: superseded by a newer one, or cancelled while it waited.
func (r *interpreter) waitForTurn() bool {
	p := r.in.Pipeline
	info := workflow.GetInfo(r.ctx)
	turn := &queueTurn{queueID: queueID(p), token: info.WorkflowExecution.RunID}
	r.turn = turn
	admitted := workflow.GetSignalChannel(r.ctx, activities.SignalQueueAdmitted)
	superseded := workflow.GetSignalChannel(r.ctx, activities.SignalQueueSuperseded)
	cancels := workflow.GetSignalChannel(r.ctx, SignalCancel)

	capacity := p.MaxConcurrentExecutions
	if capacity <= 0 {
		capacity = 1
	}
	// The join still on its way when the execution is cancelled must land before the withdrawal.
	joinCtx := workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	var locks *activities.Locks
	var joined activities.JoinQueueResult
	joinFuture := workflow.ExecuteActivity(joinCtx, locks.JoinPipelineQueue, activities.JoinQueueInput{
		QueueID: turn.queueID, Key: p.Application + "/" + p.Name,
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
				turn.left = true // the queue already dropped it
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
	turn := r.turn
	if turn == nil || turn.left {
		return
	}
	turn.left = true
	ctx, _ := workflow.NewDisconnectedContext(r.ctx)
	_ = workflow.SignalExternalWorkflow(ctx, turn.queueID, "", activities.SignalQueueLeave, activities.QueueLeave{Token: turn.token}).Get(ctx, nil)
}
