package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/pipeline"
)

// The AWS stages run here on Temporal's test suite against a fake AWS in memory: the activities
// are mocked by functions on fakeAWS, which keeps the server groups and logs every call. These
// tests are about what the workflows ask for and in which order; the activities themselves are
// tested against moto.

// fakeGroup is one server group of the fake.
type fakeGroup struct {
	name     string
	capacity pipeline.Capacity
	disabled bool
	// upAfter is how many health reads the group needs before its instances are up; -1: never.
	upAfter int
	reads   int
}

// fakeAWS is a fake AWS account holding one region's server groups, newest last.
type fakeAWS struct {
	t      *testing.T
	mu     sync.Mutex
	groups []*fakeGroup
	log    []string
	// newUpAfter is upAfter for the groups deploys create.
	newUpAfter int
	image      string
	// created is what the last create was asked for.
	created activities.AWSCreateServerGroupInput
	// noPreviousImage makes the groups record no image they replaced.
	noPreviousImage bool
}

func newFakeAWS(t *testing.T, groups ...*fakeGroup) *fakeAWS {
	return &fakeAWS{t: t, groups: groups, image: "ami-123"}
}

func (f *fakeAWS) group(name string) *fakeGroup {
	for _, g := range f.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

func (f *fakeAWS) record(format string, args ...any) {
	f.log = append(f.log, fmt.Sprintf(format, args...))
}

func (f *fakeAWS) up(g *fakeGroup) int {
	if g.disabled || g.upAfter < 0 || g.reads < g.upAfter {
		return 0
	}
	return g.capacity.Desired
}

func (f *fakeAWS) health(g *fakeGroup) cloud.ServerGroupHealth {
	h := cloud.ServerGroupHealth{Region: "us-east-1", ServerGroup: g.name, Capacity: g.capacity, Disabled: g.disabled}
	up := f.up(g)
	for i := range g.capacity.Desired {
		ih := cloud.InstanceHealth{ID: fmt.Sprintf("%s-i%d", g.name, i), Up: i < up, TakingTraffic: i < up}
		if !ih.Up {
			ih.Reasons = []string{"target group web: unhealthy (Target.FailedHealthChecks)"}
		}
		h.Instances = append(h.Instances, ih)
	}
	h.Up = up
	return h
}

func fail(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, "InvalidAWSRequest", nil)
}

