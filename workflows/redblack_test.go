package workflows

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// The deploy stages run here with every activity mocked: these tests are about what the workflow
// asks for and in which order. The activities themselves are tested against a real cluster.

// mockedDeploy runs one pipeline of Kubernetes stages and records the activities it calls.
type mockedDeploy struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu    sync.Mutex // activities run on goroutines of their own
	calls []activityCall
}

// activityCall is one activity the workflow ran, with its input.
type activityCall struct {
	name string
	args converter.EncodedValues
}

func newMockedDeploy(t *testing.T) *mockedDeploy {
	var s testsuite.WorkflowTestSuite
	d := &mockedDeploy{t: t, env: s.NewTestWorkflowEnvironment()}
	d.env.RegisterWorkflow(Pipeline)
	d.env.RegisterActivity(&activities.Kubernetes{})
	d.env.RegisterActivity(&activities.Artifacts{})
	d.env.RegisterActivity(&activities.Locks{})
	d.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.calls = append(d.calls, activityCall{name: info.ActivityType.Name, args: args})
	})
	return d
}

// run executes the pipeline. Mocks set before it take precedence over its defaults: no cluster
// to lock, and an error for any other activity the test did not expect.
func (d *mockedDeploy) run(config string, trigger pipeline.TriggerInfo) (pipeline.Execution, error) {
	d.t.Helper()
	d.env.OnActivity("DeployClusters", mock.Anything, mock.Anything).Return(activities.DeployClustersResult{}, nil)
	unexpected := func(name string) error {
		return temporal.NewNonRetryableApplicationError("unexpected call of "+name, "Unexpected", nil)
	}
	for name, zero := range map[string]any{
		"DeployManifest":       activities.DeployManifestResult{},
		"WaitForManifests":     activities.WaitForManifestsResult{},
		"ApplyTrafficStrategy": activities.TrafficStrategyResult{},
		"StartRollback":        activities.StartRollbackResult{},
		"FinishRollback":       activities.FinishRollbackResult{},
		"UndoDeployment":       activities.UndoDeploymentResult{},
		"FetchManifests":       activities.FetchManifestsResult{},
		"RequestClusterLock":   activities.RequestLockResult{},
	} {
		d.env.OnActivity(name, mock.Anything, mock.Anything).Return(zero, unexpected(name))
	}
	if trigger.Type == "" {
		trigger = pipeline.TriggerInfo{Type: "manual", User: "ana", Parameters: map[string]any{"env": "prod"}}
	}
	d.env.ExecuteWorkflow(Pipeline, PipelineInput{Pipeline: decode(d.t, config), PipelineVersion: 1, Trigger: trigger})
	if !d.env.IsWorkflowCompleted() {
		d.t.Fatal("workflow did not complete")
	}
	return queryRunningExecution(d.t, d.env), d.env.GetWorkflowError()
}

// called lists the activities run, in order.
func (d *mockedDeploy) called() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for _, c := range d.calls {
		names = append(names, c.name)
	}
	return names
}

// wantCalled checks the activities run after DeployClusters, in order.
func (d *mockedDeploy) wantCalled(want ...string) {
	d.t.Helper()
	got := slices.DeleteFunc(d.called(), func(n string) bool { return n == "DeployClusters" })
	if !slices.Equal(got, want) {
		d.t.Errorf("activities called\n got %v\nwant %v", got, want)
	}
}

// input decodes the input of the n-th call of an activity.
func (d *mockedDeploy) input(name string, n int, into any) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.calls {
		if c.name != name {
			continue
		}
		if n > 0 {
			n--
			continue
		}
		if err := c.args.Get(into); err != nil {
			d.t.Fatalf("decoding the input of %s: %v", name, err)
		}
		return
	}
	d.t.Fatalf("%s was not called that often", name)
}

var (
	webConfig = cloud.DeployedResource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "prod", Name: "web-config-v002", Version: "v002", Versioned: true}
	webV2     = cloud.DeployedResource{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "web-v002", Version: "v002", Versioned: true}
	apiV5     = cloud.DeployedResource{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "api-v005", Version: "v005", Versioned: true}
	webDeploy = cloud.DeployedResource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web"}

	// webV1Restored is the previous server group of web as a rollback scales it back.
	webV1Restored = cloud.Resource{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "prod", Name: "web-v001", UID: "uid-web-v001", Generation: 4}
	webRollback   = cloud.RollbackPlan{Region: "prod", Cluster: "replicaSet web", From: "web-v002", To: "web-v001",
		Services: []string{"service web"}, Replicas: 3, Wait: webV1Restored}
)

