package workflows

import (
	"log/slog"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
)

// historiesDir holds workflow histories recorded from real executions by the e2e package's
// recorder (go test ./e2e -run TestRecordHistories -record).
const historiesDir = "testdata/histories"

// TestReplayRecordedHistories replays every recorded history through the current workflow code, so
// a change that would break executions already running (a new timer, activity or child workflow
// where the history has something else) fails here instead of in production.
func TestReplayRecordedHistories(t *testing.T) {
	// Histories of earlier releases are kept in subdirectories: executions they started may
	// still be running when a new release is deployed.
	files, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	older, err := filepath.Glob(filepath.Join(historiesDir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, older...)
	if len(files) == 0 {
		t.Fatalf("no recorded histories in %s: record them with go test ./e2e -run TestRecordHistories -record", historiesDir)
	}
	for _, file := range files {
		name, _ := filepath.Rel(historiesDir, file)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			replayer := worker.NewWorkflowReplayer()
			Register(replayer)
			// The workflows' own log lines would bury the one that matters, the replay error.
			quiet := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(quiet, file); err != nil {
				t.Errorf("replaying %s: %v", file, err)
			}
		})
	}
}