// mock registers the fake as every AWS activity of env.
func (f *fakeAWS) mock(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivity(&activities.AWS{})
	grantClusterLocks(env)
	env.OnActivity("AWSClusterServerGroups", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSClusterInput) (activities.AWSClusterResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("list %s", in.Cluster)
		res := activities.AWSClusterResult{ServerGroups: []cloud.ServerGroup{}}
		for i := len(f.groups) - 1; i >= 0; i-- {
			g := f.groups[i]
			c := g.capacity
			res.ServerGroups = append(res.ServerGroups, cloud.ServerGroup{Name: g.name, Capacity: &c, Disabled: g.disabled,
				TakingTraffic: f.up(g) > 0, Ready: f.up(g), Instances: c.Desired})
		}
		return res, nil
	})
	env.OnActivity("AWSCreateServerGroup", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSCreateServerGroupInput) (activities.AWSCreateServerGroupResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.created = in
		name := fmt.Sprintf("%s-v%03d", in.ClusterName, len(f.groups))
		res := activities.AWSCreateServerGroupResult{ServerGroup: name, LaunchTemplate: name + "-lt:1", ImageID: in.Image, Others: []cloud.ServerGroup{}}
		capacity := in.Cluster.Capacity
		for i := len(f.groups) - 1; i >= 0; i-- {
			g := f.groups[i]
			c := g.capacity
			res.Others = append(res.Others, cloud.ServerGroup{Name: g.name, Capacity: &c, Disabled: g.disabled})
			if !g.disabled && res.Source == "" {
				res.Source = g.name
				if in.Cluster.UseSourceCapacity {
					capacity = c
				}
			}
		}
		var enabled []string
		for _, g := range res.Others {
			if !g.Disabled {
				enabled = append(enabled, g.Name)
			}
		}
		if in.MaxEnabled > 0 && len(enabled) > in.MaxEnabled {
			return res, fail(fmt.Sprintf("at most %d enabled: %s", in.MaxEnabled, strings.Join(enabled, ", ")))
		}
		res.Capacity = capacity
		if in.StartEmpty {
			capacity = pipeline.Capacity{Max: capacity.Max}
		}
		f.record("create %s image %s capacity %d/%d/%d", name, in.Image, capacity.Min, capacity.Desired, capacity.Max)
		f.groups = append(f.groups, &fakeGroup{name: name, capacity: capacity, upAfter: f.newUpAfter})
		return res, nil
	})
	env.OnActivity("AWSServerGroupHealth", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ServerGroupRef) (activities.AWSHealthResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		g := f.group(in.ServerGroup)
		if g == nil {
			return activities.AWSHealthResult{Health: cloud.ServerGroupHealth{ServerGroup: in.ServerGroup, Missing: true}}, nil
		}
		g.reads++
		h := f.health(g)
		f.record("health %s %d up", g.name, h.Up)
		return activities.AWSHealthResult{Health: h}, nil
	})
	env.OnActivity("AWSDisableServerGroup", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSTrafficInput) (activities.AWSTrafficResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r := in.RequireUp; r != nil {
			if req := f.group(r.ServerGroup); req == nil || f.up(req) < r.Up {
				f.record("refuse disable %s", in.ServerGroup)
				return activities.AWSTrafficResult{}, fail(in.ServerGroup + " was not disabled: " + r.ServerGroup + " is not up")
			}
		}
		if in.Percentage > 0 && in.Percentage < 100 {
			f.record("disable %s %d%%", in.ServerGroup, in.Percentage)
			return activities.AWSTrafficResult{Instances: []string{in.ServerGroup + "-i0"}}, nil
		}
		f.record("disable %s", in.ServerGroup)
		if g := f.group(in.ServerGroup); g != nil {
			g.disabled = true
		}
		return activities.AWSTrafficResult{Instances: []string{}}, nil
	})
	env.OnActivity("AWSEnableServerGroup", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSTrafficInput) (activities.AWSTrafficResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("enable %s", in.ServerGroup)
		if g := f.group(in.ServerGroup); g != nil {
			g.disabled = false
		}
		return activities.AWSTrafficResult{Instances: []string{}}, nil
	})
	env.OnActivity("AWSResizeServerGroup", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSResizeInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("resize %s %d/%d/%d", in.ServerGroup, in.Capacity.Min, in.Capacity.Desired, in.Capacity.Max)
		if g := f.group(in.ServerGroup); g != nil {
			g.capacity = in.Capacity
		}
		return nil
	})
	env.OnActivity("AWSDestroyServerGroup", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSDestroyInput) (activities.AWSTrafficResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r := in.RequireUp; r != nil {
			if req := f.group(r.ServerGroup); req == nil || f.up(req) < r.Up {
				return activities.AWSTrafficResult{}, fail(in.ServerGroup + " was not destroyed: " + r.ServerGroup + " is not up")
			}
		}
		f.record("destroy %s", in.ServerGroup)
		f.groups = slices.DeleteFunc(f.groups, func(g *fakeGroup) bool { return g.name == in.ServerGroup })
		return activities.AWSTrafficResult{Instances: []string{}}, nil
	})
	env.OnActivity("AWSResolveTarget", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSTargetInput) (activities.AWSTargetResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := len(f.groups)
		switch {
		case n == 0:
			return activities.AWSTargetResult{}, fail("no server group")
		case in.Target == pipeline.TargetPrevious && n > 1:
			return activities.AWSTargetResult{ServerGroup: f.groups[n-2].name}, nil
		case in.Target == pipeline.TargetOldest && n > 1:
			return activities.AWSTargetResult{ServerGroup: f.groups[0].name}, nil
		case in.Target == pipeline.TargetCurrent:
			return activities.AWSTargetResult{ServerGroup: f.groups[n-1].name}, nil
		}
		return activities.AWSTargetResult{}, fail("only one server group")
	})
	env.OnActivity("AWSScalingProcesses", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSScalingProcessesInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		verb := "resume"
		if in.Suspend {
			verb = "suspend"
		}
		f.record("%s %s %s", verb, in.ServerGroup, strings.Join(in.Processes, ","))
		return nil
	})
	env.OnActivity("AWSTagImages", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSTagImagesInput) (activities.AWSTagImagesResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("tag %s in %s with %v", strings.Join(in.Images, ","), in.Region, in.Tags)
		var res activities.AWSTagImagesResult
		for _, id := range in.Images {
			res.Images = append(res.Images, cloud.Image{ID: id, Name: "web-1.1.0", Region: in.Region, Tags: map[string]string{"release": "candidate"}})
		}
		return res, nil
	})
	env.OnActivity("AWSClusterImage", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSClusterImageInput) (activities.AWSImageResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := len(f.groups) - 1; i >= 0; i-- {
			if g := f.groups[i]; !in.OnlyEnabled || !g.disabled {
				return activities.AWSImageResult{Image: &cloud.Image{ID: "ami-of-" + g.name, Name: "web-1.0.0", Region: in.Region, ServerGroup: g.name}}, nil
			}
		}
		return activities.AWSImageResult{}, nil
	})
	env.OnActivity("AWSReadCloneSource", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ServerGroupRef) (activities.AWSCloneSourceResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		g := f.group(in.ServerGroup)
		if g == nil {
			return activities.AWSCloneSourceResult{}, fail("no server group " + in.ServerGroup)
		}
		m, _ := cloud.ParseServerGroupName(g.name)
		var src aws.CloneSource
		src.Cluster = pipeline.AWSCluster{Account: in.Account, Region: in.Region, Application: m.App, Stack: m.Stack, Capacity: g.capacity,
			InstanceType: "m5.large", TargetGroups: []string{"web"}, SubnetIDs: []string{"subnet-1"}, TargetHealthyDeployPercentage: 100,
			Strategy: pipeline.StrategyNone}
		src.ImageID = "ami-of-" + g.name
		if !f.noPreviousImage {
			src.PreviousImageID = "ami-before-" + g.name
		}
		return activities.AWSCloneSourceResult{Source: src}, nil
	})
	env.OnActivity("AWSFindImageFromTags", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AWSFindImageFromTagsInput) (activities.AWSImageResult, error) {
		if f.image == "" {
			return activities.AWSImageResult{}, nil
		}
		return activities.AWSImageResult{Image: &cloud.Image{ID: f.image, Name: "web-1.1.0", Region: in.Region}, Account: "aws"}, nil
	})
}

