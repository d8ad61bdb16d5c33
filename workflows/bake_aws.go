package workflows

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/pipeline"
)

// longAWS runs an AWS activity that waits for AWS (a builder's provisioning, an image becoming
// available), heartbeating while it waits.
func longAWS(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		// They heartbeat at each poll: a worker lost mid-wait is noticed soon.
		HeartbeatTimeout:    20 * time.Second,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 20},
	})
}

// runAWSBake bakes a machine image: in the first region, a builder launched from the base image,
// provisioned by the bakery's script through SSM, stopped and imaged; then the image copied to the
// other regions with its tags, and shared. The builder is terminated however the bake ends. An
// image an earlier bake with the same inputs made is used instead, unless rebake.
func runAWSBake(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.BakeStage) (map[string]any, error) {
	var packages []string
	for _, id := range s.PackageArtifacts {
		a, err := r.expectedArtifact(st, id)
		if err != nil {
			return nil, err
		}
		packages = append(packages, a.Reference)
	}
	prep, err := awsCall[activities.AWSBakePrepareInput, activities.AWSBakePrepareResult](ctx, awsBakePrepare,
		activities.AWSBakePrepareInput{Account: s.Account, Stage: s, Packages: packages})
	if err != nil {
		return nil, err
	}
	s.Account = prep.Account
	first := s.Regions[0]
	outputs := map[string]any{"bakeKey": prep.Key, "baseAmiId": prep.BaseImage, "account": s.Account}
	st.view.Outputs = outputs
	images := prep.Existing
	previously := !s.Rebake && !r.exec.Trigger.Rebake && len(prep.Existing) == len(s.Regions)
	if !previously {
		if images, err = bakeImages(ctx, r, st, s, prep, outputs); err != nil {
			return outputs, err
		}
	}
	var details, artifacts []any
	for _, region := range s.Regions {
		img := images[region]
		d := map[string]any{"ami": img.ID, "imageId": img.ID, "imageName": img.Name, "amiName": img.Name, "region": region,
			"baseOs": s.BaseOS, "baseLabel": s.BaseLabel, "vmType": s.VMType, "storeType": "ebs", "package": s.Package,
			"cloudProviderType": pipeline.CloudAWS, "cloudProvider": pipeline.CloudAWS, "baseAmiId": prep.BaseImage, "refId": st.cfg.RefID}
		details = append(details, d)
		artifacts = append(artifacts, map[string]any{"type": "aws/image", "name": img.Name, "reference": img.ID, "location": region,
			"metadata": map[string]any{"bakeKey": prep.Key}})
	}
	outputs["deploymentDetails"] = details
	outputs[outputArtifacts] = artifacts
	outputs["previouslyBaked"] = previously
	outputs["bakePackageName"] = s.Package
	outputs["cloudProvider"] = pipeline.CloudAWS
	if img, ok := images[first]; ok {
		outputs["ami"], outputs["imageId"], outputs["imageName"] = img.ID, img.ID, img.Name
	}
	return outputs, nil
}

