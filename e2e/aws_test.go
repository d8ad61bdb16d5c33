package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/gennaker/gennaker/internal/awsfault"
	"github.com/gennaker/gennaker/internal/localaws"
	"github.com/gennaker/gennaker/internal/mototest"
)

// requireLocalAWS skips the test where moto_server is missing (gennaker dev then runs no local
// AWS), except under CI, which must run it.
func requireLocalAWS(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("this AWS test needs moto_server, which CI must have")
		}
		t.Skip("moto_server is not installed, so gennaker dev runs no local AWS: pip install 'moto[server]'")
	}
}

// awsState reads an AWS endpoint as the test's oracle: what is really there, never what an
// execution says.
type awsState struct {
	t   *testing.T
	asg *autoscaling.Client
	ec2 *ec2.Client
	lb  *elasticloadbalancingv2.Client
}

func newAWSState(t *testing.T, endpoint string) *awsState {
	return newAWSStateIn(t, endpoint, "us-east-1")
}

// newAWSStateIn reads a region of an AWS endpoint.
func newAWSStateIn(t *testing.T, endpoint, region string) *awsState {
	cfg := localaws.Config(endpoint, region)
	return &awsState{t: t, asg: autoscaling.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg), lb: elasticloadbalancingv2.NewFromConfig(cfg)}
}

// group is an Auto Scaling group as the oracle sees it.
type group struct {
	name      string
	disabled  bool
	instances []string
	capacity  [3]int32
}

func (s *awsState) groups(prefix string) map[string]group {
	s.t.Helper()
	out, err := s.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		s.t.Fatal(err)
	}
	groups := map[string]group{}
	for _, g := range out.AutoScalingGroups {
		name := awssdk.ToString(g.AutoScalingGroupName)
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		sg := group{name: name, capacity: [3]int32{awssdk.ToInt32(g.MinSize), awssdk.ToInt32(g.DesiredCapacity), awssdk.ToInt32(g.MaxSize)}}
		for _, p := range g.SuspendedProcesses {
			sg.disabled = sg.disabled || awssdk.ToString(p.ProcessName) == "AddToLoadBalancer"
		}
		for _, i := range g.Instances {
			sg.instances = append(sg.instances, awssdk.ToString(i.InstanceId))
		}
		groups[name] = sg
	}
	return groups
}

// inTraffic lists the instances a target group sends requests: healthy there and running in EC2.
func (s *awsState) inTraffic(targetGroup string) map[string]bool {
	s.t.Helper()
	ctx := context.Background()
	tgs, err := s.lb.DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{Names: []string{targetGroup}})
	if err != nil {
		s.t.Fatal(err)
	}
	health, err := s.lb.DescribeTargetHealth(ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: tgs.TargetGroups[0].TargetGroupArn})
	if err != nil {
		s.t.Fatal(err)
	}
	running := s.running()
	out := map[string]bool{}
	for _, d := range health.TargetHealthDescriptions {
		if id := awssdk.ToString(d.Target.Id); d.TargetHealth.State == "healthy" && running[id] != "" {
			out[id] = true
		}
	}
	return out
}

// running maps each running instance to the Auto Scaling group it belongs to ("-" for none).
func (s *awsState) running() map[string]string {
	s.t.Helper()
	out, err := s.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("instance-state-name"), Values: []string{"running", "pending"}}}})
	if err != nil {
		s.t.Fatal(err)
	}
	ids := map[string]string{}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			owner := "-"
			for _, tag := range i.Tags {
				if awssdk.ToString(tag.Key) == "aws:autoscaling:groupName" {
					owner = awssdk.ToString(tag.Value)
				}
			}
			ids[awssdk.ToString(i.InstanceId)] = owner
		}
	}
	return ids
}

// checkNoOrphans fails the test for an instance that runs outside every group, or in a group
// that no longer exists, and for a group with more instances than it asks for.
func (s *awsState) checkNoOrphans(prefix string) {
	s.t.Helper()
	groups := s.groups(prefix)
	for id, owner := range s.running() {
		if !strings.HasPrefix(owner, prefix) {
			continue
		}
		if _, ok := groups[owner]; !ok {
			s.t.Errorf("instance %s runs for %s, which is gone", id, owner)
		}
	}
	for _, g := range groups {
		if int32(len(g.instances)) != g.capacity[1] {
			s.t.Errorf("%s has %d instances for a desired capacity of %d", g.name, len(g.instances), g.capacity[1])
		}
	}
}

