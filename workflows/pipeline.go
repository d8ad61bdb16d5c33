// Package workflows holds gennaker's Temporal workflow code: the pipeline interpreter that runs a
// pipeline's stage graph durably, one workflow per execution.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/pipeline"
)

// Error types a failed execution reports, so a parent pipeline or the API can tell outcomes apart.
const (
	ErrTypeTerminal = "PipelineTerminal"
	ErrTypeCanceled = "PipelineCanceled"
)

// Pipeline runs one execution of a pipeline: it walks the stage graph, starting each stage once all
// the stages it requires are complete, and applies Spinnaker's failure rules. A succeeded execution
// returns its final view; a failed or canceled one returns an error whose message says why.
func Pipeline(ctx workflow.Context, in PipelineInput) (PipelineResult, error) {
	r := newInterpreter(ctx, in)
	if err := r.setup(); err != nil {
		return PipelineResult{}, err
	}
	if r.queued {
		if !r.waitForTurn() {
			return r.finish()
		}
		r.begin()
	}
	r.run()
	return r.finish()
}

// interpreter is the state of one execution while it runs.
type interpreter struct {
	ctx    workflow.Context
	in     PipelineInput
	exec   pipeline.Execution
	stages map[string]*stageRun

	// stagesCtx is the parent of every stage. It is disconnected from the workflow's context and
	// never cancelled itself: the SDK cancels a context's children in map order, so the cancel
	// commands of parallel stages would come out in a different order on replay. cancelStages
	// cancels them one by one in config order instead.
	stagesCtx workflow.Context

	done      workflow.Channel
	published string // the status search attribute value last written
	running   int
	halted    bool // a TERMINAL stage halted the pipeline
	cancelled bool
	// grants holds the tokens of the cluster locks granted to this execution's stages.
	grants map[string]bool
	// notifier sends notifications and publishes status changes.
	notifier *notifier
	// queued is set when the execution must wait for its turn before it runs (limitConcurrent);
	// turn is its place in the pipeline's queue.
	queued bool
	turn   *queueTurn
	// pipelineIDs are the ids of the application's pipelines by name, for #pipelineId; read when
	// the execution starts, and only when its pipeline uses #pipelineId.
	pipelineIDs map[string]string
}

// stageRun is one stage of the running execution.
type stageRun struct {
	cfg       pipeline.Stage
	view      *pipeline.StageExecution
	judgments workflow.Channel // JudgmentSignal, delivered only while the stage waits for one
	// taken is the judgment handed to the stage and not yet recorded in its view, so that a second
	// one arriving meanwhile is told who decided.
	taken   *JudgmentSignal
	skips   workflow.Channel // SkipSignal, delivered only while the stage waits
	waiting waitKind
	cancel  workflow.CancelFunc // set when the stage starts
	// timedOut is set when the stage's stageTimeoutMs ran out, before the stage is cancelled, so
	// that it can tell a timeout from a cancellation and still clean up.
	timedOut bool
}

// waitKind says what a running stage is waiting for, so signals reach only a stage that expects them.
type waitKind int

const (
	waitingForNothing waitKind = iota
	waitingForJudgment
	waitingForTimer
	waitingForWindow
)

func newInterpreter(ctx workflow.Context, in PipelineInput) *interpreter {
	info := workflow.GetInfo(ctx)
	p := in.Pipeline
	exec := pipeline.Execution{
		ID:               info.WorkflowExecution.ID,
		Type:             "PIPELINE",
		Application:      p.Application,
		Name:             p.Name,
		PipelineConfigID: p.ID,
		PipelineVersion:  in.PipelineVersion,
		Status:           pipeline.StatusNotStarted,
		BuildTime:        in.BuildTime,
		Trigger:          in.Trigger,
		Stages:           make([]pipeline.StageExecution, len(p.Stages)),
	}
	if exec.Trigger.Parameters == nil {
		exec.Trigger.Parameters = map[string]any{}
	}
	r := &interpreter{ctx: ctx, in: in, stages: map[string]*stageRun{}, grants: map[string]bool{}}
	for i, s := range p.Stages {
		exec.Stages[i] = pipeline.StageExecution{
			ID:                   exec.ID + "-" + s.RefID,
			RefID:                s.RefID,
			Type:                 s.Type,
			Name:                 s.DisplayName(),
			RequisiteStageRefIDs: s.RequisiteStageRefIDs,
			Status:               pipeline.StatusNotStarted,
			Context:              s.Context,
		}
	}
	r.exec = exec
	for i, s := range p.Stages {
		r.stages[s.RefID] = &stageRun{
			cfg:       s,
			view:      &r.exec.Stages[i],
			judgments: workflow.NewBufferedChannel(ctx, 1),
			skips:     workflow.NewBufferedChannel(ctx, 1),
		}
	}
	return r
}

