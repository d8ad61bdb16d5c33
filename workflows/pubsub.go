package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
)

// PubsubSubscriptionID is the workflow ID of a subscription's poller: one per subscription, however
// many workers run.
func PubsubSubscriptionID(subscription string) string { return "pubsub-" + subscription }

// PubsubSubscriptionInput names the subscription a poller polls.
type PubsubSubscriptionInput struct {
	Subscription string `json:"subscription"`
	// PollFor is how long each poll activity polls; zero means activities.DefaultPollFor.
	PollFor time.Duration `json:"pollFor,omitempty"`
}

// PubsubSubscriptionResult is a poller's end: its subscription is no longer configured.
type PubsubSubscriptionResult struct {
	Reason string `json:"reason"`
}

// pollsPerRun bounds a poller's history: after this many polls it continues as new.
const pollsPerRun = 100

// PubsubSubscription polls one pubsub subscription for as long as it is configured. The workers
// start it, and its ID makes it one per subscription; each activity polls for a minute, so a
// worker that dies stops polling only until the activity's heartbeat times out and another
// worker takes over. Messages are deleted by the activity once handled (see PollSubscription).
func PubsubSubscription(ctx workflow.Context, in PubsubSubscriptionInput) (PubsubSubscriptionResult, error) {
	pollFor := in.PollFor
	if pollFor <= 0 {
		pollFor = activities.DefaultPollFor
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A poll lasts pollFor plus one long poll and the handling of its last messages.
		StartToCloseTimeout: pollFor + 2*time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			// SQS or Temporal being unreachable is waited out, however long it lasts.
			InitialInterval:        time.Second,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{"UnknownSubscription"},
		},
	})
	var pubsub *activities.Pubsub
	for range pollsPerRun {
		var res activities.PollSubscriptionResult
		err := workflow.ExecuteActivity(ctx, pubsub.PollSubscription, activities.PollSubscriptionInput{Subscription: in.Subscription, For: pollFor}).Get(ctx, &res)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == "UnknownSubscription" {
			return PubsubSubscriptionResult{Reason: appErr.Error()}, nil
		}
		if err != nil {
			return PubsubSubscriptionResult{}, err
		}
	}
	return PubsubSubscriptionResult{}, workflow.NewContinueAsNewError(ctx, PubsubSubscription, in)
}