// logged returns the calls made, leaving out the reads.
func (f *fakeAWS) changes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(f.log), func(s string) bool { return strings.HasPrefix(s, "list ") || strings.HasPrefix(s, "health ") })
}

// awsCluster is a deploy stage's cluster of web in us-east-1 with extra settings.
func awsDeployStage(ref string, extra string) string {
	return stageJSON(ref, "deploy", nil, `"clusters": [{"account": "aws", "application": "web", "stack": "prod",
		"availabilityZones": {"us-east-1": ["us-east-1a"]}, "instanceType": "t3.micro", "amiName": "ami-web",
		"capacity": {"min": 1, "desired": 2, "max": 4}`+extra+`}]`)
}

func runAWS(t *testing.T, f *fakeAWS, config string) pipeline.Execution {
	t.Helper()
	exec, _ := run(t, config, f.mock)
	return exec
}

func TestAWSRedBlackDisablesTheOldGroupOnlyOnceTheNewOneIsUp(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 2, Max: 4}})
	f.newUpAfter = 3 // the new group needs three reads to come up
	exec := runAWS(t, f, pipelineJSON(awsDeployStage("1", `, "strategy": "redblack"`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	want := []string{
		"create web-prod-v001 image ami-web capacity 1/2/4",
		"resize web-prod-v000 2/2/4", // the source's minimum pinned while the new group comes up
		"resize web-prod-v000 1/2/4", // and restored once it is up
		"disable web-prod-v000",
	}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
	// The disable came after a read showing the new group up.
	iUp, iDisable := slices.Index(f.log, "health web-prod-v001 2 up"), slices.Index(f.log, "disable web-prod-v000")
	if iUp < 0 || iDisable < iUp {
		t.Errorf("the old group was disabled before the new one was seen up: %q", f.log)
	}
	out := exec.Stage("1").Outputs
	if groups, _ := out["deploy.server.groups"].(map[string]any); fmt.Sprint(groups["us-east-1"]) != "[web-prod-v001]" || out["deploy.account.name"] != "aws" {
		t.Errorf("outputs %v", out)
	}
	d := out["deployments"].([]any)[0].(map[string]any)
	if d["source"] != "web-prod-v000" || fmt.Sprint(d["disabled"]) != "[web-prod-v000]" || d["health"].(map[string]any)["up"] != float64(2) {
		t.Errorf("deployment report %v", d)
	}
}

func TestAWSRollingRedBlackMovesTrafficInSteps(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 4, Max: 4}})
	f.newUpAfter = 2
	child := decode(t, `{"application": "web", "name": "smoke", "id": "p-smoke", "stages": [{"refId": "1", "type": "wait", "waitTime": 1}]}`)
	exec, _ := run(t, pipelineJSON(awsDeployStage("1", `, "strategy": "rollingredblack", "targetPercentages": [25, 50],
		"pipelineBeforeCleanup": {"application": "web", "pipelineId": "p-smoke"}, "capacity": {"min": 2, "desired": 4, "max": 6}`)),
		func(env *testsuite.TestWorkflowEnvironment) {
			f.mock(env)
			env.OnActivity("LoadPipeline", mock.Anything, activities.LoadPipelineInput{Application: "web", Pipeline: "p-smoke"}).
				Return(activities.LoadPipelineResult{Pipeline: child, Version: 1}, nil)
		})
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	want := []string{
		"create web-prod-v001 image ami-web capacity 0/0/6", // created empty
		"resize web-prod-v000 4/4/4",                        // the source pinned
		"resize web-prod-v001 1/1/6", "disable web-prod-v000 25%",
		"resize web-prod-v001 2/2/6", "disable web-prod-v000 50%",
		"resize web-prod-v001 2/4/6", "disable web-prod-v000",
		"resize web-prod-v000 1/4/4", // and restored at the end
	}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
	// Each share of the source left traffic only after a read showed the new group up at that step.
	for _, step := range []struct{ up, disable string }{
		{"health web-prod-v001 1 up", "disable web-prod-v000 25%"},
		{"health web-prod-v001 2 up", "disable web-prod-v000 50%"},
		{"health web-prod-v001 4 up", "disable web-prod-v000"},
	} {
		if iUp, iDisable := slices.Index(f.log, step.up), slices.Index(f.log, step.disable); iUp < 0 || iDisable < iUp {
			t.Errorf("%q came before %q: %q", step.disable, step.up, f.log)
		}
	}
	d := exec.Stage("1").Outputs["deployments"].([]any)[0].(map[string]any)
	steps := d["steps"].([]any)
	if len(steps) != 3 {
		t.Fatalf("steps %v", steps)
	}
	for i, pct := range []float64{25, 50, 100} {
		s := steps[i].(map[string]any)
		if s["percentage"] != pct || s["done"] != true || s["pipelineBeforeCleanup"].(map[string]any)["status"] != "SUCCEEDED" {
			t.Errorf("step %d: %v", i, s)
		}
	}
}

