package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

// Application error types of the notification activities.
const (
	// NotifyErrNotConfigured is a notification this gennaker cannot send (no token, no channel); never retried.
	NotifyErrNotConfigured = "NotificationNotConfigured"
	// NotifyErrRejected is a notification Slack refused for good (bad token, unknown channel); never retried.
	NotifyErrRejected = "NotificationRejected"
)

// EventPublisher delivers one event to one endpoint; *notify.Publisher is the real one.
type EventPublisher interface {
	Publish(ctx context.Context, ep notify.Endpoint, ev notify.Event) error
}

// ApplicationNotifications are an application's notification defaults.
type ApplicationNotifications struct {
	// SlackChannel is where Slack notifications that name no address go.
	SlackChannel string `json:"slackChannel,omitempty"`
	// Notifications apply to every pipeline of the application, besides the pipeline's own.
	Notifications []pipeline.Notification `json:"notifications,omitempty"`
}

// Notifications sends Slack messages and publishes the event stream.
type Notifications struct {
	// Slack is nil when no bot token is configured.
	Slack notify.Judge
	// Publisher and Endpoints publish the event stream; no endpoints, no events.
	Publisher EventPublisher
	Endpoints []notify.Endpoint
	// Applications are the notification defaults per application.
	Applications map[string]ApplicationNotifications
	// DefaultSlackChannel is used when neither the notification nor its application names one.
	DefaultSlackChannel string
	// ExecutionURL and TemporalURL link an execution in messages; nil leaves the link out.
	ExecutionURL func(executionID string) string
	TemporalURL  func(executionID string) string
}

// NotificationSettingsInput names the application an execution belongs to.
type NotificationSettingsInput struct {
	Application string `json:"application"`
}

// NotificationSettingsResult is what an execution needs to know once, at its start, recorded in
// its history so that a change of configuration never changes an execution being replayed.
type NotificationSettingsResult struct {
	// Notifications are the application's own pipeline-level notifications.
	Notifications []pipeline.Notification `json:"notifications,omitempty"`
	// PublishEvents says whether any event endpoint is configured.
	PublishEvents bool `json:"publishEvents"`
}

// NotificationSettings tells an execution its application's notifications and whether to publish events.
func (n *Notifications) NotificationSettings(_ context.Context, in NotificationSettingsInput) (NotificationSettingsResult, error) {
	return NotificationSettingsResult{
		Notifications: n.Applications[in.Application].Notifications,
		PublishEvents: len(n.Endpoints) > 0,
	}, nil
}

// SendNotificationInput is one notification to one address.
type SendNotificationInput struct {
	Type    string         `json:"type"`
	Address string         `json:"address,omitempty"`
	Subject notify.Subject `json:"subject"`
}

// SendNotificationResult says where it went.
type SendNotificationResult struct {
	Address string            `json:"address"`
	Message notify.MessageRef `json:"message"`
}

// SendNotification sends one notification.
func (n *Notifications) SendNotification(ctx context.Context, in SendNotificationInput) (SendNotificationResult, error) {
	address, err := n.address(in.Type, in.Address, in.Subject.Application)
	if err != nil {
		return SendNotificationResult{Address: in.Address}, err
	}
	ref, err := n.Slack.Notify(ctx, address, n.withLinks(in.Subject))
	if err != nil {
		return SendNotificationResult{Address: address}, slackError(err)
	}
	return SendNotificationResult{Address: address, Message: ref}, nil
}

// PostJudgmentInput asks for a manual judgment at one address.
type PostJudgmentInput struct {
	Address string                 `json:"address,omitempty"`
	Request notify.JudgmentRequest `json:"request"`
}

// PostJudgmentResult is the posted message, to be updated once the judgment is made.
type PostJudgmentResult struct {
	Address string            `json:"address"`
	Message notify.MessageRef `json:"message"`
}

// PostJudgment posts the interactive manual judgment message.
func (n *Notifications) PostJudgment(ctx context.Context, in PostJudgmentInput) (PostJudgmentResult, error) {
	address, err := n.address(pipeline.NotificationSlack, in.Address, in.Request.Application)
	if err != nil {
		return PostJudgmentResult{Address: in.Address}, err
	}
	req := in.Request
	req.Subject = n.withLinks(req.Subject)
	ref, err := n.Slack.PostJudgment(ctx, address, req)
	if err != nil {
		return PostJudgmentResult{Address: address}, slackError(err)
	}
	return PostJudgmentResult{Address: address, Message: ref}, nil
}

// RemindJudgmentInput names a judgment message still waiting.
type RemindJudgmentInput struct {
	Message notify.MessageRef      `json:"message"`
	Request notify.JudgmentRequest `json:"request"`
}

// RemindJudgmentResult is empty; the reminder was posted.
type RemindJudgmentResult struct{}

// RemindJudgment reminds the channel that a judgment still waits.
func (n *Notifications) RemindJudgment(ctx context.Context, in RemindJudgmentInput) (RemindJudgmentResult, error) {
	if n.Slack == nil {
		return RemindJudgmentResult{}, notConfigured("no Slack bot token is configured (--slack-bot-token)")
	}
	req := in.Request
	req.Subject = n.withLinks(req.Subject)
	if err := n.Slack.RemindJudgment(ctx, in.Message, req); err != nil {
		return RemindJudgmentResult{}, slackError(err)
	}
	return RemindJudgmentResult{}, nil
}

