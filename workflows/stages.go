package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

// DefaultJudgmentTimeout is how long a manual judgment waits when the stage sets no stageTimeoutMs.
const DefaultJudgmentTimeout = 72 * time.Hour

// maxStageTimeout caps stageTimeoutMs. Larger values, such as Java's Long.MAX_VALUE for "no limit",
// would overflow a time.Duration into a negative one and time the stage out at once.
const maxStageTimeout = 100 * 365 * 24 * time.Hour

// stageTimeout is a stage's stageTimeoutMs as a duration; 0 means it has none.
func stageTimeout(s pipeline.Stage) time.Duration {
	switch {
	case s.StageTimeoutMs <= 0:
		return 0
	case s.StageTimeoutMs >= maxStageTimeout.Milliseconds():
		return maxStageTimeout
	}
	return time.Duration(s.StageTimeoutMs) * time.Millisecond
}

// runWait waits waitTime seconds on a durable timer; a skip signal ends the wait early.
func runWait(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.WaitStage) (map[string]any, error) {
	st.waiting = waitingForTimer
	skip, err := r.sleepOrSkip(ctx, st, s.Wait)
	if err != nil {
		return nil, err
	}
	if skip != nil {
		return map[string]any{"skipRemainingWait": true, "skippedBy": userOrAnonymous(skip.User)}, nil
	}
	return nil, nil
}

// runManualJudgment waits for a person's decision, delivered as a signal.
func runManualJudgment(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.ManualJudgmentStage) (map[string]any, error) {
	st.waiting = waitingForJudgment
	r.publishStatus()
	defer r.publishStatus()
	messages := r.notifier.judgmentStarted(st, s)

	timeout := DefaultJudgmentTimeout
	if limit := stageTimeout(st.cfg); limit > 0 {
		// The stage timeout applies around the stage; the timer here only needs to outlast it.
		timeout = limit + time.Minute
	}
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	timer := workflow.NewTimer(timerCtx, timeout)
	var judgment *JudgmentSignal
	var timerErr error
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(st.judgments, func(c workflow.ReceiveChannel, _ bool) {
		var sig JudgmentSignal
		c.Receive(ctx, &sig)
		judgment = &sig
	})
	sel.AddFuture(timer, func(f workflow.Future) { timerErr = f.Get(ctx, nil) })
	sel.Select(ctx)
	st.waiting = waitingForNothing
	if judgment == nil {
		// A judgment handed over as the stage stopped waiting was not taken.
		st.taken = nil
		ended := fmt.Sprintf("no judgment was made within %s", timeout)
		switch {
		case timerErr == nil:
		case st.timedOut:
			ended = fmt.Sprintf("the stage timed out (stageTimeoutMs %d)", st.cfg.StageTimeoutMs)
		case r.cancelled:
			ended = "the execution was canceled by " + r.exec.CanceledBy
		case r.halted:
			ended = "another stage failed the pipeline"
		default:
			ended = "canceled"
		}
		messages.ended(notify.Decision{Time: workflow.Now(ctx), Ended: ended})
		if timerErr != nil {
			return nil, timerErr
		}
		return nil, failf("%s", ended)
	}

	st.view.Judgment = &pipeline.Judgment{
		Status: judgment.Status,
		Input:  judgment.Input,
		User:   userOrAnonymous(judgment.User),
		Time:   r.now(),
	}
	messages.ended(notify.Decision{Status: judgment.Status, Input: judgment.Input, User: st.view.Judgment.User, Time: workflow.Now(ctx)})
	r.notifier.judgmentDecided(st, st.view.Judgment)
	outputs := map[string]any{
		"judgmentStatus": judgment.Status,
		"judgmentInput":  judgment.Input,
		"lastModifiedBy": userOrAnonymous(judgment.User),
	}
	if judgment.Status == pipeline.JudgmentStop {
		msg := "stopped by " + userOrAnonymous(judgment.User)
		if judgment.Input != "" {
			msg += " (" + judgment.Input + ")"
		}
		return outputs, failf("%s", msg)
	}
	return outputs, nil
}

