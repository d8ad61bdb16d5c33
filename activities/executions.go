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

// DownstreamSource lists the saved pipelines, for pipeline triggers, and keeps what those did;
// the store is one.
type DownstreamSource interface {
	store.Lister
	RecordTriggerEvent(ctx context.Context, ev store.TriggerEvent) error
}

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
	outcome := PipelineTriggerStatus(parent.Status)
	recs, err := store.AllLatest(ctx, e.Downstream)
	if err != nil {
		return res, fmt.Errorf("listing pipelines for pipeline triggers: %w", err)
	}
	for _, rec := range recs {
		app := rec.Application
		p, err := pipeline.Decode(rec.Config)
		if err != nil {
			continue // a config that cannot be read has no trigger to fire
		}
		for i, t := range p.Triggers {
			pt := t.PipelineTrigger()
			if t.Type != pipeline.TriggerPipeline || pt.Application != parent.Application ||
				(pt.Pipeline != parent.PipelineConfigID && pt.Pipeline != parent.Name) || !slices.Contains(pt.Status, outcome) {
				continue
			}
			ev := store.TriggerEvent{Application: app, Pipeline: p.Name, Kind: pipeline.TriggerPipeline,
				Source: parent.Application + "/" + parent.Name, DeliveryID: parent.ID}
			if !t.IsEnabled() || p.Disabled {
				ev.Outcome, ev.Reason = store.TriggerDisabled, "the pipeline is disabled"
				if !t.IsEnabled() {
					ev.Reason = "the trigger is disabled"
				}
				e.record(ctx, ev)
				continue
			}
			id := pipelineTriggerExecutionID(parent.ID, rec.ID, i)
			trig := pipeline.TriggerInfo{
				Type: pipeline.TriggerPipeline, User: parent.Trigger.User, Source: ev.Source, DeliveryID: parent.ID,
				ParentExecutionID: parent.ID, ParentExecution: &parent,
			}
			started, err := e.Starter.StartSaved(ctx, id, app, p.Name, trig)
			switch {
			case errors.Is(err, ErrNotStartable):
				ev.Outcome, ev.Reason = store.TriggerRejected, err.Error()
				res.NotStarted = append(res.NotStarted, fmt.Sprintf("%s/%s: %v", app, p.Name, err))
			case err != nil:
				return res, fmt.Errorf("starting %s/%s for the end of %s: %w", app, p.Name, parent.ID, err)
			default:
				ev.Outcome, ev.ExecutionID = store.TriggerStarted, started
				res.Started = append(res.Started, started)
			}
			e.record(ctx, ev)
		}
	}
	return res, nil
}

func (e *Executions) record(ctx context.Context, ev store.TriggerEvent) {
	if err := e.Downstream.RecordTriggerEvent(ctx, ev); err != nil {
		activity.GetLogger(ctx).Warn("recording a pipeline trigger event", "error", err, "pipeline", ev.Pipeline)
	}
}

// pipelineTriggerExecutionID derives the ID of the execution a parent's end starts through one
// trigger: the same parent and trigger always give the same ID.
func pipelineTriggerExecutionID(parentID, pipelineID string, index int) string {
	return triggers.DerivedID("ptr-", parentID, pipelineID, strconv.Itoa(index))
}
