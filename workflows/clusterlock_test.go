package workflows

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

const testLockKey = "local/prod/replicaSet web"

// lockTest runs one ClusterLock workflow and records the grants it signals.
type lockTest struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu sync.Mutex // grant mocks run on goroutines of their own
	// gone are owners that have ended, so that signalling them fails.
	gone      map[string]bool
	attempts  []string    // tokens a grant was signalled for, in order, failed or not
	granted   []string    // tokens granted, in order
	grantedAt []time.Time // when each of granted was granted
}

func newLockTest(t *testing.T) *lockTest {
	var s testsuite.WorkflowTestSuite
	lt := &lockTest{t: t, env: s.NewTestWorkflowEnvironment(), gone: map[string]bool{}}
	lt.env.RegisterWorkflowWithOptions(ClusterLock, workflow.RegisterOptions{Name: activities.ClusterLockWorkflow})
	lt.env.RegisterActivity(&activities.Locks{})
	lt.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", activities.SignalLockGranted, mock.Anything).Return(
		func(_, owner, _, _ string, arg any) error {
			g, ok := arg.(activities.LockGrant)
			if !ok {
				t.Errorf("grant signalled with %#v", arg)
				return nil
			}
			if !strings.HasPrefix(g.Token, owner+"/") {
				t.Errorf("grant of %s signalled to %s", g.Token, owner)
			}
			lt.mu.Lock()
			defer lt.mu.Unlock()
			lt.attempts = append(lt.attempts, g.Token)
			if lt.gone[owner] {
				return errors.New("workflow execution already completed")
			}
			lt.granted = append(lt.granted, g.Token)
			lt.grantedAt = append(lt.grantedAt, lt.env.Now())
			return nil
		})
	return lt
}

// lockRequest is the lock request of execution owner's stage 1.
func lockRequest(owner string) activities.LockRequest {
	return activities.LockRequest{Owner: owner, Token: owner + "/1/" + testLockKey, Stage: "deploy"}
}

func lockTokens(owners ...string) []string {
	out := make([]string, len(owners))
	for i, o := range owners {
		out[i] = lockRequest(o).Token
	}
	return out
}

// at runs f once the workflow has run for d.
func (lt *lockTest) at(d time.Duration, f func()) { lt.env.RegisterDelayedCallback(f, d) }

func (lt *lockTest) acquire(owners ...string) {
	for _, o := range owners {
		lt.env.SignalWorkflow(activities.SignalLockAcquire, lockRequest(o))
	}
}

func (lt *lockTest) release(owner string) {
	lt.env.SignalWorkflow(activities.SignalLockRelease, activities.LockRelease{Token: lockRequest(owner).Token})
}

func (lt *lockTest) state() activities.LockState {
	lt.t.Helper()
	v, err := lt.env.QueryWorkflow(activities.QuerySemaphoreState)
	if err != nil {
		lt.t.Fatalf("query: %v", err)
	}
	var st activities.LockState
	if err := v.Get(&st); err != nil {
		lt.t.Fatalf("decoding the state: %v", err)
	}
	return st
}

// wantState checks who holds the lock and who waits, in order.
func (lt *lockTest) wantState(holder string, queue ...string) {
	lt.t.Helper()
	st := lt.state()
	got := ""
	if st.Holder != nil {
		got = st.Holder.Owner
	}
	var waiting []string
	for _, r := range st.Queue {
		waiting = append(waiting, r.Owner)
	}
	if got != holder || !reflect.DeepEqual(waiting, queue) {
		t := lt.t
		t.Errorf("at %s: holder %q, queue %v; want %q, %v", lt.env.Now().Format(time.TimeOnly), got, waiting, holder, queue)
	}
}

// start runs the lock workflow with the state it is started (or continued) with; the first queued
// request stands for the one a SignalWithStart delivers.
func (lt *lockTest) start(queue ...string) {
	lt.t.Helper()
	in := activities.ClusterLockInput{State: activities.LockState{Key: testLockKey}}
	for _, o := range queue {
		in.State.Queue = append(in.State.Queue, lockRequest(o))
	}
	lt.env.ExecuteWorkflow(activities.ClusterLockWorkflow, in)
	if !lt.env.IsWorkflowCompleted() {
		lt.t.Fatal("the lock workflow did not complete")
	}
}

// wantEndedIdle checks the workflow ended, by itself, once no one held or wanted the lock.
func (lt *lockTest) wantEndedIdle() {
	lt.t.Helper()
	if err := lt.env.GetWorkflowError(); err != nil {
		lt.t.Errorf("workflow error %v, want it to end when idle", err)
	}
	lt.wantState("")
}

func (lt *lockTest) wantGranted(owners ...string) {
	lt.t.Helper()
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if want := lockTokens(owners...); !slices.Equal(lt.granted, want) {
		lt.t.Errorf("granted %v, want %v", lt.granted, want)
	}
}

