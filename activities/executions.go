package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/triggers"
	"github.com/gennaker/gennaker/triggers/dispatch"
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
	// Downstream finds the pipelines whose pipeline triggers an ended execution fires; nil: none.
	Downstream DownstreamSource
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

// DownstreamSource lists the saved pipelines, for pipeline and pubsub triggers, and keeps what
// those did; the store is one.
type DownstreamSource = dispatch.Pipelines

// FirePipelineTriggersInput is an execution that has just ended.
type FirePipelineTriggersInput struct {
	// Parent is the ended execution, bounded (pipeline.BoundedParent).
	Parent pipeline.Execution `json:"parent"`
}

// FirePipelineTriggersResult lists what the end started, and what it could not.
type FirePipelineTriggersResult struct {
	Started    []string `json:"started,omitempty"`
	NotStarted []string `json:"notStarted,omitempty"`
}

// Pipeline trigger statuses, as Spinnaker names an ended execution's outcome.
const (
	PipelineTriggerSuccessful = "successful"
	PipelineTriggerFailed     = "failed"
	PipelineTriggerCanceled   = "canceled"
)

// PipelineTriggerStatus names an execution's final status as pipeline triggers list it.
func PipelineTriggerStatus(s pipeline.Status) string {
	switch s {
	case pipeline.StatusSucceeded:
		return PipelineTriggerSuccessful
	case pipeline.StatusCanceled:
		return PipelineTriggerCanceled
	}
	return PipelineTriggerFailed
}

// FirePipelineTriggers starts every saved pipeline whose pipeline trigger waits for this
// execution's pipeline to end as it did. Each start's ID derives from the parent and the trigger,
// so a retry of this activity starts nothing twice.
func (e *Executions) FirePipelineTriggers(ctx context.Context, in FirePipelineTriggersInput) (FirePipelineTriggersResult, error) {
	var res FirePipelineTriggersResult
	if e.Downstream == nil {
		return res, nil
	}
	parent := in.Parent
	status := PipelineTriggerStatus(parent.Status)
	log := activity.GetLogger(ctx)
	candidates, err := dispatch.Candidates(ctx, e.Downstream, pipeline.TriggerPipeline, func(rec store.Record, err error) {
		log.Warn("a saved pipeline cannot be read; its triggers are skipped", "application", rec.Application, "pipeline", rec.Name, "error", err)
	})
	if err != nil {
		return res, fmt.Errorf("listing pipelines for pipeline triggers: %w", err)
	}
	source := parent.Application + "/" + parent.Name
	var out triggers.Outcome
	for _, c := range candidates {
		pt := c.Trigger.PipelineTrigger()
		if pt.Application != parent.Application || (pt.Pipeline != parent.PipelineConfigID && pt.Pipeline != parent.Name) || !slices.Contains(pt.Status, status) {
			continue
		}
		m := triggers.Match{Candidate: c, DeliveryID: parent.ID, ExecutionID: pipelineTriggerExecutionID(parent.ID, c.PipelineID, c.Index),
			Trigger: pipeline.TriggerInfo{
				Type: pipeline.TriggerPipeline, User: parent.Trigger.User, Source: source, DeliveryID: parent.ID,
				ParentExecutionID: parent.ID, ParentExecution: &parent,
			}}
		if !c.Trigger.IsEnabled() || c.PipelineDisabled {
			out.Disabled = append(out.Disabled, m)
			continue
		}
		out.Matches = append(out.Matches, m)
	}
	fire := dispatch.Dispatcher{
		Start: func(ctx context.Context, m triggers.Match) (bool, error) {
			_, err := e.Starter.StartSaved(ctx, m.ExecutionID, m.Application, m.Pipeline, m.Trigger)
			return false, err
		},
		Refused: func(err error) bool { return errors.Is(err, ErrNotStartable) },
		Events:  e.Downstream,
	}
	for _, f := range fire.Fire(ctx, pipeline.TriggerPipeline, source, out, log) {
		switch f.Outcome {
		case store.TriggerStarted:
			res.Started = append(res.Started, f.ExecutionID)
		case store.TriggerRejected:
			res.NotStarted = append(res.NotStarted, fmt.Sprintf("%s/%s: %v", f.Application, f.Pipeline, f.Err))
		case "":
			// The activity is tried again; the IDs make that start nothing twice.
			return res, fmt.Errorf("starting %s/%s for the end of %s: %w", f.Application, f.Pipeline, parent.ID, f.Err)
		}
	}
	return res, nil
}

// pipelineTriggerExecutionID derives the ID of the execution a parent's end starts through one
// trigger: the same parent and trigger always give the same ID.
func pipelineTriggerExecutionID(parentID, pipelineID string, index int) string {
	return triggers.DerivedID("ptr-", parentID, pipelineID, strconv.Itoa(index))
}