// appliedAs is what the API server stored of each deployed resource.
func appliedAs(ds ...cloud.DeployedResource) []cloud.Resource {
	out := make([]cloud.Resource, len(ds))
	for i, d := range ds {
		out[i] = cloud.Resource{APIVersion: d.APIVersion, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, UID: "uid-" + d.Name, Generation: 1}
	}
	return out
}

func deployedAs(ds ...cloud.DeployedResource) activities.DeployManifestResult {
	return activities.DeployManifestResult{Result: cloud.DeployResult{Deployed: ds, Applied: appliedAs(ds...)}}
}

// redBlackStage deploys a ConfigMap and the web ReplicaSet red/black; extra fields are added.
func redBlackStage(extra string) string {
	fields := `"account": "local",
		"trafficManagement": {"enabled": true, "options": {"enableTraffic": true, "services": ["service web"], "strategy": "redblack", "maxRemainingAsgs": 2, "scaleDown": true}},
		"manifests": [
			{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": "prod"}},
			{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "prod"}}
		]`
	if extra != "" {
		fields += ", " + extra
	}
	return pipelineJSON(stageJSON("1", "deployManifest", nil, fields))
}

func rolloutFailed() error {
	return temporal.NewNonRetryableApplicationError("ReplicaSet web-v002 in prod failed: 0 of 3 pods ready: ImagePullBackOff", "RolloutFailed", nil)
}

func TestRedBlackDeployMovesTrafficToEachNewReplicaSet(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig, webV2, apiV5), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: appliedAs(webConfig, webV2, apiV5)}).
		Return(activities.WaitForManifestsResult{}, nil)
	d.env.OnActivity("ApplyTrafficStrategy", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TrafficStrategyInput) (activities.TrafficStrategyResult, error) {
		return activities.TrafficStrategyResult{Result: cloud.TrafficStrategyResult{
			Enabled: []string{"replicaSet " + in.Strategy.ServerGroup}, Disabled: []string{"replicaSet older"}, ScaledDown: []string{"replicaSet older"},
		}}, nil
	})
	exec, err := d.run(redBlackStage(""), pipeline.TriggerInfo{})
	if err != nil {
		t.Fatal(err)
	}
	d.wantCalled("DeployManifest", "WaitForManifests", "ApplyTrafficStrategy", "ApplyTrafficStrategy")

	var deploy activities.DeployManifestInput
	d.input("DeployManifest", 0, &deploy)
	if deploy.Deploy.Traffic == nil || !slices.Equal(deploy.Deploy.Traffic.Services, []string{"service web"}) {
		t.Errorf("deployed with traffic options %+v, want the ReplicaSets kept out of service web", deploy.Deploy.Traffic)
	}
	for i, rs := range []cloud.DeployedResource{webV2, apiV5} {
		var got activities.TrafficStrategyInput
		d.input("ApplyTrafficStrategy", i, &got)
		want := activities.TrafficStrategyInput{Account: "local", Strategy: cloud.TrafficStrategy{
			Region: "prod", ServerGroup: rs.Name, Services: []string{"service web"}, EnableTraffic: true,
			Strategy: pipeline.StrategyRedBlack, MaxRemaining: 2, ScaleDown: true,
		}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("strategy %d\n got %+v\nwant %+v", i, got, want)
		}
	}
	moved, _ := exec.Stage("1").Outputs["trafficManagement"].([]any)
	if len(moved) != 2 {
		t.Fatalf("trafficManagement outputs %v", exec.Stage("1").Outputs["trafficManagement"])
	}
	first, _ := moved[0].(map[string]any)
	if first["serverGroup"] != "replicaSet web-v002" || first["namespace"] != "prod" || first["strategy"] != "redblack" ||
		!reflect.DeepEqual(first["enabled"], []any{"replicaSet web-v002"}) || !reflect.DeepEqual(first["scaledDown"], []any{"replicaSet older"}) {
		t.Errorf("trafficManagement output %v", first)
	}
}

// wantRollBack mocks a rollback of web-v002 to web-v001 that works.
func (d *mockedDeploy) wantRollBack() {
	d.env.OnActivity("StartRollback", mock.Anything, activities.StartRollbackInput{
		Account: "local", Rollback: cloud.RollbackRequest{Region: "prod", Application: "shop", From: "web-v002"},
	}).Return(activities.StartRollbackResult{Plan: webRollback}, nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{webV1Restored}}).
		Return(activities.WaitForManifestsResult{}, nil)
	d.env.OnActivity("FinishRollback", mock.Anything, activities.FinishRollbackInput{Account: "local", Plan: webRollback}).
		Return(activities.FinishRollbackResult{}, nil)
}

