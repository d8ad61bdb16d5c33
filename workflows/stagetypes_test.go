package workflows

import (
	"slices"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

// Validation must accept exactly the stage types the worker runs: a type accepted at save time but
// not run would fail only when an execution reaches it.
func TestValidationAcceptsExactlyTheStageTypesThatRun(t *testing.T) {
	if got, want := pipeline.StageTypes(), StageTypes(); !slices.Equal(got, want) {
		t.Errorf("validation accepts %v, the worker runs %v", got, want)
	}
}
