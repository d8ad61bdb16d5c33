package workflows

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
)

// semaphoreView is what a test sees of a semaphore: who holds a place and who waits, in order,
// and its settings.
type semaphoreView struct {
	Holding, Waiting []string
	Capacity         int
	KeepWaiting      bool
}

// semaphoreDriver drives one kind of semaphore workflow through its own signals and payloads.
// Owners are asked for in alphabetical order: a request's build time is its owner's first letter.
type semaphoreDriver struct {
	workflowType string
	workflow     any
	granted      string
	acquire      func(env *testsuite.TestWorkflowEnvironment, owner string)
	release      func(env *testsuite.TestWorkflowEnvironment, owner string)
	start        func(env *testsuite.TestWorkflowEnvironment, holding, waiting []string)
	// view reads the state the workflow answers a query with.
	view func(state converter.EncodedValue) (semaphoreView, error)
	// continued reads the input of the run continued as new.
	continued func(can *workflow.ContinueAsNewError) (semaphoreView, error)
}

// semaphoreToken is the token of owner's request: it names the run, as the interpreter's do.
func semaphoreToken(owner string) string { return owner + "-run" }

// lockRequestOf is owner's request for the lock.
func lockRequestOf(owner string) activities.LockRequest {
	return activities.LockRequest{Owner: owner, OwnerRunID: owner + "-run", Token: semaphoreToken(owner), Stage: "deploy"}
}

// lockDriver drives the ClusterLock workflow.
func lockDriver() semaphoreDriver {
	viewOf := func(st activities.LockState) semaphoreView {
		v := semaphoreView{Capacity: 1, KeepWaiting: true}
		if st.Holder != nil {
			v.Holding = []string{st.Holder.Owner}
		}
		for _, r := range st.Queue {
			v.Waiting = append(v.Waiting, r.Owner)
		}
		return v
	}
	return semaphoreDriver{
		workflowType: activities.ClusterLockWorkflow,
		workflow:     ClusterLock,
		granted:      activities.SignalLockGranted,
		acquire: func(env *testsuite.TestWorkflowEnvironment, owner string) {
			env.SignalWorkflow(activities.SignalLockAcquire, lockRequestOf(owner))
		},
		release: func(env *testsuite.TestWorkflowEnvironment, owner string) {
			env.SignalWorkflow(activities.SignalLockRelease, activities.LockRelease{Token: semaphoreToken(owner)})
		},
		start: func(env *testsuite.TestWorkflowEnvironment, holding, waiting []string) {
			st := activities.LockState{Key: testLockKey}
			for _, o := range holding {
				h := lockRequestOf(o)
				st.Holder = &h
			}
			for _, o := range waiting {
				st.Queue = append(st.Queue, lockRequestOf(o))
			}
			env.ExecuteWorkflow(activities.ClusterLockWorkflow, activities.ClusterLockInput{State: st})
		},
		view: func(v converter.EncodedValue) (semaphoreView, error) {
			var st activities.LockState
			err := v.Get(&st)
			return viewOf(st), err
		},
		continued: func(can *workflow.ContinueAsNewError) (semaphoreView, error) {
			var in activities.ClusterLockInput
			err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in)
			if in.State.Key != testLockKey {
				err = errors.Join(err, fmt.Errorf("continued with key %q", in.State.Key))
			}
			return viewOf(in.State), err
		},
	}
}

// queueDriver drives the PipelineQueue workflow of a pipeline with these settings.
func queueDriver(capacity int, keepWaiting bool) semaphoreDriver {
	return queueDriverOf(func(string) (int, bool) { return capacity, keepWaiting },
		&activities.QueueState{Key: "web/deploy", Capacity: capacity, KeepWaiting: keepWaiting})
}

// changingQueueDriver drives a PipelineQueue started as the first join starts it, with no settings
// of its own, for a pipeline whose settings change: a and b ask with a capacity of 2, keeping
// waiters; the owners after them with a capacity of 1, superseding waiters.
func changingQueueDriver() semaphoreDriver {
	return queueDriverOf(func(owner string) (int, bool) {
		if owner <= "b" {
			return 2, true
		}
		return 1, false
	}, nil)
}

