package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud/kubernetes"
)

// holderCheckInterval is how often a lock workflow checks that its holder still runs. A holder
// that ends normally releases at once; this only bounds how long a terminated one blocks others.
const holderCheckInterval = time.Minute

// maxLockHistory is the history length after which a lock workflow continues as new, carrying
// its holder and queue, so that a busy cluster's lock never grows an unbounded history.
const maxLockHistory = 2000

// ClusterLock hands one lock to executions one at a time, in the order they asked (see
// activities.Locks). It ends when no one holds or wants the lock; the next request starts it again.
func ClusterLock(ctx workflow.Context, in activities.ClusterLockInput) error {
	st := in.State
	if err := workflow.SetQueryHandler(ctx, activities.QueryLockState, func() (activities.LockState, error) {
		return st, nil
	}); err != nil {
		return err
	}
	acquires := workflow.GetSignalChannel(ctx, activities.SignalLockAcquire)
	releases := workflow.GetSignalChannel(ctx, activities.SignalLockRelease)

	queued := func(token string) bool {
		return (st.Holder != nil && st.Holder.Token == token) ||
			slices.ContainsFunc(st.Queue, func(r activities.LockRequest) bool { return r.Token == token })
	}
	acquire := func(req activities.LockRequest) {
		if !queued(req.Token) {
			st.Queue = append(st.Queue, req)
		}
	}
	release := func(rel activities.LockRelease) {
		if st.Holder != nil && st.Holder.Token == rel.Token {
			st.Holder = nil
			return
		}
		st.Queue = slices.DeleteFunc(st.Queue, func(r activities.LockRequest) bool { return r.Token == rel.Token })
	}
	drain := func() {
		var req activities.LockRequest
		for acquires.ReceiveAsync(&req) {
			acquire(req)
		}
		var rel activities.LockRelease
		for releases.ReceiveAsync(&rel) {
			release(rel)
		}
	}
	checkCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 30 * time.Second},
	})
	// The holder is checked a minute after the last check however often the lock is asked
	// meanwhile: a timer restarted at every signal would let a steady stream of requests put the check
	// off for ever. Runs started before keep their restarted timers, as their histories have them.
	checkDue := workflow.GetVersion(ctx, "holder-check-due", workflow.DefaultVersion, 1) >= 1
	var checkAt time.Time

	for {
		drain()
		for st.Holder == nil && len(st.Queue) > 0 {
			next := st.Queue[0]
			st.Queue = st.Queue[1:]
			// A requester that has ended cannot take the grant; the next one gets the lock.
			if err := workflow.SignalExternalWorkflow(ctx, next.Owner, "", activities.SignalLockGranted, activities.LockGrant{Token: next.Token}).Get(ctx, nil); err == nil {
				st.Holder = &next
			}
		}
		if st.Holder == nil {
			// Signals that came in meanwhile are taken before ending; if any arrive while the
			// workflow completes, Temporal refuses the completion and runs this again with them.
			drain()
			if st.Holder == nil && len(st.Queue) == 0 {
				return nil
			}
			continue
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > maxLockHistory {
			drain()
			return workflow.NewContinueAsNewError(ctx, ClusterLock, activities.ClusterLockInput{State: st})
		}

		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		check := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquires, func(c workflow.ReceiveChannel, _ bool) {
			var req activities.LockRequest
			c.Receive(ctx, &req)
			acquire(req)
		})
		sel.AddReceive(releases, func(c workflow.ReceiveChannel, _ bool) {
			var rel activities.LockRelease
			c.Receive(ctx, &rel)
			release(rel)
		})
		wait := holderCheckInterval
		if checkDue {
			if checkAt.IsZero() {
				checkAt = workflow.Now(ctx).Add(holderCheckInterval)
			}
			wait = max(checkAt.Sub(workflow.Now(ctx)), 0)
		}
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) { check, checkAt = true, time.Time{} })
		sel.Select(ctx)
		cancelTimer()
		if check && st.Holder != nil {
			var locks *activities.Locks
			var res activities.ExecutionRunningResult
			if err := workflow.ExecuteActivity(checkCtx, locks.ExecutionRunning, activities.ExecutionRunningInput{WorkflowID: st.Holder.Owner, RunID: st.Holder.OwnerRunID}).Get(ctx, &res); err == nil && !res.Running {
				st.Holder = nil
			}
		}
	}
}

// lockClusters takes the locks of a deploy's clusters, one after the other in the order given
// (sorted, so two deploys to the same clusters cannot each hold one the other waits for). While
// it waits the stage shows which cluster and who holds it. The returned function releases every
// lock taken; it must be called however the stage ends, and is called here when taking fails. The
// summary, for the stage's outputs, says what was held and how long the stage waited for it.
func (r *interpreter) lockClusters(ctx workflow.Context, st *stageRun, account string, clusters []kubernetes.ClusterRef) (release func(), summary map[string]any, err error) {
	type held struct{ lockID, token string }
	var taken []held
	release = func() {
		// Released even when the stage was cancelled, so the lock does not wait for the check
		// that its holder still runs.
		rctx, _ := workflow.NewDisconnectedContext(ctx)
		for _, h := range taken {
			_ = workflow.SignalExternalWorkflow(rctx, h.lockID, "", activities.SignalLockRelease, activities.LockRelease{Token: h.token}).Get(rctx, nil)
		}
		taken = nil
	}
	// A request still on its way when the stage stops must land before the withdrawal does.
	reqCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	asked := workflow.Now(ctx)
	var names []any
	for _, c := range clusters {
		names = append(names, c.String())
		key := account + "/" + c.Namespace + "/" + c.Cluster
		// The token names the run rather than the execution ID, which replay tools replace.
		h := held{lockID: "gennaker-lock/" + key, token: workflow.GetInfo(ctx).WorkflowExecution.RunID + "/" + st.cfg.RefID + "/" + key}
		// Taken before asking: a request that reached the lock must be withdrawn if the stage stops.
		taken = append(taken, h)
		var locks *activities.Locks
		var res activities.RequestLockResult
		err := workflow.ExecuteActivity(reqCtx, locks.RequestClusterLock, activities.RequestLockInput{
			LockID: h.lockID, Key: key,
			Request: activities.LockRequest{Owner: r.exec.ID, OwnerRunID: workflow.GetInfo(ctx).WorkflowExecution.RunID, Token: h.token, Stage: st.view.Name},
		}).Get(ctx, &res)
		if err == nil && !r.grants[h.token] {
			st.view.WaitingForLock = fmt.Sprintf("waiting to deploy to %s in account %s", c, account)
			if res.Holder != nil {
				st.view.WaitingForLock += fmt.Sprintf(": execution %s (stage %q) is deploying to it", res.Holder.Owner, res.Holder.Stage)
			}
			err = workflow.Await(ctx, func() bool { return r.grants[h.token] })
			st.view.WaitingForLock = ""
		}
		delete(r.grants, h.token)
		if err != nil {
			release()
			return func() {}, nil, err
		}
	}
	if len(clusters) == 0 {
		return release, nil, nil
	}
	now := workflow.Now(ctx)
	return release, map[string]any{"clusters": names, "acquiredAt": now.UnixMilli(), "waitedMs": now.Sub(asked).Milliseconds()}, nil
}