// bakeImages makes the image and its copies; the builder goes however it ends.
func bakeImages(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.BakeStage, prep activities.AWSBakePrepareResult, outputs map[string]any) (map[string]aws.ImageSummary, error) {
	first := s.Regions[0]
	bakeID := r.exec.ID + "/" + st.cfg.RefID
	defer func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		res, err := awsCall[activities.AWSBakeCleanupInput, activities.AWSBakeCleanupResult](dctx, awsBakeCleanup,
			activities.AWSBakeCleanupInput{Account: s.Account, Region: first, BakeID: bakeID})
		if err != nil {
			outputs["builderError"] = "could not terminate the builder: " + describeErr(err)
		} else if res.Instance != "" {
			outputs["builderTerminated"] = res.Instance
		}
	}()
	var prov aws.ProvisionResult
	err := workflow.ExecuteActivity(longAWS(ctx), awsBakeProvision(nil), activities.AWSBakeProvisionInput{Account: s.Account,
		Builder: aws.BuilderRequest{Region: first, BakeID: bakeID, BaseImage: prep.BaseImage, Commands: prep.Commands}}).Get(ctx, &prov)
	if err != nil {
		return nil, err
	}
	outputs["builder"], outputs["provisioning"] = prov.Instance, map[string]any{"command": prov.Command, "output": prov.Output}
	st.view.Outputs = outputs
	name := imageName(ctx, s)
	tags := r.imageTags(s, prep)
	images := map[string]aws.ImageSummary{}
	var img aws.ImageSummary
	if err := workflow.ExecuteActivity(longAWS(ctx), awsBakeImage(nil), activities.AWSBakeImageInput{Account: s.Account,
		Image: aws.ImageRequest{Region: first, BakeID: bakeID, Name: name, Tags: tags}}).Get(ctx, &img); err != nil {
		return nil, err
	}
	images[first] = img
	// The copies are made at once, each in its region.
	futures := map[string]workflow.Future{}
	for _, region := range s.Regions[1:] {
		futures[region] = workflow.ExecuteActivity(longAWS(ctx), awsBakeCopy(nil), activities.AWSBakeCopyInput{Account: s.Account,
			Copy: aws.CopyRequest{ImageRequest: aws.ImageRequest{Region: region, BakeID: bakeID, Name: name, Tags: tags}, SourceRegion: first, SourceImage: img.ID}})
	}
	var failures []string
	for _, region := range s.Regions[1:] {
		var c aws.ImageSummary
		if err := futures[region].Get(ctx, &c); err != nil {
			failures = append(failures, fmt.Sprintf("copy to %s: %s", region, describeErr(err)))
			continue
		}
		images[region] = c
	}
	if len(failures) > 0 {
		return nil, failf("%s", strings.Join(failures, "; "))
	}
	if len(s.ShareWith) > 0 {
		for _, region := range s.Regions {
			if err := workflow.ExecuteActivity(quickAWS(ctx), awsBakeShare(nil), activities.AWSBakeShareInput{Account: s.Account,
				Region: region, Image: images[region].ID, Accounts: s.ShareWith}).Get(ctx, nil); err != nil {
				return nil, err
			}
		}
	}
	return images, nil
}

// imageName is Rosco's: [amiName or the first package, the architecture, the suffix or the time,
// baseOs], joined with '-', the same in every region.
func imageName(ctx workflow.Context, s pipeline.BakeStage) string {
	suffix := cmp.Or(s.Suffix, workflow.Now(ctx).UTC().Format("20060102150405"))
	var parts []string
	for _, p := range []string{cmp.Or(s.ImageName, pipeline.FirstPackage(s.Package)), "all", suffix, s.BaseOS} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "-")
}

// imageTags are Rosco's tags of a baked image, with the bake key that finds it again.
func (r *interpreter) imageTags(s pipeline.BakeStage, prep activities.AWSBakePrepareResult) map[string]string {
	tags := map[string]string{aws.TagBakeKey: prep.Key, "base_ami_id": prep.BaseImage, "package": s.Package}
	if b := r.exec.Trigger.BuildInfo; b != nil {
		if b.URL != "" {
			tags["build_info_url"] = b.URL
		}
		if b.Master != "" {
			tags["build_host"] = b.Master
		}
		if name, version := pipeline.FirstPackageVersion(s.Package); version != "" && b.Number > 0 {
			build := "h" + fmt.Sprint(b.Number)
			if c := r.commit(); c != "" {
				build += "." + c[:min(len(c), 7)]
			}
			tags["appversion"] = fmt.Sprintf("%s-%s-%s/%s/%d", name, friggaVersion.Replace(version), build, strings.ReplaceAll(b.Name, "/", "-"), b.Number)
		}
	}
	return tags
}
