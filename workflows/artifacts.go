package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// Output names a stage's artifacts are kept under, as in Spinnaker: the artifacts it output, and
// the expected artifacts it declares it produces, bound to them.
const (
	outputArtifacts                 = "artifacts"
	outputResolvedExpectedArtifacts = "resolvedExpectedArtifacts"
)

// bindProducedArtifacts binds the artifacts a stage that succeeded declares it produces (its own
// expectedArtifacts) to the artifacts it output, so that later stages use them by id. It fails the
// stage when one matches none of them, as Orca does.
func bindProducedArtifacts(st *stageRun, outputs map[string]any) (map[string]any, error) {
	expected, err := st.cfg.ProducedArtifacts()
	if err != nil {
		return outputs, failf("%v", err)
	}
	if len(expected) == 0 {
		return outputs, nil
	}
	bound, problems := pipeline.BindProducedArtifacts(expected, pipeline.ArtifactsIn(outputs[outputArtifacts]))
	if len(problems) > 0 {
		return outputs, failf("%s", strings.Join(pipeline.ProblemStrings(problems), "; "))
	}
	if outputs == nil {
		outputs = map[string]any{}
	}
	outputs[outputResolvedExpectedArtifacts] = bound
	return outputs, nil
}

// producedArtifact finds an expected artifact that a stage this one depends on, directly or not,
// produced. The nearest producer wins.
func (r *interpreter) producedArtifact(st *stageRun, id string) (a pipeline.Artifact, found bool) {
	r.upstream(st, func(up *stageRun) bool {
		a, found = pipeline.BoundExpectedArtifact(pipeline.ExpectedArtifactsIn(up.view.Outputs[outputResolvedExpectedArtifacts]), id)
		return found
	})
	return a, found
}

// upstream visits the stages a stage depends on, directly or not, the nearest first (one level
// of requisites at a time, each level in config order), until visit returns true.
func (r *interpreter) upstream(st *stageRun, visit func(up *stageRun) bool) {
	seen := map[string]bool{}
	level := st.cfg.RequisiteStageRefIDs
	for len(level) > 0 {
		var next []string
		for _, ref := range level {
			up, ok := r.stages[ref]
			if !ok || seen[ref] {
				continue
			}
			seen[ref] = true
			if visit(up) {
				return
			}
			next = append(next, up.cfg.RequisiteStageRefIDs...)
		}
		level = next
	}
}

// runFindArtifactFromExecution binds artifacts of the latest execution of a pipeline (of the
// statuses the stage asks for): each expected artifact to the first of that execution's artifacts
// it matches, else its default. Its outputs are the artifacts found; later stages use them by id.
func runFindArtifactFromExecution(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.FindArtifactFromExecutionStage) (map[string]any, error) {
	in := activities.ExecutionArtifactsInput{Application: s.Application, Pipeline: s.Pipeline, Statuses: s.Statuses, Except: r.exec.ID}
	if in.Application == "" {
		in.Application = r.exec.Application
	}
	if in.Application == r.exec.Application && (s.Pipeline == r.exec.PipelineConfigID || s.Pipeline == r.exec.Name) {
		in.SkipStage = st.cfg.RefID
	}
	found, err := pastExecutionArtifacts(ctx, in)
	if err != nil {
		return nil, err
	}
	bound, problems := pipeline.BindProducedArtifacts(s.Expected, found.Artifacts)
	outputs := map[string]any{"executionId": found.ExecutionID, "pipeline": found.Pipeline}
	if len(problems) > 0 {
		where := "no execution of " + found.Pipeline + " matches"
		if found.ExecutionID != "" {
			where = "in execution " + found.ExecutionID + " of " + found.Pipeline
		}
		return outputs, failf("%s: %s", where, strings.Join(pipeline.ProblemStrings(problems), "; "))
	}
	artifacts := make([]pipeline.Artifact, 0, len(bound))
	for _, e := range bound {
		artifacts = append(artifacts, *e.BoundArtifact)
	}
	outputs[outputArtifacts] = artifacts
	return outputs, nil
}

// pastExecutionArtifacts reads the artifacts of a pipeline's latest execution.
func pastExecutionArtifacts(ctx workflow.Context, in activities.ExecutionArtifactsInput) (activities.ExecutionArtifactsResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var past *activities.PastExecutions
	var res activities.ExecutionArtifactsResult
	err := workflow.ExecuteActivity(actx, past.ExecutionArtifacts, in).Get(ctx, &res)
	return res, err
}