func TestAWSRollingRedBlackRollsBackAFailedStep(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}})
	failingChild := decode(t, pipelineJSON(failing("1", "")))
	exec, _ := run(t, pipelineJSON(awsDeployStage("1", `, "strategy": "rollingredblack", "targetPercentages": [50],
		"pipelineBeforeCleanup": {"pipelineId": "p-smoke"}, "rollback": {"onFailure": true}`)),
		func(env *testsuite.TestWorkflowEnvironment) {
			f.mock(env)
			env.OnActivity("LoadPipeline", mock.Anything, activities.LoadPipelineInput{Application: "web", Pipeline: "p-smoke"}).
				Return(activities.LoadPipelineResult{Pipeline: failingChild, Version: 1}, nil)
		})
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusTerminal})
	if msg := exec.Stage("1").Error; !strings.Contains(msg, "the pipeline before cleanup at 50%") || !strings.Contains(msg, "rolled back: disabled web-prod-v001") {
		t.Errorf("error %q", msg)
	}
	// The source never lost a share of its traffic: the smoke test failed before it could.
	want := []string{"create web-prod-v001 image ami-web capacity 0/0/4", "resize web-prod-v001 1/1/4", "disable web-prod-v001"}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
}

func TestAWSRollingRedBlackRefusesAClusterWithSeveralEnabledGroups(t *testing.T) {
	f := newFakeAWS(t,
		&fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 1, Max: 1}},
		&fakeGroup{name: "web-prod-v001", capacity: pipeline.Capacity{Min: 1, Desired: 1, Max: 1}})
	exec := runAWS(t, f, pipelineJSON(awsDeployStage("1", `, "strategy": "rollingredblack"`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusTerminal})
	if msg := exec.Stage("1").Error; !strings.Contains(msg, "at most 1 enabled: web-prod-v001, web-prod-v000") {
		t.Errorf("error %q", msg)
	}
	if got := f.changes(); len(got) > 0 {
		t.Errorf("changed AWS: %q", got)
	}
}