const rolledBack = "rolled back from replicaSet web-v002 to replicaSet web-v001"

func TestRolloutFailureRollsBackToThePreviousReplicaSet(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig, webV2), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: appliedAs(webConfig, webV2)}).
		Return(activities.WaitForManifestsResult{}, rolloutFailed())
	d.wantRollBack()
	exec, err := d.run(redBlackStage(`"rollback": {"onFailure": true}`), pipeline.TriggerInfo{})

	// The failed server group never took traffic: no strategy ran, and only it is rolled back.
	d.wantCalled("DeployManifest", "WaitForManifests", "StartRollback", "WaitForManifests", "FinishRollback")
	st := exec.Stage("1")
	if err == nil || st.Status != pipeline.StatusTerminal {
		t.Fatalf("stage %s, workflow error %v", st.Status, err)
	}
	for _, says := range []string{"ImagePullBackOff", rolledBack} {
		if !strings.Contains(st.Error, says) {
			t.Errorf("stage error %q does not say %q", st.Error, says)
		}
	}
	if got, _ := st.Outputs["rollback"].(string); !strings.Contains(got, rolledBack) {
		t.Errorf("rollback output %q", got)
	}
}

func TestRolloutTimeoutRollsBack(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig, webV2), nil)
	// The rollout never ends: the stage's timeout cancels the wait.
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: appliedAs(webConfig, webV2)}).
		After(24*time.Hour).Return(activities.WaitForManifestsResult{}, nil)
	d.wantRollBack()
	exec, _ := d.run(redBlackStage(`"rollback": {"onFailure": true}, "stageTimeoutMs": 60000`), pipeline.TriggerInfo{})

	d.wantCalled("DeployManifest", "WaitForManifests", "StartRollback", "WaitForManifests", "FinishRollback")
	st := exec.Stage("1")
	if st.Status != pipeline.StatusTerminal || !strings.Contains(st.Error, "timed out after 1m0s") || !strings.Contains(st.Error, rolledBack) {
		t.Errorf("stage %s, error %q", st.Status, st.Error)
	}
}

func TestARollbackIsNotCutShortByTheStageTimeout(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig, webV2), nil)
	// The rollout fails shortly before the stage's timeout, and the restored server group takes
	// longer than what remains to be ready.
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: appliedAs(webConfig, webV2)}).
		After(50*time.Second).Return(activities.WaitForManifestsResult{}, rolloutFailed())
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{webV1Restored}}).
		After(30*time.Second).Return(activities.WaitForManifestsResult{}, nil)
	d.wantRollBack()
	exec, _ := d.run(redBlackStage(`"rollback": {"onFailure": true}, "stageTimeoutMs": 60000`), pipeline.TriggerInfo{})

	d.wantCalled("DeployManifest", "WaitForManifests", "StartRollback", "WaitForManifests", "FinishRollback")
	st := exec.Stage("1")
	for _, says := range []string{"timed out after 1m0s", "ImagePullBackOff", rolledBack} {
		if !strings.Contains(st.Error, says) {
			t.Errorf("stage error %q does not say %q", st.Error, says)
		}
	}
}

func TestARollbackUnderWayFinishesWhenTheExecutionIsCancelled(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig, webV2), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: appliedAs(webConfig, webV2)}).
		After(10*time.Second).Return(activities.WaitForManifestsResult{}, rolloutFailed())
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{webV1Restored}}).
		After(30*time.Second).Return(activities.WaitForManifestsResult{}, nil)
	d.wantRollBack()
	d.env.RegisterDelayedCallback(func() {
		d.env.SignalWorkflow(SignalCancel, CancelSignal{User: "ana"})
	}, 20*time.Second)
	exec, _ := d.run(redBlackStage(`"rollback": {"onFailure": true}`), pipeline.TriggerInfo{})

	d.wantCalled("DeployManifest", "WaitForManifests", "StartRollback", "WaitForManifests", "FinishRollback")
	st := exec.Stage("1")
	if summary, _ := st.Outputs["rollback"].(string); st.Status != pipeline.StatusCanceled || !strings.Contains(summary, rolledBack) {
		t.Errorf("stage %s, outputs %v", st.Status, st.Outputs)
	}
}