// release runs examples/release-aws.json once, approving the judgment, and returns the server
// groups it deployed to staging and production.
func release(t *testing.T, api *apiClient) (staging, prod string) {
	t.Helper()
	run := api.startExecution("web", "release-aws", map[string]any{"user": "ana"})
	waiting := api.waitForStage(run.ID, "3", "RUNNING", 3*time.Minute)
	staging = deployedIn(t, waiting, "2")
	if got := waiting.mustStage(t, "3").Context["instructions"]; !strings.Contains(fmt.Sprint(got), staging) {
		t.Errorf("judgment instructions %q do not name %s", got, staging)
	}
	api.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+run.ID+"/stages/3/judgment",
		`{"judgmentStatus": "continue", "judgmentInput": "ship"}`, nil)
	done := api.waitUntilDone(run.ID, 3*time.Minute)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("release ended %s: %s", done.Status, done.describe())
	}
	return staging, deployedIn(t, done, "4")
}

// deployedIn reads the server group a deploy stage made in us-east-1 from its outputs.
func deployedIn(t *testing.T, e execution, refID string) string {
	t.Helper()
	groups, _ := e.mustStage(t, refID).Outputs["deploy.server.groups"].(map[string]any)
	names := toStrings(groups["us-east-1"])
	if len(names) != 1 {
		t.Fatalf("stage %s deployed %v", refID, groups)
	}
	return names[0]
}

