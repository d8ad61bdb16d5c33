package workflows

import (
	"cmp"
	"fmt"
	"path"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// runBake bakes a container image: the files of the stage's package artifacts added to its base
// image, labelled with the build, pushed to the bakery's registry, and output as a docker/image
// artifact pinned by digest, which the stage's expected artifacts bind and deployManifest
// deploys. The tag is the stage's, else the commit the trigger names, else the time of the bake.
func runBake(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.BakeStage) (map[string]any, error) {
	if s.Kind == pipeline.BakeAWS {
		return runAWSBake(ctx, r, st, s)
	}
	var files []pipeline.Artifact
	for _, id := range s.PackageArtifacts {
		a, err := r.expectedArtifact(st, id)
		if err != nil {
			return nil, err
		}
		files = append(files, a)
	}
	s.Rebake = s.Rebake || r.exec.Trigger.Rebake
	in := activities.BakeContainerInput{Stage: s, Tag: s.Tag, Files: files}
	if in.Tag == "" {
		in.Tag = r.commit()
	}
	if in.Tag == "" {
		in.Tag = workflow.Now(ctx).UTC().Format("20060102150405")
	}
	in.Labels = r.buildLabels(s, in.Tag)
	bctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	var b *activities.Bakery
	var res activities.BakeContainerResult
	if err := workflow.ExecuteActivity(bctx, b.BakeContainerImage, in).Get(ctx, &res); err != nil {
		return nil, err
	}
	image := map[string]any{"type": "docker/image", "name": res.Repository, "reference": res.Reference, "version": res.Tag,
		"metadata": map[string]any{"digest": res.Digest, "tag": res.Tag, "baseImage": res.BaseImage, "baseDigest": res.BaseDigest}}
	return map[string]any{
		outputArtifacts:   []any{image},
		"imageName":       res.Repository + ":" + res.Tag,
		"imageId":         res.Reference,
		"digest":          res.Digest,
		"previouslyBaked": res.PreviouslyBaked,
		"bakePackageName": s.Package,
		"baseImage":       res.BaseImage,
		"baseDigest":      res.BaseDigest,
		"cloudProvider":   pipeline.BakeDocker,
	}, nil
}

// friggaVersion makes a tag a version Frigga reads: letters, digits, '.' and '~'.
var friggaVersion = strings.NewReplacer("-", "~", "_", "~")

// commit is the commit the trigger names: the git push's, else the one a CI build reported.
func (r *interpreter) commit() string {
	if scm := r.exec.Trigger.ScmInfo; scm != nil && scm.Sha1 != "" {
		return scm.Sha1
	}
	return ""
}

// buildLabels are the labels Rosco gives a baked image: build_info_url and build_host from the
// CI build that triggered the pipeline, and appversion, which Frigga parses
// (name-version-hBUILD.COMMIT/JOB/BUILD, the version being the tag), when the build is known.
func (r *interpreter) buildLabels(s pipeline.BakeStage, tag string) map[string]string {
	labels := map[string]string{}
	b := r.exec.Trigger.BuildInfo
	if b == nil {
		return labels
	}
	if b.URL != "" {
		labels["build_info_url"] = b.URL
	}
	if b.Master != "" {
		labels["build_host"] = b.Master
	}
	if b.Number > 0 && b.Name != "" {
		version := "h" + fmt.Sprint(b.Number)
		if c := r.commit(); c != "" {
			version += "." + c[:min(len(c), 7)]
		}
		name := cmp.Or(pipeline.FirstPackage(s.Package), path.Base(s.ImageName))
		labels["appversion"] = fmt.Sprintf("%s-%s-%s/%s/%d", name, friggaVersion.Replace(tag), version,
			strings.ReplaceAll(b.Name, "/", "-"), b.Number)
	}
	return labels
}
