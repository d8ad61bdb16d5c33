package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
)

// PipelineSource finds saved pipeline configs; the store implements it.
type PipelineSource interface {
	Get(ctx context.Context, app, name string) (store.Record, error)
	GetByID(ctx context.Context, id string) (store.Record, error)
	List(ctx context.Context, app string) ([]store.Record, error)
}

// Pipelines reads saved pipelines for stages that run another pipeline.
type Pipelines struct {
	Source PipelineSource
}

// LoadPipelineInput names a saved pipeline by application and id or name.
type LoadPipelineInput struct {
	Application string `json:"application"`
	Pipeline    string `json:"pipeline"`
}

// LoadPipelineResult is the latest saved version of the pipeline.
type LoadPipelineResult struct {
	Pipeline pipeline.Pipeline `json:"pipeline"`
	Version  int               `json:"version"`
}

// LoadPipeline returns the latest version of a saved pipeline, looked up by id first, then by name.
func (p *Pipelines) LoadPipeline(ctx context.Context, in LoadPipelineInput) (LoadPipelineResult, error) {
	rec, err := findPipeline(ctx, p.Source, in.Application, in.Pipeline)
	if err != nil {
		return LoadPipelineResult{}, err
	}
	if in.Application != "" && rec.Application != in.Application {
		return LoadPipelineResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("pipeline %q belongs to application %q, not %q", in.Pipeline, rec.Application, in.Application), "PipelineNotFound", nil)
	}
	cfg, err := pipeline.Decode(rec.Config)
	if err != nil {
		return LoadPipelineResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("saved pipeline %q cannot be read: %v", in.Pipeline, err), "InvalidPipeline", err)
	}
	return LoadPipelineResult{Pipeline: cfg, Version: rec.Version}, nil
}

// findPipeline finds the latest version of a saved pipeline by its id, else by its name in the
// application; one that does not exist fails the activity for good.
func findPipeline(ctx context.Context, source PipelineSource, application, idOrName string) (store.Record, error) {
	rec, err := source.GetByID(ctx, idOrName)
	if errors.Is(err, store.ErrNotFound) {
		rec, err = source.Get(ctx, application, idOrName)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Record{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no pipeline %q in application %q", idOrName, application), "PipelineNotFound", err)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("reading pipeline %q: %w", idOrName, err)
	}
	return rec, nil
}

// PipelineIDsInput names an application.
type PipelineIDsInput struct {
	Application string `json:"application"`
}

// PipelineIDsResult maps the name of each of the application's pipelines to its id.
type PipelineIDsResult struct {
	IDs map[string]string `json:"ids"`
}

// PipelineIDs lists the ids of an application's pipelines by name, for the expressions of an
// execution that use #pipelineId: read once when it starts, they are the same however often the
// workflow is replayed.
func (p *Pipelines) PipelineIDs(ctx context.Context, in PipelineIDsInput) (PipelineIDsResult, error) {
	recs, err := p.Source.List(ctx, in.Application)
	if err != nil {
		return PipelineIDsResult{}, fmt.Errorf("listing the pipelines of %q: %w", in.Application, err)
	}
	res := PipelineIDsResult{IDs: make(map[string]string, len(recs))}
	for _, r := range recs {
		res.IDs[r.Name] = r.ID
	}
	return res, nil
}
