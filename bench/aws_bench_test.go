package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/oklog/ulid/v2"
	"go.temporal.io/sdk/client"

	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/internal/awsfault"
	"github.com/gennaker/gennaker/internal/localaws"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/worker"
	"github.com/gennaker/gennaker/workflows"
)

// awsTaskQueue carries the AWS deploy pipelines, on a worker of its own with the AWS account.
const (
	awsTaskQueue   = "bench-aws"
	awsAccount     = "bench-aws"
	awsRegion      = "us-east-1"
	awsTargetRatio = 1.3
)

// BenchmarkAWS compares a red/black deploy of three instances behind one target group: a gennaker
// deploy stage against its floor, the same AWS calls made directly with aws-sdk-go-v2 (describe
// the cluster, create a launch template and an Auto Scaling group, wait until its instances are
// healthy in the target group, disable the previous group, destroy the one before it), on one moto.
// Both go through the same pass-through proxy, which notes when each side makes its first AWS call
// after the deploy began.
func BenchmarkAWS(b *testing.B) {
	if env == nil {
		b.Skip("the environment starts only under -bench")
	}
	moto, err := localaws.Start(b.Context())
	if errors.Is(err, localaws.ErrNotInstalled) {
		b.Skipf("%v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(moto.Stop)
	if _, err := localaws.Seed(b.Context(), localaws.Config(moto.URL, awsRegion)); err != nil {
		b.Fatal(err)
	}
	proxy := awsfault.New(moto.URL, 1)
	b.Cleanup(proxy.Close)
	providers := aws.NewProviders([]aws.Account{{Name: awsAccount, Endpoint: proxy.URL, RateLimit: 1000, Regions: []aws.Region{{Name: awsRegion}},
		StaticCredentials: &aws.StaticCredentials{AccessKeyID: localaws.AccessKeyID, SecretAccessKey: localaws.SecretAccessKey}}})
	w := worker.New(env.client, awsTaskQueue, worker.Dependencies{AWS: providers})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	a := &awsEnv{proxy: proxy, pipeline: awsDeployPipeline(b), floor: newAWSFloor(localaws.Config(proxy.URL, awsRegion))}
	// moto answers in a few milliseconds, AWS in tens to hundreds: the second run adds what a
	// call to AWS's API takes, to both sides alike.
	for _, latency := range []time.Duration{0, awsAPILatency} {
		proxy.SetRules(awsfault.Rule{Latency: latency})
		b.Run(fmt.Sprintf("deploy/latency=%s", latency), func(b *testing.B) { a.run(b, latency) })
	}
	printAWSTable(os.Stdout)
}

// awsAPILatency is a typical answer time of EC2's and Auto Scaling's APIs.
const awsAPILatency = 100 * time.Millisecond

type awsEnv struct {
	proxy    *awsfault.Proxy
	pipeline pipeline.Pipeline
	floor    *awsFloor
	// calls counts the AWS calls of the latest deploy of each side.
	calls [2]int
}

// awsDeployPipeline is one red/black deploy stage of cluster bench-g: three instances in target
// group web, two server groups kept.
func awsDeployPipeline(b *testing.B) pipeline.Pipeline {
	b.Helper()
	raw, err := json.Marshal(map[string]any{"application": "bench", "name": "deploy-aws", "stages": []any{map[string]any{
		"refId": "1", "type": "deploy", "name": "Deploy", "clusters": []any{map[string]any{
			"account": awsAccount, "application": "bench", "stack": "g", "region": awsRegion, "subnetType": localaws.SubnetType,
			"instanceType": "t3.micro", "securityGroups": []any{localaws.SecurityGroup}, "targetGroups": []any{localaws.TargetGroup},
			"amiName": "web-1.1.0", "capacity": map[string]any{"min": 3, "desired": 3, "max": 3}, "strategy": "redblack", "maxRemainingAsgs": 2}}}}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := pipeline.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	if problems := pipeline.Validate(p, pipeline.ValidateOptions{AWSAccounts: map[string][]string{awsAccount: {awsRegion}}}); len(problems) > 0 {
		b.Fatalf("the deploy pipeline is invalid: %v", problems)
	}
	return p
}

// awsSample is one deploy as measured: the caller's wait, and when its first AWS call came.
type awsSample struct{ wall, firstCall time.Duration }

func (a *awsEnv) run(b *testing.B, latency time.Duration) {
	ctx := b.Context()
	type awsPair struct{ gennaker, floor awsSample }
	pairs := make([]awsPair, b.N)
	for i := range pairs {
		gennaker := func() { pairs[i].gennaker = a.deployGennaker(ctx, b) }
		floor := func() { pairs[i].floor = a.deployFloor(ctx, b) }
		if i%2 == 0 {
			gennaker()
			floor()
		} else {
			floor()
			gennaker()
		}
	}
	b.StopTimer()
	var g, f []awsSample
	var ratios []float64
	for _, p := range pairs {
		g, f = append(g, p.gennaker), append(f, p.floor)
		ratios = append(ratios, float64(p.gennaker.wall)/float64(p.floor.wall))
	}
	med := func(ss []awsSample) awsSample {
		var wall, first []time.Duration
		for _, s := range ss {
			wall, first = append(wall, s.wall), append(first, s.firstCall)
		}
		return awsSample{wall: median(wall), firstCall: median(first)}
	}
	r := awsResult{latency: latency, runs: len(pairs), gennaker: med(g), floor: med(f), ratio: median(ratios), calls: a.calls}
	awsResults.Lock()
	// The warm-up run of b.N = 1 comes first; the last run of each latency is the one shown.
	if n := len(awsResults.all); n > 0 && awsResults.all[n-1].latency == latency {
		awsResults.all = awsResults.all[:n-1]
	}
	awsResults.all = append(awsResults.all, r)
	awsResults.Unlock()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(r.gennaker.wall), "gennaker-ms/deploy")
	b.ReportMetric(ms(r.floor.wall), "sdk-ms/deploy")
	b.ReportMetric(r.ratio, "ratio")
	b.ReportMetric(ms(r.gennaker.firstCall), "gennaker-stage-to-first-call-ms")
	b.ReportMetric(ms(r.floor.firstCall), "sdk-start-to-first-call-ms")
}

// firstCallAfter is when the proxy saw the first call at or after t.
func (a *awsEnv) firstCallAfter(b *testing.B, t time.Time) time.Time {
	b.Helper()
	for _, c := range a.proxy.Calls() {
		if !c.Time.Before(t) {
			return c.Time
		}
	}
	b.Fatal("no AWS call was made")
	return time.Time{}
}

func (a *awsEnv) deployGennaker(ctx context.Context, b *testing.B) awsSample {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, executionTimeout)
	defer cancel()
	a.proxy.ResetCalls()
	trig := pipeline.TriggerInfo{Type: pipeline.TriggerManual, User: "bench", Parameters: map[string]any{}}
	began := time.Now()
	run, err := env.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ulid.Make().String(), TaskQueue: awsTaskQueue,
		TypedSearchAttributes: workflows.StartAttributes(a.pipeline, trig.Type)},
		workflows.Pipeline, workflows.PipelineInput{Pipeline: a.pipeline, Trigger: trig, BuildTime: began.UnixMilli()})
	if err != nil {
		b.Fatalf("starting gennaker's deploy: %v", err)
	}
	var res workflows.PipelineResult
	if err := run.Get(ctx, &res); err != nil {
		b.Fatalf("gennaker's deploy: %v", err)
	}
	done := time.Now()
	if s := res.Execution.Stages[0]; s.Status != pipeline.StatusSucceeded {
		b.Fatalf("gennaker's deploy ended %s: %s", s.Status, s.Error)
	}
	stageStart := time.UnixMilli(res.Execution.Stages[0].StartTime)
	a.calls[0] = len(a.proxy.Calls())
	return awsSample{wall: done.Sub(began), firstCall: a.firstCallAfter(b, stageStart).Sub(stageStart)}
}

