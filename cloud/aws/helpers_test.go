package aws

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/gennaker/gennaker/internal/awsfault"
	"github.com/gennaker/gennaker/internal/localaws"
	"github.com/gennaker/gennaker/pipeline"
)

// The provider's tests run against moto_server, one for the package, emptied before each test,
// through the awsfault proxy, which makes moto answer as AWS does where it matters and injects
// faults where a test asks.

var moto *localaws.Server

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		srv, err := localaws.Start(context.Background())
		switch {
		case err == nil:
			moto = srv
		case errors.Is(err, localaws.ErrNotInstalled) && os.Getenv("CI") != "true":
			fmt.Fprintf(os.Stderr, "cloud/aws: the tests against AWS are skipped: %v\n", err)
		default:
			fmt.Fprintf(os.Stderr, "cloud/aws: %v\n", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if moto != nil {
		moto.Stop()
	}
	os.Exit(code)
}

const region = "us-east-1"

// env is one test's AWS: moto, emptied and seeded, behind a proxy, and a provider using it.
type env struct {
	t       *testing.T
	proxy   *awsfault.Proxy
	fixture localaws.Fixture
	p       *Provider
	ec2     *ec2.Client
	asg     *autoscaling.Client
	elbv2   *elasticloadbalancingv2.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if moto == nil {
		t.Skip("needs moto_server")
	}
	ctx := context.Background()
	if err := moto.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	fixture, err := localaws.Seed(ctx, localaws.Config(moto.URL, region))
	if err != nil {
		t.Fatal(err)
	}
	proxy := awsfault.New(moto.URL, 1)
	t.Cleanup(proxy.Close)
	for k, v := range localaws.Environ(region) {
		t.Setenv(k, v)
	}
	acct := Account{Name: "aws-test", Endpoint: proxy.URL, RateLimit: 1000,
		Regions: []Region{{Name: region}, {Name: "us-west-2"}}}
	cfg := localaws.Config(moto.URL, region)
	return &env{t: t, proxy: proxy, fixture: fixture, p: NewProvider(acct),
		ec2: ec2.NewFromConfig(cfg), asg: autoscaling.NewFromConfig(cfg), elbv2: elasticloadbalancingv2.NewFromConfig(cfg)}
}

// cluster is a deploy cluster of application web as a pipeline would give it.
func cluster(stack string) pipeline.AWSCluster {
	return pipeline.AWSCluster{
		Account: "aws-test", Region: region, Application: "web", Stack: stack,
		SubnetType: localaws.SubnetType, Capacity: pipeline.Capacity{Min: 2, Desired: 2, Max: 4},
		InstanceType: "t3.micro", SecurityGroups: []string{localaws.SecurityGroup}, TargetGroups: []string{localaws.TargetGroup},
		HealthCheckType: "EC2", HealthCheckGracePeriod: 600, Cooldown: 10, TerminationPolicies: []string{"Default"},
		TargetHealthyDeployPercentage: 100, Strategy: pipeline.StrategyRedBlack,
	}
}

// create creates the next server group of the cluster for the owner, failing the test on error.
func (e *env) create(c pipeline.AWSCluster, owner string) CreateResult {
	e.t.Helper()
	ctx := context.Background()
	o := Owner{Execution: owner, Stage: "deploy"}
	name, err := e.p.NextServerGroupName(ctx, NameRequest{Region: c.Region, Cluster: c.Cluster("web"), Owner: o})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.p.CreateServerGroup(ctx, CreateRequest{Region: c.Region, Name: name, Application: "web", Cluster: c,
		ImageID: e.fixture.Images["web-1.0.0"], Capacity: c.Capacity, Owner: o})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// group reads an Auto Scaling group straight from moto.
func (e *env) group(name string) (serverGroup, bool) {
	e.t.Helper()
	out, err := e.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return serverGroup{}, false
	}
	return fromASG(out.AutoScalingGroups[0]), true
}

// healthyInTargetGroup lists the instances moto's target group "web" reports healthy that EC2
// still runs: the instances that receive traffic.
func (e *env) healthyInTargetGroup() map[string]bool {
	e.t.Helper()
	ctx := context.Background()
	out, err := e.elbv2.DescribeTargetHealth(ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: awssdk.String(e.fixture.TargetGroupARN)})
	if err != nil {
		e.t.Fatal(err)
	}
	running := e.running()
	healthy := map[string]bool{}
	for _, d := range out.TargetHealthDescriptions {
		id := awssdk.ToString(d.Target.Id)
		if d.TargetHealth.State == "healthy" && running[id] {
			healthy[id] = true
		}
	}
	return healthy
}

// running lists the instances EC2 runs (or is starting), by id.
func (e *env) running() map[string]bool {
	e.t.Helper()
	out, err := e.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("instance-state-name"), Values: []string{"running", "pending"}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids[awssdk.ToString(i.InstanceId)] = true
		}
	}
	return ids
}

// groupNames lists every Auto Scaling group in moto.
func (e *env) groupNames() []string {
	e.t.Helper()
	out, err := e.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, g := range out.AutoScalingGroups {
		names = append(names, awssdk.ToString(g.AutoScalingGroupName))
	}
	return names
}
