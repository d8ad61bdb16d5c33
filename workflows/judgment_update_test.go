package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// updateOutcome records how one judgment update ended.
type updateOutcome struct {
	rejected error
	result   JudgmentUpdateResult
	done     bool
}

func (o *updateOutcome) callbacks() *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnReject: func(err error) { o.rejected, o.done = err, true },
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			o.done = true
			if err != nil {
				o.rejected = err
				return
			}
			o.result, _ = v.(JudgmentUpdateResult)
		},
	}
}

func rejectedAs(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

// Judgments arrive as updates the workflow checks against its own state: of two people deciding
// at once one is taken and the other told who decided; a judgment for a stage that does not wait,
// or by someone without the stage's roles, is refused before it is written down.
func TestJudgmentUpdates(t *testing.T) {
	approve := stageJSON("1", "manualJudgment", nil, `"name": "Approve", "judgmentInputs": [{"value": "ship"}], "selectedStageRoles": ["release-managers"]`)
	later := wait("2", 60, "1")
	var bo, cy, early, dan, odd, late updateOutcome
	exec, err := run(t, pipelineJSON(approve, later), func(env *testsuite.TestWorkflowEnvironment) {
		judge := func(o *updateOutcome, user string, roles []string, status, input string) func() {
			return func() {
				env.UpdateWorkflow(UpdateJudgment, user+status+input, o.callbacks(), JudgmentUpdate{
					JudgmentSignal: JudgmentSignal{RefID: "1", Status: status, Input: input, User: user}, Roles: roles})
			}
		}
		env.RegisterDelayedCallback(func() {
			// Stage 2 waits for stage 1: it is no judgment stage, and not waiting either.
			env.UpdateWorkflow(UpdateJudgment, "early", early.callbacks(), JudgmentUpdate{JudgmentSignal: JudgmentSignal{RefID: "2", Status: "continue", User: "bo"}})
			judge(&dan, "dan", []string{"developers"}, "continue", "ship")()
			judge(&odd, "bo", []string{"release-managers"}, "continue", "yolo")()
			// Two release managers at once.
			judge(&bo, "bo", []string{"Release-Managers"}, "continue", "ship")()
			judge(&cy, "cy", []string{"release-managers"}, "continue", "ship")()
		}, time.Second)
		env.RegisterDelayedCallback(judge(&late, "cy", []string{"release-managers"}, "stop", ""), 30*time.Second)
	})
	if err != nil {
		t.Fatalf("%v: %s", err, exec.Stage("1").Error)
	}
	if rejectedAs(early.rejected) != ErrTypeJudgmentInvalid {
		t.Errorf("judging stage 2: %v", early.rejected)
	}
	if rejectedAs(dan.rejected) != ErrTypeJudgmentNotAllowed {
		t.Errorf("dan without the role: %v", dan.rejected)
	}
	if rejectedAs(odd.rejected) != ErrTypeJudgmentInvalid {
		t.Errorf("an input the stage does not offer: %v", odd.rejected)
	}
	// One of the two is taken, the other told the first decided.
	winner, loser := bo, cy
	if bo.rejected != nil {
		winner, loser = cy, bo
	}
	if winner.rejected != nil || winner.result.User == "" || rejectedAs(loser.rejected) != ErrTypeJudgmentDecided {
		t.Errorf("two judgments at once: taken %+v (%v), refused %v", winner.result, winner.rejected, loser.rejected)
	}
	if rejectedAs(late.rejected) != ErrTypeJudgmentDecided {
		t.Errorf("a judgment after the decision: %v", late.rejected)
	}
	if j := exec.Stage("1").Judgment; j == nil || j.User != winner.result.User || j.Status != winner.result.Status {
		t.Errorf("the stage recorded %+v, the update answered %+v", j, winner.result)
	}
}
