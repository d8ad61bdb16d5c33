package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/triggers"
	"github.com/gennaker/gennaker/triggers/dispatch"
)

var errRefused = errors.New("the pipeline is gone")

// TestFire fires one delivery's matches against a real store: a disabled trigger, a start, a
// repeat, a refusal and a start Temporal could not take, each recorded (or not) as it should be.
func TestFire(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "gennaker.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	match := func(name string, disabled bool) triggers.Match {
		return triggers.Match{Candidate: triggers.Candidate{Application: "web", Pipeline: name, PipelineDisabled: disabled},
			DeliveryID: "d-1", ExecutionID: "x-" + name, Trigger: pipeline.TriggerInfo{Source: "from-trigger"}}
	}
	out := triggers.Outcome{
		Disabled: []triggers.Match{match("off", true)},
		Matches:  []triggers.Match{match("new", false), match("again", false), match("gone", false), match("later", false)},
	}
	d := dispatch.Dispatcher{
		Start: func(_ context.Context, m triggers.Match) (bool, error) {
			switch m.Pipeline {
			case "again":
				return true, nil
			case "gone":
				return false, errRefused
			case "later":
				return false, errors.New("temporal: connection refused")
			}
			return false, nil
		},
		Refused: func(err error) bool { return errors.Is(err, errRefused) },
		Events:  st,
	}
	fired := d.Fire(t.Context(), "docker", "", out, slog.New(slog.DiscardHandler))

	outcomes := map[string]string{}
	for _, f := range fired {
		outcomes[f.Pipeline] = f.Outcome
	}
	want := map[string]string{"off": store.TriggerDisabled, "new": store.TriggerStarted, "again": store.TriggerDuplicate,
		"gone": store.TriggerRejected, "later": ""}
	for p, o := range want {
		if outcomes[p] != o {
			t.Errorf("%s: outcome %q, want %q", p, outcomes[p], o)
		}
	}
	if fired[0].Pipeline != "off" {
		t.Errorf("the disabled match comes first: %+v", fired[0])
	}

	events, err := st.TriggerEvents(t.Context(), "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]store.TriggerEvent{}
	for _, ev := range events {
		recorded[ev.Pipeline] = ev
	}
	if _, ok := recorded["later"]; ok {
		t.Error("a start to try again was recorded; its retry would record it twice")
	}
	if len(recorded) != 4 {
		t.Errorf("recorded %v, want the four settled outcomes", slices.Sorted(maps.Keys(recorded)))
	}
	if ev := recorded["new"]; ev.ExecutionID != "x-new" || ev.Kind != "docker" || ev.Source != "from-trigger" || ev.DeliveryID != "d-1" {
		t.Errorf("the start's event %+v: want the execution, the kind, the trigger's own source and the delivery", ev)
	}
	if ev := recorded["gone"]; ev.Reason != errRefused.Error() || ev.ExecutionID != "" {
		t.Errorf("the refusal's event %+v", ev)
	}
	if ev := recorded["off"]; ev.Reason != "the pipeline is disabled" {
		t.Errorf("the disabled match's event %+v", ev)
	}
}

// TestCandidates lists the saved pipelines' triggers of one kind, skipping, and telling of, a
// saved config that cannot be read.
func TestCandidates(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "gennaker.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for name, cfg := range map[string]string{
		"build":    `{"triggers": [{"type": "docker", "registry": "r", "repository": "web"}, {"type": "cron", "cronExpression": "0 0 * * * ?"}], "stages": []}`,
		"nightly":  `{"triggers": [{"type": "cron", "cronExpression": "0 0 * * * ?"}], "stages": []}`,
		"unusable": `{"triggers": [{"type": "docker"}], "stages": "not a list"}`,
	} {
		if _, err := st.Save(t.Context(), json.RawMessage(cfg), "web", name, "ana"); err != nil {
			t.Fatal(err)
		}
	}
	var skipped []string
	got, err := dispatch.Candidates(t.Context(), st, "docker", func(rec store.Record, _ error) { skipped = append(skipped, rec.Name) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Pipeline != "build" || got[0].Index != 0 || got[0].PipelineID == "" {
		t.Errorf("docker candidates %+v", got)
	}
	if !slices.Equal(skipped, []string{"unusable"}) {
		t.Errorf("skipped %v", skipped)
	}
}
