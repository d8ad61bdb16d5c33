package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The helpers below read blocks as Slack receives them, as JSON, so that the tests check what
// is sent rather than how the library's types hold it.

// rawBlocks is a message's blocks as generic JSON.
func rawBlocks(t *testing.T, blocks []slack.Block) []map[string]any {
	t.Helper()
	data, err := json.Marshal(blocks)
	require.NoError(t, err)
	return parseBlocks(t, string(data))
}

func parseBlocks(t *testing.T, data string) []map[string]any {
	t.Helper()
	var out []map[string]any
	require.NoError(t, json.Unmarshal([]byte(data), &out), data)
	return out
}

// allText is every text object's text in the blocks, in order.
func allText(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["text"].(string); ok {
			out = append(out, s)
		}
		for _, k := range []string{"text", "elements", "fields", "title", "confirm", "deny"} {
			if c, ok := x[k]; ok {
				if _, isString := c.(string); !isString {
					out = append(out, allText(c)...)
				}
			}
		}
	case []map[string]any:
		for _, e := range x {
			out = append(out, allText(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, allText(e)...)
		}
	}
	return out
}

// button is one button of an actions block, with the block it is in.
type button struct {
	blockID, actionID, value, text, style string
	confirm                               map[string]any
}

func buttons(t *testing.T, blocks []map[string]any) []button {
	t.Helper()
	var out []button
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		for _, e := range b["elements"].([]any) {
			el := e.(map[string]any)
			require.Equal(t, "button", el["type"])
			bt := button{
				blockID:  b["block_id"].(string),
				actionID: el["action_id"].(string),
				value:    el["value"].(string),
				text:     el["text"].(map[string]any)["text"].(string),
			}
			if s, ok := el["style"].(string); ok {
				bt.style = s
			}
			if c, ok := el["confirm"].(map[string]any); ok {
				bt.confirm = c
			}
			out = append(out, bt)
		}
	}
	return out
}

func blockTypes(blocks []map[string]any) []string {
	var out []string
	for _, b := range blocks {
		out = append(out, b["type"].(string))
	}
	return out
}

// countUTF16 counts as Slack does, apart from the code under test.
func countUTF16(s string) int { return len(utf16.Encode([]rune(s))) }

func subject(p Point) Subject {
	return Subject{
		Point:       p,
		ExecutionID: "01HEXEC",
		Application: "web",
		Pipeline:    "release",
		TriggerType: "manual",
		TriggerUser: "bob@example.com",
		Status:      "RUNNING",
		Stage:       &StageSubject{RefID: "3", Name: "Deploy to prod", Type: "manualJudgment"},
		Links: Links{
			Execution: "https://gennaker.example/api/v1/executions/01HEXEC",
			Temporal:  "https://temporal.example/namespaces/default/workflows/01HEXEC",
		},
	}
}

func TestHeadlinePerPoint(t *testing.T) {
	tests := []struct {
		point Point
		want  string
	}{
		{PipelineStarting, "*web / release* started"},
		{PipelineComplete, "*web / release* succeeded"},
		{PipelineFailed, "*web / release* failed"},
		{StageStarting, "Stage *Deploy to prod* of *web / release* started"},
		{StageComplete, "Stage *Deploy to prod* of *web / release* succeeded"},
		{StageFailed, "Stage *Deploy to prod* of *web / release* failed"},
		{ManualJudgment, "Stage *Deploy to prod* of *web / release* is waiting for a manual judgment"},
		{ManualJudgmentContinue, "Judgment on *Deploy to prod* of *web / release*: continued"},
		{ManualJudgmentStop, "Judgment on *Deploy to prod* of *web / release*: stopped"},
		{"something.new", "*web / release*: something.new"},
	}
	for _, tt := range tests {
		t.Run(string(tt.point), func(t *testing.T) {
			m := notificationMessage(subject(tt.point))
			blocks := rawBlocks(t, m.blocks)
			require.NotEmpty(t, blocks)
			assert.Equal(t, "section", blocks[0]["type"])
			assert.Equal(t, tt.want, blocks[0]["text"].(map[string]any)["text"])
			// Push notifications show the fallback as it is: no mrkdwn marks in it.
			assert.Equal(t, strings.ReplaceAll(tt.want, "*", ""), m.text)
		})
	}
}

