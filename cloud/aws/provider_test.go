package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/gennaker/gennaker/internal/awsfault"
	"github.com/gennaker/gennaker/internal/localaws"
	"github.com/gennaker/gennaker/pipeline"
)

func TestCreateServerGroupLaunchesFromItsOwnLaunchTemplate(t *testing.T) {
	e := newEnv(t)
	c := cluster("prod")
	c.RequireIMDSv2 = true
	c.Tags = map[string]string{"team": "payments"}
	res := e.create(c, "exec-1")
	if res.ServerGroup != "web-prod-v000" || res.Adopted {
		t.Fatalf("created %+v, want web-prod-v000, not adopted", res)
	}
	g, ok := e.group("web-prod-v000")
	if !ok {
		t.Fatal("the auto scaling group is not there")
	}
	if g.capacity != (pipeline.Capacity{Min: 2, Desired: 2, Max: 4}) || len(g.live()) != 2 {
		t.Errorf("capacity %v with %d instances, want 2/2/4 with 2", g.capacity, len(g.live()))
	}
	if g.launchTemplate.version != "1" || !strings.HasPrefix(g.launchTemplate.name, "web-prod-v000-") {
		t.Errorf("launch template %+v, want its own, version 1", g.launchTemplate)
	}
	for k, want := range map[string]string{TagOwner: "exec-1/deploy", TagExecution: "exec-1", TagApplication: "web", TagStack: "prod", "team": "payments"} {
		if g.tags[k] != want {
			t.Errorf("tag %s = %q, want %q", k, g.tags[k], want)
		}
	}
	if len(g.targetGroups) != 1 || g.targetGroups[0] != e.fixture.TargetGroupARN {
		t.Errorf("target groups %v, want web's", g.targetGroups)
	}
	subnets, want := strings.Split(g.subnets, ","), slices.Clone(e.fixture.Subnets)
	slices.Sort(want)
	if !slices.Equal(subnets, want) {
		t.Errorf("subnets %v, want the internal ones %v", subnets, want)
	}
	// moto does not apply a launch template's metadata options to instances: the template says it.
	v, err := e.ec2.DescribeLaunchTemplateVersions(context.Background(), &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateName: awssdk.String(g.launchTemplate.name), Versions: []string{"1"}})
	if err != nil {
		t.Fatal(err)
	}
	data := v.LaunchTemplateVersions[0].LaunchTemplateData
	if data.MetadataOptions == nil || data.MetadataOptions.HttpTokens != "required" || awssdk.ToString(data.ImageId) != e.fixture.Images["web-1.0.0"] {
		t.Errorf("launch template data %+v: want IMDSv2 required and image web-1.0.0", data)
	}
	h, err := e.p.Health(context.Background(), region, "web-prod-v000")
	if err != nil {
		t.Fatal(err)
	}
	if h.Up != 2 || h.TakingTraffic() != 2 || h.Disabled {
		t.Errorf("health %+v, want 2 up and taking traffic", h)
	}
}