// setup registers the query handler and marks the execution running.
func (r *interpreter) setup() error {
	if err := workflow.SetQueryHandler(r.ctx, QueryExecution, func() (pipeline.Execution, error) {
		return r.exec, nil
	}); err != nil {
		return fmt.Errorf("registering the execution query: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, UpdateJudgment, r.takeJudgment,
		workflow.UpdateHandlerOptions{Validator: r.checkJudgment}); err != nil {
		return fmt.Errorf("registering the judgment update: %w", err)
	}
	if err := r.loadPipelineIDs(); err != nil {
		return err
	}
	r.queued = r.usesQueue()
	if !r.queued {
		r.exec.StartTime = r.now()
		r.exec.Status = pipeline.StatusRunning
		r.publishStatus()
	}
	r.stagesCtx, _ = workflow.NewDisconnectedContext(r.ctx)
	r.done = workflow.NewChannel(r.ctx)
	r.setupNotifications()
	if !r.queued {
		r.notifier.executionChanged()
	}
	return nil
}

// begin marks a queued execution running once its turn has come.
func (r *interpreter) begin() {
	r.exec.StartTime = r.now()
	r.exec.Status = pipeline.StatusRunning
	r.publishStatus()
	r.notifier.executionChanged()
}

// run starts every ready stage and reacts to completions and signals until nothing runs any more.
func (r *interpreter) run() {
	judgments := workflow.GetSignalChannel(r.ctx, SignalJudgment)
	skips := workflow.GetSignalChannel(r.ctx, SignalSkipWait)
	cancels := workflow.GetSignalChannel(r.ctx, SignalCancel)
	grants := workflow.GetSignalChannel(r.ctx, activities.SignalLockGranted)
	temporalCancelSeen := false

	r.startReadyStages()
	for r.running > 0 {
		sel := workflow.NewSelector(r.ctx)
		sel.AddReceive(r.done, func(c workflow.ReceiveChannel, _ bool) {
			var refID string
			c.Receive(r.ctx, &refID)
			r.running--
			r.stageFinished(r.stages[refID])
		})
		sel.AddReceive(judgments, func(c workflow.ReceiveChannel, _ bool) {
			var sig JudgmentSignal
			c.Receive(r.ctx, &sig)
			r.deliverJudgment(sig)
		})
		sel.AddReceive(skips, func(c workflow.ReceiveChannel, _ bool) {
			var sig SkipSignal
			c.Receive(r.ctx, &sig)
			r.deliverSkip(sig)
		})
		sel.AddReceive(grants, func(c workflow.ReceiveChannel, _ bool) {
			var g activities.LockGrant
			c.Receive(r.ctx, &g)
			r.grants[g.Token] = true
		})
		sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
			var sig CancelSignal
			c.Receive(r.ctx, &sig)
			r.cancel(sig)
		})
		if !temporalCancelSeen {
			sel.AddReceive(r.ctx.Done(), func(workflow.ReceiveChannel, bool) {
				temporalCancelSeen = true
				// A cancel request through the API is preceded by a signal saying who and why.
				var sig CancelSignal
				if !cancels.ReceiveAsync(&sig) {
					sig = CancelSignal{Reason: "the workflow was cancelled in Temporal"}
				}
				r.cancel(sig)
			})
		}
		sel.Select(r.ctx)
	}
	// Signals that arrived after the last stage finished are recorded, not lost.
	r.drainLateSignals(judgments, skips)
}

// startReadyStages starts each stage whose requisite stages are all complete and let it proceed.
func (r *interpreter) startReadyStages() {
	if r.halted || r.cancelled {
		return
	}
	for _, s := range r.in.Pipeline.Stages {
		st := r.stages[s.RefID]
		if st.view.Status != pipeline.StatusNotStarted || !r.requisitesDone(st) {
			continue
		}
		st.view.Status = pipeline.StatusRunning
		st.view.StartTime = r.now()
		r.notifier.stageChanged(st)
		r.running++
		var stageCtx workflow.Context
		stageCtx, st.cancel = workflow.WithCancel(r.stagesCtx)
		workflow.Go(stageCtx, func(ctx workflow.Context) {
			r.runStage(ctx, st)
			r.done.Send(ctx, st.cfg.RefID)
		})
	}
}

