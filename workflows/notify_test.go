package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

// slackRecorder stands in for the notification activities and records what they were asked.
type slackRecorder struct {
	mu        sync.Mutex
	sent      []activities.SendNotificationInput
	posted    []activities.PostJudgmentInput
	reminders int
	updates   []activities.UpdateJudgmentInput
	// fail makes every send fail as an outage would.
	fail error
}

func (s *slackRecorder) install(env *testsuite.TestWorkflowEnvironment, settings activities.NotificationSettingsResult) {
	var acts *activities.Notifications
	env.OnActivity(acts.NotificationSettings, mock.Anything, mock.Anything).Return(settings, nil)
	env.OnActivity(acts.SendNotification, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SendNotificationInput) (activities.SendNotificationResult, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.sent = append(s.sent, in)
			if s.fail != nil {
				return activities.SendNotificationResult{}, s.fail
			}
			return activities.SendNotificationResult{Address: in.Address, Message: notify.MessageRef{Channel: "C1", TS: "1.1"}}, nil
		})
	env.OnActivity(acts.PostJudgment, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PostJudgmentInput) (activities.PostJudgmentResult, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.posted = append(s.posted, in)
			return activities.PostJudgmentResult{Address: in.Address, Message: notify.MessageRef{Channel: "C2", TS: "2.2"}}, nil
		})
	env.OnActivity(acts.RemindJudgment, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RemindJudgmentInput) (activities.RemindJudgmentResult, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.reminders++
			return activities.RemindJudgmentResult{}, nil
		})
	env.OnActivity(acts.UpdateJudgment, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.UpdateJudgmentInput) (activities.UpdateJudgmentResult, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.updates = append(s.updates, in)
			return activities.UpdateJudgmentResult{}, nil
		})
}

