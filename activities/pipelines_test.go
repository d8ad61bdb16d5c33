package activities

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
)

func TestLoadPipelineFromTheStore(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Save(context.Background(), []byte(`{"application": "shop", "name": "smoke", "stages": [{"refId": "1", "type": "wait", "waitTime": 1}]}`), "shop", "smoke", "ana")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(context.Background(), []byte(`{"application": "shop", "name": "smoke", "stages": [{"refId": "1", "type": "wait", "waitTime": 2}]}`), "shop", "smoke", "ana"); err != nil {
		t.Fatal(err)
	}

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(&Pipelines{Source: st})

	for _, ref := range []string{"smoke", rec.ID} {
		val, err := env.ExecuteActivity((&Pipelines{}).LoadPipeline, LoadPipelineInput{Application: "shop", Pipeline: ref})
		if err != nil {
			t.Fatalf("load %q: %v", ref, err)
		}
		var out LoadPipelineResult
		if err := val.Get(&out); err != nil {
			t.Fatal(err)
		}
		if out.Version != 2 || out.Pipeline.Name != "smoke" || out.Pipeline.Stages[0].Context["waitTime"] != int64(2) {
			t.Errorf("load %q: version %d, pipeline %+v", ref, out.Version, out.Pipeline)
		}
	}

	for _, in := range []LoadPipelineInput{{Application: "shop", Pipeline: "nope"}, {Application: "other", Pipeline: rec.ID}} {
		_, err := env.ExecuteActivity((&Pipelines{}).LoadPipeline, in)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !appErr.NonRetryable() {
			t.Errorf("load %+v: error %v, want a non-retryable application error", in, err)
		}
	}
}

// refusingStarter stands in for the launcher: it refuses like a disabled pipeline, or fails like
// an unreachable Temporal.
type refusingStarter struct{ err error }

func (r refusingStarter) StartSaved(context.Context, string, string, string, pipeline.TriggerInfo) (string, error) {
	return "", r.err
}

func TestStartPipelineClassifiesRefusals(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	for _, tt := range []struct {
		err          error
		nonRetryable bool
	}{
		{err: errors.Join(ErrNotStartable, errors.New("pipeline is disabled")), nonRetryable: true},
		{err: errors.New("connection refused"), nonRetryable: false},
	} {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(&Executions{Starter: refusingStarter{err: tt.err}})
		_, err := env.ExecuteActivity((&Executions{}).StartPipeline, StartPipelineInput{ExecutionID: "01J", Application: "shop", Pipeline: "deploy"})
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) {
			t.Fatalf("error %v is not an application error", err)
		}
		if appErr.NonRetryable() != tt.nonRetryable || !strings.Contains(err.Error(), tt.err.Error()[:10]) {
			t.Errorf("error %v: non-retryable %v, want %v", err, appErr.NonRetryable(), tt.nonRetryable)
		}
	}
}