// requisitesDone reports whether every requisite stage finished in a status that lets this one run.
func (r *interpreter) requisitesDone(st *stageRun) bool {
	for _, ref := range st.cfg.RequisiteStageRefIDs {
		up, ok := r.stages[ref]
		if !ok || !up.view.Status.LetsDownstreamRun() {
			return false
		}
	}
	return true
}

// stageFinished applies the pipeline-level consequence of a stage's final status.
func (r *interpreter) stageFinished(st *stageRun) {
	if st.view.Status == pipeline.StatusTerminal && !st.cfg.CompleteOtherBranchesThenFail && !r.halted && !r.cancelled {
		// TERMINAL halts the pipeline: running branches are cancelled and nothing new starts.
		r.halted = true
		r.cancelStages()
	}
	r.startReadyStages()
}

// cancelStages cancels every running stage, in config order so that replay issues the same commands.
func (r *interpreter) cancelStages() {
	for _, s := range r.in.Pipeline.Stages {
		if st := r.stages[s.RefID]; st.cancel != nil && st.view.Status == pipeline.StatusRunning {
			st.cancel()
		}
	}
}

// cancel stops the execution at a person's request.
func (r *interpreter) cancel(sig CancelSignal) {
	if r.cancelled {
		return
	}
	r.cancelled = true
	r.exec.Canceled = true
	r.exec.CanceledBy = sig.User
	if r.exec.CanceledBy == "" {
		r.exec.CanceledBy = "anonymous"
	}
	r.exec.CancellationReason = sig.Reason
	r.cancelStages()
}

// deliverJudgment hands a judgment to the stage waiting for it, or records why it was refused.
func (r *interpreter) deliverJudgment(sig JudgmentSignal) {
	st, ok := r.stages[sig.RefID]
	switch {
	case !ok:
		r.note(fmt.Sprintf("judgment %q by %s ignored: no stage with refId %q", sig.Status, userOrAnonymous(sig.User), sig.RefID))
	case st.waiting != waitingForJudgment:
		r.note(fmt.Sprintf("judgment %q by %s ignored: stage %q is not waiting for a judgment (status %s)", sig.Status, userOrAnonymous(sig.User), st.view.Name, st.view.Status))
	default:
		st.waiting = waitingForNothing
		st.taken = &sig
		st.judgments.SendAsync(sig)
	}
}

// checkJudgment refuses a judgment update the stage cannot take, before it is written to the
// history: a stage already decided (or being decided), not waiting, or requiring a role the judge
// lacks. Updates are checked one after the other against the execution's state, so of two people
// deciding at once, one is told the other did.
func (r *interpreter) checkJudgment(u JudgmentUpdate) error {
	refuse := func(errType, format string, args ...any) error {
		return temporal.NewApplicationError(fmt.Sprintf(format, args...), errType)
	}
	st, ok := r.stages[u.RefID]
	switch {
	case !ok:
		return refuse(ErrTypeJudgmentInvalid, "execution %s has no stage with refId %q", r.exec.ID, u.RefID)
	case st.cfg.Type != pipeline.StageManualJudgment:
		return refuse(ErrTypeJudgmentInvalid, "stage %q is a %s stage, not a manual judgment", st.view.Name, st.cfg.Type)
	case u.Status != pipeline.JudgmentContinue && u.Status != pipeline.JudgmentStop:
		return refuse(ErrTypeJudgmentInvalid, "judgmentStatus must be %q or %q, got %q", pipeline.JudgmentContinue, pipeline.JudgmentStop, u.Status)
	case st.view.Judgment != nil:
		j := st.view.Judgment
		return refuse(ErrTypeJudgmentDecided, "stage %q was already decided by %s: %s", st.view.Name, j.User, j.Status)
	case st.taken != nil:
		return refuse(ErrTypeJudgmentDecided, "stage %q was already decided by %s: %s", st.view.Name, userOrAnonymous(st.taken.User), st.taken.Status)
	case st.waiting != waitingForJudgment:
		return refuse(ErrTypeJudgmentNotWaiting, "stage %q is not waiting for a judgment (status %s)", st.view.Name, st.view.Status)
	}
	settings, problems := pipeline.ReadManualJudgmentStage(st.view.Context, "")
	if len(problems) > 0 {
		return refuse(ErrTypeJudgmentNotAllowed, "stage %q cannot be decided: its settings cannot be read: %s", st.view.Name,
			strings.Join(pipeline.ProblemStrings(problems), "; "))
	}
	if u.Input != "" && len(settings.Inputs) > 0 && !slices.Contains(settings.Inputs, u.Input) {
		return refuse(ErrTypeJudgmentInvalid, "judgmentInput %q is not one of the stage's judgmentInputs %v", u.Input, settings.Inputs)
	}
	if len(settings.Roles) > 0 && !slices.ContainsFunc(u.Roles, func(have string) bool {
		return slices.ContainsFunc(settings.Roles, func(need string) bool { return strings.EqualFold(strings.TrimSpace(have), need) })
	}) {
		return refuse(ErrTypeJudgmentNotAllowed, "%s may not decide stage %q: it requires one of the roles %s", userOrAnonymous(u.User), st.view.Name,
			strings.Join(settings.Roles, ", "))
	}
	return nil
}

