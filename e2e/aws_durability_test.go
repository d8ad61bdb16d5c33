package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/gennaker/gennaker/internal/awsfault"
	"github.com/gennaker/gennaker/internal/mototest"
)

// awsThroughProxy runs gennaker dev with one AWS account, aws-test, reaching a moto of the test's
// own through the fault proxy, so that the test controls what AWS answers and AWS's state outlives
// the gennaker process.
func awsThroughProxy(t *testing.T) (*devProcess, *awsfault.Proxy, *awsState) {
	return awsThroughProxyWith(t, "")
}

// awsThroughProxyWith is awsThroughProxy with more of the account's settings, as YAML lines
// indented to sit under it.
func awsThroughProxyWith(t *testing.T, extra string) (*devProcess, *awsfault.Proxy, *awsState) {
	t.Helper()
	moto := mototest.Start(t)
	moto.Seed(t, "us-east-1")
	proxy := awsfault.New(moto.URL, 42)
	t.Cleanup(proxy.Close)
	accounts := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(accounts, []byte(fmt.Sprintf("aws:\n- name: aws-test\n  endpoint: %s\n  regions:\n  - name: us-east-1\n", proxy.URL)+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newDevProcess(t)
	p.args = append(p.args, "--accounts", accounts, "--dev-local-kube=false")
	for k, v := range moto.Environ() {
		p.env = append(p.env, k+"="+v)
	}
	return p, proxy, newAWSState(t, moto.URL)
}

// prodDeploy is a deploy stage of cluster web-prod on aws-test with extra cluster settings.
func prodDeploy(extra map[string]any) map[string]any {
	cluster := map[string]any{"account": "aws-test", "application": "web", "stack": "prod",
		"availabilityZones": map[string]any{"us-east-1": []any{"us-east-1a", "us-east-1b"}}, "subnetType": "internal",
		"instanceType": "t3.micro", "securityGroups": []any{"web"}, "targetGroups": []any{"web"}, "amiName": "web-1.1.0",
		"capacity": map[string]any{"min": 2, "desired": 2, "max": 3}}
	for k, v := range extra {
		cluster[k] = v
	}
	return map[string]any{"refId": "1", "type": "deploy", "name": "Deploy", "clusters": []any{cluster}}
}

// launchTemplates lists the launch templates' names.
func (s *awsState) launchTemplates() []string {
	s.t.Helper()
	out, err := s.ec2.DescribeLaunchTemplates(context.Background(), &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		s.t.Fatal(err)
	}
	var names []string
	for _, lt := range out.LaunchTemplates {
		names = append(names, awssdk.ToString(lt.LaunchTemplateName))
	}
	slices.Sort(names)
	return names
}

// checkOneTemplateEach fails the test unless each group has exactly one launch template of its
// own and no template is left without its group.
func (s *awsState) checkOneTemplateEach(prefix string) {
	s.t.Helper()
	groups := s.groups(prefix)
	seen := map[string]int{}
	for _, lt := range s.launchTemplates() {
		if !strings.HasPrefix(lt, prefix) {
			continue
		}
		group := lt[:strings.LastIndex(lt, "-")]
		if _, ok := groups[group]; !ok {
			s.t.Errorf("launch template %s is left without its group", lt)
		}
		seen[group]++
	}
	for name := range groups {
		if seen[name] != 1 {
			s.t.Errorf("%s has %d launch templates, want 1", name, seen[name])
		}
	}
}

// killOnce kills the gennaker process the first time a call matches, after AWS acted on it and
// before gennaker reads the answer.
func killOnce(p *devProcess, proxy *awsfault.Proxy, matches func(awsfault.Call) bool) (killed func() bool) {
	var once sync.Once
	var mu sync.Mutex
	done := false
	proxy.SetHook(func(c awsfault.Call) {
		if !matches(c) {
			return
		}
		once.Do(func() {
			p.kill()
			mu.Lock()
			done = true
			mu.Unlock()
		})
	})
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		return done
	}
}

// waitKilled waits until the hook has killed the process.
func waitKilled(t *testing.T, killed func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !killed() {
		if time.Now().After(deadline) {
			t.Fatalf("gennaker was never killed %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAWSDeploysSurviveTheWorkerKilledMidCall kills gennaker (SIGKILL) right after AWS carried
// out a call and before gennaker read the answer: in the middle of creating a server group, of a
// red/black's disable and of a rollback. Each time the execution, taken up again by the restarted
// process, finishes as it would have, with exactly one new server group, no instance or launch
// template left over.
func TestAWSDeploysSurviveTheWorkerKilledMidCall(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p, proxy, aws := awsThroughProxy(t)
	api := p.start()

	// Mid-create.
	api.savePipeline("web", "first", map[string]any{"stages": []any{prodDeploy(nil)}})
	killed := killOnce(p, proxy, func(c awsfault.Call) bool {
		return c.Action == "CreateAutoScalingGroup" && c.Params.Get("AutoScalingGroupName") == "web-prod-v000"
	})
	first := api.startExecution("web", "first", nil)
	waitKilled(t, killed, "while creating web-prod-v000")
	proxy.SetHook(nil)
	api = p.start()
	if done := api.waitUntilDone(first.ID, 3*time.Minute); done.Status != "SUCCEEDED" || deployedIn(t, done, "1") != "web-prod-v000" {
		t.Fatalf("the deploy killed mid-create ended %s: %s", done.Status, done.describe())
	}
	if names := slices.Sorted(mapKeys(aws.groups("web-"))); !slices.Equal(names, []string{"web-prod-v000"}) {
		t.Errorf("after the create: groups %v", names)
	}
	aws.checkNoOrphans("web-")
	aws.checkOneTemplateEach("web-")

	// Mid-disable of red/black.
	api.savePipeline("web", "redblack", map[string]any{"stages": []any{prodDeploy(map[string]any{"strategy": "redblack"})}})
	killed = killOnce(p, proxy, func(c awsfault.Call) bool {
		return c.Action == "SuspendProcesses" && c.Params.Get("AutoScalingGroupName") == "web-prod-v000"
	})
	second := api.startExecution("web", "redblack", nil)
	waitKilled(t, killed, "while disabling web-prod-v000")
	proxy.SetHook(nil)
	api = p.start()
	if done := api.waitUntilDone(second.ID, 3*time.Minute); done.Status != "SUCCEEDED" || deployedIn(t, done, "1") != "web-prod-v001" {
		t.Fatalf("the red/black killed mid-disable ended %s: %s", done.Status, done.describe())
	}
	groups := aws.groups("web-prod-")
	if len(groups) != 2 || !groups["web-prod-v000"].disabled || groups["web-prod-v001"].disabled {
		t.Errorf("after the red/black: %+v", groups)
	}
	serving := aws.inTraffic("web")
	for _, id := range groups["web-prod-v001"].instances {
		if !serving[id] {
			t.Errorf("web-prod-v001's %s takes no traffic", id)
		}
	}
	aws.checkNoOrphans("web-")
	aws.checkOneTemplateEach("web-")

	// Mid-rollback: the new group never gets healthy, the deploy times out and rolls back.
	before := map[string]bool{}
	for _, id := range groups["web-prod-v001"].instances {
		before[id] = true
	}
	proxy.SetTargetHealth(awsfault.Unhealthy(func(id string) bool { return !before[id] }))
	failing := prodDeploy(map[string]any{"strategy": "redblack", "rollback": map[string]any{"onFailure": true, "destroyLatest": true}})
	failing["stageTimeoutMs"] = 20000
	api.savePipeline("web", "failing", map[string]any{"stages": []any{failing}})
	killed = killOnce(p, proxy, func(c awsfault.Call) bool {
		return c.Action == "SuspendProcesses" && c.Params.Get("AutoScalingGroupName") == "web-prod-v002"
	})
	third := api.startExecution("web", "failing", nil)
	waitKilled(t, killed, "while rolling back web-prod-v002")
	proxy.SetHook(nil)
	api = p.start()
	done := api.waitUntilDone(third.ID, 3*time.Minute)
	if s := done.mustStage(t, "1"); done.Status != "TERMINAL" || !strings.Contains(s.Error, "rolled back: disabled web-prod-v002, destroyed web-prod-v002") {
		t.Fatalf("the deploy killed mid-rollback ended %s: %s", done.Status, s.Error)
	}
	groups = aws.groups("web-prod-")
	if names := slices.Sorted(mapKeys(groups)); !slices.Equal(names, []string{"web-prod-v000", "web-prod-v001"}) || groups["web-prod-v001"].disabled {
		t.Errorf("after the rollback: %+v", groups)
	}
	if serving := aws.inTraffic("web"); len(serving) != 2 {
		t.Errorf("after the rollback %d instances serve, want web-prod-v001's 2", len(serving))
	}
	aws.checkNoOrphans("web-")
	aws.checkOneTemplateEach("web-")
}

// TestAWSDeploysThroughABadDay runs a release while AWS throttles or fails three calls in ten and
// answers each 200 ms late: every stage succeeds, and AWS holds exactly what a calm day leaves.
func TestAWSDeploysThroughABadDay(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p, proxy, aws := awsThroughProxy(t)
	api := p.start()
	proxy.SetRules(awsfault.Rule{Throttle: 0.2, ServerError: 0.1, Latency: 200 * time.Millisecond})

	stages := []any{
		prodDeploy(nil),
		withRef(prodDeploy(map[string]any{"strategy": "redblack", "maxRemainingAsgs": 2}), "2", "1"),
		withRef(prodDeploy(map[string]any{"strategy": "redblack", "maxRemainingAsgs": 2, "scaleDown": true}), "3", "2"),
		map[string]any{"refId": "4", "requisiteStageRefIds": []any{"3"}, "type": "resizeServerGroup", "credentials": "aws-test",
			"cluster": "web-prod", "regions": []any{"us-east-1"}, "action": "scale_up", "scaleNum": 1},
		map[string]any{"refId": "5", "requisiteStageRefIds": []any{"4"}, "type": "disableServerGroup", "credentials": "aws-test",
			"cluster": "web-prod", "regions": []any{"us-east-1"}, "desiredPercentage": 50},
	}
	api.savePipeline("web", "bad-day", map[string]any{"stages": stages})
	run := api.startExecution("web", "bad-day", nil)
	done := api.waitUntilDone(run.ID, 5*time.Minute)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("the release on a bad day ended %s: %s", done.Status, done.describe())
	}
	groups := aws.groups("web-prod-")
	if names := slices.Sorted(mapKeys(groups)); !slices.Equal(names, []string{"web-prod-v001", "web-prod-v002"}) {
		t.Errorf("groups %v, want web-prod-v001 and web-prod-v002", names)
	}
	if g := groups["web-prod-v002"]; g.disabled || len(g.instances) != 3 || g.capacity != [3]int32{3, 3, 4} {
		t.Errorf("web-prod-v002 %+v: want enabled, resized to 3/3/4", g)
	}
	if g := groups["web-prod-v001"]; !g.disabled || len(g.instances) != 0 {
		t.Errorf("web-prod-v001 %+v: want disabled and scaled down", g)
	}
	// Half of web-prod-v002's three instances, rounded up, are out of traffic.
	if serving := aws.inTraffic("web"); len(serving) != 1 {
		t.Errorf("%d instances serve, want 1", len(serving))
	}
	aws.checkNoOrphans("web-")
	aws.checkOneTemplateEach("web-")
	injected := 0
	for _, c := range proxy.Calls() {
		if c.Injected == "throttle" || c.Injected == "error" {
			injected++
		}
	}
	if injected < 10 {
		t.Errorf("only %d faults were injected: the day was not bad enough to prove anything", injected)
	}
	t.Logf("%d of %d AWS calls failed or were throttled", injected, len(proxy.Calls()))
}

// withRef gives a stage another refId and requisites.
func withRef(stage map[string]any, ref string, requires ...string) map[string]any {
	stage["refId"] = ref
	var reqs []any
	for _, r := range requires {
		reqs = append(reqs, r)
	}
	stage["requisiteStageRefIds"] = reqs
	return stage
}

// TestAWSBakeSurvivesAKillAndAFailure kills gennaker (SIGKILL) right after the bake sent its
// builder the provisioning script: the restarted process finishes the bake with one builder, one
// command, one image, and the builder terminated. A bake while SSM throttles half its calls
// succeeds. Then a bake whose script fails ends TERMINAL with what the script printed, its builder
// terminated.
func TestAWSBakeSurvivesAKillAndAFailure(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p, proxy, aws := awsThroughProxyWith(t, `  bakery:
    instanceType: t3.micro
    subnetType: internal
    baseImages:
    - baseOs: debian
      baseLabel: release
      regions: {us-east-1: debian-12}
`)
	api := p.start()
	bake := func(pkg string) map[string]any {
		return map[string]any{"stages": []any{map[string]any{"refId": "1", "type": "bake", "name": "Bake", "account": "aws-test",
			"regions": []any{"us-east-1"}, "package": pkg, "baseOs": "debian", "baseLabel": "release"}}}
	}
	api.savePipeline("web", "bake", bake("web=2.0.0"))
	killed := killOnce(p, proxy, func(c awsfault.Call) bool { return c.Action == "SendCommand" })
	e := api.startExecution("web", "bake", nil)
	waitKilled(t, killed, "after sending the provisioning script")
	proxy.SetHook(nil)
	api = p.start()
	done := api.waitUntilDone(e.ID, 3*time.Minute)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("the bake killed mid-provisioning ended %s: %s", done.Status, done.describe())
	}
	count := func(action string) int {
		n := 0
		for _, c := range proxy.Calls() {
			if c.Action == action {
				n++
			}
		}
		return n
	}
	if a, b, c := count("RunInstances"), count("SendCommand"), count("CreateImage"); a != 1 || b != 1 || c != 1 {
		t.Errorf("%d builders, %d commands and %d images made; want one each", a, b, c)
	}
	builder, _ := done.mustStage(t, "1").Outputs["builderTerminated"].(string)
	if builder == "" || aws.running()[builder] != "" {
		t.Errorf("builder %q is still running (outputs %v)", builder, done.mustStage(t, "1").Outputs)
	}

	// SSM throttling half its calls slows a bake down, and fails nothing.
	proxy.SetRules(awsfault.Rule{Actions: []string{"SendCommand", "GetCommandInvocation", "ListCommands"}, Throttle: 0.5})
	api.savePipeline("web", "throttled-bake", bake("web=2.0.1"))
	throttled := api.waitUntilDone(api.startExecution("web", "throttled-bake", nil).ID, 3*time.Minute)
	if throttled.Status != "SUCCEEDED" {
		t.Fatalf("a bake while SSM throttles ended %s: %s", throttled.Status, throttled.describe())
	}
	injected := 0
	for _, c := range proxy.Calls() {
		if c.Injected == "throttle" {
			injected++
		}
	}
	if injected == 0 {
		t.Error("SSM was never throttled")
	}
	proxy.SetRules()

	proxy.FailCommands("E: Unable to locate package nothing\n")
	api.savePipeline("web", "bad-bake", bake("nothing"))
	failed := api.waitUntilDone(api.startExecution("web", "bad-bake", nil).ID, 3*time.Minute)
	s := failed.mustStage(t, "1")
	if failed.Status != "TERMINAL" || !strings.Contains(s.Error, "the provisioning script failed") || !strings.Contains(s.Error, "Unable to locate package nothing") {
		t.Fatalf("a bake whose script fails ended %s: %s", failed.Status, s.Error)
	}
	if b, _ := s.Outputs["builderTerminated"].(string); b == "" || aws.running()[b] != "" {
		t.Errorf("the failed bake's builder %q is still running", b)
	}
}