func TestCreateServerGroupTwiceAdoptsWhatTheSameDeployMade(t *testing.T) {
	e := newEnv(t)
	c := cluster("prod")
	first := e.create(c, "exec-1")
	again := e.create(c, "exec-1") // a retried activity: the same owner names the same group
	if again.ServerGroup != first.ServerGroup || !again.Adopted || again.LaunchTemplate != first.LaunchTemplate {
		t.Fatalf("retry gave %+v, want %s adopted", again, first.ServerGroup)
	}
	if names := e.groupNames(); len(names) != 1 {
		t.Errorf("groups %v, want one", names)
	}
	if n := len(e.running()); n != 2 {
		t.Errorf("%d instances running, want 2", n)
	}

	// Another deploy that reaches the same name (a sequence given twice) is refused, not merged.
	_, err := e.p.CreateServerGroup(context.Background(), CreateRequest{Region: region, Name: first.ServerGroup, Cluster: c,
		ImageID: e.fixture.Images["web-1.0.0"], Capacity: c.Capacity, Owner: Owner{Execution: "exec-2", Stage: "deploy"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "created by stage exec-1/deploy") {
		t.Errorf("a second owner's create: %v", err)
	}
}

func TestCreateServerGroupWhoseAnswerIsLostMakesOneGroup(t *testing.T) {
	e := newEnv(t)
	// The create reaches moto and its answer is lost; the SDK retries it. AWS answers the retry
	// with AlreadyExists (moto would make a second group and orphan the first one's instances).
	e.proxy.SetRules(awsfault.Rule{Actions: []string{"CreateAutoScalingGroup", "CreateLaunchTemplate"}, Drop: 1, Times: 2})
	res := e.create(cluster("prod"), "exec-1")
	if names := e.groupNames(); !slices.Equal(names, []string{res.ServerGroup}) {
		t.Errorf("groups %v, want only %s", names, res.ServerGroup)
	}
	if n := len(e.running()); n != 2 {
		t.Errorf("%d instances running, want 2: none orphaned", n)
	}
	var drops int
	for _, c := range e.proxy.Calls() {
		if c.Injected == "drop" {
			drops++
		}
	}
	if drops != 2 {
		t.Errorf("%d answers lost, want both creates' first answer", drops)
	}
}

func TestNextServerGroupNameFollowsTheNewestAndSkipsTakenSequences(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := cluster("prod")
	seq := 998
	c.Sequence = &seq
	o := Owner{Execution: "exec-1", Stage: "deploy"}
	if _, err := e.p.CreateServerGroup(ctx, CreateRequest{Region: region, Name: "web-prod-v998", Cluster: c, ImageID: e.fixture.Images["web-1.0.0"],
		Capacity: pipeline.Capacity{Min: 0, Desired: 0, Max: 0}, Owner: o}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.CreateServerGroup(ctx, CreateRequest{Region: region, Name: "web-prod-v000", Cluster: c, ImageID: e.fixture.Images["web-1.0.0"],
		Capacity: pipeline.Capacity{}, Owner: Owner{Execution: "exec-0", Stage: "deploy"}}); err != nil {
		t.Fatal(err)
	}
	// The newest is v000 (created last): next is v001. The owner that made v998 gets it back.
	for _, tt := range []struct {
		owner Owner
		want  string
	}{{Owner{Execution: "exec-2", Stage: "deploy"}, "web-prod-v001"}, {o, "web-prod-v998"}} {
		got, err := e.p.NextServerGroupName(ctx, NameRequest{Region: region, Cluster: "web-prod", Owner: tt.owner})
		if err != nil || got != tt.want {
			t.Errorf("next name for %v = %q, %v; want %s", tt.owner, got, err, tt.want)
		}
	}
	taken := 998
	if _, err := e.p.NextServerGroupName(ctx, NameRequest{Region: region, Cluster: "web-prod", Sequence: &taken, Owner: Owner{Execution: "x"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an explicit sequence in use: %v", err)
	}
	for _, tt := range []struct{ target, want string }{
		{pipeline.TargetCurrent, "web-prod-v000"}, {pipeline.TargetPrevious, "web-prod-v998"}, {pipeline.TargetOldest, "web-prod-v998"},
	} {
		got, err := e.p.ResolveTarget(ctx, region, "web-prod", tt.target)
		if err != nil || got != tt.want {
			t.Errorf("target %s = %q, %v; want %s", tt.target, got, err, tt.want)
		}
	}
}

func TestDisableTakesTheGroupOutOfTrafficAndKeepsItOutWhenResized(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.create(cluster("prod"), "exec-1")
	cur := e.create(cluster("prod"), "exec-2")
	before := e.healthyInTargetGroup()
	if len(before) != 4 {
		t.Fatalf("%d instances in traffic, want both groups' 4", len(before))
	}
	for range 2 { // disabling twice is the same as once
		res, err := e.p.Disable(ctx, TrafficRequest{Region: region, ServerGroup: old.ServerGroup, Guard: true,
			RequireUp: &Requirement{ServerGroup: cur.ServerGroup, Up: 2}})
		if err != nil || len(res.Instances) != 2 {
			t.Fatalf("disable: %+v, %v", res, err)
		}
	}
	g, _ := e.group(old.ServerGroup)
	if !g.disabled() || !slices.Contains(g.suspended, "Launch") || !slices.Contains(g.suspended, "Terminate") {
		t.Errorf("suspended %v, want Launch, Terminate and AddToLoadBalancer", g.suspended)
	}
	inTraffic := e.healthyInTargetGroup()
	for _, id := range g.instanceIDs() {
		if inTraffic[id] {
			t.Errorf("disabled instance %s still receives traffic", id)
		}
	}
	// moto registers every instance of a group in its target groups again on any capacity change;
	// a disabled group is deregistered again after one.
	if err := e.p.Resize(ctx, ResizeRequest{Region: region, ServerGroup: old.ServerGroup, Capacity: pipeline.Capacity{Min: 3, Desired: 3, Max: 4}}); err != nil {
		t.Fatal(err)
	}
	g, _ = e.group(old.ServerGroup)
	inTraffic = e.healthyInTargetGroup()
	if len(g.live()) != 3 {
		t.Errorf("%d instances after the resize, want 3", len(g.live()))
	}
	for _, id := range g.instanceIDs() {
		if inTraffic[id] {
			t.Errorf("after the resize, disabled instance %s receives traffic", id)
		}
	}
	h, err := e.p.Health(ctx, region, old.ServerGroup)
	if err != nil || !h.Disabled || h.TakingTraffic() != 0 {
		t.Errorf("health of the disabled group: %+v, %v", h, err)
	}

	if _, err := e.p.Enable(ctx, TrafficRequest{Region: region, ServerGroup: old.ServerGroup}); err != nil {
		t.Fatal(err)
	}
	h, err = e.p.Health(ctx, region, old.ServerGroup)
	if err != nil || h.Disabled || h.Up != 3 || h.TakingTraffic() != 3 {
		t.Errorf("health after enabling: %+v, %v", h, err)
	}
}

func TestDisableInStepsTakesEveryInstanceOut(t *testing.T) {
	// Rolling red/black disables a share of the source at each step, then all of it.
	e := newEnv(t)
	c := cluster("prod")
	res := e.create(c, "exec-1")
	ctx := context.Background()
	for _, step := range []struct{ pct, out int }{{50, 1}, {100, 2}} {
		out, err := e.p.Disable(ctx, TrafficRequest{Region: region, ServerGroup: res.ServerGroup, Percentage: step.pct})
		if err != nil || len(out.Instances) != step.out {
			t.Fatalf("disable %d%%: %+v, %v", step.pct, out, err)
		}
		h, err := e.p.Health(ctx, region, res.ServerGroup)
		if err != nil {
			t.Fatal(err)
		}
		if h.TakingTraffic() != 2-step.out || h.InTraffic() != 2-step.out {
			t.Errorf("after disabling %d%%: %+v", step.pct, h)
		}
	}
}

func TestDisableShareOfInstancesLeavesTheGroupEnabled(t *testing.T) {
	e := newEnv(t)
	c := cluster("prod")
	c.Capacity = pipeline.Capacity{Min: 4, Desired: 4, Max: 4}
	res := e.create(c, "exec-1")
	out, err := e.p.Disable(context.Background(), TrafficRequest{Region: region, ServerGroup: res.ServerGroup, Percentage: 50})
	if err != nil || len(out.Instances) != 2 {
		t.Fatalf("disable 50%%: %+v, %v", out, err)
	}
	h, _ := e.p.Health(context.Background(), region, res.ServerGroup)
	if h.Disabled || h.TakingTraffic() != 2 {
		t.Errorf("after disabling half: disabled %v, %d taking traffic; want enabled with 2", h.Disabled, h.TakingTraffic())
	}
}

func TestTrafficGuardKeepsTheLastServingGroup(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	only := e.create(cluster("prod"), "exec-1")
	_, err := e.p.Disable(ctx, TrafficRequest{Region: region, ServerGroup: only.ServerGroup, Guard: true})
	if !errors.Is(err, ErrTrafficGuard) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("disabling the only serving group: %v", err)
	}
	if _, err := e.p.Destroy(ctx, DestroyRequest{Region: region, ServerGroup: only.ServerGroup, Guard: true}); !errors.Is(err, ErrTrafficGuard) {
		t.Errorf("destroying it: %v", err)
	}
	if err := e.p.Resize(ctx, ResizeRequest{Region: region, ServerGroup: only.ServerGroup, Guard: true}); !errors.Is(err, ErrTrafficGuard) {
		t.Errorf("scaling it to 0: %v", err)
	}
	if len(e.healthyInTargetGroup()) != 2 {
		t.Error("the refused calls changed the traffic")
	}
}

func TestDisableRequiresTheNewGroupUpRightBeforeMovingTraffic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.create(cluster("prod"), "exec-1")
	cur := e.create(cluster("prod"), "exec-2")
	g, _ := e.group(cur.ServerGroup)
	newOnes := map[string]bool{}
	for _, id := range g.instanceIDs() {
		newOnes[id] = true
	}
	e.proxy.SetTargetHealth(awsfault.Unhealthy(func(id string) bool { return newOnes[id] }))
	e.proxy.ResetCalls()
	_, err := e.p.Disable(ctx, TrafficRequest{Region: region, ServerGroup: old.ServerGroup, Guard: true,
		RequireUp: &Requirement{ServerGroup: cur.ServerGroup, Up: 2}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "has 0 of the 2 instances up") ||
		!strings.Contains(err.Error(), "Target.FailedHealthChecks") {
		t.Fatalf("disabling the old group while the new one is unhealthy: %v", err)
	}
	for _, c := range e.proxy.Calls() {
		if c.Action == "SuspendProcesses" || c.Action == "DeregisterTargets" {
			t.Errorf("%s was called although the new group was not up", c.Action)
		}
	}
}

func TestHealthSaysWhyInstancesAreNotUp(t *testing.T) {
	e := newEnv(t)
	e.proxy.SetTargetHealth(awsfault.StartingFor(1))
	res := e.create(cluster("prod"), "exec-1")
	h, err := e.p.Health(context.Background(), region, res.ServerGroup)
	if err != nil {
		t.Fatal(err)
	}
	if h.Up != 0 || len(h.Instances) != 2 || !strings.Contains(strings.Join(h.NotUp(5), "\n"), "target group web: initial (Elb.RegistrationInProgress)") {
		t.Errorf("first read: %+v", h)
	}
	h, _ = e.p.Health(context.Background(), region, res.ServerGroup)
	if h.Up != 2 {
		t.Errorf("second read: %d up, want 2", h.Up)
	}
	missing, err := e.p.Health(context.Background(), region, "web-prod-v999")
	if err != nil || !missing.Missing {
		t.Errorf("a missing group: %+v, %v", missing, err)
	}
}

func TestDestroyRemovesTheGroupItsInstancesAndItsLaunchTemplate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.create(cluster("prod"), "exec-1")
	e.create(cluster("prod"), "exec-2")
	g, _ := e.group(old.ServerGroup)
	if _, err := e.p.Destroy(ctx, DestroyRequest{Region: region, ServerGroup: old.ServerGroup, Guard: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.group(old.ServerGroup); ok {
		t.Error("the group is still there")
	}
	running := e.running()
	for _, id := range g.instanceIDs() {
		if running[id] {
			t.Errorf("instance %s still runs", id)
		}
	}
	if lt, err := describeLaunchTemplate(ctx, &clients{region: region, ec2: e.ec2}, g.launchTemplate.name); err != nil || lt != nil {
		t.Errorf("launch template %s: %v, %v; want it gone", g.launchTemplate.name, lt, err)
	}
	if res, err := e.p.Destroy(ctx, DestroyRequest{Region: region, ServerGroup: old.ServerGroup}); err != nil || !res.Missing {
		t.Errorf("destroying it again: %+v, %v", res, err)
	}
}

func TestImagesFoundByTagsAndOnClusters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	img, ok, err := e.p.FindImageFromTags(ctx, region, "web", map[string]string{"release": "stable"}, "")
	if err != nil || !ok || img.Name != "web-1.1.0" {
		t.Fatalf("newest web image tagged stable: %+v, %v, %v", img, ok, err)
	}
	if _, ok, err := e.p.FindImageFromTags(ctx, region, "web", map[string]string{"release": "nightly"}, ""); err != nil || ok {
		t.Errorf("no image has the tags: found %v, %v", ok, err)
	}
	e.create(cluster("prod"), "exec-1")
	img, ok, err = e.p.ClusterImage(ctx, region, "web-prod", true, pipeline.SelectNewest, "^web-")
	if err != nil || !ok || img.Name != "web-1.0.0" || img.ServerGroup != "web-prod-v000" {
		t.Errorf("image of the cluster: %+v, %v, %v", img, ok, err)
	}
	if _, ok, err := e.p.ClusterImage(ctx, region, "web-staging", true, pipeline.SelectNewest, ""); err != nil || ok {
		t.Errorf("a cluster without server groups: %v, %v", ok, err)
	}
}

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	e := newEnv(t)
	e.proxy.SetRules(awsfault.Rule{Throttle: 0.2, ServerError: 0.1, Latency: 0})
	res := e.create(cluster("prod"), "exec-1")
	if _, err := e.p.Disable(context.Background(), TrafficRequest{Region: region, ServerGroup: res.ServerGroup}); err != nil {
		t.Fatal(err)
	}
	var injected int
	for _, c := range e.proxy.Calls() {
		if c.Injected != "" {
			injected++
		}
	}
	if injected == 0 {
		t.Error("no fault was injected: the test tested nothing")
	}
	if names := e.groupNames(); len(names) != 1 {
		t.Errorf("groups %v, want one", names)
	}
	if len(e.running()) != 2 {
		t.Errorf("%d instances running, want 2", len(e.running()))
	}
}

func TestUnknownRegionAndSubnetTypeAreRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.p.Health(ctx, "eu-west-1", "web-v000"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no region \"eu-west-1\"") {
		t.Errorf("unknown region: %v", err)
	}
	c := cluster("prod")
	c.SubnetType = "external"
	_, err := e.p.CreateServerGroup(ctx, CreateRequest{Region: region, Name: "web-prod-v000", Cluster: c, ImageID: e.fixture.Images["web-1.0.0"],
		Capacity: c.Capacity, Owner: Owner{Execution: "x", Stage: "1"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `no subnets of type "external"`) {
		t.Errorf("unknown subnet type: %v", err)
	}
	c = cluster("prod")
	_, err = e.p.CreateServerGroup(ctx, CreateRequest{Region: region, Name: "web-prod-v000", Cluster: c, ImageID: "no-such-image",
		Capacity: c.Capacity, Owner: Owner{Execution: "x", Stage: "1"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no image no-such-image") {
		t.Errorf("unknown image: %v", err)
	}
}

func TestScalingProcessesAndImageTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res := e.create(cluster("prod"), "exec-1")
	if err := e.p.SetProcesses(ctx, region, res.ServerGroup, true, []string{"AZRebalance", "ScheduledActions"}); err != nil {
		t.Fatal(err)
	}
	g, _ := e.group(res.ServerGroup)
	if !slices.Contains(g.suspended, "AZRebalance") || !slices.Contains(g.suspended, "ScheduledActions") || g.disabled() {
		t.Errorf("suspended %v", g.suspended)
	}
	if err := e.p.SetProcesses(ctx, region, res.ServerGroup, false, []string{"AZRebalance"}); err != nil {
		t.Fatal(err)
	}
	if g, _ = e.group(res.ServerGroup); slices.Contains(g.suspended, "AZRebalance") {
		t.Errorf("still suspended %v", g.suspended)
	}
	if err := e.p.SetProcesses(ctx, region, "web-prod-v999", true, []string{"Launch"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing group: %v", err)
	}

	tagged, err := e.p.TagImages(ctx, region, []string{"web-1.0.0"}, map[string]string{"release": "retired"})
	if err != nil || len(tagged) != 1 || tagged[0].Tags["release"] != "stable" {
		t.Fatalf("tagging: %+v, %v", tagged, err)
	}
	img, ok, err := e.p.FindImageFromTags(ctx, region, "web", map[string]string{"release": "stable"}, "")
	if err != nil || !ok || img.Name != "web-1.1.0" {
		t.Errorf("the newest stable image after retiring web-1.0.0: %+v, %v, %v", img, ok, err)
	}
	if _, ok, _ := e.p.FindImageFromTags(ctx, region, "web", map[string]string{"release": "retired"}, ""); !ok {
		t.Error("the retired image is not found by its new tag")
	}
}

func TestReadCloneSourceGivesBackTheSettingsAndThePreviousImage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := cluster("prod")
	c.RequireIMDSv2 = true
	c.Tags = map[string]string{"team": "payments"}
	c.SuspendedProcesses = []string{"AZRebalance"}
	c.BlockDevices = []pipeline.AWSBlockDevice{{DeviceName: "/dev/xvda", Size: 20, VolumeType: "gp3"}}
	first := e.create(c, "exec-1")
	o := Owner{Execution: "exec-2", Stage: "deploy"}
	second, err := e.p.CreateServerGroup(ctx, CreateRequest{Region: region, Name: "web-prod-v001", Application: "web", Cluster: c,
		ImageID: "web-1.1.0", Capacity: c.Capacity, Source: first.ServerGroup, Owner: o})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Disable(ctx, TrafficRequest{Region: region, ServerGroup: second.ServerGroup}); err != nil {
		t.Fatal(err)
	}
	// moto keeps no lifecycle hook given at create: one is put on afterwards.
	if _, err := e.asg.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: awssdk.String(second.ServerGroup),
		LifecycleHookName: awssdk.String("drain"), LifecycleTransition: awssdk.String("autoscaling:EC2_INSTANCE_TERMINATING"),
		HeartbeatTimeout: awssdk.Int32(60), DefaultResult: awssdk.String("CONTINUE")}); err != nil {
		t.Fatal(err)
	}
	src, err := e.p.ReadCloneSource(ctx, region, second.ServerGroup)
	if err != nil {
		t.Fatal(err)
	}
	if src.ImageID != e.fixture.Images["web-1.1.0"] || src.PreviousImageID != e.fixture.Images["web-1.0.0"] {
		t.Errorf("images %s (previous %s), want web-1.1.0's (previous web-1.0.0's)", src.ImageID, src.PreviousImageID)
	}
	got := src.Cluster
	subnets := slices.Clone(e.fixture.Subnets)
	slices.Sort(subnets)
	checks := []struct {
		what      string
		got, want any
	}{
		{"moniker", []string{got.Account, got.Application, got.Stack}, []string{"aws-test", "web", "prod"}},
		{"capacity", got.Capacity, c.Capacity},
		{"instance type", got.InstanceType, "t3.micro"},
		{"IMDSv2", got.RequireIMDSv2, true},
		{"tags", got.Tags, map[string]string{"team": "payments"}},
		// What disabling suspended is not copied.
		{"suspended processes", got.SuspendedProcesses, []string{"AZRebalance"}},
		{"target groups", got.TargetGroups, []string{localaws.TargetGroup}},
		{"subnets", got.SubnetIDs, subnets},
		{"security groups", len(got.SecurityGroups), 1},
		{"health check", []int{got.HealthCheckGracePeriod, got.Cooldown}, []int{600, 10}},
		{"block devices", []any{len(got.BlockDevices), got.BlockDevices[0].Size, got.BlockDevices[0].VolumeType}, []any{1, 20, "gp3"}},
		{"lifecycle hooks", len(got.LifecycleHooks), 1},
		{"lifecycle hook", []any{got.LifecycleHooks[0].LifecycleTransition, got.LifecycleHooks[0].HeartbeatTimeout, got.LifecycleHooks[0].DefaultResult},
			[]any{"autoscaling:EC2_INSTANCE_TERMINATING", 60, "CONTINUE"}},
	}
	for _, ch := range checks {
		if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
			t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	if _, err := e.p.ReadCloneSource(ctx, region, "web-prod-v009"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no server group web-prod-v009") {
		t.Errorf("reading a group that is not there: %v", err)
	}
}

func TestClassicLoadBalancersCountInHealthAndTraffic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	elb := elasticloadbalancing.NewFromConfig(localaws.Config(moto.URL, region))
	if _, err := elb.CreateLoadBalancer(ctx, &elasticloadbalancing.CreateLoadBalancerInput{LoadBalancerName: awssdk.String("web-classic"),
		Listeners: []elbtypes.Listener{{Protocol: awssdk.String("HTTP"), LoadBalancerPort: 80, InstancePort: awssdk.Int32(8080)}},
		Subnets:   e.fixture.Subnets}); err != nil {
		t.Fatal(err)
	}
	inService := func() map[string]bool {
		out, err := elb.DescribeInstanceHealth(ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: awssdk.String("web-classic")})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, s := range out.InstanceStates {
			if awssdk.ToString(s.State) == "InService" {
				ids[awssdk.ToString(s.InstanceId)] = true
			}
		}
		return ids
	}
	c := cluster("classic")
	c.TargetGroups, c.LoadBalancers = nil, []string{"web-classic"}
	g := e.create(c, "exec-1")
	h, err := e.p.Health(ctx, region, g.ServerGroup)
	if err != nil {
		t.Fatal(err)
	}
	if h.Up != 2 || h.TakingTraffic() != 2 || len(inService()) != 2 {
		t.Fatalf("after the create: %+v; in service %v", h, inService())
	}
	// moto keeps the instances an Auto Scaling group attached in a classic load balancer whatever
	// it is asked: that a disable takes them out, and an enable puts them back, is read from the
	// calls made.
	calls := func(action string) []string {
		var ids []string
		for _, c := range e.proxy.Calls() {
			if c.Action == action && c.Params.Get("LoadBalancerName") == "web-classic" {
				for k, v := range c.Params {
					if strings.HasPrefix(k, "Instances.member.") {
						ids = append(ids, v[0])
					}
				}
			}
		}
		slices.Sort(ids)
		return ids
	}
	members := slices.Sorted(maps.Keys(inService()))
	e.proxy.ResetCalls()
	if _, err := e.p.Disable(ctx, TrafficRequest{Region: region, ServerGroup: g.ServerGroup}); err != nil {
		t.Fatal(err)
	}
	if got := calls("DeregisterInstancesFromLoadBalancer"); !slices.Equal(got, members) {
		t.Errorf("the disable deregistered %v from web-classic, want %v", got, members)
	}
	if _, err := e.p.Enable(ctx, TrafficRequest{Region: region, ServerGroup: g.ServerGroup}); err != nil {
		t.Fatal(err)
	}
	if got := calls("RegisterInstancesWithLoadBalancer"); !slices.Equal(got, members) {
		t.Errorf("the enable registered %v with web-classic, want %v", got, members)
	}
}