// queueDriverOf drives a PipelineQueue whose requests carry settingsOf their owners. It starts
// with the state started, or, when that is nil, as signal-with-start does: with no state, and the
// waiting owners joining at once.
func queueDriverOf(settingsOf func(owner string) (capacity int, keepWaiting bool), started *activities.QueueState) semaphoreDriver {
	request := func(owner string) activities.QueueRequest {
		capacity, keepWaiting := settingsOf(owner)
		return activities.QueueRequest{Owner: owner, OwnerRunID: owner + "-run", Token: semaphoreToken(owner),
			BuildTime: int64(owner[0]), Capacity: capacity, KeepWaiting: keepWaiting}
	}
	viewOf := func(st activities.QueueState) (semaphoreView, error) {
		v := semaphoreView{Capacity: st.Capacity, KeepWaiting: st.KeepWaiting}
		for _, r := range st.Running {
			v.Holding = append(v.Holding, r.Owner)
		}
		for _, r := range st.Waiting {
			v.Waiting = append(v.Waiting, r.Owner)
		}
		if st.Key != "web/deploy" {
			return v, fmt.Errorf("state with key %q", st.Key)
		}
		return v, nil
	}
	join := func(env *testsuite.TestWorkflowEnvironment, owner string) {
		env.SignalWorkflow(activities.SignalQueueJoin, request(owner))
	}
	return semaphoreDriver{
		workflowType: activities.PipelineQueueWorkflow,
		workflow:     PipelineQueue,
		granted:      activities.SignalQueueAdmitted,
		acquire:      join,
		release: func(env *testsuite.TestWorkflowEnvironment, owner string) {
			env.SignalWorkflow(activities.SignalQueueLeave, activities.QueueLeave{Token: semaphoreToken(owner)})
		},
		start: func(env *testsuite.TestWorkflowEnvironment, holding, waiting []string) {
			if started == nil {
				env.RegisterDelayedCallback(func() {
					for _, o := range waiting {
						join(env, o)
					}
				}, 0)
				env.ExecuteWorkflow(activities.PipelineQueueWorkflow, activities.PipelineQueueInput{State: activities.QueueState{Key: "web/deploy"}})
				return
			}
			st := *started
			for _, o := range holding {
				st.Running = append(st.Running, request(o))
			}
			for _, o := range waiting {
				st.Waiting = append(st.Waiting, request(o))
			}
			env.ExecuteWorkflow(activities.PipelineQueueWorkflow, activities.PipelineQueueInput{State: st})
		},
		view: func(v converter.EncodedValue) (semaphoreView, error) {
			var st activities.QueueState
			if err := v.Get(&st); err != nil {
				return semaphoreView{}, err
			}
			return viewOf(st)
		},
		continued: func(can *workflow.ContinueAsNewError) (semaphoreView, error) {
			var in activities.PipelineQueueInput
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
				return semaphoreView{}, err
			}
			return viewOf(in.State)
		},
	}
}

// semaphoreStep is what happens, or is checked, once the workflow has run for at.
type semaphoreStep struct {
	at      time.Duration
	acquire []string
	release []string
	want    *semaphoreView
	// settings, when set, checks the capacity and keepWaiting too.
	settings bool
}

func asks(at time.Duration, owners ...string) semaphoreStep {
	return semaphoreStep{at: at, acquire: owners}
}

func releases(at time.Duration, owners ...string) semaphoreStep {
	return semaphoreStep{at: at, release: owners}
}

// holding checks who holds a place and who waits at at.
func holding(at time.Duration, holders []string, waiting ...string) semaphoreStep {
	return semaphoreStep{at: at, want: &semaphoreView{Holding: holders, Waiting: waiting}}
}

// settled checks the semaphore's settings at at, and who holds a place and who waits.
func settled(at time.Duration, capacity int, keepWaiting bool, holders []string, waiting ...string) semaphoreStep {
	return semaphoreStep{at: at, settings: true,
		want: &semaphoreView{Holding: holders, Waiting: waiting, Capacity: capacity, KeepWaiting: keepWaiting}}
}