// points lists the points notifications were sent for, with the stage's refId for stage points,
// sorted: notifications are sent beside the execution, in no fixed order.
func (s *slackRecorder) points() []string {
	var out []string
	for _, in := range s.sent {
		p := string(in.Subject.Point)
		if in.Subject.Stage != nil {
			p += "@" + in.Subject.Stage.RefID
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

const notifiedPipeline = `{"application": "web", "name": "release",
  "notifications": [{"type": "slack", "address": "#deploys", "when": ["pipeline.starting", "pipeline.complete", "pipeline.failed"],
                     "message": {"pipeline.complete": {"text": "${execution.name} shipped"}}}],
  "stages": [
    {"refId": "1", "type": "wait", "waitTime": 5,
     "notifications": [{"type": "slack", "address": "#team", "when": ["stage.starting", "stage.complete", "stage.failed"]}]},
    {"refId": "2", "type": "checkPreconditions", "requisiteStageRefIds": ["1"],
     "preconditions": [{"type": "expression", "context": {"expression": "${parameters.env == 'prod'}", "failureMessage": "not prod"}}],
     "notifications": [{"type": "slack", "address": "#team", "when": ["stage.failed"], "message": {"stage.failed": {"text": "precondition of ${execution.name} failed"}}}]}
  ]}`

func TestNotificationsAtEachPoint(t *testing.T) {
	rec := &slackRecorder{}
	exec, err := run(t, notifiedPipeline, func(env *testsuite.TestWorkflowEnvironment) {
		rec.install(env, activities.NotificationSettingsResult{
			Notifications: []pipeline.Notification{{"type": "slack", "when": []any{"pipeline.failed"}}},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.points(), " ")
	want := "pipeline.complete pipeline.starting stage.complete@1 stage.starting@1"
	if got != want {
		t.Errorf("notifications sent at %q, want %q", got, want)
	}
	var last activities.SendNotificationInput
	for _, in := range rec.sent {
		if in.Subject.Point == notify.PipelineComplete {
			last = in
		}
	}
	if last.Subject.Text != "release shipped" || last.Address != "#deploys" || last.Subject.Status != "SUCCEEDED" || last.Subject.TriggerUser != "ana" {
		t.Errorf("pipeline.complete notification = %+v", last)
	}
	if len(exec.Notifications) != 2 || exec.Notifications[0].Error != "" || exec.Notifications[1].When != "pipeline.complete" && exec.Notifications[0].When != "pipeline.complete" {
		t.Errorf("execution records %+v", exec.Notifications)
	}
	if len(exec.Stage("1").Notifications) != 2 {
		t.Errorf("stage records %+v", exec.Stage("1").Notifications)
	}
	if len(exec.Errors) != 0 {
		t.Errorf("errors: %v", exec.Errors)
	}
}

func TestNotificationsOfAFailure(t *testing.T) {
	rec := &slackRecorder{}
	failing := strings.Replace(notifiedPipeline, "parameters.env == 'prod'", "parameters.env == 'dev'", 1)
	exec, err := run(t, failing, func(env *testsuite.TestWorkflowEnvironment) {
		// The application's own notification asks for failures, with its default channel.
		rec.install(env, activities.NotificationSettingsResult{
			Notifications: []pipeline.Notification{{"type": "slack", "when": []any{"pipeline.failed"}}},
		})
	})
	if err == nil || exec.Status != pipeline.StatusTerminal {
		t.Fatalf("status %s, err %v", exec.Status, err)
	}
	got := strings.Join(rec.points(), " ")
	want := "pipeline.failed pipeline.failed pipeline.starting stage.complete@1 stage.failed@2 stage.starting@1"
	if got != want {
		t.Errorf("notifications sent at %q, want %q", got, want)
	}
	var stageFailed, appFailed activities.SendNotificationInput
	for _, in := range rec.sent {
		switch {
		case in.Subject.Point == notify.StageFailed:
			stageFailed = in
		case in.Subject.Point == notify.PipelineFailed && in.Address == "":
			appFailed = in
		}
	}
	if stageFailed.Subject.Text != "precondition of release failed" || !strings.Contains(stageFailed.Subject.Reason, "not prod") {
		t.Errorf("stage.failed notification = %+v", stageFailed.Subject)
	}
	if !strings.Contains(appFailed.Subject.Reason, `stage "checkPreconditions 2" TERMINAL: not prod`) {
		t.Errorf("the application's pipeline.failed notification says %q", appFailed.Subject.Reason)
	}
}

func TestSlackOutageNeverFailsThePipeline(t *testing.T) {
	rec := &slackRecorder{fail: errors.New("slack is down")}
	exec, err := run(t, notifiedPipeline, func(env *testsuite.TestWorkflowEnvironment) {
		rec.install(env, activities.NotificationSettingsResult{})
	})
	if err != nil || exec.Status != pipeline.StatusSucceeded {
		t.Fatalf("status %s, err %v", exec.Status, err)
	}
	if len(rec.sent) < 8 {
		t.Errorf("sends were not retried: %d attempts", len(rec.sent))
	}
	if len(exec.Notifications) != 2 || !strings.Contains(exec.Notifications[0].Error, "slack is down") {
		t.Errorf("records %+v", exec.Notifications)
	}
	if len(exec.Errors) != 4 || !strings.Contains(exec.Errors[0], "could not be sent: slack is down") {
		t.Errorf("errors %q", exec.Errors)
	}
}

func TestPermanentSlackErrorIsNotRetried(t *testing.T) {
	rec := &slackRecorder{fail: temporal.NewNonRetryableApplicationError("posting to #deploys: channel_not_found", activities.NotifyErrRejected, nil)}
	exec, err := run(t, notifiedPipeline, func(env *testsuite.TestWorkflowEnvironment) {
		rec.install(env, activities.NotificationSettingsResult{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.sent) != 4 {
		t.Errorf("%d attempts for 4 notifications", len(rec.sent))
	}
	if !strings.Contains(exec.Notifications[0].Error, "channel_not_found") {
		t.Errorf("records %+v", exec.Notifications)
	}
}

const slackJudgment = `{"application": "web", "name": "release", "stages": [
  {"refId": "1", "type": "manualJudgment", "name": "Ship it?", "instructions": "Check the dashboards",
   "judgmentInputs": [{"value": "ship"}, {"value": "wait"}], "selectedStageRoles": ["release-managers"],
   "notifications": [{"type": "slack", "address": "#approvals", "when": ["manualJudgment", "manualJudgmentContinue"], "notifyEveryMs": 600000}]}]}`

func TestJudgmentInSlack(t *testing.T) {
	rec := &slackRecorder{}
	exec, err := run(t, slackJudgment, func(env *testsuite.TestWorkflowEnvironment) {
		rec.install(env, activities.NotificationSettingsResult{})
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(SignalJudgment, JudgmentSignal{RefID: "1", Status: "continue", Input: "ship", User: "alice@example.com"})
		}, 35*time.Minute)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.posted) != 1 {
		t.Fatalf("posted %d judgment messages", len(rec.posted))
	}
	req := rec.posted[0].Request
	if rec.posted[0].Address != "#approvals" || req.Instructions != "Check the dashboards" || strings.Join(req.Inputs, ",") != "ship,wait" ||
		strings.Join(req.Roles, ",") != "release-managers" || req.Stage.RefID != "1" || req.ExecutionID == "" {
		t.Errorf("judgment message request = %+v", rec.posted[0])
	}
	if rec.reminders != 3 {
		t.Errorf("%d reminders in 35 minutes every 10", rec.reminders)
	}
	if len(rec.updates) != 1 {
		t.Fatalf("updates %+v", rec.updates)
	}
	u := rec.updates[0]
	if u.Message.TS != "2.2" || u.Decision.Status != "continue" || u.Decision.User != "alice@example.com" || u.Decision.Input != "ship" {
		t.Errorf("update = %+v", u)
	}
	if got := strings.Join(rec.points(), " "); got != "manualJudgmentContinue@1" {
		t.Errorf("notifications %q", got)
	}
	if !strings.Contains(rec.sent[0].Subject.Reason, "continued by alice@example.com with input ship") {
		t.Errorf("continue notification says %q", rec.sent[0].Subject.Reason)
	}
	if exec.Stage("1").Status != pipeline.StatusSucceeded {
		t.Errorf("stage %s", exec.Stage("1").Status)
	}
}

func TestJudgmentMessageClosedWhenTheExecutionIsCanceled(t *testing.T) {
	rec := &slackRecorder{}
	exec, _ := run(t, slackJudgment, func(env *testsuite.TestWorkflowEnvironment) {
		rec.install(env, activities.NotificationSettingsResult{})
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(SignalCancel, CancelSignal{User: "bo", Reason: "wrong build"})
		}, 5*time.Minute)
	})
	if exec.Status != pipeline.StatusCanceled {
		t.Fatalf("status %s", exec.Status)
	}
	if len(rec.updates) != 1 || rec.updates[0].Decision.Status != "" || rec.updates[0].Decision.Ended != "the execution was canceled by bo" {
		t.Errorf("updates %+v", rec.updates)
	}
	if rec.reminders != 0 {
		t.Errorf("%d reminders", rec.reminders)
	}
}

func TestEventStreamDeliversInOrderAndEnds(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(EventStream)
	var acts *activities.Notifications
	var delivered []string
	calls := 0
	env.OnActivity(acts.PublishEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishEventsInput) (activities.PublishEventsResult, error) {
			calls++
			if calls == 1 {
				return activities.PublishEventsResult{}, errors.New("endpoint down")
			}
			for _, ev := range in.Events {
				delivered = append(delivered, ev.ID+":"+ev.Status)
			}
			return activities.PublishEventsResult{Delivered: len(in.Events)}, nil
		})
	send := func(at time.Duration, seq int, kind, status string) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(SignalEvent, notify.Event{ID: fmt.Sprintf("x-%d", seq), Sequence: seq, Type: kind, Status: status})
		}, at)
	}
	// Signals can overtake each other: the stream restores the order.
	send(time.Second, 2, notify.EventStage, "RUNNING")
	send(2*time.Second, 1, notify.EventExecution, "RUNNING")
	send(3*time.Second, 3, notify.EventStage, "SUCCEEDED")
	send(time.Hour, 5, notify.EventExecution, "SUCCEEDED")
	send(time.Hour+time.Second, 4, notify.EventStage, "RUNNING")
	env.ExecuteWorkflow(EventStream, EventStreamInput{ExecutionID: "x"})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the stream did not end after the final status")
	}
	var res EventStreamResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(delivered, " "); got != "x-1:RUNNING x-2:RUNNING x-3:SUCCEEDED x-4:RUNNING x-5:SUCCEEDED" {
		t.Errorf("delivered %q", got)
	}
	if res.Delivered != 5 || len(res.Dropped) != 0 {
		t.Errorf("result %+v", res)
	}
}

func TestEventStreamOfATerminatedExecutionEnds(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(EventStream)
	var acts *activities.Notifications
	var locks *activities.Locks
	var delivered []notify.Event
	env.OnActivity(acts.PublishEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishEventsInput) (activities.PublishEventsResult, error) {
			delivered = append(delivered, in.Events...)
			return activities.PublishEventsResult{Delivered: len(in.Events)}, nil
		})
	env.OnActivity(locks.ExecutionRunning, mock.Anything, mock.Anything).Return(activities.ExecutionRunningResult{Running: false}, nil)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalEvent, notify.Event{ID: "x-1", Sequence: 1, Type: notify.EventExecution, Status: "RUNNING", Application: "web", Pipeline: "release"})
	}, time.Second)
	env.ExecuteWorkflow(EventStream, EventStreamInput{ExecutionID: "x"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("the stream did not end: %v", env.GetWorkflowError())
	}
	if len(delivered) != 2 || delivered[1].Status != StatusTerminated || delivered[1].Sequence != 2 || delivered[1].Pipeline != "release" {
		t.Errorf("delivered %+v", delivered)
	}
}

func TestJudgmentRemindersAreBounded(t *testing.T) {
	rec := &slackRecorder{}
	frequent := strings.Replace(slackJudgment, `"notifyEveryMs": 600000`, `"notifyEveryMs": 1000`, 1)
	_, err := run(t, frequent, func(env *testsuite.TestWorkflowEnvironment) {
		rec.install(env, activities.NotificationSettingsResult{})
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(SignalJudgment, JudgmentSignal{RefID: "1", Status: "continue", User: "alice@example.com"})
		}, 2*time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.reminders != maxReminders {
		t.Errorf("%d reminders in two hours every second, want the cap of %d", rec.reminders, maxReminders)
	}
}
