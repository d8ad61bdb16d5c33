package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
)

// ExecutionStarter starts executions of saved pipelines.
type ExecutionStarter interface {
	StartSaved(ctx context.Context, executionID, application, name string, trigger pipeline.TriggerInfo) (string, error)
}

// ErrNotStartable marks a start refused for a reason a retry cannot fix (missing or disabled
// pipeline, bad parameters); the starter wraps it.
var ErrNotStartable = errors.New("pipeline cannot be started")

// Executions starts pipelines on behalf of automatic triggers.
type Executions struct {
	Starter ExecutionStarter
}

// StartPipelineInput names the pipeline to start and what triggered it.
type StartPipelineInput struct {
	// ExecutionID is chosen by the caller so that a retried start cannot start a second execution.
	ExecutionID string               `json:"executionId"`
	Application string               `json:"application"`
	Pipeline    string               `json:"pipeline"`
	Trigger     pipeline.TriggerInfo `json:"trigger"`
}

// StartPipelineResult is the started execution.
type StartPipelineResult struct {
	ExecutionID string `json:"executionId"`
}

// StartPipeline starts one execution of a saved pipeline.
func (e *Executions) StartPipeline(ctx context.Context, in StartPipelineInput) (StartPipelineResult, error) {
	id, err := e.Starter.StartSaved(ctx, in.ExecutionID, in.Application, in.Pipeline, in.Trigger)
	if errors.Is(err, ErrNotStartable) {
		return StartPipelineResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "NotStartable", err)
	}
	if err != nil {
		return StartPipelineResult{}, err
	}
	return StartPipelineResult{ExecutionID: id}, nil
}
