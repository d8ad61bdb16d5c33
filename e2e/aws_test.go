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
	cfg := localaws.Config(endpoint, "us-east-1")
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

// TestAWSDeployThatNeverGetsHealthy deploys through a proxy that makes the new server group's
// targets fail their health checks: the stage ends TERMINAL within its timeout, saying which
// instances are not up and why, and rolls back; the server group that served before was never
// touched.
func TestAWSDeployThatNeverGetsHealthy(t *testing.T) {
	skipShort(t)
	t.Parallel()
	moto := mototest.Start(t)
	moto.Seed(t, "us-east-1")
	proxy := awsfault.New(moto.URL, 7)
	t.Cleanup(proxy.Close)
	accounts := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(accounts, []byte(fmt.Sprintf("aws:\n- name: aws-test\n  endpoint: %s\n  regions:\n  - name: us-east-1\n", proxy.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newDevProcess(t)
	p.args = append(p.args, "--accounts", accounts)
	for k, v := range moto.Environ() {
		p.env = append(p.env, k+"="+v)
	}
	api := p.start()
	aws := newAWSState(t, moto.URL)

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