func (a *awsEnv) deployFloor(ctx context.Context, b *testing.B) awsSample {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, executionTimeout)
	defer cancel()
	a.proxy.ResetCalls()
	began := time.Now()
	if err := a.floor.deploy(ctx); err != nil {
		b.Fatalf("the floor's deploy: %v", err)
	}
	done := time.Now()
	a.calls[1] = len(a.proxy.Calls())
	return awsSample{wall: done.Sub(began), firstCall: a.firstCallAfter(b, began).Sub(began)}
}

// awsFloor deploys red/black with the SDK alone, the least a deploy must do.
type awsFloor struct {
	ec2 *ec2.Client
	asg *autoscaling.Client
	lb  *elbv2.Client
	seq int
}

func newAWSFloor(cfg awssdk.Config) *awsFloor {
	return &awsFloor{ec2: ec2.NewFromConfig(cfg), asg: autoscaling.NewFromConfig(cfg), lb: elbv2.NewFromConfig(cfg)}
}

const floorCluster = "bench-floor"

func (f *awsFloor) deploy(ctx context.Context) error {
	groups, err := f.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		return err
	}
	var older []asgtypes.AutoScalingGroup
	for _, g := range groups.AutoScalingGroups {
		if strings.HasPrefix(awssdk.ToString(g.AutoScalingGroupName), floorCluster+"-v") {
			older = append(older, g)
		}
	}
	slices.SortFunc(older, func(x, y asgtypes.AutoScalingGroup) int {
		return strings.Compare(awssdk.ToString(x.AutoScalingGroupName), awssdk.ToString(y.AutoScalingGroupName))
	})
	name := fmt.Sprintf("%s-v%03d", floorCluster, f.seq)
	f.seq++
	images, err := f.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []ec2types.Filter{{Name: awssdk.String("name"), Values: []string{"web-1.1.0"}}}})
	if err != nil || len(images.Images) == 0 {
		return fmt.Errorf("image: %v", err)
	}
	sgs, err := f.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: awssdk.String("group-name"), Values: []string{localaws.SecurityGroup}}}})
	if err != nil || len(sgs.SecurityGroups) == 0 {
		return fmt.Errorf("security group: %v", err)
	}
	subnets, err := f.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: awssdk.String("tag-key"), Values: []string{aws.SubnetPurposeTag}}}})
	if err != nil {
		return err
	}
	var ids []string
	for _, s := range subnets.Subnets {
		ids = append(ids, awssdk.ToString(s.SubnetId))
	}
	tgs, err := f.lb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{localaws.TargetGroup}})
	if err != nil {
		return err
	}
	tg := tgs.TargetGroups[0].TargetGroupArn
	lt, err := f.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: awssdk.String(name), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
		ImageId: images.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Micro, SecurityGroupIds: []string{awssdk.ToString(sgs.SecurityGroups[0].GroupId)}}})
	if err != nil {
		return err
	}
	if _, err := f.asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: awssdk.String(name),
		LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: awssdk.String("1")},
		MinSize:        awssdk.Int32(3), MaxSize: awssdk.Int32(3), DesiredCapacity: awssdk.Int32(3), TargetGroupARNs: []string{awssdk.ToString(tg)},
		VPCZoneIdentifier: awssdk.String(strings.Join(ids, ","))}); err != nil {
		return err
	}
	if err := f.waitHealthy(ctx, name, tg); err != nil {
		return err
	}
	if len(older) > 0 {
		prev := older[len(older)-1]
		if _, err := f.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: prev.AutoScalingGroupName,
			ScalingProcesses: []string{"Launch", "Terminate", "AddToLoadBalancer"}}); err != nil {
			return err
		}
		var targets []elbv2types.TargetDescription
		for _, i := range prev.Instances {
			targets = append(targets, elbv2types.TargetDescription{Id: i.InstanceId})
		}
		if len(targets) > 0 {
			if _, err := f.lb.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: tg, Targets: targets}); err != nil {
				return err
			}
		}
	}
	if len(older) > 1 {
		oldest := older[0]
		if _, err := f.asg.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: oldest.AutoScalingGroupName, ForceDelete: awssdk.Bool(true)}); err != nil {
			return err
		}
		if _, err := f.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: oldest.AutoScalingGroupName}); err != nil {
			return err
		}
	}
	return nil
}