// runCheckPreconditions checks each precondition; one that does not hold fails the stage, or only
// marks it FAILED_CONTINUE when that precondition says failPipeline: false.
func runCheckPreconditions(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.CheckPreconditionsStage) (map[string]any, error) {
	var hard, soft []string
	results := make([]any, 0, len(s.Preconditions))
	for i, pc := range s.Preconditions {
		msg, err := r.checkPrecondition(ctx, st, i, pc)
		if err != nil {
			return map[string]any{"preconditions": results}, err
		}
		results = append(results, map[string]any{"index": i, "type": pc.Type, "passed": msg == "", "message": msg})
		if msg == "" {
			continue
		}
		if pc.FailPipeline {
			hard = append(hard, msg)
		} else {
			soft = append(soft, msg)
		}
	}
	outputs := map[string]any{"preconditions": results}
	if len(hard) > 0 {
		return outputs, failf("%s", strings.Join(append(hard, soft...), "; "))
	}
	if len(soft) > 0 {
		return outputs, &softFailure{msg: strings.Join(soft, "; ")}
	}
	return outputs, nil
}

// checkPrecondition says in words why a precondition does not hold, or returns "" when it holds.
// An error is a failure to check it at all, such as a cluster that cannot be read.
func (r *interpreter) checkPrecondition(ctx workflow.Context, st *stageRun, i int, pc pipeline.Precondition) (string, error) {
	switch {
	case pc.Expression != nil:
		ok, err := preconditionHolds(pc.Expression.Expression, r.stageEnv(st))
		switch {
		case err != nil:
			return fmt.Sprintf("precondition %d: expression could not be evaluated: %v", i+1, err), nil
		case !ok && pc.Expression.FailureMessage != "":
			return pc.Expression.FailureMessage, nil
		case !ok:
			return fmt.Sprintf("precondition %d: expression %v is false", i+1, pc.Expression.Expression), nil
		}
	case pc.StageStatus != nil:
		want := pc.StageStatus
		for _, other := range r.exec.Stages {
			if other.Name == want.StageName {
				if other.Status != want.Status {
					return fmt.Sprintf("precondition %d: the status of stage %q was asserted to be %s, but was actually %s", i+1, want.StageName, want.Status, other.Status), nil
				}
				return "", nil
			}
		}
		return fmt.Sprintf("precondition %d: the execution has no stage named %q", i+1, want.StageName), nil
	case pc.ClusterSize != nil:
		return r.checkClusterSize(ctx, i, *pc.ClusterSize)
	}
	return "", nil
}

// preconditionHolds accepts an expression already evaluated from ${...} or one written without it.
func preconditionHolds(v any, env pipeline.ExprEnv) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return pipeline.EvaluateCondition(x, env)
	case nil:
		return false, errors.New("no expression")
	}
	return false, fmt.Errorf("expression evaluated to %v, not a boolean", v)
}

// runEvaluateVariables exposes each variable's evaluated value as an output of the stage.
func runEvaluateVariables(_ workflow.Context, _ *interpreter, _ *stageRun, s pipeline.EvaluateVariablesStage) (map[string]any, error) {
	outputs := make(map[string]any, len(s.Variables))
	for _, v := range s.Variables {
		outputs[v.Key] = v.Value
	}
	return outputs, nil
}