func TestRolloutFailureWithoutRollbackOnFailureRollsNothingBack(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig, webV2), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, rolloutFailed())
	exec, _ := d.run(redBlackStage(`"rollback": {"onFailure": false}`), pipeline.TriggerInfo{})

	d.wantCalled("DeployManifest", "WaitForManifests")
	st := exec.Stage("1")
	if st.Status != pipeline.StatusTerminal || !strings.Contains(st.Error, "ImagePullBackOff") || strings.Contains(st.Error, "rolled") {
		t.Errorf("stage %s, error %q", st.Status, st.Error)
	}
	if _, ok := st.Outputs["rollback"]; ok {
		t.Errorf("outputs %v report a rollback", st.Outputs)
	}
}

func TestRolloutFailureUndoesADeployment(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig, webDeploy), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: appliedAs(webConfig, webDeploy)}).
		Return(activities.WaitForManifestsResult{}, temporal.NewNonRetryableApplicationError("Deployment web in prod failed: progress deadline exceeded", "RolloutFailed", nil))
	undone := cloud.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web", UID: "uid-web", Generation: 2}
	d.env.OnActivity("UndoDeployment", mock.Anything, activities.UndoDeploymentInput{Account: "local", Object: appliedAs(webDeploy)[0]}).
		Return(activities.UndoDeploymentResult{Restored: 6, Wait: undone}, nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{undone}}).
		Return(activities.WaitForManifestsResult{}, nil)
	stage := stageJSON("1", "deployManifest", nil, `"account": "local", "rollback": {"onFailure": true}, "manifests": [
		{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": "prod"}},
		{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}}]`)
	exec, _ := d.run(pipelineJSON(stage), pipeline.TriggerInfo{})

	d.wantCalled("DeployManifest", "WaitForManifests", "UndoDeployment", "WaitForManifests")
	st := exec.Stage("1")
	for _, says := range []string{"progress deadline exceeded", "rolled deployment web back to revision 6"} {
		if st.Status != pipeline.StatusTerminal || !strings.Contains(st.Error, says) {
			t.Errorf("stage %s, error %q does not say %q", st.Status, st.Error, says)
		}
	}
}

func TestRollbackClusterStage(t *testing.T) {
	d := newMockedDeploy(t)
	chosen := cloud.RollbackPlan{Region: "prod", Cluster: "replicaSet web", From: "web-v002", To: "web-v001"}
	d.env.OnActivity("StartRollback", mock.Anything, activities.StartRollbackInput{
		Account: "local", Rollback: cloud.RollbackRequest{Region: "prod", Application: "shop", Cluster: "replicaSet web", ChooseOnly: true},
	}).Return(activities.StartRollbackResult{Plan: chosen}, nil)
	d.env.OnActivity("StartRollback", mock.Anything, activities.StartRollbackInput{
		Account: "local", Rollback: cloud.RollbackRequest{Region: "prod", Application: "shop", Cluster: "replicaSet web"},
	}).Return(activities.StartRollbackResult{Plan: webRollback}, nil)
	// The lock is free: it is granted as soon as it is asked for.
	var token string
	d.env.OnActivity("RequestClusterLock", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RequestLockInput) (activities.RequestLockResult, error) {
		if in.LockID != "gennaker-lock/local/prod/replicaSet web" {
			t.Errorf("lock requested with %+v", in)
		}
		d.mu.Lock()
		token = in.Request.Token
		d.mu.Unlock()
		d.env.SignalWorkflow(activities.SignalLockGranted, activities.LockGrant{Token: in.Request.Token})
		return activities.RequestLockResult{}, nil
	})
	var released []string
	d.env.OnSignalExternalWorkflow(mock.Anything, "gennaker-lock/local/prod/replicaSet web", "", activities.SignalLockRelease, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			// Released only once the rollback is done.
			if n := len(d.calls); n == 0 || d.calls[n-1].name != "FinishRollback" {
				t.Errorf("lock released after %v", d.calls)
			}
			released = append(released, arg.(activities.LockRelease).Token)
			return nil
		})
	d.env.OnActivity("WaitForManifests", mock.Anything, activities.WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{webV1Restored}}).
		Return(activities.WaitForManifestsResult{}, nil)
	d.env.OnActivity("FinishRollback", mock.Anything, activities.FinishRollbackInput{Account: "local", Plan: webRollback}).
		Return(activities.FinishRollbackResult{}, nil)
	stage := stageJSON("1", "rollbackCluster", nil, `"account": "local", "cluster": "replicaSet web", "location": "prod"`)
	exec, err := d.run(pipelineJSON(stage), pipeline.TriggerInfo{})
	if err != nil {
		t.Fatal(err)
	}

	d.wantCalled("StartRollback", "RequestClusterLock", "StartRollback", "WaitForManifests", "FinishRollback")
	if token == "" || !slices.Equal(released, []string{token}) {
		t.Errorf("released %v, want the lock asked with %q", released, token)
	}
	out := exec.Stage("1").Outputs
	rb, _ := out["rollback"].(map[string]any)
	if rb["from"] != "replicaSet web-v002" || rb["to"] != "replicaSet web-v001" || rb["namespace"] != "prod" || rb["cluster"] != "replicaSet web" {
		t.Errorf("rollback outputs %v", rb)
	}
	if lock, _ := out["clusterLock"].(map[string]any); lock["waitedMs"] != float64(0) {
		t.Errorf("clusterLock outputs %v", out["clusterLock"])
	}
}

