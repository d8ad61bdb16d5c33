package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/access"
	"github.com/gennaker/gennaker/launch"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/workflows"
)

// startRequest is the body of a manual start.
type startRequest struct {
	Parameters map[string]any      `json:"parameters"`
	User       string              `json:"user"`
	Artifacts  []pipeline.Artifact `json:"artifacts"`
	// Rebake makes every bake of the execution bake again, as Spinnaker's trigger.rebake.
	Rebake bool `json:"rebake"`
}

// bindJSON reads an optional JSON body into v, answering 400 or 413 itself when it cannot.
func bindJSON(c *gin.Context, v any) bool {
	body, ok := readBody(c)
	if !ok {
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return true
	}
	if err := decodeStrict(body, v); err != nil {
		abort(c, http.StatusBadRequest, "the request body is not valid: "+err.Error())
		return false
	}
	return true
}

func (s *Server) links(id string) gin.H {
	l := gin.H{"self": "/api/v1/executions/" + id}
	if s.WorkflowURL != nil {
		l["temporalUI"] = s.WorkflowURL(id)
	}
	return l
}

func (s *Server) startExecution(c *gin.Context) {
	var req startRequest
	if !bindJSON(c, &req) {
		return
	}
	started, err := s.Launcher.Start(c.Request.Context(), launch.Request{
		Application: c.Param("app"),
		Pipeline:    c.Param("name"),
		Trigger:     pipeline.TriggerInfo{Type: "manual", User: userOf(c, req.User), Parameters: req.Parameters, Artifacts: req.Artifacts, Rebake: req.Rebake},
	})
	var paramErr *launch.ParameterError
	var artifactErr *launch.ArtifactError
	switch {
	case errors.Is(err, launch.ErrPipelineNotFound):
		abort(c, http.StatusNotFound, fmt.Sprintf("no pipeline %q in application %q", c.Param("name"), c.Param("app")))
		return
	case errors.Is(err, launch.ErrPipelineDisabled):
		abort(c, http.StatusConflict, fmt.Sprintf("pipeline %q is disabled; enable it to start it", c.Param("name")))
		return
	case errors.As(err, &paramErr):
		abort(c, http.StatusBadRequest, "the parameters are not valid for this pipeline", pipeline.ProblemStrings(paramErr.Problems)...)
		return
	case errors.As(err, &artifactErr):
		abort(c, http.StatusBadRequest, "the pipeline's expected artifacts cannot be bound to the artifacts given", pipeline.ProblemStrings(artifactErr.Problems)...)
		return
	case err != nil:
		s.unavailable(c, "starting the execution", err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{
		"id":              started.ExecutionID,
		"application":     started.Pipeline.Application,
		"name":            started.Pipeline.Name,
		"pipelineVersion": started.PipelineVersion,
		"links":           s.links(started.ExecutionID),
	})
}

// executionIDPattern admits the ULIDs gennaker assigns and other plain IDs; it keeps odd characters
// out of Temporal requests.
var executionIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`)

// Reasons an execution cannot be read, besides Temporal being unreachable.
var (
	errNotExecutionID = errors.New("not an execution id")
	errNoExecution    = errors.New("no such execution")
	errNotPipeline    = errors.New("not a pipeline execution")
	errUndecodable    = errors.New("the execution could not be decoded")
)

// readExecution reads the live view of an execution from its workflow; an error that is none of
// the named reasons means Temporal or a worker did not answer.
func (s *Server) readExecution(ctx context.Context, id string) (pipeline.Execution, error) {
	if !executionIDPattern.MatchString(id) {
		return pipeline.Execution{}, errNotExecutionID
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := s.Temporal.QueryWorkflow(ctx, id, "", workflows.QueryExecution)
	if err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return pipeline.Execution{}, errNoExecution
		}
		var queryFailed *serviceerror.QueryFailed
		if errors.As(err, &queryFailed) {
			return pipeline.Execution{}, fmt.Errorf("%w: %v", errNotPipeline, err)
		}
		return pipeline.Execution{}, err
	}
	var exec pipeline.Execution
	if err := resp.Get(&exec); err != nil {
		return pipeline.Execution{}, fmt.Errorf("%w: %v", errUndecodable, err)
	}
	return exec, nil
}

// queryExecution reads the execution the URL names, answering the error itself when it cannot.
func (s *Server) queryExecution(c *gin.Context) (pipeline.Execution, bool) {
	id := c.Param("id")
	exec, err := s.readExecution(c.Request.Context(), id)
	switch {
	case err == nil:
		return exec, true
	case errors.Is(err, errNotExecutionID):
		abort(c, http.StatusBadRequest, fmt.Sprintf("%q is not an execution id", id))
	case errors.Is(err, errNoExecution):
		abort(c, http.StatusNotFound, fmt.Sprintf("no execution %q", id))
	case errors.Is(err, errNotPipeline):
		abort(c, http.StatusNotFound, fmt.Sprintf("%q is not a pipeline execution: %v", id, err))
	case errors.Is(err, errUndecodable):
		s.internalError(c, "decoding the execution", err)
	default:
		s.unavailable(c, "reading the execution from Temporal (is a worker running?)", err)
	}
	return pipeline.Execution{}, false
}

func (s *Server) getExecution(c *gin.Context) {
	exec, ok := s.queryExecution(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, executionView{Execution: exec, Links: s.links(exec.ID)})
}

// executionView is an execution as the API answers it: Spinnaker's execution JSON, which Spinnaker's
// clients read as it is, with gennaker's links (the execution's page in the Temporal Web UI).
type executionView struct {
	pipeline.Execution
	Links gin.H `json:"links"`
}

// executionSummary is one row of an execution listing, read from Temporal's visibility store.
type executionSummary struct {
	ID          string `json:"id"`
	Application string `json:"application"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	TriggerType string `json:"triggerType,omitempty"`
	StartTime   int64  `json:"startTime,omitempty"`
	EndTime     int64  `json:"endTime,omitempty"`
	Links       gin.H  `json:"links"`
}

