package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
)

// versionHolderCheckDue marks lock workflows whose holder check falls due a minute after the last
// one, rather than a minute after the last signal.
const versionHolderCheckDue = "holder-check-due"

// clusterLockKind is a semaphore of one place, given in the order asked.
var clusterLockKind = &semaphoreKind[activities.LockRequest]{
	acquire: activities.SignalLockAcquire,
	release: activities.SignalLockRelease,
	granted: activities.SignalLockGranted,
	ticket: func(r activities.LockRequest) ticket {
		return ticket{owner: r.Owner, ownerRunID: r.OwnerRunID, token: r.Token}
	},
}

// ClusterLock hands one lock to executions one at a time, in the order they asked (see
// activities.Locks). It ends when no one holds or wants the lock; the next request starts it again.
func ClusterLock(ctx workflow.Context, in activities.ClusterLockInput) error {
	s := &semaphore[activities.LockRequest]{kind: clusterLockKind, capacity: 1, waiting: in.State.Queue}
	if in.State.Holder != nil {
		s.holding = []activities.LockRequest{*in.State.Holder}
	}
	state := func() activities.LockState {
		st := activities.LockState{Key: in.State.Key, Queue: s.waiting}
		if len(s.holding) > 0 {
			st.Holder = &s.holding[0]
		}
		return st
	}
	if err := workflow.SetQueryHandler(ctx, activities.QuerySemaphoreState, func() (activities.LockState, error) {
		return state(), nil
	}); err != nil {
		return err
	}
	// Runs started before the holder's check fell due a minute after the last one keep their
	// timers restarted at every signal, as their histories have them.
	s.restartCheck = workflow.GetVersion(ctx, versionHolderCheckDue, workflow.DefaultVersion, 1) < 1
	return s.run(ctx, func() error {
		return workflow.NewContinueAsNewError(ctx, activities.ClusterLockWorkflow, activities.ClusterLockInput{State: state()})
	})
}

// lockClusters takes the locks of a deploy's clusters, one after the other in the order given
// (sorted, so two deploys to the same clusters cannot each hold one the other waits for). While
// it waits the stage shows which cluster and who holds it. The returned function releases every
// lock taken; it must be called however the stage ends, and is called here when taking fails. The
// summary, for the stage's outputs, says what was held and how long the stage waited for it.
func (r *interpreter) lockClusters(ctx workflow.Context, st *stageRun, account string, clusters []cloud.ClusterRef) (release func(), summary map[string]any, err error) {
	var taken []*seat
	release = func() {
		for _, t := range taken {
			t.release(ctx)
		}
		if summary != nil && len(taken) > 0 {
			summary["releasedAt"] = workflow.Now(ctx).UnixMilli()
		}
		taken = nil
	}
	asked := workflow.Now(ctx)
	var names []any
	for _, c := range clusters {
		names = append(names, c.String())
		key := account + "/" + c.Region + "/" + c.Cluster
		// The token names the run rather than the execution ID, which replay tools replace.
		runID := workflow.GetInfo(ctx).WorkflowExecution.RunID
		lock := &seat{semaphoreID: activities.ClusterLockID(key), releaseSignal: activities.SignalLockRelease, token: runID + "/" + st.cfg.RefID + "/" + key}
		// Taken before asking: a request that reached the lock must be withdrawn if the stage stops.
		taken = append(taken, lock)
		var locks *activities.Locks
		var res activities.RequestLockResult
		err := lock.ask(ctx, locks.RequestClusterLock, activities.RequestLockInput{
			LockID: lock.semaphoreID, Key: key,
			Request: activities.LockRequest{Owner: r.exec.ID, OwnerRunID: runID, Token: lock.token, Stage: st.view.Name},
		}).Get(ctx, &res)
		if err == nil && !r.grants[lock.token] {
			st.view.WaitingForLock = fmt.Sprintf("waiting to deploy to %s in account %s", c, account)
			if res.Holder != nil {
				st.view.WaitingForLock += fmt.Sprintf(": execution %s (stage %q) is deploying to it", res.Holder.Owner, res.Holder.Stage)
			}
			err = workflow.Await(ctx, func() bool { return r.grants[lock.token] })
			st.view.WaitingForLock = ""
		}
		delete(r.grants, lock.token)
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