func TestAWSRedBlackShrinksAndScalesDown(t *testing.T) {
	f := newFakeAWS(t,
		&fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}, disabled: true},
		&fakeGroup{name: "web-prod-v001", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}})
	exec := runAWS(t, f, pipelineJSON(awsDeployStage("1", `, "strategy": "redblack", "maxRemainingAsgs": 2, "scaleDown": true`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	want := []string{"create web-prod-v002 image ami-web capacity 1/2/4", "disable web-prod-v001", "destroy web-prod-v000", "resize web-prod-v001 0/0/0"}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
}

func TestAWSHighlanderDestroysTheOthersOnceTheNewGroupIsUp(t *testing.T) {
	f := newFakeAWS(t,
		&fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 1, Max: 1}, disabled: true},
		&fakeGroup{name: "web-prod-v001", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}})
	exec := runAWS(t, f, pipelineJSON(awsDeployStage("1", `, "strategy": "highlander", "useSourceCapacity": true`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	want := []string{"create web-prod-v002 image ami-web capacity 2/2/2", "destroy web-prod-v001", "destroy web-prod-v000"}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
}

func TestAWSDeployThatNeverComesUpRollsBackWithoutTouchingTheOldGroup(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 2, Max: 4}})
	f.newUpAfter = -1
	exec := runAWS(t, f, pipelineJSON(stageJSON("1", "deploy", nil, `"stageTimeoutMs": 600000, "clusters": [{"account": "aws", "application": "web",
		"stack": "prod", "region": "us-east-1", "instanceType": "t3.micro", "amiName": "ami-web", "capacity": {"min": 1, "desired": 2, "max": 4},
		"strategy": "redblack", "rollback": {"onFailure": true, "destroyLatest": true}}]`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusTerminal})
	msg := exec.Stage("1").Error
	for _, want := range []string{"stage timed out after 10m0s", "web-prod-v001 did not come up in time: 0 of 2 instances up",
		"Target.FailedHealthChecks", "rolled back: disabled web-prod-v001, destroyed web-prod-v001"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	// The source's minimum stays pinned through the rollback, and is restored after it.
	want := []string{"create web-prod-v001 image ami-web capacity 1/2/4", "resize web-prod-v000 2/2/4",
		"disable web-prod-v001", "destroy web-prod-v001", "resize web-prod-v000 1/2/4"}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
	if g := f.group("web-prod-v000"); g.disabled || g.capacity.Min != 1 {
		t.Errorf("the old group after the failed deploy: %+v", g)
	}
}

func TestAWSDeployTakesTheImageAnUpstreamStageFound(t *testing.T) {
	f := newFakeAWS(t)
	find := stageJSON("1", "findImageFromTags", nil, `"packageName": "web", "tags": {"release": "stable"}, "regions": ["us-east-1"]`)
	deploy := stageJSON("2", "deploy", []string{"1"}, `"clusters": [{"account": "aws", "application": "web", "region": "us-east-1",
		"instanceType": "t3.micro"}]`)
	exec := runAWS(t, f, pipelineJSON(find, deploy))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded, "2": pipeline.StatusSucceeded})
	if got := f.changes(); !slices.Equal(got, []string{"create web-v000 image ami-123 capacity 1/1/1"}) {
		t.Errorf("calls %q", got)
	}
	details := exec.Stage("1").Outputs["deploymentDetails"].([]any)[0].(map[string]any)
	if details["imageId"] != "ami-123" || details["region"] != "us-east-1" || details["imageName"] != "web-1.1.0" {
		t.Errorf("deploymentDetails %v", details)
	}

	// Without an image from the cluster or upstream, the stage says what to do.
	f = newFakeAWS(t)
	exec = runAWS(t, f, pipelineJSON(stageJSON("1", "deploy", nil, `"clusters": [{"account": "aws", "application": "web",
		"region": "eu-west-1", "instanceType": "t3.micro"}]`)))
	if msg := exec.Stage("1").Error; !strings.Contains(msg, "no image to deploy in eu-west-1") {
		t.Errorf("error %q", msg)
	}
}