// filterValuePattern admits names in any script. Control characters, a backslash or a double quote,
// which Temporal's query language reads differently, are refused; a single quote is escaped.
var filterValuePattern = regexp.MustCompile(`^[^\x00-\x1f\x7f"\\]{1,200}$`)

func (s *Server) listExecutions(c *gin.Context) {
	clauses := []string{"WorkflowType = 'Pipeline'"}
	for _, f := range []struct{ param, attr string }{
		{"application", workflows.AttrApplication.GetName()},
		{"pipeline", workflows.AttrPipeline.GetName()},
	} {
		v := c.Query(f.param)
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) || !filterValuePattern.MatchString(v) {
			abort(c, http.StatusBadRequest, fmt.Sprintf("%s %q has characters that names cannot have", f.param, v))
			return
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", f.attr, strings.ReplaceAll(v, "'", "''")))
	}
	if status := c.Query("status"); status != "" {
		var values []string
		for _, st := range strings.Split(status, ",") {
			st = strings.ToUpper(strings.TrimSpace(st))
			if !validStatusFilter(st) {
				abort(c, http.StatusBadRequest, fmt.Sprintf("status %q is not one of %s", st, strings.Join(statusFilterValues(), ", ")))
				return
			}
			values = append(values, "'"+st+"'")
		}
		clauses = append(clauses, fmt.Sprintf("%s IN (%s)", workflows.AttrStatus.GetName(), strings.Join(values, ", ")))
	}
	pageSize := 50
	if v := c.Query("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			abort(c, http.StatusBadRequest, fmt.Sprintf("pageSize must be a whole number from 1 to 500, got %q", v))
			return
		}
		pageSize = n
	}
	query := strings.Join(clauses, " AND ")
	var token []byte
	if v := c.Query("pageToken"); v != "" {
		t, err := decodePageToken(query, v)
		if err != nil {
			abort(c, http.StatusBadRequest, "pageToken is not one this API returned for these filters")
			return
		}
		token = t
	}
	resp, err := s.Temporal.ListWorkflow(c.Request.Context(), &workflowservice.ListWorkflowExecutionsRequest{
		Namespace:     s.Namespace,
		PageSize:      int32(pageSize),
		NextPageToken: token,
		Query:         query,
	})
	if err != nil {
		var invalid *serviceerror.InvalidArgument
		if errors.As(err, &invalid) {
			abort(c, http.StatusBadRequest, "the listing filter was refused: "+err.Error())
			return
		}
		s.unavailable(c, "listing executions from Temporal", err)
		return
	}
	items := make([]executionSummary, 0, len(resp.Executions))
	dc := converter.GetDefaultDataConverter()
	for _, e := range resp.Executions {
		item := executionSummary{ID: e.GetExecution().GetWorkflowId(), Links: s.links(e.GetExecution().GetWorkflowId())}
		if t := e.GetStartTime(); t != nil {
			item.StartTime = t.AsTime().UnixMilli()
		}
		if t := e.GetCloseTime(); t != nil {
			item.EndTime = t.AsTime().UnixMilli()
		}
		fields := e.GetSearchAttributes().GetIndexedFields()
		read := func(name string) string {
			var v string
			if p, ok := fields[name]; ok {
				_ = dc.FromPayload(p, &v)
			}
			return v
		}
		item.Application = read(workflows.AttrApplication.GetName())
		item.Name = read(workflows.AttrPipeline.GetName())
		item.Status = read(workflows.AttrStatus.GetName())
		item.TriggerType = read(workflows.AttrTriggerType.GetName())
		// A workflow that ended without publishing its status (terminated, timed out) still shows how it ended.
		if e.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_TERMINATED || e.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT {
			item.Status = string(pipeline.StatusTerminal)
		}
		items = append(items, item)
	}
	// Newest first within the page; the ULID ids sort by creation time.
	slices.SortStableFunc(items, func(a, b executionSummary) int { return strings.Compare(b.ID, a.ID) })
	out := gin.H{"executions": items}
	if len(resp.NextPageToken) > 0 {
		out["nextPageToken"] = encodePageToken(query, resp.NextPageToken)
	}
	c.JSON(http.StatusOK, out)
}

