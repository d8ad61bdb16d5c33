package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
)

// queueTest runs one PipelineQueue workflow and records whom it admits and supersedes.
type queueTest struct {
	env        *testsuite.TestWorkflowEnvironment
	mu         sync.Mutex
	admitted   []string
	superseded []string
	gone       map[string]bool
}

func newQueueTest(t *testing.T) *queueTest {
	var s testsuite.WorkflowTestSuite
	q := &queueTest{env: s.NewTestWorkflowEnvironment(), gone: map[string]bool{}}
	q.env.RegisterWorkflowWithOptions(PipelineQueue, workflow.RegisterOptions{Name: activities.PipelineQueueWorkflow})
	q.env.RegisterActivity(&activities.Locks{})
	q.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", mock.Anything, mock.Anything).Return(
		func(_, owner, _, signal string, arg any) error {
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.gone[owner] {
				return errors.New("workflow execution already completed")
			}
			switch signal {
			case activities.SignalQueueAdmitted:
				q.admitted = append(q.admitted, owner)
			case activities.SignalQueueSuperseded:
				q.superseded = append(q.superseded, owner+" by "+arg.(activities.QueueSupersession).By)
			default:
				t.Errorf("unexpected signal %s", signal)
			}
			return nil
		})
	return q
}

func (q *queueTest) at(d time.Duration, f func()) { q.env.RegisterDelayedCallback(f, d) }

// run starts the queue as the first join does, by signal-with-start, with first waiting.
func (q *queueTest) run(first string, capacity int, keepWaiting bool) {
	req := activities.QueueRequest{Owner: first, Token: first + "-run", BuildTime: 10, Capacity: capacity, KeepWaiting: keepWaiting}
	q.env.ExecuteWorkflow(PipelineQueue, activities.PipelineQueueInput{State: activities.QueueState{
		Key: "web/deploy", Capacity: capacity, KeepWaiting: keepWaiting, Waiting: []activities.QueueRequest{req}}})
}

func (q *queueTest) join(owner string, buildTime int64, capacity int, keepWaiting bool) {
	q.env.SignalWorkflow(activities.SignalQueueJoin, activities.QueueRequest{Owner: owner, Token: owner + "-run", BuildTime: buildTime, Capacity: capacity, KeepWaiting: keepWaiting})
}

func (q *queueTest) leave(owner string) {
	q.env.SignalWorkflow(activities.SignalQueueLeave, activities.QueueLeave{Token: owner + "-run"})
}

func TestPipelineQueueAdmitsInOrderUpToCapacity(t *testing.T) {
	q := newQueueTest(t)
	q.at(time.Second, func() {
		// c was asked for before b, though its request arrives later: it goes first.
		q.join("d", 40, 2, true)
		q.join("b", 30, 2, true)
		q.join("c", 20, 2, true)
	})
	q.at(2*time.Second, func() { q.leave("a") })
	q.at(3*time.Second, func() { q.leave("d") })
	q.at(4*time.Second, func() { q.leave("c"); q.leave("b") })
	q.run("a", 2, true)
	if !q.env.IsWorkflowCompleted() || q.env.GetWorkflowError() != nil {
		t.Fatalf("the queue did not end: %v", q.env.GetWorkflowError())
	}
	if got := strings.Join(q.admitted, " "); got != "a d c b" {
		t.Errorf("admitted %q, want a and d at once, then c (asked for before b), then b", got)
	}
}

func TestPipelineQueueSupersedesWhenNotKeepingWaiting(t *testing.T) {
	q := newQueueTest(t)
	q.at(time.Second, func() {
		q.join("b", 20, 1, false)
		q.join("c", 30, 1, false)
		q.join("d", 40, 1, false)
	})
	q.at(2*time.Second, func() { q.leave("a") })
	q.at(3*time.Second, func() { q.leave("d") })
	q.run("a", 1, false)
	if !q.env.IsWorkflowCompleted() || q.env.GetWorkflowError() != nil {
		t.Fatalf("the queue did not end: %v", q.env.GetWorkflowError())
	}
	if got := strings.Join(q.admitted, " "); got != "a d" {
		t.Errorf("admitted %q", got)
	}
	if got := strings.Join(q.superseded, ", "); got != "b by d, c by d" {
		t.Errorf("superseded %q", got)
	}
}

func TestPipelineQueueFreesThePlaceOfAnEndedExecution(t *testing.T) {
	q := newQueueTest(t)
	var locks *activities.Locks
	// a was terminated without leaving; the check a minute later finds it gone.
	q.env.OnActivity(locks.ExecutionRunning, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExecutionRunningInput) (activities.ExecutionRunningResult, error) {
			return activities.ExecutionRunningResult{Running: in.WorkflowID != "a"}, nil
		})
	q.at(time.Second, func() {
		q.join("b", 20, 1, true)
	})
	q.at(5*time.Minute, func() { q.leave("b") })
	q.run("a", 1, true)
	if got := strings.Join(q.admitted, " "); got != "a b" {
		t.Errorf("admitted %q", got)
	}
}

func TestLimitConcurrentExecutionOfAnEarlierReleaseRunsUnqueued(t *testing.T) {
	joined := false
	exec, err := run(t, `{"application": "web", "name": "deploy", "limitConcurrent": true,
		"stages": [{"refId": "1", "type": "wait", "waitTime": 1}]}`, func(env *testsuite.TestWorkflowEnvironment) {
		// Replaying a history recorded before the queue existed, GetVersion answers DefaultVersion.
		env.OnGetVersion(versionConcurrency, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		var locks *activities.Locks
		env.RegisterActivity(&activities.Locks{})
		env.OnActivity(locks.JoinPipelineQueue, mock.Anything, mock.Anything).Return(
			func(context.Context, activities.JoinQueueInput) (activities.JoinQueueResult, error) {
				joined = true
				return activities.JoinQueueResult{}, nil
			})
	})
	if err != nil || exec.Status != "SUCCEEDED" {
		t.Fatalf("status %s, err %v", exec.Status, err)
	}
	if joined {
		t.Error("an execution of the earlier release joined the queue")
	}
}