// takeJudgment hands a judgment update that checkJudgment let through to its stage.
func (r *interpreter) takeJudgment(ctx workflow.Context, u JudgmentUpdate) (JudgmentUpdateResult, error) {
	// Updates that arrive together are all checked before any is handed over, so the first one
	// handed over wins and the others, checked again here, are told who decided.
	if err := r.checkJudgment(u); err != nil {
		return JudgmentUpdateResult{}, err
	}
	r.deliverJudgment(u.JudgmentSignal)
	return JudgmentUpdateResult{RefID: u.RefID, Status: u.Status, Input: u.Input, User: userOrAnonymous(u.User), Time: r.now()}, nil
}

// deliverSkip ends the wait of a wait stage or of a stage held by its execution window.
func (r *interpreter) deliverSkip(sig SkipSignal) {
	st, ok := r.stages[sig.RefID]
	switch {
	case !ok:
		r.note(fmt.Sprintf("skip by %s ignored: no stage with refId %q", userOrAnonymous(sig.User), sig.RefID))
	case st.waiting != waitingForTimer && st.waiting != waitingForWindow:
		r.note(fmt.Sprintf("skip by %s ignored: stage %q is not waiting (status %s)", userOrAnonymous(sig.User), st.view.Name, st.view.Status))
	default:
		st.waiting = waitingForNothing
		st.skips.SendAsync(sig)
	}
}

// drainLateSignals records signals that no stage could take any more.
func (r *interpreter) drainLateSignals(judgments, skips workflow.ReceiveChannel) {
	var j JudgmentSignal
	for judgments.ReceiveAsync(&j) {
		r.deliverJudgment(j)
	}
	var s SkipSignal
	for skips.ReceiveAsync(&s) {
		r.deliverSkip(s)
	}
}

// finish decides the execution's final status with Spinnaker's rules and returns the result.
func (r *interpreter) finish() (PipelineResult, error) {
	// The place in the queue goes to the next execution before anything else is done.
	r.leaveQueue()
	r.exec.Status = r.finalStatus()
	r.exec.EndTime = r.now()
	// The context may be cancelled; the last status must still be published.
	disconnected, _ := workflow.NewDisconnectedContext(r.ctx)
	r.publishStatusIn(disconnected)
	r.notifier.executionChanged()
	r.notifier.fireDownstream()
	r.notifier.drain()
	result := PipelineResult{Execution: r.exec}
	switch r.exec.Status {
	case pipeline.StatusSucceeded:
		return result, nil
	case pipeline.StatusCanceled:
		if r.ctx.Err() != nil {
			return result, temporal.NewCanceledError(r.exec.CancellationReason)
		}
		return result, temporal.NewNonRetryableApplicationError(r.failureSummary(), ErrTypeCanceled, nil)
	default:
		return result, temporal.NewNonRetryableApplicationError(r.failureSummary(), ErrTypeTerminal, nil)
	}
}