func TestAWSServerGroupStages(t *testing.T) {
	groups := func() []*fakeGroup {
		return []*fakeGroup{
			{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 4}, disabled: true},
			{name: "web-prod-v001", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 4}},
		}
	}
	target := `"credentials": "aws", "cluster": "web-prod", "regions": ["us-east-1"]`
	tests := []struct {
		name, stage string
		want        []string
	}{
		{"enable the previous", stageJSON("1", "enableServerGroup", nil, target+`, "target": "ancestor_asg_dynamic"`), []string{"enable web-prod-v000"}},
		{"disable the current", stageJSON("1", "disableServerGroup", nil, target), []string{"disable web-prod-v001"}},
		{"destroy the oldest", stageJSON("1", "destroyServerGroup", nil, target+`, "target": "oldest_asg_dynamic"`), []string{"destroy web-prod-v000"}},
		{"resize up by half", stageJSON("1", "resizeServerGroup", nil, target+`, "action": "scale_up", "resizeType": "pct", "scalePct": 50`),
			[]string{"resize web-prod-v001 3/3/6"}},
		{"resize to a size", stageJSON("1", "resizeServerGroup", nil, target+`, "capacity": {"desired": 3}`), []string{"resize web-prod-v001 2/3/4"}},
		{"resize to half another's size", stageJSON("1", "resizeServerGroup", nil, target+`, "action": "scale_to_server_group",
			"source": {"credentials": "aws", "serverGroupName": "web-prod-v000", "region": "us-east-1"}, "scalePct": 50`),
			[]string{"resize web-prod-v001 1/1/2"}},
		{"by name", stageJSON("1", "disableServerGroup", nil, `"credentials": "aws", "serverGroupName": "web-prod-v000", "regions": ["us-east-1"]`),
			[]string{"disable web-prod-v000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t, groups()...)
			exec := runAWS(t, f, pipelineJSON(tt.stage))
			if s := exec.Stage("1"); s.Status != pipeline.StatusSucceeded {
				t.Fatalf("%s: %s", s.Status, s.Error)
			}
			if got := f.changes(); !slices.Equal(got, tt.want) {
				t.Errorf("calls %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAWSCreateServerGroupWithTheImageOfAnotherCluster(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-staging-v003", capacity: pipeline.Capacity{Min: 1, Desired: 1, Max: 1}})
	find := stageJSON("1", "findImage", nil, `"credentials": "aws", "cluster": "web-staging", "regions": ["us-east-1"]`)
	create := stageJSON("2", "createServerGroup", []string{"1"}, `"account": "aws", "application": "web", "stack": "prod",
		"availabilityZones": {"us-east-1": ["us-east-1a"]}, "instanceType": "t3.micro", "capacity": {"min": 2, "desired": 2, "max": 2}`)
	exec := runAWS(t, f, pipelineJSON(find, create))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded, "2": pipeline.StatusSucceeded})
	if got := f.changes(); !slices.Equal(got, []string{"create web-prod-v001 image ami-of-web-staging-v003 capacity 2/2/2"}) {
		t.Errorf("calls %q", got)
	}
	details := exec.Stage("1").Outputs["deploymentDetails"].([]any)[0].(map[string]any)
	if details["sourceServerGroup"] != "web-staging-v003" {
		t.Errorf("deploymentDetails %v", details)
	}
}

