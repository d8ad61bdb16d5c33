package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidateNotifications(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		types []string
		want  []string
	}{
		{
			name: "pipeline and stage notifications as Spinnaker writes them",
			doc: `application: a
name: p
notifications:
- {type: slack, address: "#deploys", level: pipeline, when: [pipeline.starting, pipeline.failed], message: {pipeline.failed: {text: "${execution.name} failed"}}}
stages:
- refId: "1"
  type: manualJudgment
  sendNotifications: true
  notifications:
  - {type: slack, address: "#approvals", when: [manualJudgment, manualJudgmentContinue, stage.failed], notifyEveryMs: 60000}
`,
			types: []string{"slack"},
		},
		{
			name: "every problem by path",
			doc: `application: a
name: p
notifications:
- {type: email, when: [stage.starting]}
- {address: 3, when: []}
- {type: slack, when: [pipeline.complete], message: {stage.complete: {text: x}, pipeline.complete: "x"}}
stages:
- refId: "1"
  type: wait
  waitTime: 1
  sendNotifications: "yes"
  notifications:
  - {type: slack, when: [manualJudgment], notifyEveryMs: 5000}
- refId: "2"
  type: manualJudgment
  notifications:
  - {type: slack, when: [manualJudgment], notifyEveryMs: 10}
  - "#chan"
`,
			want: []string{
				`notifications[0].type: unknown notification type "email"; supported types: slack`,
				`notifications[0].when[0]: "stage.starting" is not a notification point here; use one of pipeline.starting, pipeline.complete, pipeline.failed`,
				`notifications[1].type: required`,
				`notifications[1].address: must be a string`,
				`notifications[1].when: must have at least one item`,
				`notifications[2].message["pipeline.complete"]: must be an object with a text`,
				`notifications[2].message["stage.complete"]: "stage.complete" is not a notification point here; use one of pipeline.starting, pipeline.complete, pipeline.failed`,
				`stages[0].sendNotifications: must be true or false`,
				`stages[0].notifications[0].when[0]: "manualJudgment" is not a notification point here; use one of stage.starting, stage.complete, stage.failed`,
				`stages[0].notifications[0].notifyEveryMs: only manual judgment notifications repeat`,
				`stages[1].notifications[0].notifyEveryMs: must be at least 1000 (or -1 for never)`,
				`stages[1].notifications[1]: must be an object`,
			},
		},
		{
			name:  "slack not configured",
			doc:   "application: a\nname: p\nnotifications: [{type: slack, when: [pipeline.failed]}]\nstages: []",
			types: []string{},
			want:  []string{"notifications[0].type: slack notifications are not configured on this gennaker (set --slack-bot-token)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemTexts(Validate(mustDecode(t, tt.doc), ValidateOptions{NotificationTypes: tt.types}))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestNotificationSpec(t *testing.T) {
	p := mustDecode(t, `application: a
name: p
stages:
- refId: "1"
  type: manualJudgment
  notifications:
  - {type: slack, address: "#a", when: [manualJudgment, stage.failed], message: {stage.failed: {text: "oh no"}}, notifyEveryMs: 60000}
- refId: "2"
  type: wait
  sendNotifications: false
  notifications: [{type: slack, when: [stage.failed]}]
`)
	got := StageNotifications(p.Stages[0].Context)
	if len(got) != 1 {
		t.Fatalf("notifications = %v", got)
	}
	spec := got[0].Spec()
	want := NotificationSpec{Type: "slack", Address: "#a", When: []string{"manualJudgment", "stage.failed"},
		Messages: map[string]string{"stage.failed": "oh no"}, NotifyEveryMs: 60000}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("spec = %+v, want %+v", spec, want)
	}
	if !spec.Sends(PointManualJudgment) || spec.Sends(PointStageComplete) {
		t.Errorf("Sends is wrong for %+v", spec)
	}
	if got := StageNotifications(p.Stages[1].Context); len(got) != 0 {
		t.Errorf("sendNotifications: false still notifies: %v", got)
	}
}