func TestClusterLockGrantsInOrderOneAtATime(t *testing.T) {
	lt := newLockTest(t)
	lt.at(time.Second, func() { lt.acquire("b", "c") })
	lt.at(2*time.Second, func() { lt.wantState("a", "b", "c") })
	lt.at(3*time.Second, func() { lt.release("a") })
	lt.at(4*time.Second, func() { lt.wantState("b", "c") })
	lt.at(5*time.Second, func() { lt.release("b") })
	lt.at(6*time.Second, func() { lt.wantState("c") })
	lt.at(7*time.Second, func() { lt.release("c") })
	start := lt.env.Now()
	lt.start("a")

	lt.wantGranted("a", "b", "c")
	lt.wantEndedIdle()
	// Each grant follows the release of the one before: never two holders at once.
	for i, want := range []time.Duration{0, 3 * time.Second, 5 * time.Second} {
		if i < len(lt.grantedAt) {
			if got := lt.grantedAt[i].Sub(start); got != want {
				t.Errorf("grant %d at %s, want %s", i, got, want)
			}
		}
	}
}

func TestClusterLockQueuesATokenOnce(t *testing.T) {
	lt := newLockTest(t)
	// b asks twice, as a retried request does, and the holder asks again.
	lt.at(time.Second, func() { lt.acquire("b", "b", "a", "c", "b") })
	lt.at(2*time.Second, func() { lt.wantState("a", "b", "c") })
	lt.at(3*time.Second, func() { lt.release("a") })
	lt.at(4*time.Second, func() { lt.release("b") })
	lt.at(5*time.Second, func() { lt.wantState("c") })
	lt.at(6*time.Second, func() { lt.release("c") })
	lt.start("a")

	lt.wantGranted("a", "b", "c")
	lt.wantEndedIdle()
}

func TestClusterLockReleaseWithdrawsAQueuedRequest(t *testing.T) {
	lt := newLockTest(t)
	lt.at(time.Second, func() { lt.acquire("b", "c") })
	lt.at(2*time.Second, func() { lt.release("b") })
	lt.at(3*time.Second, func() { lt.wantState("a", "c") })
	lt.at(4*time.Second, func() { lt.release("a") })
	lt.at(5*time.Second, func() { lt.release("c") })
	lt.start("a")

	lt.wantGranted("a", "c")
	lt.wantEndedIdle()
}

func TestClusterLockPassesOverAnOwnerThatHasEnded(t *testing.T) {
	lt := newLockTest(t)
	lt.gone["a"] = true
	lt.at(time.Second, func() { lt.wantState("b", "c") })
	lt.at(2*time.Second, func() { lt.release("b") })
	lt.at(3*time.Second, func() { lt.release("c") })
	lt.start("a", "b", "c")

	if want := lockTokens("a", "b", "c"); !reflect.DeepEqual(lt.attempts, want) {
		t.Errorf("grants signalled %v, want %v", lt.attempts, want)
	}
	lt.wantGranted("b", "c")
	lt.wantEndedIdle()
}

func TestClusterLockTakesTheLockFromAHolderThatStopped(t *testing.T) {
	lt := newLockTest(t)
	var checked []string
	var mu sync.Mutex
	lt.env.OnActivity("ExecutionRunning", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExecutionRunningInput) (activities.ExecutionRunningResult, error) {
			mu.Lock()
			defer mu.Unlock()
			checked = append(checked, in.WorkflowID)
			// a was terminated without releasing; b runs.
			return activities.ExecutionRunningResult{Running: in.WorkflowID != "a"}, nil
		})
	lt.at(10*time.Second, func() { lt.acquire("b") })
	lt.at(50*time.Second, func() { lt.wantState("a", "b") })
	lt.at(3*holderCheckInterval, func() { lt.release("b") })
	start := lt.env.Now()
	lt.start("a")

	lt.wantGranted("a", "b")
	lt.wantEndedIdle()
	if len(checked) == 0 || checked[0] != "a" {
		t.Errorf("executions checked %v, want a first", checked)
	}
	if len(lt.grantedAt) == 2 {
		// The holder is checked once a minute, whatever else the lock is asked meanwhile.
		if waited := lt.grantedAt[1].Sub(start); waited < holderCheckInterval || waited > holderCheckInterval+10*time.Second {
			t.Errorf("b was granted the lock after %s, want about %s", waited, holderCheckInterval)
		}
	}
}