func TestAWSDeployStartingDisabledLeavesTheClusterAsItWas(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}})
	f.newUpAfter = -1 // out of traffic, its instances never count as up
	exec := runAWS(t, f, pipelineJSON(awsDeployStage("1", `, "strategy": "redblack", "startDisabled": true`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	if got := f.changes(); !slices.Equal(got, []string{"create web-prod-v001 image ami-web capacity 1/2/4"}) {
		t.Errorf("calls %q", got)
	}
}

func TestAWSRollbacksRestoreBeforeTheyDisable(t *testing.T) {
	groups := func() []*fakeGroup {
		return []*fakeGroup{
			{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 1, Max: 4}, disabled: true},
			{name: "web-prod-v001", capacity: pipeline.Capacity{Min: 2, Desired: 3, Max: 4}},
		}
	}
	// The previous group is sized to the larger of the two with its minimum pinned, enabled and
	// waited for; the current one is disabled only then; the minimum goes back last.
	want := []string{"resize web-prod-v000 3/3/4", "enable web-prod-v000", "disable web-prod-v001", "resize web-prod-v000 1/3/4"}
	for _, stage := range []string{
		stageJSON("1", "rollbackCluster", nil, `"credentials": "aws", "cluster": "web-prod", "regions": ["us-east-1"]`),
		stageJSON("1", "rollbackServerGroup", nil, `"credentials": "aws", "regions": ["us-east-1"], "rollbackType": "EXPLICIT",
			"rollbackContext": {"rollbackServerGroupName": "web-prod-v001", "restoreServerGroupName": "web-prod-v000"}`),
	} {
		f := newFakeAWS(t, groups()...)
		exec := runAWS(t, f, pipelineJSON(stage))
		if s := exec.Stage("1"); s.Status != pipeline.StatusSucceeded {
			t.Fatalf("%s: %s", s.Status, s.Error)
		}
		if got := f.changes(); !slices.Equal(got, want) {
			t.Errorf("calls\n got %q\nwant %q", got, want)
		}
	}

	// A cluster with one server group rolls back to a copy of it with the image it replaced.
	rollbackCluster := pipelineJSON(stageJSON("1", "rollbackCluster", nil, `"credentials": "aws", "cluster": "web-prod", "regions": ["us-east-1"]`))
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 1, Max: 1}})
	exec := runAWS(t, f, rollbackCluster)
	report := exec.Stage("1").Outputs["rollbacks"].([]any)[0].(map[string]any)
	want = []string{"create web-prod-v001 image ami-before-web-prod-v000 capacity 1/1/1", "disable web-prod-v000"}
	if got := f.changes(); !slices.Equal(got, want) || report["previousImage"] != "ami-before-web-prod-v000" ||
		fmt.Sprint(report["deploy.server.groups"]) != "map[us-east-1:[web-prod-v001]]" {
		t.Errorf("rolling back a single server group: %q, %v", got, report)
	}
	// Without a previous image, there is nothing to roll back to: the region is skipped.
	f = newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 1, Desired: 1, Max: 1}})
	f.noPreviousImage = true
	exec = runAWS(t, f, rollbackCluster)
	report = exec.Stage("1").Outputs["rollbacks"].([]any)[0].(map[string]any)
	if len(f.changes()) != 0 || !strings.Contains(fmt.Sprint(report["skipped"]), "records no previous image") {
		t.Errorf("rolling back a single server group without a previous image: %q, %v", f.changes(), report)
	}
}

