// Package dispatch fires the triggers a delivery matches: it lists the saved pipelines' triggers of
// a kind, starts the executions the matches call for, and keeps what each did as the
// application's trigger events. The API (webhooks, git, CI and registry notifications) and the
// pubsub poller share it; each reacts to the outcome in its own way, an HTTP answer or a message
// left on its queue.
package dispatch

import (
	"context"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/triggers"
)

// Pipelines lists the saved pipelines and keeps what their triggers did; the store is one.
type Pipelines interface {
	store.TriggerIndex
	RecordTriggerEvent(ctx context.Context, ev store.TriggerEvent) error
}

// Logger is the part of slog's and Temporal's loggers a dispatch writes to.
type Logger interface {
	Info(msg string, keyvals ...any)
	Warn(msg string, keyvals ...any)
}

// Candidates lists every saved pipeline's triggers of a kind, reading only the pipelines that have
// one. A pipeline whose saved config cannot be read has no trigger to fire; skipped hears of it.
func Candidates(ctx context.Context, pipelines store.TriggerIndex, kind string, skipped func(rec store.Record, err error)) ([]triggers.Candidate, error) {
	recs, err := pipelines.WithTrigger(ctx, kind)
	if err != nil {
		return nil, err
	}
	var out []triggers.Candidate
	for _, rec := range recs {
		p, err := pipeline.Decode(rec.Config)
		if err != nil {
			skipped(rec, err)
			continue
		}
		out = append(out, triggers.Candidates(rec.Application, rec.ID, p, kind)...)
	}
	return out, nil
}

// Dispatcher starts what deliveries' matches call for and records what each did.
type Dispatcher struct {
	// Start starts the execution a match fires under m.ExecutionID, saying whether that delivery
	// had started it already.
	Start func(ctx context.Context, m triggers.Match) (duplicate bool, err error)
	// Refused tells a start refused for good (a missing or disabled pipeline, parameters or
	// expected artifacts that do not fit) from one worth trying again (Temporal unreachable).
	Refused func(error) bool
	Events  Pipelines
}

// Fired is what one match of a delivery did.
type Fired struct {
	triggers.Match
	// Outcome is the trigger event's (store.TriggerStarted, TriggerDuplicate, TriggerDisabled,
	// TriggerRejected), or "" when the start failed for a reason a later attempt may not meet: no
	// event is kept for it, and the delivery should come again; its IDs make that safe.
	Outcome string
	Err     error
}

// Fire records out's disabled matches, starts the others and records each outcome. source names
// the delivery's source in the events; "" takes each trigger's own (a registry's notification
// comes to one endpoint for every registry). It returns one Fired per match, the disabled first.
func (d Dispatcher) Fire(ctx context.Context, kind, source string, out triggers.Outcome, log Logger) []Fired {
	fired := make([]Fired, 0, len(out.Disabled)+len(out.Matches))
	for _, m := range out.Disabled {
		why := "the trigger is disabled"
		if m.PipelineDisabled {
			why = "the pipeline is disabled"
		}
		log.Info("trigger matched a disabled pipeline or trigger: nothing started", "application", m.Application, "pipeline", m.Pipeline, "why", why)
		d.record(ctx, kind, source, m, store.TriggerDisabled, "", why, log)
		fired = append(fired, Fired{Match: m, Outcome: store.TriggerDisabled})
	}
	for _, m := range out.Matches {
		f := Fired{Match: m}
		duplicate, err := d.Start(ctx, m)
		attrs := []any{"application", m.Application, "pipeline", m.Pipeline, "execution", m.ExecutionID, "event", m.DeliveryID}
		switch {
		case err == nil && duplicate:
			f.Outcome = store.TriggerDuplicate
			d.record(ctx, kind, source, m, f.Outcome, m.ExecutionID, "this delivery had already started the execution", log)
			log.Info("trigger fired again: its execution had started already", attrs...)
		case err == nil:
			f.Outcome = store.TriggerStarted
			d.record(ctx, kind, source, m, f.Outcome, m.ExecutionID, "", log)
			log.Info("trigger fired", attrs...)
		case d.Refused(err):
			f.Outcome, f.Err = store.TriggerRejected, err
			d.record(ctx, kind, source, m, f.Outcome, "", err.Error(), log)
			log.Warn("trigger fired but its execution was refused", append(attrs, "error", err)...)
		default:
			f.Err = err
			log.Warn("trigger fired but its execution could not be started; the delivery should come again", append(attrs, "error", err)...)
		}
		fired = append(fired, f)
	}
	return fired
}

func (d Dispatcher) record(ctx context.Context, kind, source string, m triggers.Match, outcome, executionID, reason string, log Logger) {
	if source == "" {
		source = m.Trigger.Source
	}
	ev := store.TriggerEvent{Application: m.Application, Pipeline: m.Pipeline, Kind: kind, Source: source,
		DeliveryID: m.DeliveryID, Outcome: outcome, ExecutionID: executionID, Reason: reason}
	// Kept even when the delivery's own context has ended: the start it records happened.
	if err := d.Events.RecordTriggerEvent(context.WithoutCancel(ctx), ev); err != nil {
		log.Warn("recording a trigger event", "error", err, "application", ev.Application, "pipeline", ev.Pipeline)
	}
}
