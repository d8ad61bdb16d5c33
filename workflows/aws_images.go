package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// findImageFromTagsPatience is how long findImageFromTags keeps looking for an image that is not
// there yet, as Spinnaker does: a bake's tags may take a moment to show.
const (
	findImageFromTagsPatience = 10 * time.Minute
	findImageFromTagsInterval = 10 * time.Second
)

// imageOutputs are the outputs of a stage that found images, as Spinnaker writes them:
// deploymentDetails (which deploy stages read the image of their region from), amiDetails and
// aws/image artifacts.
func imageOutputs(images []cloud.Image, extra func(cloud.Image) map[string]any) map[string]any {
	var details, artifacts, regions []any
	for _, img := range images {
		details = append(details, imageDetails(img, extra(img)))
		artifacts = append(artifacts, imageArtifact(img))
		regions = append(regions, img.Region)
	}
	return map[string]any{"deploymentDetails": details, "amiDetails": details, outputArtifacts: artifacts, "regions": regions}
}

// runFindImageFromTags finds, in each region, the newest image of the package with the tags.
func runFindImageFromTags(ctx workflow.Context, _ *interpreter, st *stageRun, s pipeline.FindImageFromTagsStage) (map[string]any, error) {
	var images []cloud.Image
	accounts := map[string]string{}
	for _, region := range s.Regions {
		in := activities.AWSFindImageFromTagsInput{Account: s.Account, Region: region, PackageName: s.PackageName, Tags: s.Tags, Owner: s.ImageOwnerAccount}
		deadline := workflow.Now(ctx).Add(min(findImageFromTagsPatience, waitLimit(st)))
		for {
			res, err := awsCall[activities.AWSFindImageFromTagsInput, activities.AWSImageResult](ctx, awsImageFromTags, in)
			if err != nil {
				return nil, err
			}
			if res.Image != nil {
				images = append(images, *res.Image)
				accounts[region] = res.Account
				break
			}
			if !workflow.Now(ctx).Before(deadline) {
				return nil, failf("could not find a tagged image for package %s with tags %v in %s", s.PackageName, s.Tags, region)
			}
			if err := workflow.Sleep(ctx, findImageFromTagsInterval); err != nil {
				return nil, err
			}
		}
	}
	return imageOutputs(images, func(img cloud.Image) map[string]any {
		return map[string]any{"package": s.PackageName, "account": accounts[img.Region], "tags": img.Tags}
	}), nil
}

// runFindImage finds, in each region, the image the cluster's server groups run.
func runFindImage(ctx workflow.Context, _ *interpreter, _ *stageRun, s pipeline.FindImageStage) (map[string]any, error) {
	var images []cloud.Image
	for _, region := range s.Regions {
		res, err := awsCall[activities.AWSClusterImageInput, activities.AWSImageResult](ctx, awsClusterImage, activities.AWSClusterImageInput{
			AWSClusterInput: activities.AWSClusterInput{Account: s.Account, Region: region, Cluster: s.Cluster},
			OnlyEnabled:     s.OnlyEnabled, Strategy: s.SelectionStrategy, Pattern: s.ImageNamePattern})
		if err != nil {
			return nil, err
		}
		if res.Image == nil {
			which := "server group"
			if s.OnlyEnabled {
				which = "enabled server group"
			}
			return nil, failf("cluster %s has no %s in %s to find an image on", s.Cluster, which, region)
		}
		images = append(images, *res.Image)
	}
	return imageOutputs(images, func(img cloud.Image) map[string]any {
		return map[string]any{"sourceServerGroup": img.ServerGroup, "cluster": s.Cluster, "account": s.Account,
			"selectionStrategy": s.SelectionStrategy, "summary": fmt.Sprintf("%s runs %s", img.ServerGroup, img.Name)}
	}), nil
}