// finalStatus follows Orca: a TERMINAL stage fails the execution, cancellation wins over success,
// a branch halted with failPipeline=false does not fail the execution on its own.
func (r *interpreter) finalStatus() pipeline.Status {
	if r.cancelled {
		return pipeline.StatusCanceled
	}
	for _, s := range r.exec.Stages {
		if s.Status == pipeline.StatusTerminal {
			return pipeline.StatusTerminal
		}
	}
	for _, s := range r.exec.Stages {
		if s.Status == pipeline.StatusCanceled {
			return pipeline.StatusCanceled
		}
	}
	return pipeline.StatusSucceeded
}

// failureSummary says in words why the execution did not succeed.
func (r *interpreter) failureSummary() string {
	if r.cancelled {
		msg := "execution canceled by " + r.exec.CanceledBy
		if r.exec.CancellationReason != "" {
			msg += ": " + r.exec.CancellationReason
		}
		return msg
	}
	var parts []string
	for _, s := range r.exec.Stages {
		if s.Status == pipeline.StatusTerminal || s.Status == pipeline.StatusCanceled {
			parts = append(parts, fmt.Sprintf("stage %q %s: %s", s.Name, s.Status, s.Error))
		}
	}
	return "pipeline " + string(r.exec.Status) + ": " + strings.Join(parts, "; ")
}

// publishStatus updates the status search attribute so listings see the execution's state.
func (r *interpreter) publishStatus() { r.publishStatusIn(r.ctx) }

func (r *interpreter) publishStatusIn(ctx workflow.Context) {
	status := string(r.exec.Status)
	switch {
	case r.exec.Status == pipeline.StatusRunning && r.awaitingJudgment():
		status = pipeline.StatusAwaitingJudgment
	case r.exec.Status == pipeline.StatusNotStarted && r.exec.WaitingFor != "":
		status = pipeline.StatusQueued
	}
	if status == r.published {
		// Each upsert is a command in the history; writing an unchanged value would only grow it.
		return
	}
	r.published = status
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(status)); err != nil {
		workflow.GetLogger(ctx).Warn("could not update the status search attribute", "error", err)
	}
}

func (r *interpreter) awaitingJudgment() bool {
	for _, st := range r.stages {
		if st.waiting == waitingForJudgment {
			return true
		}
	}
	return false
}

// note records a problem that is not one stage's failure, such as a refused signal.
func (r *interpreter) note(msg string) {
	workflow.GetLogger(r.ctx).Warn(msg)
	const maxNotes = 50 // bounded, so a flood of bad signals cannot grow the execution without end
	if len(r.exec.Errors) < maxNotes {
		r.exec.Errors = append(r.exec.Errors, msg)
	}
}

func (r *interpreter) now() int64 { return workflow.Now(r.ctx).UnixMilli() }

func (r *interpreter) exprEnv() pipeline.ExprEnv {
	return pipeline.ExprEnv{Execution: &r.exec, Trigger: r.exec.Trigger, PipelineIDs: r.pipelineIDs}
}

// loadPipelineIDs reads the ids of the application's pipelines when the pipeline's expressions use
// #pipelineId. Executions of pipelines that do not, which include every one started before
// #pipelineId existed, read nothing.
func (r *interpreter) loadPipelineIDs() error {
	if !pipeline.UsesHelper(r.in.Pipeline, "pipelineId") {
		return nil
	}
	ctx := workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var pipelines *activities.Pipelines
	var res activities.PipelineIDsResult
	if err := workflow.ExecuteActivity(ctx, pipelines.PipelineIDs, activities.PipelineIDsInput{Application: r.in.Pipeline.Application}).Get(ctx, &res); err != nil {
		// The stages that use it say so when they evaluate it; the execution still runs.
		r.note("the application's pipeline ids could not be read for #pipelineId: " + describeError(err))
		return nil
	}
	r.pipelineIDs = res.IDs
	return nil
}

// stageEnv is the expression environment of one stage: as in Spinnaker, the outputs of the stages
// it depends on, directly or not, can be read by name (${myVariable}).
func (r *interpreter) stageEnv(st *stageRun) pipeline.ExprEnv {
	env := r.exprEnv()
	env.Stage = st.view
	ancestors := r.ancestors(st)
	vars := map[string]any{}
	// In config order, so that when two ancestors set the same name the result is the same on replay.
	for _, s := range r.in.Pipeline.Stages {
		if !ancestors[s.RefID] {
			continue
		}
		for k, v := range r.stages[s.RefID].view.Outputs {
			vars[k] = v
		}
	}
	env.Variables = vars
	return env
}