// artifactPipeline deploys manifests read from the pipeline's expected artifact "manifests", with
// the image bound from the expected artifact "image".
func artifactPipeline(expected string) string {
	stage := stageJSON("1", "deployManifest", nil, `"account": "local", "source": "artifact", "manifestArtifactId": "manifests", "requiredArtifactIds": ["image"]`)
	return `{"application": "shop", "name": "deploy", "expectedArtifacts": ` + expected + `, "stages": [` + stage + `]}`
}

const webExpectedArtifacts = `[
	{"id": "manifests", "displayName": "web manifests", "matchArtifact": {"type": "http/file", "name": "web\\.yaml"}},
	{"id": "image", "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/web"}}
]`

var (
	webManifestsArtifact = pipeline.Artifact{Type: "http/file", Name: "web.yaml", Reference: "https://config.example.com/web.yaml"}
	webImageArtifact     = pipeline.Artifact{Type: "docker/image", Name: "gcr.io/shop/web", Version: "1.4.2", Reference: "gcr.io/shop/web@sha256:1f2e"}
)

func TestDeployManifestsFromATriggerArtifact(t *testing.T) {
	d := newMockedDeploy(t)
	d.env.OnActivity("FetchManifests", mock.Anything, activities.FetchManifestsInput{Artifact: webManifestsArtifact}).Return(activities.FetchManifestsResult{Manifests: []any{
		map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "web", "labels": map[string]any{"env": "${parameters.env}", "by": "${trigger.user}"}}},
	}}, nil)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webV2), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
	// A file that is not a manifest shows the artifact the trigger did not mean.
	other := pipeline.Artifact{Type: "http/file", Name: "api.yaml", Reference: "https://config.example.com/api.yaml"}
	exec, err := d.run(artifactPipeline(webExpectedArtifacts), pipeline.TriggerInfo{
		Type: "manual", User: "ana", Parameters: map[string]any{"env": "prod"},
		Artifacts: []pipeline.Artifact{other, webImageArtifact, webManifestsArtifact},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.wantCalled("FetchManifests", "DeployManifest", "WaitForManifests")
	var deploy activities.DeployManifestInput
	d.input("DeployManifest", 0, &deploy)
	want := []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "web", "labels": map[string]any{"env": "prod", "by": "ana"}}}}
	if !reflect.DeepEqual(deploy.Deploy.Manifests, want) {
		t.Errorf("deployed manifests %v, want the fetched ones with their expressions evaluated", deploy.Deploy.Manifests)
	}
	image := pipeline.Artifact{Type: "docker/image", Name: "gcr.io/shop/web", Version: "1.4.2", Reference: "gcr.io/shop/web@sha256:1f2e"}
	if !reflect.DeepEqual(deploy.Deploy.RequiredArtifacts, []pipeline.Artifact{image}) {
		t.Errorf("required artifacts %+v", deploy.Deploy.RequiredArtifacts)
	}
	if len(deploy.Deploy.Artifacts) != 3 || !slices.ContainsFunc(deploy.Deploy.Artifacts, func(a pipeline.Artifact) bool { return reflect.DeepEqual(a, image) }) {
		t.Errorf("artifacts to bind %+v, want the trigger's", deploy.Deploy.Artifacts)
	}
	if exec.Stage("1").Status != pipeline.StatusSucceeded {
		t.Errorf("stage %s: %s", exec.Stage("1").Status, exec.Stage("1").Error)
	}
}