func TestClusterLockKeepsAHolderThatRuns(t *testing.T) {
	lt := newLockTest(t)
	lt.env.OnActivity("ExecutionRunning", mock.Anything, mock.Anything).Return(activities.ExecutionRunningResult{Running: true}, nil)
	lt.at(time.Second, func() { lt.acquire("b") })
	lt.at(5*holderCheckInterval, func() { lt.wantState("a", "b") })
	lt.at(5*holderCheckInterval+time.Second, func() { lt.release("a") })
	lt.at(5*holderCheckInterval+2*time.Second, func() { lt.release("b") })
	lt.start("a")

	lt.wantGranted("a", "b")
	lt.wantEndedIdle()
	lt.env.AssertCalled(t, "ExecutionRunning", mock.Anything, activities.ExecutionRunningInput{WorkflowID: "a"})
}

func TestClusterLockEndsWhenIdle(t *testing.T) {
	lt := newLockTest(t)
	lt.start()
	lt.wantGranted()
	lt.wantEndedIdle()
}

func TestClusterLockContinuesAsNewWithItsState(t *testing.T) {
	lt := newLockTest(t)
	lt.env.SetCurrentHistoryLength(maxSemaphoreHistory + 1)
	lt.start("a", "b")

	var can *workflow.ContinueAsNewError
	if err := lt.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow error %v, want it to continue as new", err)
	}
	if can.WorkflowType.Name != activities.ClusterLockWorkflow {
		t.Errorf("continued as %s", can.WorkflowType.Name)
	}
	var next activities.ClusterLockInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	holder := lockRequest("a")
	want := activities.LockState{Key: testLockKey, Holder: &holder, Queue: []activities.LockRequest{lockRequest("b")}}
	if !reflect.DeepEqual(next.State, want) {
		t.Errorf("continued with %+v, want %+v", next.State, want)
	}
}

// The interpreter's side of the lock: one deployManifest stage deploying to a cluster that
// another execution holds.
const lockedExecutionID = "exec-1"

var (
	lockedCluster = cloud.ClusterRef{Region: "prod", Cluster: "replicaSet web"}
	lockedLockID  = "gennaker-lock/local/prod/replicaSet web"
	otherHolder   = activities.LockRequest{Owner: "exec-0", Token: "exec-0/2/local/prod/replicaSet web", Stage: "Deploy web"}
)

// lockedDeploy is what a test of a deploy waiting for its cluster's lock sees while it runs.
type lockedDeploy struct {
	env *testsuite.TestWorkflowEnvironment
	mu  sync.Mutex // activity mocks run on goroutines of their own
	// token is the one the stage asked the lock with; the grant and the release must name it.
	token    string
	deployed bool
}

func (d *lockedDeploy) requestToken() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.token
}

func (d *lockedDeploy) hasDeployed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deployed
}

// runLockedDeploy runs the pipeline with the Kubernetes and lock activities mocked; during sets up
// what happens while the stage waits. It returns the tokens released at the lock workflow.
func runLockedDeploy(t *testing.T, during func(d *lockedDeploy)) (exec pipeline.Execution, d *lockedDeploy, released []string, err error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: lockedExecutionID, TaskQueue: TaskQueue})
	env.RegisterWorkflow(Pipeline)
	env.RegisterActivity(&activities.Notifications{})
	env.RegisterActivity(&activities.Executions{})
	env.RegisterActivity(&activities.Kubernetes{})
	env.RegisterActivity(&activities.Locks{})
	d = &lockedDeploy{env: env}

	env.OnActivity("DeployClusters", mock.Anything, mock.Anything).Return(activities.DeployClustersResult{Clusters: []cloud.ClusterRef{lockedCluster}}, nil)
	env.OnActivity("RequestClusterLock", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RequestLockInput) (activities.RequestLockResult, error) {
		if in.LockID != lockedLockID || in.Key != "local/prod/replicaSet web" || in.Request.Owner != lockedExecutionID ||
			in.Request.Stage != "deployManifest 1" || !strings.HasSuffix(in.Request.Token, "/1/local/prod/replicaSet web") {
			t.Errorf("lock requested with %+v", in)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.token = in.Request.Token
		return activities.RequestLockResult{Holder: &otherHolder}, nil
	})
	env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(func(context.Context, activities.DeployManifestInput) (activities.DeployManifestResult, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.deployed = true
		return activities.DeployManifestResult{Result: cloud.DeployResult{
			Deployed: []cloud.DeployedResource{{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "web-v001", Version: "v001", Versioned: true}},
		}}, nil
	})
	env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
	env.OnSignalExternalWorkflow(mock.Anything, lockedLockID, "", activities.SignalLockRelease, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			released = append(released, arg.(activities.LockRelease).Token)
			return nil
		})
	during(d)

	stage := stageJSON("1", "deployManifest", nil, `"account": "local",
		"manifests": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "prod"}}]`)
	env.ExecuteWorkflow(Pipeline, PipelineInput{Pipeline: decode(t, pipelineJSON(stage)), Trigger: pipeline.TriggerInfo{Type: "manual"}})
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	exec = queryRunningExecution(t, env)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.token == "" {
		t.Fatal("the stage never asked for the lock")
	}
	return exec, d, released, env.GetWorkflowError()
}

