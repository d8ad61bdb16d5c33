package aws

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// image is an AMI as the provider reads it.
type image struct {
	id, name, created string
	tags              map[string]string
}

func fromEC2Image(i ec2types.Image) image {
	img := image{id: awssdk.ToString(i.ImageId), name: awssdk.ToString(i.Name), created: awssdk.ToString(i.CreationDate), tags: map[string]string{}}
	for _, t := range i.Tags {
		img.tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	return img
}

func (i image) contract(region string) cloud.Image {
	return cloud.Image{ID: i.id, Name: i.name, Region: region, Created: i.created, Tags: i.tags}
}

// newestFirst orders images by creation, newest first; AWS reports creation to the second (and
// moto only to the second), so images made in the same second go by name, later names first,
// as image names usually end in a timestamp.
func newestFirst(images []image) {
	slices.SortStableFunc(images, func(a, b image) int {
		if c := strings.Compare(b.created, a.created); c != 0 {
			return c
		}
		return strings.Compare(b.name, a.name)
	})
}

// findImage finds an image by id (ami-…) or by name, the newest of that name.
func findImage(ctx context.Context, c *clients, idOrName string) (image, error) {
	if idOrName == "" {
		return image{}, invalidf("no image to deploy in %s", c.region)
	}
	in := &ec2.DescribeImagesInput{}
	if strings.HasPrefix(idOrName, "ami-") {
		in.ImageIds = []string{idOrName}
	} else {
		in.Filters = []ec2types.Filter{{Name: awssdk.String("name"), Values: []string{idOrName}}}
	}
	out, err := c.ec2.DescribeImages(ctx, in)
	if err != nil && !isNotFound(err) {
		return image{}, wrap(err, "find image %s in %s", idOrName, c.region)
	}
	var found []image
	if out != nil {
		for _, i := range out.Images {
			found = append(found, fromEC2Image(i))
		}
	}
	if len(found) == 0 {
		return image{}, invalidf("no image %s in %s", idOrName, c.region)
	}
	newestFirst(found)
	return found[0], nil
}

// FindImageFromTags finds the newest image whose name holds packageName and which has every one of
// tags, as Spinnaker's findImageFromTags does; owner, when set, is the account id that must own it.
// ok is false when there is none.
func (p *Provider) FindImageFromTags(ctx context.Context, region, packageName string, tags map[string]string, owner string) (cloud.Image, bool, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return cloud.Image{}, false, err
	}
	name := packageName
	if !strings.ContainsAny(name, "*?") {
		name = "*" + name + "*"
	}
	in := &ec2.DescribeImagesInput{Filters: []ec2types.Filter{{Name: awssdk.String("name"), Values: []string{name}}}}
	for _, k := range sortedKeys(tags) {
		in.Filters = append(in.Filters, ec2types.Filter{Name: awssdk.String("tag:" + k), Values: []string{tags[k]}})
	}
	if owner != "" {
		in.Owners = []string{owner}
	}
	out, err := c.ec2.DescribeImages(ctx, in)
	if err != nil {
		return cloud.Image{}, false, wrap(err, "find images of %s in %s", packageName, region)
	}
	var found []image
	for _, i := range out.Images {
		if i.State == ec2types.ImageStateAvailable || i.State == "" {
			found = append(found, fromEC2Image(i))
		}
	}
	if len(found) == 0 {
		return cloud.Image{}, false, nil
	}
	newestFirst(found)
	return found[0].contract(region), true, nil
}

