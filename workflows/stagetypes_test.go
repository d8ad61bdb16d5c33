package workflows

import (
	"slices"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

// Every stage type validation accepts has a runner, and every runner a stage type: a type accepted
// at save time but not run would fail only when an execution reaches it.
func TestEveryStageTypeHasARunner(t *testing.T) {
	var registered []string
	for _, st := range pipeline.RegisteredStageTypes() {
		registered = append(registered, st.Name+"/"+st.CloudProvider)
	}
	if got := RegisteredStageTypes(); !slices.Equal(registered, got) {
		t.Errorf("validation accepts %v, the worker runs %v", registered, got)
	}
}
