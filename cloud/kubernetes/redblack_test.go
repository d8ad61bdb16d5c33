package kubernetes

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// webReplicaSet is a ReplicaSet of cluster "replicaSet web" running image.
func webReplicaSet(t *testing.T, image string) []any {
	return docs(t, fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {run: web}
  template:
    metadata:
      labels: {run: web}
    spec:
      containers: [{name: web, image: %q}]`, image))
}

const webService = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {svc: web}
  ports: [{port: 80}]`

var webTraffic = &cloud.TrafficOptions{Services: []string{"service web"}}

// takingTraffic lists the cluster's ReplicaSets whose pods the web Service selects, and each one's
// replicas.
func (e *env) takingTraffic() (taking []string, replicas map[string]int64) {
	e.t.Helper()
	replicas = map[string]int64{}
	for _, rs := range e.list("ReplicaSet", "") {
		n, _ := intAt(rs.Object, "spec", "replicas")
		replicas[rs.GetName()] = n
		if rs.GetDeletionTimestamp() == nil && stringMapAt(rs.Object, "spec", "template", "metadata", "labels")["svc"] == "web" {
			taking = append(taking, rs.GetName())
		}
	}
	slices.Sort(taking)
	return taking, replicas
}

func (e *env) strategy(sg, strategy string, opts cloud.TrafficStrategy) cloud.TrafficStrategyResult {
	e.t.Helper()
	opts.Region, opts.ServerGroup, opts.Services, opts.EnableTraffic, opts.Strategy = e.ns, sg, webTraffic.Services, true, strategy
	res, err := e.p.ApplyStrategy(e.t.Context(), opts)
	if err != nil {
		e.t.Fatalf("ApplyStrategy %s %s: %v", strategy, sg, err)
	}
	return res
}

func TestRedBlackHighlanderAndRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "redblack")
	ctx := t.Context()

	// The first server group goes in without traffic and takes it once ready.
	res := e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: append(docs(t, webService), webReplicaSet(t, "example.com/web:1")...)})
	if got := res.Deployed[1].Name; got != "web-v000" {
		t.Fatalf("deployed %v", res.Deployed)
	}
	if taking, _ := e.takingTraffic(); len(taking) != 0 {
		t.Fatalf("before it is ready, %v take traffic", taking)
	}
	if lb := e.get("ReplicaSet", "web-v000").GetAnnotations()[AnnotationLoadBalancers]; lb != `["service web"]` {
		t.Errorf("load balancers annotation %q", lb)
	}
	e.waitStatus("ReplicaSet", "web-v000", false, time.Minute)
	if got := e.strategy("web-v000", pipeline.StrategyRedBlack, cloud.TrafficStrategy{}); !slices.Equal(got.Enabled, []string{"replicaSet web-v000"}) || len(got.Disabled) != 0 {
		t.Errorf("first red/black: %+v", got)
	}

	// Red/black: the new one takes traffic, the old one leaves it and is scaled down.
	e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: webReplicaSet(t, "example.com/web:2")})
	if taking, _ := e.takingTraffic(); !slices.Equal(taking, []string{"web-v000"}) {
		t.Fatalf("while web-v001 rolls out, %v take traffic", taking)
	}
	e.waitStatus("ReplicaSet", "web-v001", false, time.Minute)
	got := e.strategy("web-v001", pipeline.StrategyRedBlack, cloud.TrafficStrategy{ScaleDown: true})
	if !slices.Equal(got.Disabled, []string{"replicaSet web-v000"}) || !slices.Equal(got.ScaledDown, []string{"replicaSet web-v000"}) {
		t.Errorf("red/black: %+v", got)
	}
	// Done twice, nothing more changes.
	if again := e.strategy("web-v001", pipeline.StrategyRedBlack, cloud.TrafficStrategy{ScaleDown: true}); len(again.Disabled)+len(again.ScaledDown)+len(again.Deleted) != 0 {
		t.Errorf("red/black again: %+v", again)
	}
	taking, replicas := e.takingTraffic()
	if !slices.Equal(taking, []string{"web-v001"}) || replicas["web-v000"] != 0 {
		t.Fatalf("after red/black: %v take traffic, replicas %v", taking, replicas)
	}
	if a := e.get("ReplicaSet", "web-v000").GetAnnotations()[AnnotationReplicasBeforeScaleDown]; a != "2" {
		t.Errorf("replicas before scale down %q", a)
	}
	if pods := e.list("Pod", "run=web,svc=web"); len(pods) == 0 {
		t.Error("no running pod carries the service's label")
	}

	// A server group that is not ready never takes traffic from one that is.
	e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: webReplicaSet(t, "example.com/web:never-ready")})
	_, err := e.p.ApplyStrategy(ctx, cloud.TrafficStrategy{Region: e.ns, ServerGroup: "web-v002", Services: webTraffic.Services, EnableTraffic: true, Strategy: pipeline.StrategyRedBlack})
	if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("red/black to a server group that is not ready: %v, want a refusal worth retrying", err)
	}
	if taking, _ := e.takingTraffic(); !slices.Equal(taking, []string{"web-v001"}) {
		t.Fatalf("after the refused red/black, %v take traffic", taking)
	}

	// Rollback from web-v001: web-v000 is scaled back, waited for, enabled, then web-v001 leaves.
	plan, err := e.p.StartRollback(ctx, cloud.RollbackRequest{Region: e.ns, Application: "web", Cluster: "replicaSet web"})
	if err != nil {
		t.Fatalf("StartRollback: %v", err)
	}
	if plan.From != "web-v001" || plan.To != "web-v000" || plan.Replicas != 2 || !slices.Equal(plan.Services, []string{"service web"}) {
		t.Fatalf("rollback plan %+v", plan)
	}
	if err := e.p.FinishRollback(ctx, plan); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("finishing before web-v000 is ready: %v", err)
	}
	e.waitStatus("ReplicaSet", "web-v000", false, time.Minute)
	if err := e.p.FinishRollback(ctx, plan); err != nil {
		t.Fatalf("FinishRollback: %v", err)
	}
	if taking, _ := e.takingTraffic(); !slices.Equal(taking, []string{"web-v000"}) {
		t.Fatalf("after the rollback, %v take traffic", taking)
	}

	// Highlander: once the new one takes traffic, every other server group is deleted.
	e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: webReplicaSet(t, "example.com/web:3")})
	e.waitStatus("ReplicaSet", "web-v003", false, time.Minute)
	got = e.strategy("web-v003", pipeline.StrategyHighlander, cloud.TrafficStrategy{})
	if !slices.Equal(got.Deleted, []string{"replicaSet web-v000", "replicaSet web-v001", "replicaSet web-v002"}) {
		t.Errorf("highlander: %+v", got)
	}
	eventually(t, 30*time.Second, "older server groups deleted", func() string {
		if names := e.versions("ReplicaSet", "web"); !slices.Equal(names, []string{"web-v003"}) {
			return fmt.Sprint(names)
		}
		return ""
	})
	if _, err := e.p.StartRollback(ctx, cloud.RollbackRequest{Region: e.ns, Application: "web", Cluster: "replicaSet web"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no server group older") {
		t.Errorf("rollback with nothing to go back to: %v", err)
	}
}

