package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
)

// holderCheckInterval is how often a semaphore checks that its holders still run. A holder that
// ends normally gives its place back at once; this only bounds how long a terminated one blocks
// others.
const holderCheckInterval = time.Minute

// maxSemaphoreHistory is the history length after which a semaphore continues as new, carrying its
// holders and waiters, so that a busy cluster's lock or pipeline's queue never grows an unbounded
// history.
const maxSemaphoreHistory = 2000

// semaphore is the state and the loop of a durable semaphore workflow (see activities.Locks): up to
// capacity requests hold a place, the others wait in turn. The cluster lock and the pipeline queue
// are both one, set apart by their semaphoreKind. A kind's requests are of type R, the payload
// its acquiring signal carries.
type semaphore[R any] struct {
	kind *semaphoreKind[R]
	// capacity is how many requests may hold a place at once; below one counts as one.
	capacity int
	// supersede gives a freed place to the newest waiting request rather than the first, and tells
	// the others that it took their place.
	supersede bool
	// restartCheck puts the check of holders off a full interval after every signal, as runs
	// started before the check fell due on time do (see ClusterLock).
	restartCheck bool
	holding      []R // in the order they were granted
	waiting      []R // in turn order
}

// semaphoreKind is what sets one kind of semaphore apart from another: the signals it is reached
// by, what it reads from a request, and in which order requests wait.
type semaphoreKind[R any] struct {
	// acquire brings a request (R); release (activities.SemaphoreToken) gives a place back or
	// withdraws a request.
	acquire, release string
	// granted (activities.SemaphoreToken) tells an owner its request holds a place; superseded
	// (activities.QueueSupersession) that another took its place.
	granted, superseded string
	// ticket says who made a request and under which token.
	ticket func(R) ticket
	// settings, when set, gives the semaphore's capacity and supersede from each request as it
	// arrives: the newest request's settings apply.
	settings func(R) (capacity int, supersede bool)
	// compare orders the waiting requests; nil keeps them in the order they arrived.
	compare func(a, b R) int
}

// ticket is who made a request to a semaphore, and the token that tells the request apart.
type ticket struct {
	owner, ownerRunID, token string
}

// run hands out the semaphore's places until no one holds or wants one, and then ends; the next
// request starts the workflow again. Past maxSemaphoreHistory it returns continueAsNew's error,
// which carries the state on.
func (s *semaphore[R]) run(ctx workflow.Context, continueAsNew func() error) error {
	requests := workflow.GetSignalChannel(ctx, s.kind.acquire)
	releases := workflow.GetSignalChannel(ctx, s.kind.release)
	// Each payload is decoded into a value of its own: decoding into the last one would keep
	// the fields a request leaves out from the request before.
	drain := func() {
		for {
			var req R
			if !requests.ReceiveAsync(&req) {
				break
			}
			s.arrive(req)
		}
		for {
			var rel activities.SemaphoreToken
			if !releases.ReceiveAsync(&rel) {
				break
			}
			s.leave(rel.Token)
		}
	}
	checkCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 30 * time.Second},
	})
	// The holders are checked a minute after the last check however often the semaphore is asked
	// meanwhile: a timer restarted at every signal would let a steady stream of requests put the
	// check off for ever.
	var checkAt time.Time

	for {
		drain()
		s.grant(ctx)
		if s.idle() {
			// Signals that came in meanwhile are taken before ending; if any arrive while the
			// workflow completes, Temporal refuses the completion and runs this again with them.
			drain()
			if s.idle() {
				return nil
			}
			continue
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > maxSemaphoreHistory {
			drain()
			return continueAsNew()
		}

		wait := holderCheckInterval
		if !s.restartCheck {
			if checkAt.IsZero() {
				checkAt = workflow.Now(ctx).Add(holderCheckInterval)
			}
			wait = max(checkAt.Sub(workflow.Now(ctx)), 0)
		}
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		check := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(requests, func(c workflow.ReceiveChannel, _ bool) {
			var req R
			c.Receive(ctx, &req)
			s.arrive(req)
		})
		sel.AddReceive(releases, func(c workflow.ReceiveChannel, _ bool) {
			var rel activities.SemaphoreToken
			c.Receive(ctx, &rel)
			s.leave(rel.Token)
		})
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) { check, checkAt = true, time.Time{} })
		sel.Select(ctx)
		cancelTimer()
		if check {
			s.checkHolders(ctx, checkCtx)
		}
	}
}