// TestDeployFromArtifactsBoundAtStart: an execution started with its expected artifacts bound
// (as every start since binding at start does) deploys what they were bound to, even if the
// trigger's artifacts would match something else now.
func TestDeployFromArtifactsBoundAtStart(t *testing.T) {
	d := newMockedDeploy(t)
	bound := pipeline.Artifact{Type: "http/file", Name: "web.yaml", Reference: "https://config.example.com/web-pinned.yaml"}
	d.env.OnActivity("FetchManifests", mock.Anything, activities.FetchManifestsInput{Artifact: bound}).Return(activities.FetchManifestsResult{Manifests: []any{
		map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "web"}},
	}}, nil)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webV2), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
	image := webImageArtifact
	resolved := []pipeline.ExpectedArtifact{
		{ID: "manifests", MatchArtifact: pipeline.Artifact{Type: "http/file"}, BoundArtifact: &bound},
		{ID: "image", MatchArtifact: pipeline.Artifact{Type: "docker/image"}, BoundArtifact: &image},
	}
	_, err := d.run(artifactPipeline(webExpectedArtifacts), pipeline.TriggerInfo{Type: "manual",
		Artifacts: []pipeline.Artifact{webManifestsArtifact, webImageArtifact}, ResolvedExpectedArtifacts: resolved})
	if err != nil {
		t.Fatal(err)
	}
	d.wantCalled("FetchManifests", "DeployManifest", "WaitForManifests")
}

// TestDeployFromAnArtifactTheTriggerLacks: an execution started before expected artifacts were
// bound at start (or a child pipeline's, when they could not all be bound) resolves each when a
// stage uses it, and the stage says which one is missing.
func TestDeployFromAnArtifactTheTriggerLacks(t *testing.T) {
	tests := []struct {
		name      string
		expected  string
		artifacts []pipeline.Artifact
		says      string
	}{
		{
			name:      "manifests",
			expected:  webExpectedArtifacts,
			artifacts: []pipeline.Artifact{webImageArtifact},
			says:      `expected artifact "web manifests" (manifests) (type http/file, name "web\\.yaml") is not among the trigger's artifacts, and it has no default to use`,
		},
		{
			name:      "required image",
			expected:  webExpectedArtifacts,
			artifacts: []pipeline.Artifact{webManifestsArtifact},
			says:      `expected artifact "image" (type docker/image, name "gcr.io/shop/web") is not among the trigger's artifacts`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newMockedDeploy(t)
			d.env.OnActivity("FetchManifests", mock.Anything, mock.Anything).Return(activities.FetchManifestsResult{Manifests: []any{
				map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "web"}},
			}}, nil)
			exec, err := d.run(artifactPipeline(tt.expected), pipeline.TriggerInfo{Type: "manual", Artifacts: tt.artifacts})
			st := exec.Stage("1")
			if err == nil || st.Status != pipeline.StatusTerminal || !strings.Contains(st.Error, tt.says) {
				t.Errorf("stage %s, error %q; want it to say %s", st.Status, st.Error, tt.says)
			}
			if slices.Contains(d.called(), "DeployManifest") {
				t.Error("deployed without the artifact")
			}
		})
	}
}

func TestDeployFromAnExpectedArtifactsDefault(t *testing.T) {
	d := newMockedDeploy(t)
	fallback := pipeline.Artifact{Type: "embedded/base64", Name: "web.yaml", Reference: "a2luZDogQ29uZmlnTWFw"}
	d.env.OnActivity("FetchManifests", mock.Anything, activities.FetchManifestsInput{Artifact: fallback}).Return(activities.FetchManifestsResult{Manifests: []any{
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "web-config"}},
	}}, nil)
	d.env.OnActivity("DeployManifest", mock.Anything, mock.Anything).Return(deployedAs(webConfig), nil)
	d.env.OnActivity("WaitForManifests", mock.Anything, mock.Anything).Return(activities.WaitForManifestsResult{}, nil)
	expected := `[
		{"id": "manifests", "matchArtifact": {"type": "http/file", "name": "web.yaml"}, "useDefaultArtifact": true,
		 "defaultArtifact": {"type": "embedded/base64", "name": "web.yaml", "reference": "a2luZDogQ29uZmlnTWFw"}},
		{"id": "image", "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/web"}}
	]`
	_, err := d.run(artifactPipeline(expected), pipeline.TriggerInfo{Type: "manual", Artifacts: []pipeline.Artifact{webImageArtifact}})
	if err != nil {
		t.Fatal(err)
	}
	d.wantCalled("FetchManifests", "DeployManifest", "WaitForManifests")
}