func TestHeadlineNames(t *testing.T) {
	tests := []struct {
		name string
		s    Subject
		want string
	}{
		{"own text replaces the headline", Subject{Point: PipelineComplete, Application: "web", Pipeline: "release", Text: "Shipped <https://x.example|v42> :tada:"}, "Shipped <https://x.example|v42> :tada:"},
		{"stage without name uses refId", Subject{Point: StageFailed, Application: "web", Pipeline: "release", Stage: &StageSubject{RefID: "7"}}, "Stage *7* of *web / release* failed"},
		{"no stage", Subject{Point: StageFailed, Application: "web", Pipeline: "release"}, "Stage *a stage* of *web / release* failed"},
		{"pipeline without application", Subject{Point: PipelineFailed, Pipeline: "release"}, "*release* failed"},
		{"markup in names is escaped", Subject{Point: PipelineFailed, Application: "a&b", Pipeline: "<!channel>"}, "*a&amp;b / &lt;!channel&gt;* failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, headline(tt.s, true))
		})
	}
}

func TestNotificationMessage(t *testing.T) {
	s := subject(StageFailed)
	s.Status = "TERMINAL"
	s.Reason = "deployment web-v042 did not become available: <timeout> & 3 pods crash-looping"
	m := notificationMessage(s)
	blocks := rawBlocks(t, m.blocks)
	assert.Equal(t, []string{"section", "context", "section", "context"}, blockTypes(blocks))
	texts := allText(blocks)
	assert.Contains(t, texts, "Execution `01HEXEC`")
	assert.Contains(t, texts, "Trigger: manual by bob@example.com")
	assert.Contains(t, texts, "Status: TERMINAL")
	assert.Contains(t, texts, "*Reason:* deployment web-v042 did not become available: &lt;timeout&gt; &amp; 3 pods crash-looping")
	assert.Contains(t, texts, "<https://gennaker.example/api/v1/executions/01HEXEC|Execution> · <https://temporal.example/namespaces/default/workflows/01HEXEC|Temporal history>")
	assert.Contains(t, m.text, "Stage Deploy to prod of web / release failed")
	assert.Contains(t, m.text, "&lt;timeout&gt;")
}

func TestNotificationLeavesOutWhatIsEmpty(t *testing.T) {
	tests := []struct {
		name      string
		links     Links
		wantLinks string
	}{
		{"no links", Links{}, ""},
		{"execution only", Links{Execution: "https://g.example/e/1"}, "<https://g.example/e/1|Execution>"},
		{"temporal only", Links{Temporal: "https://t.example/w/1"}, "<https://t.example/w/1|Temporal history>"},
		{"link characters in the URL", Links{Execution: "https://g.example/e?a=1|2>3"}, "<https://g.example/e?a=1%7C2%3E3|Execution>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Subject{Point: PipelineComplete, Application: "web", Pipeline: "release", Links: tt.links}
			blocks := rawBlocks(t, notificationMessage(s).blocks)
			if tt.wantLinks == "" {
				// Nothing but the headline: no facts were given, and no links.
				assert.Equal(t, []string{"section"}, blockTypes(blocks))
				return
			}
			assert.Equal(t, []string{"section", "context"}, blockTypes(blocks))
			assert.Equal(t, []string{"*web / release* succeeded", tt.wantLinks}, allText(blocks))
		})
	}
}