func TestAWSClusterStages(t *testing.T) {
	groups := func() []*fakeGroup {
		return []*fakeGroup{
			{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}, disabled: true},
			{name: "web-prod-v001", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}, disabled: true},
			{name: "web-prod-v002", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}},
			{name: "web-prod-v003", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 2}},
		}
	}
	cluster := `"credentials": "aws", "cluster": "web-prod", "regions": ["us-east-1"]`
	tests := []struct {
		name, config string
		want         []string
	}{
		{"shrink to two, keeping what serves", pipelineJSON(stageJSON("1", "shrinkCluster", nil, cluster+`, "shrinkToSize": 2`)),
			[]string{"destroy web-prod-v001", "destroy web-prod-v000"}},
		{"shrink to three", pipelineJSON(stageJSON("1", "shrinkCluster", nil, cluster+`, "shrinkToSize": 3`)),
			[]string{"destroy web-prod-v000"}},
		{"disable all but the newest", pipelineJSON(stageJSON("1", "disableCluster", nil, cluster+`, "remainingEnabledServerGroups": 1`)),
			[]string{"disable web-prod-v002"}},
		{"scale down the disabled", pipelineJSON(stageJSON("1", "scaleDownCluster", nil, cluster+`, "remainingFullSizeServerGroups": 1`)),
			[]string{"resize web-prod-v001 0/0/0", "resize web-prod-v000 0/0/0"}},
		{"suspend processes", pipelineJSON(stageJSON("1", "modifyAwsScalingProcess", nil, cluster+`, "action": "suspend", "processes": ["AZRebalance"]`)),
			[]string{"suspend web-prod-v003 AZRebalance"}},
		// A deploy's cleanup leaves alone the server group the deploy made.
		{"after a deploy", pipelineJSON(
			awsDeployStage("1", ""),
			stageJSON("2", "disableCluster", []string{"1"}, cluster+`, "remainingEnabledServerGroups": 0`)),
			[]string{"create web-prod-v004 image ami-web capacity 1/2/4", "disable web-prod-v003", "disable web-prod-v002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAWS(t, groups()...)
			exec := runAWS(t, f, tt.config)
			for _, s := range exec.Stages {
				if s.Status != pipeline.StatusSucceeded {
					t.Fatalf("stage %s: %s: %s", s.RefID, s.Status, s.Error)
				}
			}
			if got := f.changes(); !slices.Equal(got, tt.want) {
				t.Errorf("calls %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAWSUpsertImageTagsTagsWhatUpstreamFound(t *testing.T) {
	f := newFakeAWS(t)
	find := stageJSON("1", "findImageFromTags", nil, `"packageName": "web", "tags": {"release": "candidate"}, "regions": ["us-east-1"]`)
	tag := stageJSON("2", "upsertImageTags", []string{"1"}, `"cloudProvider": "aws", "tags": {"release": "stable"}`)
	exec := runAWS(t, f, pipelineJSON(find, tag))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded, "2": pipeline.StatusSucceeded})
	if got := f.changes(); !slices.Equal(got, []string{"tag ami-123 in us-east-1 with map[release:stable]"}) {
		t.Errorf("calls %q", got)
	}
	out := exec.Stage("2").Outputs
	if fmt.Sprint(out["targets"]) != "[map[imageId:ami-123 imageName:web-1.1.0 region:us-east-1]]" || fmt.Sprint(out["originalTags"]) != "map[ami-123:map[release:candidate]]" {
		t.Errorf("outputs %v", out)
	}
}

func TestAWSCloneServerGroupCopiesTheSourceWithTheStagesChanges(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 4}})
	exec := runAWS(t, f, pipelineJSON(stageJSON("1", "cloneServerGroup", nil, `"cloudProvider": "aws", "credentials": "aws", "region": "us-east-1",
		"targetCluster": "web-prod", "target": "current_asg_dynamic", "stack": "canary", "freeFormDetails": "", "instanceType": "t3.large",
		"capacity": {"min": 1, "desired": 1, "max": 1}, "amiName": "", "useSourceCapacity": false`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	want := []string{"create web-canary-v001 image ami-of-web-prod-v000 capacity 1/1/1"}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
	c := f.created.Cluster
	if c.InstanceType != "t3.large" || fmt.Sprint(c.TargetGroups) != "[web]" || fmt.Sprint(c.SubnetIDs) != "[subnet-1]" || f.created.ClusterName != "web-canary" {
		t.Errorf("the clone was created with %+v", f.created)
	}
	out := exec.Stage("1").Outputs
	if src, _ := out["source"].(map[string]any); src["serverGroupName"] != "web-prod-v000" || fmt.Sprint(out["deploy.server.groups"]) != "map[us-east-1:[web-canary-v001]]" {
		t.Errorf("outputs %v", out)
	}
}

func TestAWSRollbackToThePreviousImageDeploysACopyRedBlack(t *testing.T) {
	f := newFakeAWS(t, &fakeGroup{name: "web-prod-v000", capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 4}})
	exec := runAWS(t, f, pipelineJSON(stageJSON("1", "rollbackServerGroup", nil, `"credentials": "aws", "regions": ["us-east-1"],
		"rollbackType": "PREVIOUS_IMAGE", "rollbackContext": {"rollbackServerGroupName": "web-prod-v000", "targetHealthyRollbackPercentage": 50}`)))
	wantStatuses(t, exec, map[string]pipeline.Status{"1": pipeline.StatusSucceeded})
	want := []string{"create web-prod-v001 image ami-before-web-prod-v000 capacity 2/2/4", "disable web-prod-v000"}
	if got := f.changes(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %q\nwant %q", got, want)
	}
	if f.created.Cluster.TargetHealthyDeployPercentage != 50 || f.created.Cluster.Strategy != pipeline.StrategyRedBlack {
		t.Errorf("the copy was deployed with %+v", f.created.Cluster)
	}
}