// runStage takes one stage from RUNNING to a final status.
func (r *interpreter) runStage(ctx workflow.Context, st *stageRun) {
	outputs, err := r.executeStage(ctx, st)
	if err == nil {
		outputs, err = bindProducedArtifacts(st, outputs)
	}
	st.waiting = waitingForNothing
	st.view.EndTime = r.now()
	if len(outputs) > 0 {
		st.view.Outputs = outputs
	}
	switch {
	case err == nil:
		if st.view.Status == pipeline.StatusRunning {
			st.view.Status = pipeline.StatusSucceeded
		}
	case errors.Is(err, errSkipped):
		st.view.Status = pipeline.StatusSkipped
	case ctx.Err() != nil || temporal.IsCanceledError(err):
		st.view.Status = pipeline.StatusCanceled
		if r.halted && !r.cancelled {
			st.view.Error = "canceled because another stage failed the pipeline"
		} else {
			st.view.Error = "canceled"
		}
	default:
		st.view.Error = describeError(err)
		st.view.Status = failureStatus(st.cfg, err)
	}
	if st.view.Status != pipeline.StatusRunning {
		r.publishStatus()
	}
	r.notifier.stageEnded(st)
}

// failureStatus maps a stage failure to a status with Spinnaker's options.
func failureStatus(s pipeline.Stage, err error) pipeline.Status {
	var soft *softFailure
	switch {
	case errors.As(err, &soft):
		return pipeline.StatusFailedContinue
	case s.ContinuePipeline:
		return pipeline.StatusFailedContinue
	case s.CompleteOtherBranchesThenFail:
		return pipeline.StatusTerminal
	case !s.FailsPipeline():
		return pipeline.StatusStopped
	}
	return pipeline.StatusTerminal
}

// errSkipped marks a stage that did not run because its stageEnabled expression was false.
var errSkipped = errors.New("stage skipped")

// softFailure is a failure that lets the pipeline continue, such as a precondition with failPipeline false.
type softFailure struct{ msg string }

func (e *softFailure) Error() string { return e.msg }

// stageFailure is a failure described in words for the person reading the execution.
type stageFailure struct{ msg string }

func (e *stageFailure) Error() string { return e.msg }

func failf(format string, args ...any) error { return &stageFailure{msg: fmt.Sprintf(format, args...)} }