func TestTriggerLine(t *testing.T) {
	tests := []struct {
		typ, user, want string
	}{
		{"manual", "alice", "Trigger: manual by alice"},
		{"cron", "", "Trigger: cron"},
		{"", "alice", "Triggered by alice"},
		{"", "", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, trigger(Subject{TriggerType: tt.typ, TriggerUser: tt.user}), "%q %q", tt.typ, tt.user)
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		esc   bool
		want  string
	}{
		{"short enough", "hello", 5, false, "hello"},
		{"cut", "hello world", 6, false, "hello…"},
		{"cut by characters, not bytes", "ééééé", 3, false, "éé…"},
		{"an emoji counts two", "🚀🚀🚀", 4, false, "🚀…"},
		{"escaped fits", "a<b", 6, true, "a&lt;b"},
		{"never inside an entity", "a&b", 4, true, "a…"},
		{"entity kept whole", "a&b", 7, true, "a&amp;b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fit(tt.in, tt.limit, tt.esc)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, countUTF16(got), tt.limit)
		})
	}
}

func TestLimits(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	longInput := strings.Repeat("y", 500)
	rockets := strings.Repeat("🚀", 200)

	t.Run("reason within a section", func(t *testing.T) {
		s := subject(PipelineFailed)
		s.Reason = strings.Repeat("<", 5000) // escapes to four characters each
		blocks := rawBlocks(t, notificationMessage(s).blocks)
		for _, text := range allText(blocks) {
			assert.LessOrEqual(t, countUTF16(text), maxSectionText)
		}
		reason := blocks[2]["text"].(map[string]any)["text"].(string)
		assert.True(t, strings.HasPrefix(reason, "*Reason:* &lt;"))
		assert.True(t, strings.HasSuffix(reason, "&lt;…"), "cut between entities: %s", reason[len(reason)-20:])
	})
	t.Run("own text within a section and the fallback", func(t *testing.T) {
		s := subject(PipelineFailed)
		s.Text = long
		s.Reason = long
		m := notificationMessage(s)
		assert.LessOrEqual(t, countUTF16(m.text), maxFallbackText)
		assert.True(t, strings.HasSuffix(m.text, "…"))
		for _, text := range allText(rawBlocks(t, m.blocks)) {
			assert.LessOrEqual(t, countUTF16(text), maxSectionText)
		}
	})
	t.Run("header, buttons and confirmation", func(t *testing.T) {
		req := JudgmentRequest{Subject: subject(ManualJudgment), Instructions: long, Inputs: []string{longInput, rockets}}
		req.Stage.Name = rockets
		req.Application = long
		m, err := judgmentMessage(req)
		require.NoError(t, err)
		blocks := rawBlocks(t, m.blocks)
		hdr := blocks[0]["text"].(map[string]any)["text"].(string)
		assert.Equal(t, "header", blocks[0]["type"])
		assert.LessOrEqual(t, countUTF16(hdr), maxHeaderText)
		assert.True(t, strings.HasSuffix(hdr, "…"))
		assert.LessOrEqual(t, countUTF16(blocks[1]["text"].(map[string]any)["text"].(string)), maxSectionText)
		bs := buttons(t, blocks)
		require.Len(t, bs, 4)
		for _, b := range bs {
			assert.LessOrEqual(t, countUTF16(b.text), maxButtonText)
		}
		// The button is cut for display; its value still carries the whole input.
		a, err := DecodeAction(bs[0].value)
		require.NoError(t, err)
		assert.Equal(t, longInput, a.Input)
		confirm := bs[3].confirm
		require.NotNil(t, confirm)
		assert.LessOrEqual(t, countUTF16(confirm["text"].(map[string]any)["text"].(string)), maxConfirmText)
		assert.LessOrEqual(t, countUTF16(m.text), maxFallbackText)
	})
}

