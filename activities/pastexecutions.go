package activities

import (
	"context"

	"github.com/gennaker/gennaker/pipeline"
)

// ExecutionReader finds the execution of a pipeline that started last; launch.Executions is one.
type ExecutionReader interface {
	Latest(ctx context.Context, application, pipelineName string, statuses []string, except string) (pipeline.Execution, bool, error)
}

// PastExecutions reads the artifacts of earlier executions, for stages and child pipelines that
// take them: findArtifactFromExecution, and expected artifacts with usePriorArtifact.
type PastExecutions struct {
	Executions ExecutionReader
	Pipelines  PipelineSource
}

// ExecutionArtifactsInput names a pipeline whose latest execution's artifacts are wanted.
type ExecutionArtifactsInput struct {
	Application string `json:"application"`
	// Pipeline is the pipeline's id, or its name in Application.
	Pipeline string `json:"pipeline"`
	// Statuses the execution may have (SUCCEEDED, TERMINAL, RUNNING); none means any.
	Statuses []string `json:"statuses,omitempty"`
	// Except is an execution not to take, the asking one.
	Except string `json:"except,omitempty"`
	// SkipStage leaves out what the stage of that refId output, when a pipeline reads its own
	// earlier execution: a stage never finds what it found itself before.
	SkipStage string `json:"skipStage,omitempty"`
}

// ExecutionArtifactsResult is the execution found, if any, and its artifacts, latest first.
type ExecutionArtifactsResult struct {
	ExecutionID string              `json:"executionId,omitempty"`
	Pipeline    string              `json:"pipeline"`
	Artifacts   []pipeline.Artifact `json:"artifacts,omitempty"`
}

// ExecutionArtifacts finds the pipeline's execution that started last among those of the
// statuses asked for and lists its artifacts: what its stages output, later stages first, then
// what its trigger brought. No such execution is no error; an unknown pipeline fails for good.
func (p *PastExecutions) ExecutionArtifacts(ctx context.Context, in ExecutionArtifactsInput) (ExecutionArtifactsResult, error) {
	rec, err := findPipeline(ctx, p.Pipelines, in.Application, in.Pipeline)
	if err != nil {
		return ExecutionArtifactsResult{}, err
	}
	res := ExecutionArtifactsResult{Pipeline: rec.Application + "/" + rec.Name}
	exec, found, err := p.Executions.Latest(ctx, rec.Application, rec.Name, in.Statuses, in.Except)
	if err != nil || !found {
		return res, err
	}
	res.ExecutionID, res.Artifacts = exec.ID, exec.AllArtifacts(in.SkipStage)
	return res, nil
}
