package aws

import (
	"context"
	"errors"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/gennaker/gennaker/internal/localaws"
)

// bakeEnv is an env whose account has a bakery.
func bakeEnv(t *testing.T) *env {
	e := newEnv(t)
	acct := e.p.account
	acct.Bakery = &Bakery{InstanceType: "t3.micro", SubnetType: localaws.SubnetType, SecurityGroups: []string{localaws.SecurityGroup}}
	e.p = NewProvider(acct)
	return e
}

func (e *env) count(action string) int {
	n := 0
	for _, c := range e.proxy.Calls() {
		if c.Action == action {
			n++
		}
	}
	return n
}

func TestBakeAMachineImageOnceWhateverIsRetried(t *testing.T) {
	e := bakeEnv(t)
	ctx := context.Background()
	tick := func() {}
	base := e.fixture.Images["web-1.0.0"]
	// The base image by name, and through an SSM parameter.
	if got, err := e.p.BaseImage(ctx, region, "web-1.0.0"); err != nil || got != base {
		t.Fatalf("base by name: %s, %v", got, err)
	}
	ssmc := ssm.NewFromConfig(localaws.Config(moto.URL, region))
	if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: awssdk.String("/gennaker/base/debian"), Value: awssdk.String(base),
		Type: "String"}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.p.BaseImage(ctx, region, "ssm:/gennaker/base/debian"); err != nil || got != base {
		t.Fatalf("base by SSM parameter: %s, %v", got, err)
	}
	if _, err := e.p.BaseImage(ctx, region, "ssm:/gennaker/base/nothing"); !errors.Is(err, ErrInvalid) {
		t.Errorf("an SSM parameter that is not there: %v", err)
	}

	in := BuilderRequest{Region: region, BakeID: "exec-1/bake", BaseImage: base, Commands: []string{"export PACKAGES=web", "echo baked"}}
	first, err := e.p.Provision(ctx, in, tick)
	if err != nil {
		t.Fatal(err)
	}
	// A retried provisioning finds the builder and the command: nothing launched or sent again.
	again, err := e.p.Provision(ctx, in, tick)
	if err != nil || again.Instance != first.Instance || again.Command != first.Command {
		t.Fatalf("provisioning again: %+v, %v; first %+v", again, err, first)
	}
	if n, m := e.count("RunInstances"), e.count("SendCommand"); n != 1 || m != 1 {
		t.Errorf("%d builders launched and %d commands sent, want one each", n, m)
	}

	req := ImageRequest{Region: region, BakeID: "exec-1/bake", Name: "web-all-20261208010000-debian", Tags: map[string]string{TagBakeKey: "k1", "appversion": "web-1.2.3"}}
	img, err := e.p.CreateImage(ctx, req, tick)
	if err != nil {
		t.Fatal(err)
	}
	if same, err := e.p.CreateImage(ctx, req, tick); err != nil || same.ID != img.ID || e.count("CreateImage") != 1 {
		t.Errorf("imaging again: %+v, %v (%d CreateImage calls)", same, err, e.count("CreateImage"))
	}
	if found, err := e.p.BakedImage(ctx, region, "k1"); err != nil || found == nil || found.ID != img.ID {
		t.Errorf("the image by its bake key: %+v, %v", found, err)
	}

	copied, err := e.p.CopyImage(ctx, CopyRequest{ImageRequest: ImageRequest{Region: "us-west-2", BakeID: req.BakeID, Name: req.Name, Tags: req.Tags},
		SourceRegion: region, SourceImage: img.ID}, tick)
	if err != nil {
		t.Fatal(err)
	}
	if found, err := e.p.BakedImage(ctx, "us-west-2", "k1"); err != nil || found == nil || found.ID != copied.ID || found.Name != req.Name {
		t.Errorf("the copy in us-west-2 by its bake key: %+v, %v", found, err)
	}
	if err := e.p.ShareImage(ctx, "us-west-2", copied.ID, []string{"210987654321"}); err != nil {
		t.Fatal(err)
	}
	west := ec2.NewFromConfig(localaws.Config(moto.URL, "us-west-2"))
	attr, err := west.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: awssdk.String(copied.ID), Attribute: ec2types.ImageAttributeNameLaunchPermission})
	if err != nil || len(attr.LaunchPermissions) != 1 || awssdk.ToString(attr.LaunchPermissions[0].UserId) != "210987654321" {
		t.Errorf("launch permissions %+v, %v", attr, err)
	}

	if inst, err := e.p.TerminateBuilder(ctx, region, "exec-1/bake"); err != nil || inst != first.Instance {
		t.Errorf("terminating the builder: %s, %v", inst, err)
	}
	if inst, err := e.p.TerminateBuilder(ctx, region, "exec-1/bake"); err != nil || inst != "" {
		t.Errorf("terminating it again: %s, %v", inst, err)
	}
}

func TestBakeWhoseScriptFailsSaysWhy(t *testing.T) {
	e := bakeEnv(t)
	e.proxy.FailCommands("E: Unable to locate package web\n")
	_, err := e.p.Provision(context.Background(), BuilderRequest{Region: region, BakeID: "exec-2/bake", BaseImage: e.fixture.Images["web-1.0.0"],
		Commands: []string{"apt-get install -y web"}}, func() {})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "the provisioning script failed") || !strings.Contains(err.Error(), "Unable to locate package web") {
		t.Fatalf("a failing script: %v", err)
	}
	if inst, err := e.p.TerminateBuilder(context.Background(), region, "exec-2/bake"); err != nil || inst == "" {
		t.Errorf("the failed bake's builder: %q, %v", inst, err)
	}
}