// describeError turns an activity or child workflow error into the words a person needs.
func describeError(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "timed out (" + strings.ToLower(strings.TrimPrefix(timeoutErr.TimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	return err.Error()
}

// executeStage runs the common steps (enabled check, window, expressions, timeout) and the stage type.
func (r *interpreter) executeStage(ctx workflow.Context, st *stageRun) (map[string]any, error) {
	cfg := st.cfg
	if cfg.StageEnabled != nil && cfg.StageEnabled.Expression != "" {
		enabled, err := pipeline.EvaluateCondition(cfg.StageEnabled.Expression, r.stageEnv(st))
		if err != nil {
			return nil, failf("stageEnabled expression %q could not be evaluated: %v", cfg.StageEnabled.Expression, err)
		}
		if !enabled {
			return nil, errSkipped
		}
	}
	windowSkippedBy := ""
	if cfg.RestrictExecutionDuringTimeWindow && cfg.RestrictedExecutionWindow != nil {
		by, err := r.waitForWindow(ctx, st)
		if err != nil {
			return nil, err
		}
		windowSkippedBy = by
	}
	r.notifier.stageStarting(st)

	stageCtx := cfg.Context
	if !cfg.SkipsExpressionEvaluation() {
		// Notifications are evaluated when they are sent, when what they speak of is known.
		evaluated, problems := pipeline.EvaluateContext(cfg.Context, r.stageEnv(st), "stageEnabled", "requisiteStageRefIds", "refId", "type", "notifications")
		stageCtx = evaluated
		if len(problems) > 0 {
			st.view.ExpressionErrors = map[string]string{}
			var lines []string
			for _, p := range problems {
				st.view.ExpressionErrors[p.Expression] = p.Reason
				lines = append(lines, fmt.Sprintf("%s: %s: %s", p.Path, p.Expression, p.Reason))
			}
			if cfg.FailOnFailedExpressions {
				return nil, failf("failed expressions: %s", strings.Join(lines, "; "))
			}
		}
	}
	st.view.Context = stageCtx
	if windowSkippedBy != "" {
		// Recorded after the context is evaluated, which would otherwise replace it.
		st.view.Context = withKey(stageCtx, "skipRemainingWindowBy", windowSkippedBy)
	}

	runner, err := runnerFor(cfg.Type, stageCtx)
	if err != nil {
		return nil, err
	}
	limit := stageTimeout(cfg)
	if limit == 0 {
		return runner(ctx, r, st, stageCtx)
	}
	return r.withTimeout(ctx, st, stageCtx, runner, limit)
}

// withTimeout runs a stage and fails it when it runs longer than its stageTimeoutMs.
func (r *interpreter) withTimeout(ctx workflow.Context, st *stageRun, stageCtx map[string]any, runner stageRunner, limit time.Duration) (map[string]any, error) {
	// The stage and its timer hang off a disconnected context and are cancelled here, one after the
	// other: as siblings under ctx the SDK would cancel them in map order, which differs on replay,
	// and the timer's cancellation could end the wait before the stage did.
	detached, _ := workflow.NewDisconnectedContext(ctx)
	runCtx, cancelRun := workflow.WithCancel(detached)
	defer cancelRun()
	var outputs map[string]any
	var runErr error
	finished := false
	workflow.Go(runCtx, func(c workflow.Context) {
		outputs, runErr = runner(c, r, st, stageCtx)
		finished = true
	})
	timerCtx, cancelTimer := workflow.WithCancel(detached)
	defer cancelTimer()
	timer := workflow.NewTimer(timerCtx, limit)
	_ = workflow.Await(detached, func() bool { return finished || timer.IsReady() || ctx.Err() != nil })
	if finished {
		return outputs, runErr
	}
	timedOut := ctx.Err() == nil
	st.timedOut = timedOut
	cancelTimer()
	cancelRun()
	// Let the stage observe its cancellation (activities stop via heartbeat) before reporting.
	_ = workflow.Await(detached, func() bool { return finished })
	if timedOut {
		msg := fmt.Sprintf("stage timed out after %s (stageTimeoutMs %d)", limit, st.cfg.StageTimeoutMs)
		// What the stage did about it, such as a rollback, is part of the story.
		var f *stageFailure
		if errors.As(runErr, &f) {
			msg += "; " + f.msg
		}
		return outputs, failf("%s", msg)
	}
	return outputs, runErr
}

// waitForWindow holds a stage until its execution window opens, on a durable timer; it returns who
// skipped the wait, if someone did.
func (r *interpreter) waitForWindow(ctx workflow.Context, st *stageRun) (string, error) {
	now := workflow.Now(ctx)
	openAt, openNow, err := st.cfg.RestrictedExecutionWindow.Next(now)
	if err != nil {
		return "", failf("execution window: %v", err)
	}
	if openNow {
		return "", nil
	}
	st.view.WaitingForWindowUntil = openAt.UnixMilli()
	st.waiting = waitingForWindow
	defer func() { st.view.WaitingForWindowUntil = 0 }()
	skipped, err := r.sleepOrSkip(ctx, st, openAt.Sub(now))
	if err != nil {
		return "", err
	}
	if skipped != nil {
		return userOrAnonymous(skipped.User), nil
	}
	return "", nil
}

// sleepOrSkip waits for d unless a skip signal arrives first; it returns the skip when one did.
func (r *interpreter) sleepOrSkip(ctx workflow.Context, st *stageRun, d time.Duration) (*SkipSignal, error) {
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	timer := workflow.NewTimer(timerCtx, d)
	var skip *SkipSignal
	var timerErr error
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(timer, func(f workflow.Future) { timerErr = f.Get(ctx, nil) })
	sel.AddReceive(st.skips, func(c workflow.ReceiveChannel, _ bool) {
		var sig SkipSignal
		c.Receive(ctx, &sig)
		skip = &sig
	})
	sel.Select(ctx)
	st.waiting = waitingForNothing
	if skip != nil {
		return skip, nil
	}
	if timerErr != nil {
		return nil, timerErr
	}
	return nil, ctx.Err()
}

func withKey(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

func userOrAnonymous(u string) string {
	if u == "" {
		return "anonymous"
	}
	return u
}