func validStatusFilter(s string) bool { return slices.Contains(statusFilterValues(), s) }

func statusFilterValues() []string {
	out := make([]string, 0, len(pipeline.Statuses)+1)
	for _, s := range pipeline.Statuses {
		out = append(out, string(s))
	}
	return append(out, pipeline.StatusAwaitingJudgment, pipeline.StatusQueued)
}

// cancelRequest says who cancels and why.
type cancelRequest struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// cancelExecution records who cancels and why with a signal, then asks Temporal to cancel the
// workflow, which cancels running activities through their heartbeats.
func (s *Server) cancelExecution(c *gin.Context) {
	var req cancelRequest
	if !bindJSON(c, &req) {
		return
	}
	exec, ok := s.queryExecution(c)
	if !ok {
		return
	}
	if exec.Status.Complete() {
		abort(c, http.StatusConflict, fmt.Sprintf("execution %s already ended %s", exec.ID, exec.Status))
		return
	}
	sig := workflows.CancelSignal{User: userOf(c, req.User), Reason: req.Reason}
	if err := s.Temporal.SignalWorkflow(c.Request.Context(), exec.ID, "", workflows.SignalCancel, sig); err != nil {
		s.signalError(c, exec.ID, err)
		return
	}
	if err := s.Temporal.CancelWorkflow(c.Request.Context(), exec.ID, ""); err != nil {
		s.signalError(c, exec.ID, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": exec.ID, "status": "canceling", "canceledBy": sig.User, "links": s.links(exec.ID)})
}

// judgmentRequest is Spinnaker's manual judgment body.
type judgmentRequest struct {
	JudgmentStatus string `json:"judgmentStatus"`
	JudgmentInput  string `json:"judgmentInput"`
	User           string `json:"user"`
}

// judge delivers a manual judgment after checking that the stage is waiting for one and that the
// caller may decide it, so a late, misdirected or unauthorised judgment is refused instead of lost.
func (s *Server) judge(c *gin.Context) {
	var req judgmentRequest
	if !bindJSON(c, &req) {
		return
	}
	a := judgmentAttempt{
		ExecutionID: c.Param("id"),
		RefID:       c.Param("refId"),
		Status:      req.JudgmentStatus,
		Input:       req.JudgmentInput,
		User:        userOf(c, req.User),
	}
	log := s.Logger.With("via", "api", "user", a.User, "execution", a.ExecutionID, "stage", a.RefID)
	res := s.makeJudgment(c.Request.Context(), log, a)
	a = res.Attempt
	switch res.Outcome {
	case judgmentDelivered:
		c.JSON(http.StatusAccepted, gin.H{"id": res.Exec.ID, "refId": res.Stage.RefID, "judgmentStatus": a.Status, "judgmentInput": a.Input, "user": a.User})
	case judgmentBadRequest:
		abort(c, http.StatusBadRequest, res.Reason)
	case judgmentNoExecution:
		if errors.Is(res.Err, errNotExecutionID) {
			abort(c, http.StatusBadRequest, fmt.Sprintf("%q is not an execution id", a.ExecutionID))
			return
		}
		abort(c, http.StatusNotFound, res.Reason)
	case judgmentNoStage:
		abort(c, http.StatusNotFound, res.Reason)
	case judgmentRefused:
		abort(c, http.StatusForbidden, res.Reason)
	case judgmentNotJudgment, judgmentDecided, judgmentNotWaiting:
		abort(c, http.StatusConflict, res.Reason)
	default:
		if errors.Is(res.Err, errUndecodable) {
			s.internalError(c, "decoding the execution", res.Err)
			return
		}
		s.unavailable(c, res.Reason, res.Err)
	}
}

// judgmentAttempt is a decision someone wants delivered to a manual judgment stage.
type judgmentAttempt struct {
	ExecutionID string
	RefID       string
	// Status is "continue" or "stop", in any case.
	Status string
	Input  string
	// User is who decides, as the role check and the execution record name them.
	User string
}

// judgmentOutcome is what became of a judgment attempt.
type judgmentOutcome int

const (
	// judgmentDelivered: the workflow has the signal; it may still lose to a concurrent judgment.
	judgmentDelivered judgmentOutcome = iota
	// judgmentBadRequest: the status or input is not one the stage takes.
	judgmentBadRequest
	judgmentNoExecution
	judgmentNoStage
	judgmentNotJudgment
	// judgmentDecided: the stage already has a judgment, in Stage.Judgment.
	judgmentDecided
	// judgmentNotWaiting: the stage is not running (see Stage.Status), or the workflow ended (Ended).
	judgmentNotWaiting
	// judgmentRefused: the user lacks the roles the stage requires; Err is the *access.Refusal.
	judgmentRefused
	// judgmentFailed: Temporal did not answer; Err says why, and trying again may work.
	judgmentFailed
)

// judgmentResult is the outcome with what the callers need to explain it.
type judgmentResult struct {
	Outcome judgmentOutcome
	// Attempt is the attempt as checked: its status in lower case.
	Attempt judgmentAttempt
	// Exec and Stage are set once they were found.
	Exec  pipeline.Execution
	Stage *pipeline.StageExecution
	// Ended says the workflow was gone when signalled, though the stage seemed to wait.
	Ended bool
	// Reason says in words why the judgment was not delivered.
	Reason string
	Err    error
}

// makeJudgment is the one way a manual judgment reaches a workflow, from the API and from Slack
// alike, so the checks and the role check cannot be gone around by choosing the other path. log
// already names who judges which stage; a refusal is logged with it.
func (s *Server) makeJudgment(ctx context.Context, log *slog.Logger, a judgmentAttempt) judgmentResult {
	a.Status = strings.ToLower(a.Status)
	res := judgmentResult{Attempt: a}
	fail := func(o judgmentOutcome, err error, format string, args ...any) judgmentResult {
		res.Outcome, res.Err, res.Reason = o, err, fmt.Sprintf(format, args...)
		return res
	}
	if a.Status != pipeline.JudgmentContinue && a.Status != pipeline.JudgmentStop {
		return fail(judgmentBadRequest, nil, "judgmentStatus must be %q or %q, got %q", pipeline.JudgmentContinue, pipeline.JudgmentStop, a.Status)
	}
	exec, err := s.readExecution(ctx, a.ExecutionID)
	switch {
	case errors.Is(err, errNotExecutionID), errors.Is(err, errNoExecution):
		return fail(judgmentNoExecution, err, "no execution %q", a.ExecutionID)
	case errors.Is(err, errNotPipeline):
		return fail(judgmentNoExecution, err, "%q is %v", a.ExecutionID, err)
	case err != nil:
		return fail(judgmentFailed, err, "reading the execution from Temporal (is a worker running?)")
	}
	res.Exec = exec
	stage := exec.Stage(a.RefID)
	if stage == nil {
		return fail(judgmentNoStage, nil, "execution %s has no stage with refId %q", exec.ID, a.RefID)
	}
	res.Stage = stage
	switch {
	case stage.Type != pipeline.StageManualJudgment:
		return fail(judgmentNotJudgment, nil, "stage %q is a %s stage, not a manual judgment", stage.Name, stage.Type)
	case stage.Judgment != nil:
		return fail(judgmentDecided, nil, "stage %q was already decided by %s", stage.Name, describeJudgment(*stage.Judgment))
	case stage.Status != pipeline.StatusRunning || stage.WaitingForWindowUntil != 0:
		return fail(judgmentNotWaiting, nil, "stage %q is not waiting for a judgment (status %s)", stage.Name, stage.Status)
	}
	// The stage waits, so the workflow read these settings: read the same way, they cannot fail
	// here but for a stage of an older release, which then no one may decide.
	settings, problems := pipeline.ReadManualJudgmentStage(stage.Context, "")
	if len(problems) > 0 {
		return fail(judgmentRefused, nil, "stage %q cannot be decided: its settings cannot be read: %s", stage.Name, strings.Join(pipeline.ProblemStrings(problems), "; "))
	}
	if options := settings.Inputs; a.Input != "" && len(options) > 0 && !slices.Contains(options, a.Input) {
		return fail(judgmentBadRequest, nil, "judgmentInput %q is not one of the stage's judgmentInputs %v", a.Input, options)
	}
	// Roles are checked after the stage's state: whether a judgment still waits is no secret (the
	// Slack message shows everyone), and telling a late clicker "already decided" is the kinder answer.
	if err := s.Users.CanJudge(a.User, settings.Roles); err != nil {
		log.Warn("judgment refused", "reason", err)
		return fail(judgmentRefused, err, "%v", err)
	}
	// The workflow checks again, atomically with its state: of two people deciding at once, it
	// takes one judgment and tells the other who decided.
	update := workflows.JudgmentUpdate{
		JudgmentSignal: workflows.JudgmentSignal{RefID: stage.RefID, Status: a.Status, Input: a.Input, User: a.User},
		Roles:          s.Users.Roles(a.User),
	}
	handle, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: exec.ID, UpdateName: workflows.UpdateJudgment, Args: []any{update},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var taken workflows.JudgmentUpdateResult
	if err == nil {
		err = handle.Get(ctx, &taken)
	}
	var notFound *serviceerror.NotFound
	var refused *temporal.ApplicationError
	switch {
	case err == nil:
		res.Outcome = judgmentDelivered
		return res
	case errors.As(err, &notFound):
		res.Ended = true
		return fail(judgmentNotWaiting, err, "execution %s is no longer running", exec.ID)
	case errors.As(err, &refused):
		switch refused.Type() {
		case workflows.ErrTypeJudgmentDecided:
			// Read again, to say who decided and when, as the stage records it.
			if again, err := s.readExecution(ctx, exec.ID); err == nil && again.Stage(stage.RefID) != nil {
				res.Exec, res.Stage = again, again.Stage(stage.RefID)
			}
			return fail(judgmentDecided, nil, "%s", refused.Message())
		case workflows.ErrTypeJudgmentNotWaiting:
			return fail(judgmentNotWaiting, nil, "%s", refused.Message())
		case workflows.ErrTypeJudgmentNotAllowed:
			log.Warn("judgment refused", "reason", refused.Message())
			return fail(judgmentRefused, &access.Refusal{User: a.User, Required: settings.Roles}, "%s", refused.Message())
		case workflows.ErrTypeJudgmentInvalid:
			return fail(judgmentBadRequest, nil, "%s", refused.Message())
		}
	}
	return fail(judgmentFailed, err, "delivering the judgment to the execution")
}

// describeJudgment tells who decided what and when: "alice: continue (ship) at 2025-01-02 15:04:05 UTC".
func describeJudgment(j pipeline.Judgment) string {
	out := j.User + ": " + j.Status
	if j.Input != "" {
		out += " (" + j.Input + ")"
	}
	if j.Time != 0 {
		out += " at " + time.UnixMilli(j.Time).UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return out
}

// skipRequest says who skips a wait.
type skipRequest struct {
	User string `json:"user"`
}

// skip ends a wait stage's wait, or lets a stage held by its execution window start now.
func (s *Server) skip(c *gin.Context) {
	var req skipRequest
	if !bindJSON(c, &req) {
		return
	}
	exec, stage, ok := s.executionStage(c)
	if !ok {
		return
	}
	waiting := stage.Status == pipeline.StatusRunning && (stage.Type == "wait" || stage.WaitingForWindowUntil != 0)
	if !waiting {
		abort(c, http.StatusConflict, fmt.Sprintf("stage %q is not waiting (status %s)", stage.Name, stage.Status))
		return
	}
	sig := workflows.SkipSignal{RefID: stage.RefID, User: userOf(c, req.User)}
	if err := s.Temporal.SignalWorkflow(c.Request.Context(), exec.ID, "", workflows.SignalSkipWait, sig); err != nil {
		s.signalError(c, exec.ID, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": exec.ID, "refId": stage.RefID, "skippedBy": sig.User})
}

// executionStage reads the execution and the stage the URL names, answering 404 itself when either
// does not exist.
func (s *Server) executionStage(c *gin.Context) (pipeline.Execution, *pipeline.StageExecution, bool) {
	exec, ok := s.queryExecution(c)
	if !ok {
		return exec, nil, false
	}
	stage := exec.Stage(c.Param("refId"))
	if stage == nil {
		abort(c, http.StatusNotFound, fmt.Sprintf("execution %s has no stage with refId %q", exec.ID, c.Param("refId")))
		return exec, nil, false
	}
	return exec, stage, true
}

func (s *Server) signalError(c *gin.Context, id string, err error) {
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		abort(c, http.StatusConflict, fmt.Sprintf("execution %s is no longer running", id))
		return
	}
	s.unavailable(c, "signalling the execution", err)
}
