// Package launch starts executions of saved pipelines and keeps their cron triggers as Temporal
// Schedules. The API (manual starts) and the worker (cron triggers) share it, so every start path
// applies the same checks.
package launch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/workflows"
)

// Expected reasons a start is refused.
var (
	// ErrPipelineNotFound means no saved pipeline has that application and name.
	ErrPipelineNotFound = errors.New("pipeline not found")
	// ErrPipelineDisabled means the pipeline is saved with disabled: true.
	ErrPipelineDisabled = errors.New("pipeline is disabled")
)

// ParameterError lists every problem with the parameters a start was given.
type ParameterError struct{ Problems []pipeline.Problem }

func (e *ParameterError) Error() string {
	return "invalid parameters: " + strings.Join(pipeline.ProblemStrings(e.Problems), "; ")
}

// ArtifactError lists the pipeline's expected artifacts a start could not bind: missing from the
// trigger's artifacts with no default, or matched ambiguously.
type ArtifactError struct{ Problems []pipeline.Problem }

func (e *ArtifactError) Error() string {
	return "expected artifacts not resolved: " + strings.Join(pipeline.ProblemStrings(e.Problems), "; ")
}

// Source reads saved pipelines; the store implements it.
type Source interface {
	Get(ctx context.Context, app, name string) (store.Record, error)
}

// Launcher starts executions of saved pipelines.
type Launcher struct {
	Client    client.Client
	Source    Source
	TaskQueue string
	// Now is the clock for build times; nil means time.Now.
	Now func() time.Time
}

// Request asks for one execution of a saved pipeline.
type Request struct {
	Application string
	Pipeline    string
	Trigger     pipeline.TriggerInfo
	// ExecutionID, when set, is the ID to start under: a retried start with the same ID finds the
	// execution already running instead of starting a second one. Empty means a new ULID.
	ExecutionID string
}

// Started describes an execution that was started.
type Started struct {
	ExecutionID     string
	Pipeline        pipeline.Pipeline
	PipelineVersion int
	// Duplicate is set when an execution with the requested ExecutionID had already been started:
	// this start was a repeat of it and started nothing.
	Duplicate bool
}

// Start loads the latest version of the pipeline, resolves its parameters, binds its expected
// artifacts and starts the workflow whose ID is a new ULID, the execution ID.
func (l *Launcher) Start(ctx context.Context, req Request) (Started, error) {
	rec, err := l.Source.Get(ctx, req.Application, req.Pipeline)
	if errors.Is(err, store.ErrNotFound) {
		return Started{}, fmt.Errorf("%w: %s/%s", ErrPipelineNotFound, req.Application, req.Pipeline)
	}
	if err != nil {
		return Started{}, fmt.Errorf("reading pipeline %s/%s: %w", req.Application, req.Pipeline, err)
	}
	p, err := pipeline.Decode(rec.Config)
	if err != nil {
		return Started{}, fmt.Errorf("saved pipeline %s/%s cannot be read: %w", req.Application, req.Pipeline, err)
	}
	if p.Disabled {
		return Started{}, fmt.Errorf("%w: %s/%s", ErrPipelineDisabled, req.Application, req.Pipeline)
	}
	params, problems := pipeline.ResolveParameters(p.ParameterConfig, req.Trigger.Parameters)
	if len(problems) > 0 {
		return Started{}, &ParameterError{Problems: problems}
	}
	trig := req.Trigger
	trig.Parameters = params
	expected, err := p.ExpectedArtifacts()
	if err != nil {
		return Started{}, fmt.Errorf("saved pipeline %s/%s cannot be read: %w", req.Application, req.Pipeline, err)
	}
	if len(expected) > 0 {
		var prior []pipeline.Artifact
		if pipeline.NeedsPriorArtifacts(expected, trig.Artifacts) {
			last, found, err := Executions{Client: l.Client}.Latest(ctx, req.Application, req.Pipeline, nil, req.ExecutionID)
			if err != nil {
				return Started{}, fmt.Errorf("reading the previous execution of %s/%s for its artifacts: %w", req.Application, req.Pipeline, err)
			}
			if found {
				prior = last.AllArtifacts("")
			}
		}
		resolved, artifacts, problems := pipeline.ResolveExpectedArtifacts(expected, trig.Artifacts, prior)
		if len(problems) > 0 {
			return Started{}, &ArtifactError{Problems: problems}
		}
		trig.ResolvedExpectedArtifacts, trig.Artifacts = resolved, artifacts
	}
	if trig.Type == "" {
		trig.Type = "manual"
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	id := req.ExecutionID
	if id == "" {
		id = ulid.Make().String()
	}
	in := workflows.PipelineInput{Pipeline: p, PipelineVersion: rec.Version, Trigger: trig, BuildTime: now().UnixMilli()}
	_, err = l.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                l.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without it the SDK quietly returns a running execution of the same ID as if it were new.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    workflows.StartAttributes(p, trig.Type),
		StaticSummary:                            fmt.Sprintf("%s / %s (%s)", p.Application, p.Name, trig.Type),
	}, workflows.Pipeline, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) && req.ExecutionID != "" {
		// An earlier attempt of this very start got through.
		return Started{ExecutionID: id, Pipeline: p, PipelineVersion: rec.Version, Duplicate: true}, nil
	}
	if err != nil {
		return Started{}, fmt.Errorf("starting execution of %s/%s: %w", p.Application, p.Name, err)
	}
	return Started{ExecutionID: id, Pipeline: p, PipelineVersion: rec.Version}, nil
}

// StartSaved starts an execution for an automatic trigger and returns its ID; the worker's cron
// activity calls it.
func (l *Launcher) StartSaved(ctx context.Context, executionID, application, name string, trigger pipeline.TriggerInfo) (string, error) {
	started, err := l.Start(ctx, Request{Application: application, Pipeline: name, Trigger: trigger, ExecutionID: executionID})
	if Refused(err) {
		// Retrying cannot fix these; the activity reports them as final.
		return "", fmt.Errorf("%w: %w", activities.ErrNotStartable, err)
	}
	return started.ExecutionID, err
}

// Refused reports whether a start was refused for a reason retrying cannot fix: a missing or
// disabled pipeline, bad parameters, expected artifacts not resolved.
func Refused(err error) bool {
	var paramErr *ParameterError
	var artifactErr *ArtifactError
	return errors.Is(err, ErrPipelineNotFound) || errors.Is(err, ErrPipelineDisabled) ||
		errors.As(err, &paramErr) || errors.As(err, &artifactErr)
}

// StartDelivery starts an execution for a delivery to an automatic trigger (a pubsub message)
// under the ID derived from it, and says whether the delivery had started it already.
func (l *Launcher) StartDelivery(ctx context.Context, executionID, application, name string, trigger pipeline.TriggerInfo) (bool, error) {
	started, err := l.Start(ctx, Request{Application: application, Pipeline: name, Trigger: trigger, ExecutionID: executionID})
	if Refused(err) {
		return false, fmt.Errorf("%w: %w", activities.ErrNotStartable, err)
	}
	return started.Duplicate, err
}
