package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
)

func TestPubsubSubscriptionPollsUntilContinuedAsNew(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Pubsub{})
	polls, failures := 0, 0
	env.OnActivity((&activities.Pubsub{}).PollSubscription, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PollSubscriptionInput) (activities.PollSubscriptionResult, error) {
			if in.Subscription != "builds" || in.For != 30*time.Second {
				t.Errorf("input: %+v", in)
			}
			// SQS being unreachable for a while is retried, not the end of polling.
			if polls == 3 && failures < 5 {
				failures++
				return activities.PollSubscriptionResult{}, errors.New("connection refused")
			}
			polls++
			return activities.PollSubscriptionResult{Received: 1, Deleted: 1}, nil
		})
	env.ExecuteWorkflow(PubsubSubscription, PubsubSubscriptionInput{Subscription: "builds", PollFor: 30 * time.Second})
	var cont *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &cont) {
		t.Fatalf("want continue-as-new after %d polls, got %v", pollsPerRun, err)
	}
	if polls != pollsPerRun || failures != 5 {
		t.Errorf("polls %d, failures retried %d", polls, failures)
	}
}

func TestPubsubSubscriptionEndsWhenNotConfigured(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Pubsub{})
	env.OnActivity((&activities.Pubsub{}).PollSubscription, mock.Anything, mock.Anything).Return(
		activities.PollSubscriptionResult{}, temporal.NewNonRetryableApplicationError(`no such pubsub subscription: "old"`, "UnknownSubscription", nil))
	env.ExecuteWorkflow(PubsubSubscription, PubsubSubscriptionInput{Subscription: "old"})
	var res PubsubSubscriptionResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Reason == "" {
		t.Fatalf("result %+v, error %v", res, err)
	}
}
