package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// webhookMonitorLimit bounds monitoring when the stage sets no stageTimeoutMs.
const webhookMonitorLimit = 24 * time.Hour

// runWebhook calls the stage's URL and, with waitForCompletion, polls its status URL until the
// remote work succeeds, is canceled or fails.
func runWebhook(ctx workflow.Context, _ *interpreter, st *stageRun, s pipeline.WebhookStage) (map[string]any, error) {
	req, monitor := s.Request, s.Monitor
	callCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		// One HTTP attempt per activity attempt: 429, 5xx and network errors back off and retry.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 5},
	})
	var webhooks *activities.Webhooks
	var called activities.CallWebhookResult
	if err := workflow.ExecuteActivity(callCtx, webhooks.CallWebhook, activities.CallWebhookInput{Request: req}).Get(ctx, &called); err != nil {
		return nil, err
	}
	result := map[string]any{
		"statusCode": called.StatusCode,
		"body":       called.Body,
	}
	if called.Truncated {
		result["bodyTruncated"] = true
	}
	outputs := map[string]any{"webhook": result}
	if monitor == nil {
		return outputs, nil
	}

	limit := webhookMonitorLimit
	if l := stageTimeout(st.cfg); l > 0 {
		limit = l
	}
	monitorCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    limit,
		ScheduleToCloseTimeout: limit,
		HeartbeatTimeout:       30 * time.Second,
		// Retries only matter after a lost worker; the next attempt resumes from its heartbeat.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var monitored activities.MonitorWebhookResult
	err := workflow.ExecuteActivity(monitorCtx, webhooks.MonitorWebhook, activities.MonitorWebhookInput{
		StatusURL:        called.StatusURL,
		Headers:          req.Headers,
		RetryStatusCodes: req.RetryStatusCodes,
		Monitor:          *monitor,
	}).Get(ctx, &monitored)
	if err != nil {
		return outputs, err
	}
	result["monitor"] = map[string]any{
		"status":     monitored.LastStatus,
		"progress":   monitored.Progress,
		"statusCode": monitored.StatusCode,
		"body":       monitored.Body,
		"polls":      monitored.Polls,
	}
	switch monitored.Status {
	case "SUCCEEDED":
		return outputs, nil
	case "CANCELED":
		return outputs, failf("the remote job reported status %q, which is a canceled status", monitored.LastStatus)
	default:
		return outputs, failf("the remote job reported status %q, which is a terminal status", monitored.LastStatus)
	}
}