func TestSemaphore(t *testing.T) {
	tests := []struct {
		name string
		sem  semaphoreDriver
		// holding and waiting are the state the workflow starts, or continues, with.
		holding, waiting []string
		steps            []semaphoreStep
		// ended owners have ended: grants and supersessions signalled to them fail. stopped
		// owners still hold a place but no longer run, as the holder check finds.
		ended, stopped []string
		longHistory    bool
		wantGranted    []string
		wantSuperseded []string
		// wantContinued is the state the run continues as new with; nil when it must end idle.
		wantContinued *semaphoreView
	}{{
		name:    "a lock is granted one at a time in the order asked",
		sem:     lockDriver(),
		waiting: []string{"a"},
		steps: []semaphoreStep{
			asks(time.Second, "c", "b"),
			holding(2*time.Second, []string{"a"}, "c", "b"),
			releases(3*time.Second, "a"),
			holding(4*time.Second, []string{"c"}, "b"),
			releases(5*time.Second, "c"),
			releases(6*time.Second, "b"),
		},
		wantGranted: []string{"a", "c", "b"},
	}, {
		name:    "a queue admits up to its capacity, in the order executions were asked for",
		sem:     queueDriver(2, true),
		waiting: []string{"a", "b"},
		steps: []semaphoreStep{
			asks(time.Second, "e", "d", "c"),
			holding(2*time.Second, []string{"a", "b"}, "c", "d", "e"),
			releases(3*time.Second, "a"),
			holding(4*time.Second, []string{"b", "c"}, "d", "e"),
			releases(5*time.Second, "b", "c"),
			holding(6*time.Second, []string{"d", "e"}),
			releases(7*time.Second, "e", "d"),
		},
		wantGranted: []string{"a", "b", "c", "d", "e"},
	}, {
		name:    "a queue asked twice for the same request queues it once",
		sem:     queueDriver(1, true),
		waiting: []string{"a"},
		steps: []semaphoreStep{
			asks(time.Second, "b", "a", "b"),
			holding(2*time.Second, []string{"a"}, "b"),
			releases(3*time.Second, "a"),
			releases(4*time.Second, "b"),
		},
		wantGranted: []string{"a", "b"},
	}, {
		name:    "a freed place goes to the newest waiter and the others are superseded",
		sem:     queueDriver(1, false),
		waiting: []string{"a"},
		steps: []semaphoreStep{
			asks(time.Second, "b", "d", "c"),
			holding(2*time.Second, []string{"a"}, "b", "c", "d"),
			releases(3*time.Second, "a"),
			holding(4*time.Second, []string{"d"}),
			releases(5*time.Second, "d"),
		},
		wantGranted:    []string{"a", "d"},
		wantSuperseded: []string{"b by d", "c by d"},
	}, {
		name:    "the place of a newest waiter that has ended stays free",
		sem:     queueDriver(1, false),
		waiting: []string{"a"},
		ended:   []string{"c"},
		steps: []semaphoreStep{
			asks(time.Second, "b", "c"),
			releases(2*time.Second, "a"),
		},
		wantGranted:    []string{"a"},
		wantSuperseded: []string{"b by c"},
	}, {
		name:    "a queue takes its settings from the newest request",
		sem:     changingQueueDriver(),
		waiting: []string{"a", "b"},
		steps: []semaphoreStep{
			settled(time.Second, 2, true, []string{"a", "b"}),
			asks(2*time.Second, "c", "d"),
			settled(3*time.Second, 1, false, []string{"a", "b"}, "c", "d"),
			// A capacity of 1 now: b alone runs until it leaves.
			releases(4*time.Second, "a"),
			holding(5*time.Second, []string{"b"}, "c", "d"),
			releases(6*time.Second, "b"),
			holding(7*time.Second, []string{"d"}),
			releases(8*time.Second, "d"),
		},
		wantGranted:    []string{"a", "b", "d"},
		wantSuperseded: []string{"c by d"},
	}, {
		name:    "releasing a token never granted changes nothing, and withdraws a waiting one",
		sem:     lockDriver(),
		waiting: []string{"a"},
		steps: []semaphoreStep{
			asks(time.Second, "b"),
			releases(2*time.Second, "x"),
			holding(3*time.Second, []string{"a"}, "b"),
			releases(4*time.Second, "b"),
			holding(5*time.Second, []string{"a"}),
			releases(6*time.Second, "a"),
		},
		wantGranted: []string{"a"},
	}, {
		name:    "a queue ignores a leave it does not know",
		sem:     queueDriver(2, true),
		waiting: []string{"a"},
		steps: []semaphoreStep{
			releases(time.Second, "x"),
			holding(2*time.Second, []string{"a"}),
			releases(3*time.Second, "a"),
		},
		wantGranted: []string{"a"},
	}, {
		name:    "an owner that has ended is passed over",
		sem:     lockDriver(),
		waiting: []string{"a", "b"},
		ended:   []string{"a"},
		steps: []semaphoreStep{
			holding(time.Second, []string{"b"}),
			releases(2*time.Second, "b"),
		},
		wantGranted: []string{"b"},
	}, {
		name:    "the holder check frees the lock of a holder that stopped",
		sem:     lockDriver(),
		waiting: []string{"a"},
		stopped: []string{"a"},
		steps: []semaphoreStep{
			asks(10*time.Second, "b"),
			// Asked again meanwhile: the check is not put off.
			asks(40*time.Second, "c"),
			holding(50*time.Second, []string{"a"}, "b", "c"),
			holding(holderCheckInterval+time.Second, []string{"b"}, "c"),
			// b runs: later checks keep it.
			holding(3*holderCheckInterval+time.Second, []string{"b"}, "c"),
			releases(3*holderCheckInterval+2*time.Second, "b", "c"),
		},
		wantGranted: []string{"a", "b", "c"},
	}, {
		name:    "the holder check frees the places of the holders that stopped and keeps the others",
		sem:     queueDriver(2, true),
		waiting: []string{"a", "b", "c"},
		stopped: []string{"a"},
		steps: []semaphoreStep{
			holding(50*time.Second, []string{"a", "b"}, "c"),
			holding(holderCheckInterval+time.Second, []string{"b", "c"}),
			holding(2*holderCheckInterval+time.Second, []string{"b", "c"}),
			releases(2*holderCheckInterval+2*time.Second, "b", "c"),
		},
		wantGranted: []string{"a", "b", "c"},
	}, {
		name:          "a lock continues as new with its holder and queue",
		sem:           lockDriver(),
		waiting:       []string{"a", "b"},
		longHistory:   true,
		wantGranted:   []string{"a"},
		wantContinued: &semaphoreView{Holding: []string{"a"}, Waiting: []string{"b"}, Capacity: 1, KeepWaiting: true},
	}, {
		name:          "a queue continues as new with who runs, who waits and its settings",
		sem:           queueDriver(2, true),
		waiting:       []string{"c", "a", "b"},
		longHistory:   true,
		wantGranted:   []string{"c", "a"},
		wantContinued: &semaphoreView{Holding: []string{"c", "a"}, Waiting: []string{"b"}, Capacity: 2, KeepWaiting: true},
	}, {
		name:    "a continued lock keeps its holder without granting it again",
		sem:     lockDriver(),
		holding: []string{"a"},
		waiting: []string{"b"},
		steps: []semaphoreStep{
			holding(time.Second, []string{"a"}, "b"),
			releases(2*time.Second, "a"),
			releases(3*time.Second, "b"),
		},
		wantGranted: []string{"b"},
	}, {
		name:    "a continued queue keeps who runs without admitting them again",
		sem:     queueDriver(2, true),
		holding: []string{"a", "b"},
		waiting: []string{"c"},
		steps: []semaphoreStep{
			holding(time.Second, []string{"a", "b"}, "c"),
			releases(2*time.Second, "b"),
			holding(3*time.Second, []string{"a", "c"}),
			releases(4*time.Second, "a", "c"),
		},
		wantGranted: []string{"c"},
	}, {
		name: "a semaphore nobody wants ends",
		sem:  queueDriver(1, true),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(tc.sem.workflow, workflow.RegisterOptions{Name: tc.sem.workflowType})
			env.RegisterActivity(&activities.Locks{})
			// A semaphore left with a waiter nobody releases would check its holders for ever.
			env.SetWorkflowRunTimeout(time.Hour)
			if tc.longHistory {
				env.SetCurrentHistoryLength(maxSemaphoreHistory + 1)
			}
			var mu sync.Mutex // signal and activity mocks run on goroutines of their own
			var granted, superseded []string
			env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", mock.Anything, mock.Anything).Return(
				func(_, owner, _, signal string, arg any) error {
					mu.Lock()
					defer mu.Unlock()
					switch signal {
					case tc.sem.granted:
						if g, ok := arg.(activities.SemaphoreToken); !ok || g.Token != semaphoreToken(owner) {
							t.Errorf("grant to %s with %#v", owner, arg)
						}
					case activities.SignalQueueSuperseded:
						if s, ok := arg.(activities.QueueSupersession); !ok || s.Token != semaphoreToken(owner) {
							t.Errorf("supersession of %s with %#v", owner, arg)
						}
					default:
						t.Errorf("unexpected signal %s to %s", signal, owner)
					}
					if slices.Contains(tc.ended, owner) {
						return errors.New("workflow execution already completed")
					}
					if signal == tc.sem.granted {
						granted = append(granted, owner)
					} else {
						superseded = append(superseded, owner+" by "+arg.(activities.QueueSupersession).By)
					}
					return nil
				})
			env.OnActivity("ExecutionRunning", mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.ExecutionRunningInput) (activities.ExecutionRunningResult, error) {
					if in.RunID != in.WorkflowID+"-run" {
						t.Errorf("checked %+v, want the run that asked", in)
					}
					return activities.ExecutionRunningResult{Running: !slices.Contains(tc.stopped, in.WorkflowID)}, nil
				})
			for _, step := range tc.steps {
				env.RegisterDelayedCallback(func() {
					for _, o := range step.acquire {
						tc.sem.acquire(env, o)
					}
					for _, o := range step.release {
						tc.sem.release(env, o)
					}
					if step.want == nil {
						return
					}
					q, err := env.QueryWorkflow(activities.QuerySemaphoreState)
					if err != nil {
						t.Errorf("at %s: query: %v", step.at, err)
						return
					}
					got, err := tc.sem.view(q)
					if err != nil {
						t.Errorf("at %s: %v", step.at, err)
					}
					if !slices.Equal(got.Holding, step.want.Holding) || !slices.Equal(got.Waiting, step.want.Waiting) {
						t.Errorf("at %s: holding %v, waiting %v; want %v, %v", step.at, got.Holding, got.Waiting, step.want.Holding, step.want.Waiting)
					}
					if step.settings && (got.Capacity != step.want.Capacity || got.KeepWaiting != step.want.KeepWaiting) {
						t.Errorf("at %s: capacity %d, keepWaiting %v; want %d, %v", step.at, got.Capacity, got.KeepWaiting, step.want.Capacity, step.want.KeepWaiting)
					}
				}, step.at)
			}

			tc.sem.start(env, tc.holding, tc.waiting)
			if !env.IsWorkflowCompleted() {
				t.Fatal("the semaphore did not end")
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(granted, tc.wantGranted) {
				t.Errorf("granted %v, want %v", granted, tc.wantGranted)
			}
			if !slices.Equal(superseded, tc.wantSuperseded) {
				t.Errorf("superseded %v, want %v", superseded, tc.wantSuperseded)
			}
			err := env.GetWorkflowError()
			if tc.wantContinued == nil {
				if err != nil {
					t.Errorf("workflow error %v, want it to end when idle", err)
				}
				return
			}
			var can *workflow.ContinueAsNewError
			if !errors.As(err, &can) {
				t.Fatalf("workflow error %v, want it to continue as new", err)
			}
			if can.WorkflowType.Name != tc.sem.workflowType {
				t.Errorf("continued as %s, want %s", can.WorkflowType.Name, tc.sem.workflowType)
			}
			got, err := tc.sem.continued(can)
			if err != nil {
				t.Error(err)
			}
			if !reflect.DeepEqual(got, *tc.wantContinued) {
				t.Errorf("continued with %+v, want %+v", got, *tc.wantContinued)
			}
		})
	}
}

