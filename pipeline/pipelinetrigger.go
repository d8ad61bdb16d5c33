package pipeline

import (
	"slices"
	"strings"
)

// TriggerPipeline is Spinnaker's pipeline trigger: this pipeline starts when another one ends
// with one of the listed outcomes. (Executions a pipeline stage starts carry the same type.)
const TriggerPipeline = "pipeline"

// PipelineTriggerStatuses are the outcomes a pipeline trigger may wait for.
var PipelineTriggerStatuses = []string{"successful", "failed", "canceled"}

// PipelineTriggerSettings are a pipeline trigger's fields.
type PipelineTriggerSettings struct {
	// Application and Pipeline (its id or name) name the pipeline whose end fires the trigger.
	Application string
	Pipeline    string
	// Status lists the outcomes that fire it: successful, failed (TERMINAL), canceled.
	Status []string
}

// PipelineTrigger reads a pipeline trigger's fields; what validation refuses reads as empty.
func (t Trigger) PipelineTrigger() PipelineTriggerSettings {
	var s PipelineTriggerSettings
	s.Application, _ = t.Context["application"].(string)
	s.Pipeline, _ = t.Context["pipeline"].(string)
	switch list := t.Context["status"].(type) {
	case []any:
		for _, v := range list {
			if text, ok := v.(string); ok {
				s.Status = append(s.Status, strings.ToLower(text))
			}
		}
	case []string:
		for _, text := range list {
			s.Status = append(s.Status, strings.ToLower(text))
		}
	}
	return s
}

func validatePipelineTrigger(t Trigger, path string, opts ValidateOptions) []Problem {
	var ps problems
	f := newFields(t.Context, path, &ps)
	app := f.requiredString("application")
	target := f.requiredString("pipeline")
	list, _ := f.list("status", true)
	for i, v := range list {
		text, ok := v.(string)
		if !ok || !slices.Contains(PipelineTriggerStatuses, strings.ToLower(text)) {
			ps.add(joinIndex(f.at("status"), i), "%q is not an outcome; use %s", stringify(v), strings.Join(PipelineTriggerStatuses, ", "))
		}
	}
	if app != "" && target != "" && opts.PipelineExists != nil && !opts.PipelineExists(app, target) {
		// Pipelines are saved one by one, in any order: until it is, the trigger never fires.
		ps.warn(f.at("pipeline"), "no pipeline %q in application %q yet: this trigger fires once it is saved and ends", target, app)
	}
	return ps
}

// ExpectedArtifactIDs lists the trigger's expectedArtifactIds: the pipeline's expected artifacts
// the trigger's deliveries bring. Entries that are not strings read as absent, as Validate reports them.
func (t Trigger) ExpectedArtifactIDs() []string {
	list, _ := t.shapedContext()["expectedArtifactIds"].([]any)
	var ids []string
	for _, v := range list {
		if id, ok := v.(string); ok {
			ids = append(ids, id)
		}
	}
	return ids
}