// runPipelineStage starts another saved pipeline as a child workflow and, by default, waits for it.
func runPipelineStage(ctx workflow.Context, r *interpreter, st *stageRun, s pipeline.PipelineStage) (map[string]any, error) {
	app, target, wait, given := s.Application, s.Pipeline, s.WaitForCompletion, s.Parameters

	var loaded activities.LoadPipelineResult
	loadCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var pipelines *activities.Pipelines
	if err := workflow.ExecuteActivity(loadCtx, pipelines.LoadPipeline, activities.LoadPipelineInput{Application: app, Pipeline: target}).Get(ctx, &loaded); err != nil {
		return nil, err
	}
	if loaded.Pipeline.Disabled {
		return nil, failf("pipeline %q of application %q is disabled", loaded.Pipeline.Name, app)
	}
	params, problems := pipeline.ResolveParameters(loaded.Pipeline.ParameterConfig, given)
	if len(problems) > 0 {
		return nil, failf("parameters for pipeline %q: %s", loaded.Pipeline.Name, strings.Join(pipeline.ProblemStrings(problems), "; "))
	}

	var childID string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return ulid.Make().String() }).Get(&childID); err != nil {
		return nil, err
	}
	policy := enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL
	if !wait {
		policy = enums.PARENT_CLOSE_POLICY_ABANDON
	}
	child := PipelineInput{
		Pipeline:        loaded.Pipeline,
		PipelineVersion: loaded.Version,
		BuildTime:       r.now(),
		Trigger: pipeline.TriggerInfo{
			Type:              "pipeline",
			User:              r.exec.Trigger.User,
			Parameters:        params,
			ParentExecutionID: r.exec.ID,
			ParentStageRefID:  st.cfg.RefID,
			// The child sees the artifacts this execution was started with, as in Spinnaker.
			Artifacts: slices.Clone(r.exec.Trigger.Artifacts),
		},
	}
	// Its expected artifacts are bound now when they all can be; otherwise each is resolved when
	// a stage of the child uses it, and that stage says which is missing.
	if expected, err := loaded.Pipeline.ExpectedArtifacts(); err == nil && len(expected) > 0 {
		var prior []pipeline.Artifact
		if pipeline.NeedsPriorArtifacts(expected, child.Trigger.Artifacts) {
			past, err := pastExecutionArtifacts(ctx, activities.ExecutionArtifactsInput{Application: loaded.Pipeline.Application, Pipeline: loaded.Pipeline.Name})
			if err != nil {
				return nil, err
			}
			prior = past.Artifacts
		}
		if resolved, artifacts, problems := pipeline.ResolveExpectedArtifacts(expected, child.Trigger.Artifacts, prior); len(problems) == 0 {
			child.Trigger.ResolvedExpectedArtifacts, child.Trigger.Artifacts = resolved, artifacts
		}
	}
	childCtx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            childID,
		TaskQueue:             workflow.GetInfo(ctx).TaskQueueName,
		ParentClosePolicy:     policy,
		WaitForCancellation:   wait,
		TypedSearchAttributes: StartAttributes(loaded.Pipeline, "pipeline"),
	})
	future := workflow.ExecuteChildWorkflow(childCtx, Pipeline, child)
	if err := future.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return nil, failf("could not start pipeline %q: %v", loaded.Pipeline.Name, err)
	}
	outputs := map[string]any{"executionId": childID, "executionName": loaded.Pipeline.Name, "application": app}
	if !wait {
		return outputs, nil
	}
	var result PipelineResult
	err := future.Get(ctx, &result)
	if err == nil {
		outputs["status"] = string(pipeline.StatusSucceeded)
		return outputs, nil
	}
	if ctx.Err() != nil {
		return outputs, err
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		outputs["status"] = childStatus(appErr.Type())
		return outputs, failf("pipeline %q (execution %s) failed: %s", loaded.Pipeline.Name, childID, appErr.Message())
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		outputs["status"] = string(pipeline.StatusCanceled)
		return outputs, failf("pipeline %q (execution %s) was canceled", loaded.Pipeline.Name, childID)
	}
	return outputs, failf("pipeline %q (execution %s) failed: %v", loaded.Pipeline.Name, childID, err)
}

func childStatus(errType string) string {
	if errType == ErrTypeCanceled {
		return string(pipeline.StatusCanceled)
	}
	return string(pipeline.StatusTerminal)
}

// StartAttributes are the search attributes an execution of p starts with.
func StartAttributes(p pipeline.Pipeline, triggerType string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		AttrApplication.ValueSet(p.Application),
		AttrPipeline.ValueSet(p.Name),
		AttrStatus.ValueSet(string(pipeline.StatusNotStarted)),
		AttrTriggerType.ValueSet(triggerType),
	)
}
