package pipeline

import "encoding/json"

// Status is the state of an execution or a stage, with Spinnaker's names.
type Status string

// The statuses an execution or stage can have.
const (
	StatusNotStarted     Status = "NOT_STARTED"
	StatusRunning        Status = "RUNNING"
	StatusSucceeded      Status = "SUCCEEDED"
	StatusFailedContinue Status = "FAILED_CONTINUE"
	StatusTerminal       Status = "TERMINAL"
	StatusCanceled       Status = "CANCELED"
	StatusStopped        Status = "STOPPED"
	StatusSkipped        Status = "SKIPPED"
)

// StatusAwaitingJudgment is not a stage status but the search-attribute value of an execution
// that is running and waiting for a person's judgment, so waiting executions can be listed.
const StatusAwaitingJudgment = "AWAITING_JUDGMENT"

// StatusQueued is, like StatusAwaitingJudgment, only a search-attribute value: an execution of a
// limitConcurrent pipeline waiting for its turn to run.
const StatusQueued = "QUEUED"

// Complete reports whether the status is final.
func (s Status) Complete() bool {
	switch s {
	case StatusSucceeded, StatusFailedContinue, StatusTerminal, StatusCanceled, StatusStopped, StatusSkipped:
		return true
	}
	return false
}

// LetsDownstreamRun reports whether stages that depend on a stage in this status may start.
func (s Status) LetsDownstreamRun() bool {
	return s == StatusSucceeded || s == StatusFailedContinue || s == StatusSkipped
}

// Statuses lists every status, for validation of filters.
var Statuses = []Status{StatusNotStarted, StatusRunning, StatusSucceeded, StatusFailedContinue,
	StatusTerminal, StatusCanceled, StatusStopped, StatusSkipped}

