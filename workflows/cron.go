package workflows

import (
	"time"

	"github.com/oklog/ulid/v2"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// CronTriggerInput identifies the pipeline and trigger a schedule fires for.
type CronTriggerInput struct {
	Application string `json:"application"`
	Pipeline    string `json:"pipeline"`
	TriggerID   string `json:"triggerId"`
	Expression  string `json:"cronExpression"`
}

// CronTriggerResult is the execution the schedule started.
type CronTriggerResult struct {
	ExecutionID string `json:"executionId"`
}

// CronTrigger is what a pipeline's Temporal Schedule runs: it starts an execution of the latest saved
// version of the pipeline through the same checks as a manual start, so the execution gets its own
// ULID and sees parameter defaults.
func CronTrigger(ctx workflow.Context, in CronTriggerInput) (CronTriggerResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10, MaximumInterval: time.Minute},
	})
	// The execution ID is fixed before the first attempt, so a retry never starts a second execution.
	var id string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return ulid.Make().String() }).Get(&id); err != nil {
		return CronTriggerResult{}, err
	}
	var executions *activities.Executions
	var started activities.StartPipelineResult
	err := workflow.ExecuteActivity(ctx, executions.StartPipeline, activities.StartPipelineInput{
		ExecutionID: id,
		Application: in.Application,
		Pipeline:    in.Pipeline,
		Trigger: pipeline.TriggerInfo{
			Type:    "cron",
			User:    "cron",
			Payload: map[string]any{"triggerId": in.TriggerID, "cronExpression": in.Expression},
		},
	}).Get(ctx, &started)
	if err != nil {
		return CronTriggerResult{}, err
	}
	return CronTriggerResult{ExecutionID: started.ExecutionID}, nil
}