// TestAWSReleaseAndRollback runs examples/release-aws.json against the local AWS that gennaker dev
// starts: three releases red/black to staging and production, then examples/rollback-aws.json.
// What AWS holds is checked after each: one group serving per cluster, the one before it disabled,
// the oldest destroyed, no instance left over.
func TestAWSReleaseAndRollback(t *testing.T) {
	requireLocalAWS(t)
	t.Parallel()
	p := newDevProcess(t)
	api := p.start()
	if p.awsURL == "" {
		t.Fatalf("gennaker dev started no local AWS:\n%s", p.out.String())
	}
	aws := newAWSState(t, p.awsURL)
	api.savePipeline("web", "release-aws", readExample(t, "release-aws.json"))
	api.savePipeline("web", "rollback-aws", readExample(t, "rollback-aws.json"))

	var prods []string
	for i := range 3 {
		staging, prod := release(t, api)
		if want := fmt.Sprintf("web-prod-v%03d", i); prod != want || staging != fmt.Sprintf("web-staging-v%03d", i) {
			t.Fatalf("release %d deployed %s and %s, want %s", i+1, staging, prod, want)
		}
		prods = append(prods, prod)
		groups := aws.groups("web-prod-")
		serving := aws.inTraffic("web")
		for _, id := range groups[prod].instances {
			if !serving[id] {
				t.Errorf("release %d: %s's instance %s takes no traffic", i+1, prod, id)
			}
		}
		if len(serving) != 3 {
			t.Errorf("release %d: %d instances in production's traffic, want the new group's 3", i+1, len(serving))
		}
		if i > 0 && !groups[prods[i-1]].disabled {
			t.Errorf("release %d: %s is not disabled", i+1, prods[i-1])
		}
		aws.checkNoOrphans("web-")
	}
	// maxRemainingAsgs 2: the third release destroyed the first.
	if names := slices.Sorted(mapKeys(aws.groups("web-prod-"))); !slices.Equal(names, []string{"web-prod-v001", "web-prod-v002"}) {
		t.Errorf("production server groups %v, want web-prod-v001 and web-prod-v002", names)
	}
	// scaleDown: staging's disabled group is scaled down to nothing.
	if g := aws.groups("web-staging-")["web-staging-v001"]; !g.disabled || len(g.instances) != 0 {
		t.Errorf("staging's previous server group: disabled %v with %d instances, want disabled with none", g.disabled, len(g.instances))
	}

	// The infrastructure view shows what AWS holds.
	var view struct {
		Accounts []struct {
			Account  string `json:"account"`
			Clusters []struct {
				Name         string `json:"name"`
				Region       string `json:"region"`
				ServerGroups []struct {
					Name               string         `json:"name"`
					ImageName          string         `json:"imageName"`
					ImageID            string         `json:"imageId"`
					LaunchTemplate     string         `json:"launchTemplate"`
					Capacity           map[string]int `json:"capacity"`
					Ready              int            `json:"ready"`
					Instances          int            `json:"instances"`
					TakingTraffic      bool           `json:"takingTraffic"`
					Disabled           bool           `json:"disabled"`
					CreatedByExecution string         `json:"createdByExecution"`
				} `json:"serverGroups"`
			} `json:"clusters"`
		} `json:"accounts"`
	}
	api.expect(http.StatusOK, http.MethodGet, "/api/v1/applications/web/clusters?account=aws-local", nil, &view)
	if len(view.Accounts) != 1 || len(view.Accounts[0].Clusters) != 2 {
		t.Fatalf("infrastructure view: %+v", view)
	}
	for _, c := range view.Accounts[0].Clusters {
		if c.Name != "web-prod" {
			continue
		}
		if len(c.ServerGroups) != 2 {
			t.Fatalf("production in the view: %+v", c.ServerGroups)
		}
		current := c.ServerGroups[1] // oldest first
		if current.Name != "web-prod-v002" || current.ImageName != "web-1.1.0" || !strings.HasPrefix(current.ImageID, "ami-") ||
			!strings.HasSuffix(current.LaunchTemplate, ":1") || current.Capacity["desired"] != 3 || current.Ready != 3 || current.Instances != 3 ||
			!current.TakingTraffic || current.Disabled || current.CreatedByExecution == "" {
			t.Errorf("current production server group in the view: %+v", current)
		}
		if previous := c.ServerGroups[0]; previous.TakingTraffic || !previous.Disabled {
			t.Errorf("previous production server group in the view: %+v", previous)
		}
	}

	// One action rolls production back: the previous group serves again before the current one
	// is taken out.
	run := api.startExecution("web", "rollback-aws", map[string]any{"user": "bo"})
	if done := api.waitUntilDone(run.ID, 3*time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("rollback ended %s: %s", done.Status, done.describe())
	}
	groups := aws.groups("web-prod-")
	serving := aws.inTraffic("web")
	if groups["web-prod-v001"].disabled || !groups["web-prod-v002"].disabled {
		t.Errorf("after the rollback: v001 disabled %v, v002 disabled %v", groups["web-prod-v001"].disabled, groups["web-prod-v002"].disabled)
	}
	for _, id := range groups["web-prod-v002"].instances {
		if serving[id] {
			t.Errorf("after the rollback, %s of web-prod-v002 still takes traffic", id)
		}
	}
	if len(serving) != len(groups["web-prod-v001"].instances) || len(serving) == 0 {
		t.Errorf("after the rollback %d instances serve, want web-prod-v001's %d", len(serving), len(groups["web-prod-v001"].instances))
	}
	aws.checkNoOrphans("web-")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// startBehindProxy starts gennaker dev with the AWS account aws-test: a seeded moto of its own,
// reached through a fault proxy that records every call.
func startBehindProxy(t *testing.T) (*apiClient, *awsState, *awsfault.Proxy) {
	t.Helper()
	moto := mototest.Start(t)
	moto.Seed(t, "us-east-1")
	proxy := awsfault.New(moto.URL, 7)
	t.Cleanup(proxy.Close)
	accounts := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(accounts, []byte(fmt.Sprintf("aws:\n- name: aws-test\n  endpoint: %s\n  regions:\n  - name: us-east-1\n", proxy.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newDevProcess(t)
	p.args = append(p.args, "--accounts", accounts, "--dev-local-kube=false")
	for k, v := range moto.Environ() {
		p.env = append(p.env, k+"="+v)
	}
	api := p.start()
	aws := newAWSState(t, moto.URL)
	return api, aws, proxy
}

// TestAWSDeployThatNeverGetsHealthy deploys through a proxy that makes the new server group's
// targets fail their health checks: the stage ends TERMINAL within its timeout, saying which
// instances are not up and why, and rolls back; the server group that served before was never
// touched.
func TestAWSDeployThatNeverGetsHealthy(t *testing.T) {
	skipShort(t)
	t.Parallel()
	api, aws, proxy := startBehindProxy(t)

	stage := map[string]any{"refId": "1", "type": "deploy", "name": "Deploy", "stageTimeoutMs": 30000, "clusters": []any{map[string]any{
		"account": "aws-test", "application": "web", "stack": "prod", "availabilityZones": map[string]any{"us-east-1": []any{"us-east-1a"}},
		"subnetType": "internal", "instanceType": "t3.micro", "securityGroups": []any{"web"}, "targetGroups": []any{"web"},
		"amiName": "web-1.0.0", "capacity": map[string]any{"min": 2, "desired": 2, "max": 2}, "strategy": "redblack",
		"rollback": map[string]any{"onFailure": true, "destroyLatest": true}}}}
	api.savePipeline("web", "deploy", map[string]any{"stages": []any{stage}})
	first := api.startExecution("web", "deploy", nil)
	if done := api.waitUntilDone(first.ID, 3*time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("first deploy ended %s: %s", done.Status, done.describe())
	}
	before := aws.groups("web-prod-")["web-prod-v000"]

	old := map[string]bool{}
	for _, id := range before.instances {
		old[id] = true
	}
	proxy.SetTargetHealth(awsfault.Unhealthy(func(id string) bool { return !old[id] }))
	proxy.ResetCalls()
	second := api.startExecution("web", "deploy", nil)
	done := api.waitUntilDone(second.ID, 3*time.Minute)
	s := done.mustStage(t, "1")
	if done.Status != "TERMINAL" || !strings.Contains(s.Error, "did not come up") || !strings.Contains(s.Error, "Target.FailedHealthChecks") ||
		!strings.Contains(s.Error, "rolled back: disabled web-prod-v001, destroyed web-prod-v001") {
		t.Fatalf("a deploy whose targets never get healthy ended %s: %s", done.Status, s.Error)
	}
	groups := aws.groups("web-prod-")
	if _, left := groups["web-prod-v001"]; left || groups["web-prod-v000"].disabled {
		t.Errorf("after the rollback: groups %v", groups)
	}
	serving := aws.inTraffic("web")
	if len(serving) != 2 || !serving[before.instances[0]] || !serving[before.instances[1]] {
		t.Errorf("serving after the failed deploy: %v, want web-prod-v000's %v", serving, before.instances)
	}
	for _, c := range proxy.Calls() {
		if group := c.Params.Get("AutoScalingGroupName"); group == "web-prod-v000" && c.Action != "DescribeAutoScalingGroups" {
			t.Errorf("the failed deploy called %s on web-prod-v000", c.Action)
		}
		if c.Action == "DeregisterTargets" && old[c.Params.Get("Targets.member.1.Id")] {
			t.Errorf("the failed deploy deregistered web-prod-v000's instance %s", c.Params.Get("Targets.member.1.Id"))
		}
	}
	aws.checkNoOrphans("web-")
}

// TestAWSRollingRedBlack deploys twice with rolling red/black in two steps, a smoke-test pipeline
// before each cleanup: the second deploy takes half of the first group's instances out of its
// target group only once the new group has its first half up, and the rest at the end.
func TestAWSRollingRedBlack(t *testing.T) {
	skipShort(t)
	t.Parallel()
	api, aws, proxy := startBehindProxy(t)
	api.savePipeline("web", "smoke", map[string]any{"stages": []any{
		map[string]any{"refId": "1", "type": "wait", "name": "Smoke test", "waitTime": 1}}})
	stage := map[string]any{"refId": "1", "type": "deploy", "name": "Deploy", "clusters": []any{map[string]any{
		"account": "aws-test", "application": "web", "stack": "prod", "availabilityZones": map[string]any{"us-east-1": []any{"us-east-1a"}},
		"subnetType": "internal", "instanceType": "t3.micro", "securityGroups": []any{"web"}, "targetGroups": []any{"web"},
		"amiName": "web-1.0.0", "capacity": map[string]any{"min": 2, "desired": 2, "max": 2}, "strategy": "rollingredblack",
		"targetPercentages": []any{50}, "pipelineBeforeCleanup": map[string]any{"application": "web", "pipelineId": "smoke"},
		"rollback": map[string]any{"onFailure": true}}}}
	api.savePipeline("web", "deploy", map[string]any{"stages": []any{stage}})
	var done execution
	for i := range 2 {
		if i == 1 {
			proxy.ResetCalls()
		}
		e := api.startExecution("web", "deploy", nil)
		if done = api.waitUntilDone(e.ID, 4*time.Minute); done.Status != "SUCCEEDED" {
			t.Fatalf("deploy %d ended %s: %s", i+1, done.Status, done.describe())
		}
	}
	groups := aws.groups("web-prod-")
	v0, v1 := groups["web-prod-v000"], groups["web-prod-v001"]
	if !v0.disabled || v1.disabled || len(v1.instances) != 2 || v1.capacity != [3]int32{2, 2, 2} {
		t.Fatalf("after the rolling deploy: %+v", groups)
	}
	serving := aws.inTraffic("web")
	if len(serving) != 2 || !serving[v1.instances[0]] || !serving[v1.instances[1]] {
		t.Errorf("serving %v, want web-prod-v001's %v", serving, v1.instances)
	}
	// The calls, in order: the new group grown to one instance, then one old instance out of
	// the target group, then grown to two, then the whole old group out.
	var steps []string
	for _, c := range proxy.Calls() {
		switch {
		case c.Action == "UpdateAutoScalingGroup" && c.Params.Get("AutoScalingGroupName") == "web-prod-v001":
			steps = append(steps, "grow to "+c.Params.Get("DesiredCapacity"))
		case c.Action == "DeregisterTargets":
			n := 0
			for k := range c.Params {
				if strings.HasPrefix(k, "Targets.member.") && strings.HasSuffix(k, ".Id") {
					n++
				}
			}
			steps = append(steps, fmt.Sprintf("deregister %d", n))
		}
	}
	// (moto refuses a deregistration naming a target already out, so the last one goes on one
	// instance at a time.)
	want := []string{"grow to 1", "deregister 1", "grow to 2"}
	if len(steps) < 4 || !slices.Equal(steps[:3], want) || slices.ContainsFunc(steps[3:], func(s string) bool { return !strings.HasPrefix(s, "deregister") }) {
		t.Errorf("steps %q, want %q and then the rest deregistered", steps, want)
	}
	// Each step ran the smoke test, and says so.
	deployment := done.mustStage(t, "1").Outputs["deployments"].([]any)[0].(map[string]any)
	steps2, _ := deployment["steps"].([]any)
	if len(steps2) != 2 {
		t.Fatalf("steps %v", deployment["steps"])
	}
	for _, st := range steps2 {
		step := st.(map[string]any)
		if smoke, _ := step["pipelineBeforeCleanup"].(map[string]any); step["done"] != true || smoke["status"] != "SUCCEEDED" {
			t.Errorf("step %v", step)
		}
	}
	aws.checkNoOrphans("web-")
}

// imageOf is the image a group's running instances launched from; "" when it has none, or they
// differ.
func (s *awsState) imageOf(groupName string) string {
	s.t.Helper()
	out, err := s.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("instance-state-name"), Values: []string{"running", "pending"}},
		{Name: awssdk.String("tag:aws:autoscaling:groupName"), Values: []string{groupName}}}})
	if err != nil {
		s.t.Fatal(err)
	}
	images := map[string]bool{}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			images[awssdk.ToString(i.ImageId)] = true
		}
	}
	if len(images) != 1 {
		return ""
	}
	for id := range images {
		return id
	}
	return ""
}