// TriggerInfo describes what started an execution.
type TriggerInfo struct {
	Type       string         `json:"type"`
	User       string         `json:"user,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Payload    map[string]any `json:"payload,omitempty"`
	// Artifacts are what the trigger brought: images, manifests.
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// Source is where an automatic trigger came from: a webhook's source, a git provider.
	Source string `json:"source,omitempty"`
	// ScmInfo is the commit a git trigger fired for.
	ScmInfo *ScmInfo `json:"scmInfo,omitempty"`
	// Rebake makes every bake of the execution bake again rather than reuse an image.
	Rebake bool `json:"rebake,omitempty"`
	// BuildInfo is the finished build a CI build trigger (jenkins) fired for, as Spinnaker's
	// trigger.buildInfo.
	BuildInfo *BuildInfo `json:"buildInfo,omitempty"`
	// Properties are the build's properties (its parameters) a CI build trigger reported, as
	// Spinnaker's trigger.properties; they are also the execution's parameters, as strings.
	Properties map[string]any `json:"properties,omitempty"`
	// DeliveryID identifies the request that fired an automatic trigger; the same delivery never
	// starts a second execution.
	DeliveryID string `json:"deliveryId,omitempty"`
	// Attributes are the message attributes of the pubsub message that fired a pubsub trigger.
	Attributes map[string]string `json:"attributes,omitempty"`
	// ResolvedExpectedArtifacts are the pipeline's expectedArtifacts as bound when the execution
	// started, each with its boundArtifact, as Spinnaker's trigger.resolvedExpectedArtifacts.
	ResolvedExpectedArtifacts []ExpectedArtifact `json:"resolvedExpectedArtifacts,omitempty"`
	// ParentExecution is the execution whose end fired a pipeline trigger, bounded in size
	// (BoundedParent), for expressions such as ${trigger.parentExecution.status}.
	ParentExecution *Execution `json:"parentExecution,omitempty"`
	// ParentExecutionID is set when another execution started this one (a pipeline stage).
	ParentExecutionID string `json:"parentExecutionId,omitempty"`
	ParentStageRefID  string `json:"parentStageRefId,omitempty"`
}

// ScmInfo describes the commit a git trigger fired for, as Spinnaker's git trigger does.
type ScmInfo struct {
	// Source is github, gitlab or bitbucket.
	Source  string `json:"source"`
	Project string `json:"project"`
	Slug    string `json:"slug"`
	Branch  string `json:"branch"`
	// Sha1 is the commit pushed (the branch's new head).
	Sha1    string `json:"sha1"`
	Author  string `json:"author,omitempty"`
	RepoURL string `json:"repoUrl,omitempty"`
	Message string `json:"message,omitempty"`
}

// BuildInfo describes the finished build a CI build trigger fired for, as Spinnaker's jenkins
// trigger reports it in trigger.buildInfo.
type BuildInfo struct {
	// Name is the job's full name.
	Name   string `json:"name"`
	Number int64  `json:"number"`
	// Result is Jenkins' word for how the build ended: SUCCESS, UNSTABLE, FAILURE or ABORTED.
	Result string `json:"result"`
	URL    string `json:"url,omitempty"`
	// Master names the CI server that ran the build.
	Master string `json:"master"`
}

// Execution is one run of a pipeline in Spinnaker's execution JSON shape.
type Execution struct {
	ID                 string           `json:"id"`
	Type               string           `json:"type"`
	Application        string           `json:"application"`
	Name               string           `json:"name"`
	PipelineConfigID   string           `json:"pipelineConfigId,omitempty"`
	PipelineVersion    int              `json:"pipelineVersion,omitempty"`
	Status             Status           `json:"status"`
	BuildTime          int64            `json:"buildTime,omitempty"`
	StartTime          int64            `json:"startTime,omitempty"`
	EndTime            int64            `json:"endTime,omitempty"`
	Trigger            TriggerInfo      `json:"trigger"`
	Stages             []StageExecution `json:"stages"`
	Canceled           bool             `json:"canceled,omitempty"`
	CanceledBy         string           `json:"canceledBy,omitempty"`
	CancellationReason string           `json:"cancellationReason,omitempty"`
	// WaitingFor says what an execution that has not started yet waits for, such as its turn
	// when its pipeline limits concurrent executions.
	WaitingFor string `json:"waitingFor,omitempty"`
	// Errors lists problems that are not a single stage's failure, in words.
	Errors []string `json:"errors,omitempty"`
	// Notifications are the pipeline-level notifications sent, or that could not be sent.
	Notifications []NotificationRecord `json:"notifications,omitempty"`
}

// StageExecution is one stage of an execution: its evaluated context, outputs and outcome.
type StageExecution struct {
	ID                   string         `json:"id"`
	RefID                string         `json:"refId"`
	Type                 string         `json:"type"`
	Name                 string         `json:"name"`
	RequisiteStageRefIDs []string       `json:"requisiteStageRefIds,omitempty"`
	Status               Status         `json:"status"`
	StartTime            int64          `json:"startTime,omitempty"`
	EndTime              int64          `json:"endTime,omitempty"`
	Context              map[string]any `json:"context,omitempty"`
	Outputs              map[string]any `json:"outputs,omitempty"`
	// Error says in words why the stage failed.
	Error string `json:"error,omitempty"`
	// ExpressionErrors maps each expression that could not be evaluated to why.
	ExpressionErrors map[string]string `json:"expressionErrors,omitempty"`
	// Judgment is the decision a manual judgment stage received.
	Judgment *Judgment `json:"judgment,omitempty"`
	// WaitingForWindowUntil is set while a stage waits for its execution window to open.
	WaitingForWindowUntil int64 `json:"waitingForWindowUntil,omitempty"`
	// WaitingForLock says which cluster a stage waits to deploy to, and who holds it.
	WaitingForLock string `json:"waitingForLock,omitempty"`
	// Notifications are the stage's notifications sent, or that could not be sent.
	Notifications []NotificationRecord `json:"notifications,omitempty"`
}

// NotificationRecord is one notification of an execution: where it went, and why it could not be
// sent when it could not.
type NotificationRecord struct {
	When    string `json:"when"`
	Type    string `json:"type"`
	Address string `json:"address,omitempty"`
	Time    int64  `json:"time"`
	// Error says why the notification could not be sent; empty when it was.
	Error string `json:"error,omitempty"`
}

// Judgment is a person's decision on a manual judgment stage.
type Judgment struct {
	Status string `json:"judgmentStatus"`
	Input  string `json:"judgmentInput,omitempty"`
	User   string `json:"user,omitempty"`
	Time   int64  `json:"time"`
}

// Judgment statuses, as Spinnaker names them.
const (
	JudgmentContinue = "continue"
	JudgmentStop     = "stop"
)

// Stage finds a stage of the execution by refId.
func (e *Execution) Stage(refID string) *StageExecution {
	for i := range e.Stages {
		if e.Stages[i].RefID == refID {
			return &e.Stages[i]
		}
	}
	return nil
}

// MaxParentExecutionBytes bounds the parent execution a pipeline trigger hands to the execution it
// starts, which is kept in that execution's history.
const MaxParentExecutionBytes = 64 << 10

// BoundedParent is e made small enough to travel as a trigger: the stages' contexts and outputs
// go first, then the stages, then the trigger's payload and its own parent, until it fits.
func BoundedParent(e Execution) Execution {
	fits := func(x Execution) bool {
		data, err := json.Marshal(x)
		return err == nil && len(data) <= MaxParentExecutionBytes
	}
	e.Trigger.ParentExecution = nil
	e.Stages = append([]StageExecution(nil), e.Stages...)
	if fits(e) {
		return e
	}
	for i := range e.Stages {
		e.Stages[i].Context, e.Stages[i].Outputs = nil, nil
	}
	if fits(e) {
		return e
	}
	e.Stages = nil
	e.Trigger.Payload, e.Trigger.Parameters, e.Trigger.Properties = nil, nil, nil
	e.Errors = nil
	return e
}
