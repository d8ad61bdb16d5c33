package workflows

import (
	"strings"

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
// produced. The nearest producer wins: stages are searched upstream, one level at a time.
func (r *interpreter) producedArtifact(st *stageRun, id string) (pipeline.Artifact, bool) {
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
			if a, ok := pipeline.BoundExpectedArtifact(pipeline.ExpectedArtifactsIn(up.view.Outputs[outputResolvedExpectedArtifacts]), id); ok {
				return a, true
			}
			next = append(next, up.cfg.RequisiteStageRefIDs...)
		}
		level = next
	}
	return pipeline.Artifact{}, false
}