// waitHealthy polls the group, its instances and the target group until three are healthy.
func (f *awsFloor) waitHealthy(ctx context.Context, name string, tg *string) error {
	for {
		g, err := f.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
		if err != nil {
			return err
		}
		var ids []string
		for _, i := range g.AutoScalingGroups[0].Instances {
			ids = append(ids, awssdk.ToString(i.InstanceId))
		}
		if _, err := f.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: awssdk.String("instance-id"), Values: ids}}}); err != nil {
			return err
		}
		h, err := f.lb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg})
		if err != nil {
			return err
		}
		healthy := 0
		for _, d := range h.TargetHealthDescriptions {
			if d.TargetHealth.State == "healthy" && slices.Contains(ids, awssdk.ToString(d.Target.Id)) {
				healthy++
			}
		}
		if healthy >= 3 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// awsResult is one run of the AWS deploy benchmark as the summary shows it.
type awsResult struct {
	latency         time.Duration
	runs            int
	gennaker, floor awsSample
	ratio           float64
	calls           [2]int
}

var awsResults struct {
	sync.Mutex
	all []awsResult
}

func printAWSTable(out io.Writer) {
	awsResults.Lock()
	defer awsResults.Unlock()
	if len(awsResults.all) == 0 {
		return
	}
	fmt.Fprintf(out, "\nAWS red/black deploy, 3 instances, 1 target group, on moto: gennaker against aws-sdk-go-v2 (medians)\n")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "added API latency\tpairs\tgennaker\tSDK floor\tratio\ttarget\tAWS calls\tstart to first call")
	for _, r := range awsResults.all {
		verdict := "ok"
		if r.ratio > awsTargetRatio {
			verdict = "over"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f ms\t%.0f ms\t%.2f×\t≤ %.1f× (%s)\t%d vs %d\t%.0f ms vs %.0f ms\n", r.latency, r.runs,
			ms(r.gennaker.wall), ms(r.floor.wall), r.ratio, awsTargetRatio, verdict, r.calls[0], r.calls[1], ms(r.gennaker.firstCall), ms(r.floor.firstCall))
	}
	_ = tw.Flush()
}
