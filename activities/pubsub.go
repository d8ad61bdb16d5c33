package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/pubsub/sqs"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/triggers"
	"github.com/gennaker/gennaker/triggers/dispatch"
)

// MessageQueue is one subscription's queue: the SQS client implements it.
type MessageQueue interface {
	Receive(ctx context.Context) ([]sqs.Message, error)
	Delete(ctx context.Context, receipt string) error
}

// DeliveryStarter starts an execution for an automatic trigger under an ID derived from its
// delivery, saying whether that delivery had started it already; the launcher is one.
type DeliveryStarter interface {
	StartDelivery(ctx context.Context, executionID, application, name string, trigger pipeline.TriggerInfo) (duplicate bool, err error)
}

// Pubsub polls pubsub subscriptions and starts the pipelines their messages trigger.
type Pubsub struct {
	// Queue opens a configured subscription; it wraps sqs.ErrUnknownSubscription for a name not
	// configured (any more), which ends the subscription's polling workflow.
	Queue func(ctx context.Context, subscription string) (MessageQueue, error)
	// Pipelines lists the saved pipelines and keeps what their triggers did.
	Pipelines DownstreamSource
	Starter   DeliveryStarter
}

// PollSubscriptionInput names the subscription to poll and for how long.
type PollSubscriptionInput struct {
	Subscription string `json:"subscription"`
	// For is how long to keep polling before returning; each poll waits up to the subscription's
	// long poll. Default one minute.
	For time.Duration `json:"for,omitempty"`
}

// PollSubscriptionResult counts what one activity's polling did.
type PollSubscriptionResult struct {
	Received int `json:"received"`
	Started  int `json:"started"`
	Deleted  int `json:"deleted"`
	// Kept counts messages left on the queue to be received again: an execution could not be
	// started for a reason worth retrying.
	Kept int `json:"kept"`
}

// DefaultPollFor is how long one PollSubscription keeps polling.
const DefaultPollFor = time.Minute

// PollSubscription receives messages for a while and handles each: it starts the executions the
// message triggers, records what happened in the applications' trigger events, and deletes the
// message only once every execution it triggers has started (or cannot be, for good). A message
// left on the queue comes back after its visibility timeout; its execution IDs derive from its
// message ID, so nothing starts twice.
func (p *Pubsub) PollSubscription(ctx context.Context, in PollSubscriptionInput) (PollSubscriptionResult, error) {
	var res PollSubscriptionResult
	q, err := p.Queue(ctx, in.Subscription)
	if errors.Is(err, sqs.ErrUnknownSubscription) {
		return res, temporal.NewNonRetryableApplicationError(err.Error(), "UnknownSubscription", err)
	}
	if err != nil {
		return res, err
	}
	pollFor := in.For
	if pollFor <= 0 {
		pollFor = DefaultPollFor
	}
	until := time.Now().Add(pollFor)
	for time.Now().Before(until) {
		activity.RecordHeartbeat(ctx, res)
		msgs, err := q.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, err
		}
		if len(msgs) == 0 {
			continue
		}
		candidates, err := p.candidates(ctx)
		if err != nil {
			// The messages come back after their visibility timeout.
			return res, err
		}
		for _, m := range msgs {
			res.Received++
			started, keep := p.handle(ctx, in.Subscription, m, candidates)
			res.Started += started
			if keep {
				res.Kept++
				continue
			}
			if err := q.Delete(ctx, m.Receipt); err != nil {
				return res, err
			}
			res.Deleted++
		}
	}
	return res, nil
}

// candidates lists every saved pipeline's pubsub triggers.
func (p *Pubsub) candidates(ctx context.Context) ([]triggers.Candidate, error) {
	log := activity.GetLogger(ctx)
	out, err := dispatch.Candidates(ctx, p.Pipelines, pipeline.TriggerPubsub, func(rec store.Record, err error) {
		log.Warn("a saved pipeline cannot be read; its triggers are skipped", "application", rec.Application, "pipeline", rec.Name, "error", err)
	})
	if err != nil {
		return nil, fmt.Errorf("listing pipelines for pubsub triggers: %w", err)
	}
	return out, nil
}

// handle fires the triggers one message matches. keep says the message must stay on the queue:
// a start failed for a reason a later attempt may not meet.
func (p *Pubsub) handle(ctx context.Context, subscription string, m sqs.Message, candidates []triggers.Candidate) (started int, keep bool) {
	log := sdklog.With(activity.GetLogger(ctx), "subscription", subscription, "message", m.ID)
	d := triggers.Delivery{Kind: pipeline.TriggerPubsub, Source: subscription, ID: "sqs:" + m.ID, Body: []byte(m.Body), Attributes: m.Attributes}
	out, err := triggers.Evaluate(d, candidates)
	if err != nil {
		log.Warn("a pubsub message cannot be read; deleted", "error", err)
		return 0, false
	}
	for _, r := range out.Reasons {
		log.Debug("pubsub trigger not fired", "reason", r)
	}
	if len(out.Matches) == 0 && len(out.Disabled) == 0 {
		log.Info("a pubsub message matched no trigger; deleted", "checked", out.Checked)
	}
	fire := dispatch.Dispatcher{
		Start: func(ctx context.Context, match triggers.Match) (bool, error) {
			return p.Starter.StartDelivery(ctx, match.ExecutionID, match.Application, match.Pipeline, match.Trigger)
		},
		Refused: func(err error) bool { return errors.Is(err, ErrNotStartable) },
		Events:  p.Pipelines,
	}
	for _, f := range fire.Fire(ctx, pipeline.TriggerPubsub, subscription, out, log) {
		switch f.Outcome {
		case store.TriggerStarted:
			started++
		case "":
			keep = true
		}
	}
	return started, keep
}