// UpdateJudgmentInput closes a judgment message with how the judgment ended.
type UpdateJudgmentInput struct {
	Message  notify.MessageRef      `json:"message"`
	Request  notify.JudgmentRequest `json:"request"`
	Decision notify.Decision        `json:"decision"`
}

// UpdateJudgmentResult is empty; the message was updated.
type UpdateJudgmentResult struct{}

// UpdateJudgment replaces the message's buttons with the decision, so nobody clicks a stale one.
func (n *Notifications) UpdateJudgment(ctx context.Context, in UpdateJudgmentInput) (UpdateJudgmentResult, error) {
	if n.Slack == nil {
		return UpdateJudgmentResult{}, notConfigured("no Slack bot token is configured (--slack-bot-token)")
	}
	req := in.Request
	req.Subject = n.withLinks(req.Subject)
	if err := n.Slack.UpdateJudgment(ctx, in.Message, req, in.Decision); err != nil {
		return UpdateJudgmentResult{}, slackError(err)
	}
	return UpdateJudgmentResult{}, nil
}

// PublishEventsInput is a batch of events of one execution, in order.
type PublishEventsInput struct {
	Events []notify.Event `json:"events"`
}

// PublishEventsResult counts deliveries and says which events an endpoint refused for good.
type PublishEventsResult struct {
	Delivered int      `json:"delivered"`
	Dropped   []string `json:"dropped,omitempty"`
}

// publishProgress is heartbeated so that a retry resumes where the last attempt stopped instead of
// delivering everything again.
type publishProgress struct {
	// Next is, per endpoint, the index of the first event not yet handled.
	Next   map[string]int      `json:"next"`
	Result PublishEventsResult `json:"result"`
}

// PublishEvents delivers the events to every endpoint, in order. An endpoint that cannot be reached
// makes the activity fail and be retried from where it stopped; one that refuses an event for good
// (a 4xx) gets the next one, and the refusal is reported.
func (n *Notifications) PublishEvents(ctx context.Context, in PublishEventsInput) (PublishEventsResult, error) {
	progress := publishProgress{Next: map[string]int{}}
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &progress)
		if progress.Next == nil {
			progress.Next = map[string]int{}
		}
	}
	for _, ep := range n.Endpoints {
		key := endpointKey(ep)
		for i := progress.Next[key]; i < len(in.Events); i++ {
			ev := in.Events[i]
			err := n.Publisher.Publish(ctx, ep, ev)
			var delivery *notify.DeliveryError
			switch {
			case err == nil:
				progress.Result.Delivered++
			case errors.As(err, &delivery) && delivery.Permanent:
				activity.GetLogger(ctx).Warn("event endpoint refused an event", "endpoint", key, "event", ev.ID, "error", err)
				progress.Result.Dropped = appendBounded(progress.Result.Dropped, fmt.Sprintf("%s to %s: %v", ev.ID, key, err))
			default:
				activity.RecordHeartbeat(ctx, progress)
				wrapped := fmt.Errorf("publishing event %s: %w", ev.ID, err)
				if errors.As(err, &delivery) && delivery.RetryAfter > 0 {
					// The endpoint said when to come back; sooner would only be refused again.
					return PublishEventsResult{}, temporal.NewApplicationErrorWithOptions(wrapped.Error(), "EventEndpointThrottled",
						temporal.ApplicationErrorOptions{NextRetryDelay: min(delivery.RetryAfter, maxRetryAfter), Cause: err})
				}
				return PublishEventsResult{}, wrapped
			}
			progress.Next[key] = i + 1
			activity.RecordHeartbeat(ctx, progress)
		}
	}
	return progress.Result, nil
}

func endpointKey(ep notify.Endpoint) string {
	if ep.Name != "" {
		return ep.Name
	}
	return ep.URL
}

// appendBounded keeps at most 50 entries, as results go into history.
func appendBounded(list []string, s string) []string {
	if len(list) >= 50 {
		return list
	}
	return append(list, s)
}

// address picks where a notification goes: its own address, its application's channel, the default.
func (n *Notifications) address(kind, address, application string) (string, error) {
	if kind != pipeline.NotificationSlack {
		return "", notConfigured(fmt.Sprintf("notification type %q is not supported; supported types: %s", kind, strings.Join(pipeline.NotificationTypes, ", ")))
	}
	if n.Slack == nil {
		return "", notConfigured("no Slack bot token is configured (--slack-bot-token)")
	}
	for _, a := range []string{address, n.Applications[application].SlackChannel, n.DefaultSlackChannel} {
		if strings.TrimSpace(a) != "" {
			return a, nil
		}
	}
	return "", notConfigured(fmt.Sprintf("no Slack channel: the notification names no address and application %q has no default channel", application))
}

func (n *Notifications) withLinks(s notify.Subject) notify.Subject {
	if n.ExecutionURL != nil {
		s.Links.Execution = n.ExecutionURL(s.ExecutionID)
	}
	if n.TemporalURL != nil {
		s.Links.Temporal = n.TemporalURL(s.ExecutionID)
	}
	return s
}

func notConfigured(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, NotifyErrNotConfigured, nil)
}

// slackError classes a Slack failure: a permanent one is not retried, a rate limit waits as told.
func slackError(err error) error {
	if notify.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), NotifyErrRejected, err)
	}
	if wait, ok := notify.RetryAfter(err); ok {
		return temporal.NewApplicationErrorWithOptions(err.Error(), "SlackRateLimited", temporal.ApplicationErrorOptions{NextRetryDelay: min(wait, maxRetryAfter), Cause: err})
	}
	return err
}