func TestJudgmentMessage(t *testing.T) {
	req := JudgmentRequest{
		Subject:      subject(ManualJudgment),
		Instructions: "Check the *canary* dashboard first.",
		Inputs:       []string{"deploy", "rollback"},
		Roles:        []string{"release-managers", "sre"},
	}
	m, err := judgmentMessage(req)
	require.NoError(t, err)
	blocks := rawBlocks(t, m.blocks)
	assert.Equal(t, []string{"header", "section", "context", "context", "actions"}, blockTypes(blocks))
	assert.Equal(t, "Manual judgment: Deploy to prod", blocks[0]["text"].(map[string]any)["text"])
	assert.Equal(t, "Check the *canary* dashboard first.", blocks[1]["text"].(map[string]any)["text"])
	assert.Equal(t, []string{
		"*web / release*",
		"Execution `01HEXEC`",
		"Trigger: manual by bob@example.com",
		"Who may decide: release-managers, sre",
	}, allText(blocks[2]))
	assert.Contains(t, allText(blocks[3])[0], "|Temporal history>")
	assert.Equal(t, JudgmentActionID, blocks[4]["block_id"])
	assert.Equal(t, "Manual judgment: Deploy to prod of web / release is waiting for a decision", m.text)

	bs := buttons(t, blocks)
	want := []struct {
		text, style string
		action      JudgmentAction
	}{
		{"deploy", "", JudgmentAction{ExecutionID: "01HEXEC", RefID: "3", Status: "continue", Input: "deploy"}},
		{"rollback", "", JudgmentAction{ExecutionID: "01HEXEC", RefID: "3", Status: "continue", Input: "rollback"}},
		{"Continue", "primary", JudgmentAction{ExecutionID: "01HEXEC", RefID: "3", Status: "continue"}},
		{"Stop", "danger", JudgmentAction{ExecutionID: "01HEXEC", RefID: "3", Status: "stop"}},
	}
	require.Len(t, bs, len(want))
	for i, w := range want {
		assert.Equal(t, w.text, bs[i].text)
		assert.Equal(t, w.style, bs[i].style)
		assert.Equal(t, fmt.Sprintf("%s:%d", JudgmentActionID, i), bs[i].actionID)
		a, err := DecodeAction(bs[i].value)
		require.NoError(t, err)
		assert.Equal(t, w.action, a)
	}
	for _, b := range bs[:3] {
		assert.Nil(t, b.confirm, "only Stop asks for confirmation")
	}
	require.NotNil(t, bs[3].confirm)
	assert.Equal(t, "Stop the pipeline?", bs[3].confirm["title"].(map[string]any)["text"])
	assert.Equal(t, "danger", bs[3].confirm["style"])
}

func TestJudgmentMessageWithoutExtras(t *testing.T) {
	s := subject(ManualJudgment)
	s.Links = Links{}
	s.TriggerType, s.TriggerUser = "", ""
	m, err := judgmentMessage(JudgmentRequest{Subject: s, Instructions: "  ", Inputs: []string{"", "go", "go"}})
	require.NoError(t, err)
	blocks := rawBlocks(t, m.blocks)
	// No instructions, no roles line, no links; an empty or repeated input gets no button.
	assert.Equal(t, []string{"header", "context", "actions"}, blockTypes(blocks))
	assert.Equal(t, []string{"*web / release*", "Execution `01HEXEC`"}, allText(blocks[1]))
	var texts []string
	for _, b := range buttons(t, blocks) {
		texts = append(texts, b.text)
	}
	assert.Equal(t, []string{"go", "Continue", "Stop"}, texts)
}

func TestJudgmentButtonsSplitIntoActionBlocks(t *testing.T) {
	tests := []struct {
		inputs   int
		wantSize []int
	}{
		{0, []int{2}},
		{23, []int{25}},
		{24, []int{25, 1}},
		{30, []int{25, 7}},
		{60, []int{25, 25, 12}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.inputs), func(t *testing.T) {
			req := JudgmentRequest{Subject: subject(ManualJudgment)}
			for i := range tt.inputs {
				req.Inputs = append(req.Inputs, fmt.Sprintf("input-%d", i))
			}
			m, err := judgmentMessage(req)
			require.NoError(t, err)
			blocks := rawBlocks(t, m.blocks)
			var sizes []int
			var ids []string
			for _, b := range blocks {
				if b["type"] == "actions" {
					sizes = append(sizes, len(b["elements"].([]any)))
					ids = append(ids, b["block_id"].(string))
				}
			}
			assert.Equal(t, tt.wantSize, sizes)
			wantIDs := []string{JudgmentActionID}
			for i := 2; i <= len(tt.wantSize); i++ {
				wantIDs = append(wantIDs, fmt.Sprintf("%s:%d", JudgmentActionID, i))
			}
			assert.Equal(t, wantIDs, ids)

			bs := buttons(t, blocks)
			seen := map[string]bool{}
			for _, b := range bs {
				assert.False(t, seen[b.actionID], "action_id %s repeats", b.actionID)
				seen[b.actionID] = true
			}
			// Continue and Stop end the last block, after every input.
			assert.Equal(t, "Continue", bs[len(bs)-2].text)
			assert.Equal(t, "Stop", bs[len(bs)-1].text)
			assert.Len(t, bs, tt.inputs+2)
		})
	}
}