// TestSemaphoreCheckIsDueOnTimeOrRestarted checks the two ways a semaphore's holder check falls
// due: a minute after the last check, however often it is asked meanwhile, or, for lock runs
// started before that, a minute after the last signal.
func TestSemaphoreCheckIsDueOnTimeOrRestarted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version workflow.Version
		// wantFreedAfter is how long the stopped holder keeps the lock while b asks every 25s.
		wantFreedAfter time.Duration
	}{
		{"on time", 1, holderCheckInterval},
		{"restarted by every signal", workflow.DefaultVersion, 4*25*time.Second + holderCheckInterval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(ClusterLock, workflow.RegisterOptions{Name: activities.ClusterLockWorkflow})
			env.RegisterActivity(&activities.Locks{})
			env.SetWorkflowRunTimeout(time.Hour)
			env.OnGetVersion(versionHolderCheckDue, workflow.DefaultVersion, 1).Return(tc.version)
			var mu sync.Mutex
			var grantedAt []time.Duration
			start := env.Now()
			env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", activities.SignalLockGranted, mock.Anything).Return(
				func(_, owner, _, _ string, _ any) error {
					mu.Lock()
					defer mu.Unlock()
					grantedAt = append(grantedAt, env.Now().Sub(start))
					return nil
				})
			env.OnActivity("ExecutionRunning", mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.ExecutionRunningInput) (activities.ExecutionRunningResult, error) {
					return activities.ExecutionRunningResult{Running: in.WorkflowID != "a"}, nil
				})
			lock := lockDriver()
			// b asks, and asks again as a retried request does, every 25 seconds four times.
			for i := range 4 {
				env.RegisterDelayedCallback(func() { lock.acquire(env, "b") }, time.Duration(i+1)*25*time.Second)
			}
			env.RegisterDelayedCallback(func() { lock.release(env, "b") }, 10*holderCheckInterval)
			lock.start(env, nil, []string{"a"})

			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(grantedAt) != 2 {
				t.Fatalf("granted at %v, want a at once and then b", grantedAt)
			}
			// The test environment fires a timer a moment after it is due.
			if got := grantedAt[1]; got < tc.wantFreedAfter || got > tc.wantFreedAfter+time.Second {
				t.Errorf("b was granted the lock after %s, want %s", got, tc.wantFreedAfter)
			}
		})
	}
}