// idle reports whether no one holds or wants a place.
func (s *semaphore[R]) idle() bool { return len(s.holding) == 0 && len(s.waiting) == 0 }

// has reports whether the request with this token holds a place or waits for one.
func (s *semaphore[R]) has(token string) bool {
	is := func(r R) bool { return s.kind.ticket(r).token == token }
	return slices.ContainsFunc(s.holding, is) || slices.ContainsFunc(s.waiting, is)
}

// arrive queues a request, once however often it is asked, as a retried request is.
func (s *semaphore[R]) arrive(req R) {
	if s.kind.settings != nil {
		s.capacity, s.supersede = s.kind.settings(req)
	}
	if s.has(s.kind.ticket(req).token) {
		return
	}
	s.waiting = append(s.waiting, req)
	if s.kind.compare != nil {
		slices.SortStableFunc(s.waiting, s.kind.compare)
	}
}

// leave gives back the place held under a token, or withdraws the request waiting under it; a
// token the semaphore does not know is ignored.
func (s *semaphore[R]) leave(token string) {
	is := func(r R) bool { return s.kind.ticket(r).token == token }
	s.holding = slices.DeleteFunc(s.holding, is)
	s.waiting = slices.DeleteFunc(s.waiting, is)
}

// grant gives the free places to the waiting requests whose turn it is, and tells their owners.
func (s *semaphore[R]) grant(ctx workflow.Context) {
	for len(s.holding) < max(s.capacity, 1) && len(s.waiting) > 0 {
		next := s.waiting[0]
		if s.supersede {
			next = s.waiting[len(s.waiting)-1]
			by := s.kind.ticket(next).owner
			for _, old := range s.waiting[:len(s.waiting)-1] {
				t := s.kind.ticket(old)
				// An owner that has ended meanwhile cannot be told; that is no failure.
				_ = workflow.SignalExternalWorkflow(ctx, t.owner, "", s.kind.superseded,
					activities.QueueSupersession{Token: t.token, By: by}).Get(ctx, nil)
			}
			s.waiting = nil
		} else {
			s.waiting = s.waiting[1:]
		}
		// An owner that has ended cannot take its place; the place goes to the next.
		t := s.kind.ticket(next)
		if err := workflow.SignalExternalWorkflow(ctx, t.owner, "", s.kind.granted,
			activities.SemaphoreToken{Token: t.token}).Get(ctx, nil); err == nil {
			s.holding = append(s.holding, next)
		}
	}
}

// checkHolders frees the places of holders that no longer run: terminated, or reset to another run,
// without giving their place back.
func (s *semaphore[R]) checkHolders(ctx, checkCtx workflow.Context) {
	for _, h := range slices.Clone(s.holding) {
		t := s.kind.ticket(h)
		var locks *activities.Locks
		var res activities.ExecutionRunningResult
		err := workflow.ExecuteActivity(checkCtx, locks.ExecutionRunning, activities.ExecutionRunningInput{WorkflowID: t.owner, RunID: t.ownerRunID}).Get(ctx, &res)
		if err == nil && !res.Running {
			s.leave(t.token)
		}
	}
}

// seat is one request of this execution at a semaphore workflow: asked for by an activity that
// signals the semaphore, starting it if need be; granted by a signal back, which the caller
// awaits; given back, or withdrawn while it waits, by release.
type seat struct {
	// semaphoreID is the semaphore's workflow ID, releaseSignal the name of its releasing signal.
	semaphoreID, releaseSignal string
	token                      string
	// released is set once the seat was given back, or the semaphore dropped it.
	released bool
}

// ask schedules the activity that takes the request to the semaphore.
func (s *seat) ask(ctx workflow.Context, activity, input any) workflow.Future {
	// A request still on its way when the execution stops must land before the withdrawal does.
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	return workflow.ExecuteActivity(ctx, activity, input)
}

// release gives the place back, or withdraws the request, once. It signals even when ctx is
// cancelled, so the semaphore does not wait for its check that the holder still runs.
func (s *seat) release(ctx workflow.Context) {
	if s.released {
		return
	}
	s.released = true
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	_ = workflow.SignalExternalWorkflow(ctx, s.semaphoreID, "", s.releaseSignal, activities.SemaphoreToken{Token: s.token}).Get(ctx, nil)
}