func TestRedBlackMaxRemaining(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "maxremaining")
	e.deploy(cloud.DeployRequest{Application: "web", Manifests: docs(t, webService)})
	for i := range 3 {
		e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: webReplicaSet(t, fmt.Sprintf("example.com/web:%d", i))})
		sg := fmt.Sprintf("web-v%03d", i)
		e.waitStatus("ReplicaSet", sg, false, time.Minute)
		e.strategy(sg, pipeline.StrategyRedBlack, cloud.TrafficStrategy{MaxRemaining: 2})
	}
	eventually(t, 30*time.Second, "two server groups kept", func() string {
		if names := e.versions("ReplicaSet", "web"); !slices.Equal(names, []string{"web-v001", "web-v002"}) {
			return fmt.Sprint(names)
		}
		return ""
	})
	if taking, _ := e.takingTraffic(); !slices.Equal(taking, []string{"web-v002"}) {
		t.Errorf("%v take traffic", taking)
	}
}

func TestTrafficManagementRefusesWhatCannotWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "trafficrefused")
	deployment := docs(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  selector:
    matchLabels: {run: api}
  template:
    metadata:
      labels: {run: api}
    spec:
      containers: [{name: api, image: example.com/api:1}]`)
	for name, in := range map[string]cloud.DeployRequest{
		"a Deployment":      {Application: "web", Traffic: webTraffic, Manifests: append(docs(t, webService), deployment...)},
		"a missing service": {Application: "web", Traffic: &cloud.TrafficOptions{Services: []string{"service nope"}}, Manifests: webReplicaSet(t, "x:1")},
		"not a service":     {Application: "web", Traffic: &cloud.TrafficOptions{Services: []string{"ingress web"}}, Manifests: webReplicaSet(t, "x:1")},
	} {
		if _, err := e.p.Deploy(t.Context(), in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	clusters, err := e.p.DeployClusters(cloud.DeployRequest{Application: "web", Manifests: append(append(docs(t, webService), deployment...), webReplicaSet(t, "x:1")...)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []cloud.ClusterRef{{Region: e.ns, Cluster: "deployment api"}, {Region: e.ns, Cluster: "replicaSet web"}}; !slices.Equal(clusters, want) {
		t.Errorf("clusters %v, want %v", clusters, want)
	}
}

func TestRollbackSkipsServerGroupsThatNeverServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "neverserved")
	ctx := t.Context()
	e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: append(docs(t, webService), webReplicaSet(t, "example.com/web:1")...)})
	e.waitStatus("ReplicaSet", "web-v000", false, time.Minute)
	e.strategy("web-v000", pipeline.StrategyRedBlack, cloud.TrafficStrategy{})
	// web-v001 never gets ready, so it never serves; web-v002 replaces web-v000.
	e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: webReplicaSet(t, "example.com/web:never-ready")})
	e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: webReplicaSet(t, "example.com/web:3")})
	e.waitStatus("ReplicaSet", "web-v002", false, time.Minute)
	e.strategy("web-v002", pipeline.StrategyRedBlack, cloud.TrafficStrategy{})

	plan, err := e.p.StartRollback(ctx, cloud.RollbackRequest{Region: e.ns, Cluster: "replicaSet web", ChooseOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.From != "web-v002" || plan.To != "web-v000" {
		t.Errorf("rollback from %s to %s, want web-v002 to web-v000, past web-v001 which never served", plan.From, plan.To)
	}

	// A server group that asks for no replicas never takes traffic.
	empty := webReplicaSet(t, "example.com/web:4")
	empty[0].(map[string]any)["spec"].(map[string]any)["replicas"] = 0
	e.deploy(cloud.DeployRequest{Application: "web", Traffic: webTraffic, Manifests: empty})
	e.waitStatus("ReplicaSet", "web-v003", false, time.Minute)
	_, err = e.p.ApplyStrategy(ctx, cloud.TrafficStrategy{Region: e.ns, ServerGroup: "web-v003", Services: webTraffic.Services, EnableTraffic: true, Strategy: pipeline.StrategyHighlander})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no replicas") {
		t.Errorf("traffic to an empty server group: %v", err)
	}
	if taking, _ := e.takingTraffic(); !slices.Equal(taking, []string{"web-v002"}) {
		t.Errorf("after the refusal, %v take traffic", taking)
	}
}

func TestRollBackDeploymentGoesBackOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "rollbackdeploy")
	ctx := t.Context()
	revision := func() string { return e.get("Deployment", "web").GetAnnotations()[AnnotationRevision] }
	// isRevision is done ("") once the Deployment is at revision want; an annotation not written
	// yet is not done, or the next deploy could reach the controller before the first one did.
	isRevision := func(want string) func() string {
		return func() string {
			if got := revision(); got != want {
				return fmt.Sprintf("at revision %q", got)
			}
			return ""
		}
	}
	first := e.deploy(cloud.DeployRequest{Application: "web", Manifests: simpleDeployment(t, "web", "example.com/web:1", 1)})
	eventually(t, 30*time.Second, "revision 1", isRevision("1"))
	// A first deploy has nothing to go back to.
	if restored, _, err := e.p.RollBackDeployment(ctx, e.ns, "web", first.Applied[0].Generation); err != nil || restored != 0 {
		t.Fatalf("rolling back the first revision: restored %d, %v", restored, err)
	}
	failed := e.deploy(cloud.DeployRequest{Application: "web", Manifests: simpleDeployment(t, "web", "example.com/web:2", 1)})
	eventually(t, 30*time.Second, "revision 2", isRevision("2"))

	image := func() any { return at(e.get("Deployment", "web").Object, "spec.template.spec.containers[0].image") }
	for attempt := range 2 {
		restored, wait, err := e.p.RollBackDeployment(ctx, e.ns, "web", failed.Applied[0].Generation)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		// Run twice, as a retry after a crash would, it still goes back one revision only.
		if image() != "example.com/web:1" || wait.Name != "web" || (attempt == 0 && restored != 1) {
			t.Errorf("attempt %d: restored %d, image %v, wait %+v", attempt, restored, image(), wait)
		}
		// Once revision 1's template is back as revision 3, going back again would restore web:2.
		eventually(t, 30*time.Second, "revision 3", isRevision("3"))
	}
}