// TestAWSRollBackToThePreviousImageAndClone deploys twice highlander (the first server group is
// gone), rolls the second back to the image it replaced, which deploys a copy of it launching the
// old image, and then clones the result into a canary cluster with one instance.
func TestAWSRollBackToThePreviousImageAndClone(t *testing.T) {
	skipShort(t)
	t.Parallel()
	api, aws, _ := startBehindProxy(t)
	images := map[string]string{}
	for _, name := range []string{"web-1.0.0", "web-1.1.0"} {
		out, err := aws.ec2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Filters: []ec2types.Filter{{Name: awssdk.String("name"), Values: []string{name}}}})
		if err != nil || len(out.Images) != 1 {
			t.Fatalf("image %s: %v", name, err)
		}
		images[name] = awssdk.ToString(out.Images[0].ImageId)
	}
	for _, image := range []string{"web-1.0.0", "web-1.1.0"} {
		stage := map[string]any{"refId": "1", "type": "deploy", "clusters": []any{map[string]any{
			"account": "aws-test", "application": "web", "stack": "prod", "region": "us-east-1", "subnetType": "internal",
			"instanceType": "t3.micro", "securityGroups": []any{"web"}, "targetGroups": []any{"web"}, "amiName": image,
			"capacity": map[string]any{"min": 2, "desired": 2, "max": 2}, "strategy": "highlander"}}}
		api.savePipeline("web", "deploy "+image, map[string]any{"stages": []any{stage}})
		e := api.startExecution("web", "deploy "+image, nil)
		if done := api.waitUntilDone(e.ID, 3*time.Minute); done.Status != "SUCCEEDED" {
			t.Fatalf("deploy of %s ended %s: %s", image, done.Status, done.describe())
		}
	}
	if names := slices.Sorted(mapKeys(aws.groups("web-"))); !slices.Equal(names, []string{"web-prod-v001"}) {
		t.Fatalf("before the rollback: groups %v", names)
	}

	api.savePipeline("web", "rollback", map[string]any{"stages": []any{map[string]any{"refId": "1", "type": "rollbackServerGroup",
		"credentials": "aws-test", "regions": []any{"us-east-1"}, "rollbackType": "PREVIOUS_IMAGE",
		"rollbackContext": map[string]any{"rollbackServerGroupName": "web-prod-v001"}}}})
	e := api.startExecution("web", "rollback", nil)
	if done := api.waitUntilDone(e.ID, 3*time.Minute); done.Status != "SUCCEEDED" || deployedIn(t, done, "1") != "web-prod-v002" {
		t.Fatalf("the rollback ended %s: %s", done.Status, done.describe())
	}
	groups := aws.groups("web-prod-")
	if !groups["web-prod-v001"].disabled || groups["web-prod-v002"].disabled || aws.imageOf("web-prod-v002") != images["web-1.0.0"] {
		t.Errorf("after the rollback: %+v, web-prod-v002 runs %s, want %s", groups, aws.imageOf("web-prod-v002"), images["web-1.0.0"])
	}
	serving := aws.inTraffic("web")
	for _, id := range groups["web-prod-v002"].instances {
		if !serving[id] {
			t.Errorf("web-prod-v002's %s is not in traffic: %v", id, serving)
		}
	}

	api.savePipeline("web", "canary", map[string]any{"stages": []any{map[string]any{"refId": "1", "type": "cloneServerGroup",
		"cloudProvider": "aws", "credentials": "aws-test", "region": "us-east-1", "targetCluster": "web-prod", "target": "current_asg_dynamic",
		"application": "web", "stack": "canary", "freeFormDetails": "", "capacity": map[string]any{"min": 1, "desired": 1, "max": 1}}}})
	e = api.startExecution("web", "canary", nil)
	if done := api.waitUntilDone(e.ID, 3*time.Minute); done.Status != "SUCCEEDED" || deployedIn(t, done, "1") != "web-canary-v000" {
		t.Fatalf("the clone ended %s: %s", done.Status, done.describe())
	}
	canary := aws.groups("web-canary-")["web-canary-v000"]
	if len(canary.instances) != 1 || canary.disabled || aws.imageOf("web-canary-v000") != images["web-1.0.0"] || !aws.inTraffic("web")[canary.instances[0]] {
		t.Errorf("the clone: %+v running %s", canary, aws.imageOf("web-canary-v000"))
	}
	aws.checkNoOrphans("web-")
}