func TestJudgmentMessageRefused(t *testing.T) {
	tooMany := make([]string, 25*maxBlocks)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint(i)
	}
	noStage := subject(ManualJudgment)
	noStage.Stage = nil
	noExecution := subject(ManualJudgment)
	noExecution.ExecutionID = ""
	tests := []struct {
		name string
		req  JudgmentRequest
	}{
		{"input too long for a button value", JudgmentRequest{Subject: subject(ManualJudgment), Inputs: []string{strings.Repeat("x", maxActionValue)}}},
		{"more buttons than a message holds", JudgmentRequest{Subject: subject(ManualJudgment), Inputs: tooMany}},
		{"no stage", JudgmentRequest{Subject: noStage}},
		{"no execution", JudgmentRequest{Subject: noExecution}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := judgmentMessage(tt.req)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrBadMessage), "%v", err)
			assert.True(t, IsPermanent(err))
		})
	}
}

func TestDecisionText(t *testing.T) {
	at := time.Date(2026, 11, 23, 15, 3, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"continue", Decision{Status: "continue", User: "alice@example.com", Time: at}, "✅ Continued by alice@example.com at 2026-11-23 14:03 UTC"},
		{"continue with input", Decision{Status: "continue", Input: "deploy", User: "alice@example.com", Time: at}, "✅ Continued by alice@example.com at 2026-11-23 14:03 UTC — input: deploy"},
		{"stop", Decision{Status: "stop", User: "bob", Time: at}, "🛑 Stopped by bob at 2026-11-23 14:03 UTC"},
		{"nobody, no time", Decision{Status: "stop"}, "🛑 Stopped"},
		{"ended", Decision{Ended: "timed out", Time: at}, "⏹ No longer waiting: timed out"},
		{"ended without a word", Decision{}, "⏹ No longer waiting"},
		{"escaped", Decision{Status: "continue", Input: "<b>"}, "✅ Continued — input: &lt;b&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, decisionText(tt.d))
		})
	}
}

func TestDecisionMessage(t *testing.T) {
	req := JudgmentRequest{Subject: subject(ManualJudgment), Instructions: "Look first.", Inputs: []string{"deploy"}}
	d := Decision{Status: "stop", User: "alice@example.com", Time: time.Date(2026, 11, 23, 14, 3, 0, 0, time.UTC)}
	m := decisionMessage(req, d)
	blocks := rawBlocks(t, m.blocks)
	assert.Equal(t, []string{"header", "section", "context", "context", "section"}, blockTypes(blocks))
	assert.Equal(t, "🛑 Stopped by alice@example.com at 2026-11-23 14:03 UTC", blocks[4]["text"].(map[string]any)["text"])
	assert.Equal(t, "🛑 Stopped by alice@example.com at 2026-11-23 14:03 UTC (Deploy to prod of web / release)", m.text)
}

func TestReminderText(t *testing.T) {
	req := JudgmentRequest{Subject: subject(ManualJudgment)}
	assert.Equal(t, "Still waiting for a judgment on *Deploy to prod* of *web / release*: "+
		"<https://gennaker.example/api/v1/executions/01HEXEC|Execution> · <https://temporal.example/namespaces/default/workflows/01HEXEC|Temporal history>",
		reminderText(req))
	req.Links = Links{}
	assert.Equal(t, "Still waiting for a judgment on *Deploy to prod* of *web / release*", reminderText(req))
}