// ClusterImage finds the image a cluster's server groups run in a region, as Spinnaker's findImage
// stage does: among its server groups (enabled ones only, when onlyEnabled), the newest, the
// oldest or the largest's, or, with FAIL, the one image they all run. pattern, when set, must
// match the image's name. ok is false when the cluster has no server group to look at.
func (p *Provider) ClusterImage(ctx context.Context, region, cluster string, onlyEnabled bool, strategy, pattern string) (cloud.Image, bool, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return cloud.Image{}, false, err
	}
	groups, err := clusterGroups(ctx, c, cluster)
	if err != nil {
		return cloud.Image{}, false, err
	}
	if onlyEnabled {
		groups = slices.DeleteFunc(groups, serverGroup.disabled)
	}
	if len(groups) == 0 {
		return cloud.Image{}, false, nil
	}
	var re *regexp.Regexp
	if pattern != "" {
		if re, err = regexp.Compile(pattern); err != nil {
			return cloud.Image{}, false, invalidf("imageNamePattern %q: %v", pattern, err)
		}
	}
	type candidate struct {
		group serverGroup
		image image
	}
	var candidates []candidate
	for _, g := range groups {
		id, err := launchTemplateImage(ctx, c, g)
		if err != nil {
			return cloud.Image{}, false, err
		}
		img, err := findImage(ctx, c, id)
		if err != nil {
			return cloud.Image{}, false, err
		}
		if re == nil || re.MatchString(img.name) {
			candidates = append(candidates, candidate{g, img})
		}
	}
	if len(candidates) == 0 {
		return cloud.Image{}, false, invalidf("no server group of %s in %s runs an image whose name matches %q", cluster, region, pattern)
	}
	pick := candidates[0] // newest first
	switch strategy {
	case pipeline.SelectOldest:
		pick = candidates[len(candidates)-1]
	case pipeline.SelectLargest:
		for _, cand := range candidates[1:] {
			if len(cand.group.live()) > len(pick.group.live()) {
				pick = cand
			}
		}
	case pipeline.SelectFail:
		for _, cand := range candidates[1:] {
			if cand.image.id != pick.image.id {
				return cloud.Image{}, false, invalidf("the server groups of %s in %s run different images (%s runs %s, %s runs %s) and selectionStrategy is FAIL",
					cluster, region, pick.group.name, pick.image.name, cand.group.name, cand.image.name)
			}
		}
	}
	img := pick.image.contract(region)
	img.ServerGroup = pick.group.name
	return img, true, nil
}

// launchTemplateImage is the image a group's launch template version launches.
func launchTemplateImage(ctx context.Context, c *clients, g serverGroup) (string, error) {
	lt := g.launchTemplate
	if lt.id == "" && lt.name == "" {
		return "", invalidf("server group %s has no launch template (a launch configuration?), so its image cannot be read", g.name)
	}
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{cmpOr(lt.version, "$Default")}}
	if lt.id != "" {
		in.LaunchTemplateId = awssdk.String(lt.id)
	} else {
		in.LaunchTemplateName = awssdk.String(lt.name)
	}
	out, err := c.ec2.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return "", wrap(err, "read the launch template of %s", g.name)
	}
	for _, v := range out.LaunchTemplateVersions {
		if v.LaunchTemplateData != nil && v.LaunchTemplateData.ImageId != nil {
			return awssdk.ToString(v.LaunchTemplateData.ImageId), nil
		}
	}
	return "", invalidf("the launch template of server group %s names no image", g.name)
}

// TagImages sets tags on images (ids or names, the newest of a name) and waits until AWS shows
// them, returning each image with the tags it had before. Tags a bake sets are never overwritten:
// the caller leaves them out.
func (p *Provider) TagImages(ctx context.Context, region string, images []string, tags map[string]string) ([]cloud.Image, error) {
	c, err := p.clients(ctx, region)
	if err != nil {
		return nil, err
	}
	var found []image
	for _, idOrName := range images {
		img, err := findImage(ctx, c, idOrName)
		if err != nil {
			return nil, err
		}
		found = append(found, img)
	}
	var ids []string
	for _, img := range found {
		ids = append(ids, img.id)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var ec2Tags []ec2types.Tag
	for _, k := range sortedKeys(tags) {
		ec2Tags = append(ec2Tags, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(tags[k])})
	}
	if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: ec2Tags}); err != nil {
		return nil, wrap(err, "tag images %s in %s", strings.Join(ids, ", "), region)
	}
	// Tags may take a moment to show; the caller waits no longer than a read or two.
	for attempt := 0; ; attempt++ {
		out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: ids})
		if err != nil {
			return nil, wrap(err, "read the tags of images %s", strings.Join(ids, ", "))
		}
		visible := len(out.Images) == len(ids)
		for _, i := range out.Images {
			img := fromEC2Image(i)
			for k, v := range tags {
				visible = visible && img.tags[k] == v
			}
		}
		if visible {
			break
		}
		if attempt == 10 {
			return nil, fmt.Errorf("the tags of images %s in %s did not show after they were set", strings.Join(ids, ", "), region)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	out := make([]cloud.Image, len(found))
	for i, img := range found {
		out[i] = img.contract(region)
	}
	return out, nil
}