// TestAWSBakeAndDeploy runs examples/bake-and-deploy-aws.json on the local AWS gennaker dev
// starts: the image baked in us-east-1 with Rosco's name and tags, copied with its tags to
// us-west-2, deployed; its builder gone. Baking the same package again reuses the image; rebake,
// on the stage or on the start, makes another.
func TestAWSBakeAndDeploy(t *testing.T) {
	skipShort(t)
	requireLocalAWS(t)
	t.Parallel()
	p := newDevProcess(t)
	p.args = append(p.args, "--dev-local-kube=false")
	api := p.start()
	east, west := newAWSState(t, p.awsURL), newAWSStateIn(t, p.awsURL, "us-west-2")
	api.savePipeline("web", "bake-and-deploy-aws", readExample(t, "bake-and-deploy-aws.json"))
	first := api.waitUntilDone(api.startExecution("web", "bake-and-deploy-aws", nil).ID, 4*time.Minute)
	if first.Status != "SUCCEEDED" {
		t.Fatalf("the bake and deploy ended %s: %s", first.Status, first.describe())
	}
	baked := first.mustStage(t, "1").Outputs
	ami, _ := baked["ami"].(string)
	imageName, _ := baked["imageName"].(string)
	if baked["previouslyBaked"] != false || !strings.HasPrefix(imageName, "web-all-") || !strings.HasSuffix(imageName, "-debian") {
		t.Fatalf("bake outputs %v", baked)
	}
	details, _ := baked["deploymentDetails"].([]any)
	if len(details) != 2 {
		t.Fatalf("deploymentDetails %v", baked["deploymentDetails"])
	}
	westAMI, _ := details[1].(map[string]any)["imageId"].(string)
	for _, side := range []struct {
		s   *awsState
		ami string
	}{{east, ami}, {west, westAMI}} {
		img := side.s.image(side.ami)
		if img.name != imageName || img.tags["package"] != "web=1.2.0" || img.tags["gennaker:bake-key"] == "" {
			t.Errorf("image %s: %+v", side.ami, img)
		}
	}
	if east.image(ami).tags["release"] != "candidate" {
		t.Errorf("the image was not tagged a candidate: %v", east.image(ami).tags)
	}
	if got := east.imageOf(deployedIn(t, first, "3")); got != ami {
		t.Errorf("the deploy runs %s, want the baked %s", got, ami)
	}
	for id, owner := range east.running() {
		if owner == "-" && east.instanceTag(id, "gennaker:bake-id") != "" {
			t.Errorf("builder %s is still running", id)
		}
	}

	second := api.waitUntilDone(api.startExecution("web", "bake-and-deploy-aws", nil).ID, 4*time.Minute)
	if again := second.mustStage(t, "1").Outputs; second.Status != "SUCCEEDED" || again["previouslyBaked"] != true || again["ami"] != ami {
		t.Errorf("baking the same package again: %s, %v", second.Status, again)
	}
	rebake := readExample(t, "bake-and-deploy-aws.json")
	rebake["name"] = "rebake"
	rebake["stages"].([]any)[0].(map[string]any)["rebake"] = true
	api.savePipeline("web", "rebake", rebake)
	third := api.waitUntilDone(api.startExecution("web", "rebake", nil).ID, 4*time.Minute)
	if again := third.mustStage(t, "1").Outputs; third.Status != "SUCCEEDED" || again["previouslyBaked"] != false || again["ami"] == ami {
		t.Errorf("rebaking: %s, %v", third.Status, again)
	}
	// A start asking to rebake, as Spinnaker's trigger.rebake, bakes again too.
	fourth := api.waitUntilDone(api.startExecution("web", "bake-and-deploy-aws", map[string]any{"rebake": true}).ID, 4*time.Minute)
	if again := fourth.mustStage(t, "1").Outputs; fourth.Status != "SUCCEEDED" || again["previouslyBaked"] != false || again["ami"] == ami {
		t.Errorf("a start with rebake: %s, %v", fourth.Status, again)
	}
}

// awsImage is an image as the oracle sees it.
type awsImage struct {
	name string
	tags map[string]string
}

func (s *awsState) image(id string) awsImage {
	s.t.Helper()
	out, err := s.ec2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(out.Images) != 1 {
		s.t.Fatalf("image %s: %v", id, err)
	}
	img := awsImage{name: awssdk.ToString(out.Images[0].Name), tags: map[string]string{}}
	for _, tag := range out.Images[0].Tags {
		img.tags[awssdk.ToString(tag.Key)] = awssdk.ToString(tag.Value)
	}
	return img
}

// instanceTag is a tag of an instance.
func (s *awsState) instanceTag(id, key string) string {
	s.t.Helper()
	out, err := s.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			for _, tag := range i.Tags {
				if awssdk.ToString(tag.Key) == key {
					return awssdk.ToString(tag.Value)
				}
			}
		}
	}
	return ""
}