// queryRunningExecution is the execution as the API would see it now.
func queryRunningExecution(t *testing.T, env *testsuite.TestWorkflowEnvironment) pipeline.Execution {
	t.Helper()
	q, err := env.QueryWorkflow(QueryExecution)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var exec pipeline.Execution
	if err := q.Get(&exec); err != nil {
		t.Fatalf("decoding query: %v", err)
	}
	return exec
}

func TestDeployWaitsForTheClusterLock(t *testing.T) {
	exec, d, released, err := runLockedDeploy(t, func(d *lockedDeploy) {
		d.env.RegisterDelayedCallback(func() {
			during := queryRunningExecution(t, d.env)
			if during.ID != lockedExecutionID {
				t.Errorf("execution ID %q", during.ID)
			}
			waiting := during.Stage("1").WaitingForLock
			for _, says := range []string{"replicaSet web in prod", "account local", "exec-0", `"Deploy web"`} {
				if !strings.Contains(waiting, says) {
					t.Errorf("while waiting, WaitingForLock %q does not say %s", waiting, says)
				}
			}
			if d.hasDeployed() {
				t.Error("deployed before the lock was granted")
			}
			// A grant for another token, such as one of a stage that has stopped waiting, is no grant.
			d.env.SignalWorkflow(activities.SignalLockGranted, activities.LockGrant{Token: "someone-else/1/local/prod/replicaSet web"})
		}, 5*time.Minute)
		d.env.RegisterDelayedCallback(func() {
			if d.hasDeployed() {
				t.Error("deployed on another stage's grant")
			}
			d.env.SignalWorkflow(activities.SignalLockGranted, activities.LockGrant{Token: d.requestToken()})
		}, 10*time.Minute)
	})
	if err != nil {
		t.Fatal(err)
	}
	st := exec.Stage("1")
	if st.Status != pipeline.StatusSucceeded || st.WaitingForLock != "" || !d.hasDeployed() {
		t.Errorf("stage %s, WaitingForLock %q, deployed %v", st.Status, st.WaitingForLock, d.hasDeployed())
	}
	lock, _ := st.Outputs["clusterLock"].(map[string]any)
	if waited, _ := lock["waitedMs"].(float64); waited != float64((10 * time.Minute).Milliseconds()) {
		t.Errorf("clusterLock outputs %v, want waitedMs of 10 minutes", lock)
	}
	if clusters, _ := lock["clusters"].([]any); len(clusters) != 1 || clusters[0] != "replicaSet web in prod" {
		t.Errorf("clusterLock outputs %v", lock)
	}
	if !reflect.DeepEqual(released, []string{d.token}) {
		t.Errorf("released %v, want the stage's lock %s released once", released, d.token)
	}
}

func TestCancelWhileWaitingWithdrawsTheLockRequest(t *testing.T) {
	exec, d, released, _ := runLockedDeploy(t, func(d *lockedDeploy) {
		d.env.RegisterDelayedCallback(func() {
			d.env.SignalWorkflow(SignalCancel, CancelSignal{User: "ana", Reason: "wrong build"})
		}, time.Minute)
	})
	if st := exec.Stage("1"); st.Status != pipeline.StatusCanceled || st.WaitingForLock != "" {
		t.Errorf("stage %s, WaitingForLock %q", st.Status, st.WaitingForLock)
	}
	if !reflect.DeepEqual(released, []string{d.token}) {
		t.Errorf("released %v, want the queued request %s withdrawn", released, d.token)
	}
	if d.deployed {
		t.Error("deployed after the execution was cancelled while waiting for the lock")
	}
}

func TestClusterLockChecksItsHolderHoweverOftenItIsAsked(t *testing.T) {
	lt := newLockTest(t)
	lt.env.OnActivity("ExecutionRunning", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExecutionRunningInput) (activities.ExecutionRunningResult, error) {
			return activities.ExecutionRunningResult{Running: in.WorkflowID != "a"}, nil
		})
	// A busy cluster: another execution asks every 25 seconds while a, terminated, holds the lock.
	owners := []string{"b", "c", "d", "e", "f", "g"}
	for i, o := range owners {
		lt.at(time.Duration(i+1)*25*time.Second, func() { lt.acquire(o) })
	}
	lt.at(holderCheckInterval+time.Second, func() {
		if st := lt.state(); st.Holder == nil || st.Holder.Owner != "b" {
			t.Errorf("a minute after a's grant the lock is held by %+v, want b: the check of a was put off", st.Holder)
		}
	})
	for i, o := range owners {
		lt.at(200*time.Second+time.Duration(i)*time.Second, func() { lt.release(o) })
	}
	lt.start("a")

	lt.wantGranted(append([]string{"a"}, owners...)...)
	lt.wantEndedIdle()
}
