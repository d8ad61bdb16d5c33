// Package notify tells people and systems what executions do: Slack messages at Spinnaker's
// notification points, interactive manual judgment messages, and a signed stream of status events
// to HTTP endpoints. It knows nothing of Temporal; activities call it.
package notify

import (
	"context"
	"time"
)

// Point names a moment a notification is sent for, with Spinnaker's names.
type Point string

// The notification points.
const (
	PipelineStarting Point = "pipeline.starting"
	PipelineComplete Point = "pipeline.complete"
	PipelineFailed   Point = "pipeline.failed"
	StageStarting    Point = "stage.starting"
	StageComplete    Point = "stage.complete"
	StageFailed      Point = "stage.failed"
	// ManualJudgment is a manual judgment stage starting to wait: the interactive message.
	ManualJudgment Point = "manualJudgment"
	// ManualJudgmentContinue and ManualJudgmentStop follow a decision.
	ManualJudgmentContinue Point = "manualJudgmentContinue"
	ManualJudgmentStop     Point = "manualJudgmentStop"
)

// Subject is what a notification tells, as facts; each notifier renders it its own way.
type Subject struct {
	Point       Point  `json:"point"`
	ExecutionID string `json:"executionId"`
	Application string `json:"application"`
	Pipeline    string `json:"pipeline"`
	TriggerType string `json:"triggerType,omitempty"`
	TriggerUser string `json:"triggerUser,omitempty"`
	// Status is the execution's status for pipeline points, the stage's for stage points.
	Status string `json:"status,omitempty"`
	// Stage is set for stage and judgment points.
	Stage *StageSubject `json:"stage,omitempty"`
	// Reason says why the execution or stage failed, in words.
	Reason string `json:"reason,omitempty"`
	// Text is the notification's own message for this point (message.<point>.text), already
	// evaluated; it replaces the headline a notifier would write.
	Text  string `json:"text,omitempty"`
	Links Links  `json:"links"`
}

// StageSubject names the stage a notification is about.
type StageSubject struct {
	RefID  string `json:"refId"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Status string `json:"status,omitempty"`
}

// Links point at the execution; an empty link is left out of messages.
type Links struct {
	// Execution is the execution in gennaker's API.
	Execution string `json:"execution,omitempty"`
	// Temporal is the workflow in the Temporal Web UI.
	Temporal string `json:"temporal,omitempty"`
}

// JudgmentRequest is a manual judgment stage waiting for a person's decision.
type JudgmentRequest struct {
	Subject
	Instructions string `json:"instructions,omitempty"`
	// Inputs are the stage's judgmentInputs values; each gets a button besides Continue and Stop.
	Inputs []string `json:"inputs,omitempty"`
	// Roles are the stage's selectedStageRoles: who may decide (empty: anyone).
	Roles []string `json:"roles,omitempty"`
}

// Decision is how a manual judgment ended.
type Decision struct {
	// Status is "continue" or "stop"; empty when the stage stopped waiting without a decision.
	Status string    `json:"judgmentStatus,omitempty"`
	Input  string    `json:"judgmentInput,omitempty"`
	User   string    `json:"user,omitempty"`
	Time   time.Time `json:"time"`
	// Ended says why the stage stopped waiting when there was no decision: "timed out", "canceled".
	Ended string `json:"ended,omitempty"`
}

// MessageRef identifies a posted message so that it can be updated or answered in its thread.
type MessageRef struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// Notifier sends a notification to an address (for Slack, a channel name or ID).
type Notifier interface {
	Notify(ctx context.Context, address string, s Subject) (MessageRef, error)
}

// Judge is a notifier that can also ask for, remind of and close a manual judgment.
type Judge interface {
	Notifier
	PostJudgment(ctx context.Context, address string, req JudgmentRequest) (MessageRef, error)
	// RemindJudgment posts a reminder that the judgment still waits, tied to the original message.
	RemindJudgment(ctx context.Context, ref MessageRef, req JudgmentRequest) error
	// UpdateJudgment replaces the original message's buttons with the decision.
	UpdateJudgment(ctx context.Context, ref MessageRef, req JudgmentRequest, d Decision) error
}

// JudgmentActionID is the action_id prefix of judgment buttons; the interaction handler looks for it.
const JudgmentActionID = "gennaker_judgment"

// JudgmentAction is what a judgment button carries in its value: which stage, and which decision.
type JudgmentAction struct {
	ExecutionID string `json:"e"`
	RefID       string `json:"r"`
	Status      string `json:"s"`
	Input       string `json:"i,omitempty"`
}

// Event is one status change of an execution or of one of its stages, as published to endpoints.
type Event struct {
	// ID is unique and stable: the same change always has the same ID, so receivers can deduplicate
	// a delivery that was retried.
	ID string `json:"id"`
	// Sequence numbers an execution's events from 1, in the order the changes happened.
	Sequence    int    `json:"sequence"`
	Type        string `json:"type"` // EventExecution or EventStage
	ExecutionID string `json:"executionId"`
	Application string `json:"application"`
	Pipeline    string `json:"pipeline"`
	StageRefID  string `json:"stageRefId,omitempty"`
	StageName   string `json:"stageName,omitempty"`
	StageType   string `json:"stageType,omitempty"`
	Status      string `json:"status"`
	// Time is when the change happened, in Unix milliseconds.
	Time int64 `json:"time"`
	// User is who caused the change where a person did: the trigger's user, the judge, the canceller.
	User   string `json:"user,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Event types.
const (
	EventExecution = "execution"
	EventStage     = "stage"
)

// Endpoint is an HTTP endpoint the event stream is published to.
type Endpoint struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Secret keys the HMAC-SHA256 signature of every delivery.
	Secret string `json:"secret"`
}
