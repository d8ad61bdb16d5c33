package workflows

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
)

// TaskQueue is the task queue gennaker's workflows and activities run on.
const TaskQueue = "gennaker"

// Signal, query and search attribute names, each written once.
const (
	// SignalJudgment delivers a manual judgment (JudgmentSignal).
	SignalJudgment = "judgment"
	// SignalSkipWait ends a wait stage early, or lets a stage waiting for its execution window start now (SkipSignal).
	SignalSkipWait = "skip"
	// SignalCancel cancels the execution, recording who and why (CancelSignal).
	SignalCancel = "cancel"
	// SignalEvent hands one status change (notify.Event) to an execution's event stream.
	SignalEvent = "event"
	// QueryExecution returns the execution view (pipeline.Execution).
	QueryExecution = "execution"
	// UpdateJudgment delivers a manual judgment (JudgmentUpdate) and answers whether it was
	// taken (JudgmentUpdateResult) or why not, atomically with the execution's state.
	UpdateJudgment = "judge"
)

// Reasons a judgment update is refused, as the type of its error.
const (
	// ErrTypeJudgmentDecided: the stage already has a judgment, or one is being delivered.
	ErrTypeJudgmentDecided = "JudgmentDecided"
	// ErrTypeJudgmentNotWaiting: the stage is not waiting for a judgment.
	ErrTypeJudgmentNotWaiting = "JudgmentNotWaiting"
	// ErrTypeJudgmentNotAllowed: the judge holds none of the stage's selectedStageRoles.
	ErrTypeJudgmentNotAllowed = "JudgmentNotAllowed"
	// ErrTypeJudgmentInvalid: no such stage, not a judgment stage, or a status or input it does not take.
	ErrTypeJudgmentInvalid = "JudgmentInvalid"
)

// Search attributes set on every execution so the API lists executions without querying each one.
var (
	AttrApplication = temporal.NewSearchAttributeKeyKeyword("GennakerApplication")
	AttrPipeline    = temporal.NewSearchAttributeKeyKeyword("GennakerPipeline")
	AttrStatus      = temporal.NewSearchAttributeKeyKeyword("GennakerStatus")
	AttrTriggerType = temporal.NewSearchAttributeKeyKeyword("GennakerTriggerType")
)

// SearchAttributes lists the custom search attributes a Temporal namespace must have registered.
func SearchAttributes() map[string]enums.IndexedValueType {
	return map[string]enums.IndexedValueType{
		AttrApplication.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD,
		AttrPipeline.GetName():    enums.INDEXED_VALUE_TYPE_KEYWORD,
		AttrStatus.GetName():      enums.INDEXED_VALUE_TYPE_KEYWORD,
		AttrTriggerType.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// PipelineInput starts one execution: a frozen snapshot of the pipeline and what triggered it.
type PipelineInput struct {
	Pipeline        pipeline.Pipeline    `json:"pipeline"`
	PipelineVersion int                  `json:"pipelineVersion"`
	Trigger         pipeline.TriggerInfo `json:"trigger"`
	// BuildTime is when the execution was requested, in Unix milliseconds.
	BuildTime int64 `json:"buildTime"`
}

// PipelineResult is the finished execution.
type PipelineResult struct {
	Execution pipeline.Execution `json:"execution"`
}

// JudgmentSignal is a person's decision on a waiting manual judgment stage.
type JudgmentSignal struct {
	RefID  string `json:"refId"`
	Status string `json:"judgmentStatus"`
	Input  string `json:"judgmentInput,omitempty"`
	User   string `json:"user,omitempty"`
}

// JudgmentUpdate is a person's decision on a manual judgment stage, with the roles the API found
// the person holds, for the stage's selectedStageRoles.
type JudgmentUpdate struct {
	JudgmentSignal
	// Roles are the judge's roles; only a stage without selectedStageRoles takes a judge with none.
	Roles []string `json:"roles,omitempty"`
}

// JudgmentUpdateResult is the judgment the stage took.
type JudgmentUpdateResult struct {
	RefID  string `json:"refId"`
	Status string `json:"judgmentStatus"`
	Input  string `json:"judgmentInput,omitempty"`
	User   string `json:"user"`
	// Time is when the stage took it, in Unix milliseconds.
	Time int64 `json:"time"`
}

// SkipSignal asks a waiting stage to stop waiting.
type SkipSignal struct {
	RefID string `json:"refId"`
	User  string `json:"user,omitempty"`
}

// CancelSignal asks the execution to stop, recording who asked and why.
type CancelSignal struct {
	User   string `json:"user,omitempty"`
	Reason string `json:"reason,omitempty"`
}
