package notify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/slack-go/slack"
)

// Slack's limits on what a message holds. Past them Slack refuses the whole message
// (invalid_blocks, msg_too_long), so everything is cut to fit before it is sent.
const (
	maxSectionText  = 3000
	maxHeaderText   = 150
	maxButtonText   = 75
	maxFallbackText = 4000
	maxConfirmTitle = 100
	maxConfirmText  = 300
	maxActions      = 25
	maxBlocks       = 50
)

// ErrBadMessage is a message that cannot be built: a judgment without the IDs its buttons must
// carry, or one that cannot be cut to fit Slack's limits without losing what it is for (an input
// too long for its button, too many inputs for one message). Sending it again cannot help.
var ErrBadMessage = errors.New("the Slack message cannot be built")

// message is what one chat.postMessage or chat.update sends: the blocks people see and the
// plain text Slack shows where blocks cannot be (notifications, screen readers).
type message struct {
	text   string
	blocks []slack.Block
}

// notificationMessage renders a notification at one of the points.
func notificationMessage(s Subject) message {
	blocks := []slack.Block{section(headline(s, true))}
	facts := executionFacts(s)
	status := s.Status
	if status == "" && s.Stage != nil {
		status = s.Stage.Status
	}
	if status != "" {
		facts = append(facts, "Status: "+escape(status))
	}
	if len(facts) > 0 {
		blocks = append(blocks, contextBlock(facts...))
	}
	if s.Reason != "" {
		const prefix = "*Reason:* "
		blocks = append(blocks, section(prefix+fit(s.Reason, maxSectionText-len(prefix), true)))
	}
	if l := links(s.Links); l != "" {
		blocks = append(blocks, contextBlock(l))
	}
	text := headline(s, false)
	if s.Reason != "" {
		text += "\n" + escape(s.Reason)
	}
	return message{text: fit(text, maxFallbackText, false), blocks: blocks}
}

// headline is the notification's first line: the pipeline's own text for the point when it has
// one, else what happened to what. bold marks names up for blocks; the fallback text goes to
// push notifications, which show mrkdwn marks as they are.
func headline(s Subject, bold bool) string {
	if s.Text != "" {
		// The text is the pipeline author's message, written as mrkdwn: it is sent as written.
		return fit(s.Text, maxSectionText, false)
	}
	name := func(n string) string {
		if bold {
			return "*" + escape(n) + "*"
		}
		return escape(n)
	}
	pipeline := name(pipelineName(s))
	stage := name(stageName(s.Stage))
	var h string
	switch s.Point {
	case PipelineStarting:
		h = pipeline + " started"
	case PipelineComplete:
		h = pipeline + " succeeded"
	case PipelineFailed:
		h = pipeline + " failed"
	case StageStarting:
		h = "Stage " + stage + " of " + pipeline + " started"
	case StageComplete:
		h = "Stage " + stage + " of " + pipeline + " succeeded"
	case StageFailed:
		h = "Stage " + stage + " of " + pipeline + " failed"
	case ManualJudgment:
		h = "Stage " + stage + " of " + pipeline + " is waiting for a manual judgment"
	case ManualJudgmentContinue:
		h = "Judgment on " + stage + " of " + pipeline + ": continued"
	case ManualJudgmentStop:
		h = "Judgment on " + stage + " of " + pipeline + ": stopped"
	default:
		h = pipeline + ": " + escape(string(s.Point))
	}
	return fit(h, maxSectionText, false)
}

// executionFacts are the short facts about the execution that go under a headline.
func executionFacts(s Subject) []string {
	var facts []string
	if s.ExecutionID != "" {
		facts = append(facts, "Execution `"+escape(s.ExecutionID)+"`")
	}
	if t := trigger(s); t != "" {
		facts = append(facts, t)
	}
	return facts
}

// trigger says what started the execution and who, when known.
func trigger(s Subject) string {
	switch {
	case s.TriggerType != "" && s.TriggerUser != "":
		return "Trigger: " + escape(s.TriggerType) + " by " + escape(s.TriggerUser)
	case s.TriggerType != "":
		return "Trigger: " + escape(s.TriggerType)
	case s.TriggerUser != "":
		return "Triggered by " + escape(s.TriggerUser)
	}
	return ""
}

// judgmentMessage renders the interactive message of a manual judgment: what waits, then one
// button per input, Continue and Stop.
func judgmentMessage(req JudgmentRequest) (message, error) {
	if req.ExecutionID == "" || req.Stage == nil || req.Stage.RefID == "" {
		// The buttons would carry a decision the interaction handler cannot place.
		return message{}, fmt.Errorf("%w: a judgment needs its execution ID and its stage's refId", ErrBadMessage)
	}
	blocks := judgmentContext(req)
	actions, err := judgmentActions(req)
	if err != nil {
		return message{}, err
	}
	blocks = append(blocks, actions...)
	if len(blocks) > maxBlocks {
		return message{}, fmt.Errorf("%w: %d judgment inputs need %d blocks, more than Slack's %d", ErrBadMessage, len(req.Inputs), len(blocks), maxBlocks)
	}
	text := "Manual judgment: " + escape(stageName(req.Stage)) + " of " + escape(pipelineName(req.Subject)) + " is waiting for a decision"
	return message{text: fit(text, maxFallbackText, false), blocks: blocks}, nil
}

// judgmentContext is what a judgment message tells before its buttons; the message that replaces
// it after the decision keeps it, so the channel still sees what was decided on.
func judgmentContext(req JudgmentRequest) []slack.Block {
	blocks := []slack.Block{header("Manual judgment: " + stageName(req.Stage))}
	if strings.TrimSpace(req.Instructions) != "" {
		// Instructions are the pipeline author's mrkdwn: sent as written.
		blocks = append(blocks, section(fit(req.Instructions, maxSectionText, false)))
	}
	// The header names the stage only, so the facts start with the pipeline.
	facts := append([]string{"*" + escape(pipelineName(req.Subject)) + "*"}, executionFacts(req.Subject)...)
	if len(req.Roles) > 0 {
		facts = append(facts, "Who may decide: "+escape(strings.Join(req.Roles, ", ")))
	}
	blocks = append(blocks, contextBlock(facts...))
	if l := links(req.Links); l != "" {
		blocks = append(blocks, contextBlock(l))
	}
	return blocks
}

// judgmentActions are the judgment's buttons, in as many actions blocks as Slack's limit of 25
// elements per block needs. The first block's ID is JudgmentActionID, which the interaction
// handler looks for; the others are numbered from 2.
func judgmentActions(req JudgmentRequest) ([]slack.Block, error) {
	type choice struct {
		text   string
		status string
		input  string
		style  slack.Style
	}
	var choices []choice
	seen := map[string]bool{}
	for _, in := range req.Inputs {
		// An empty input is Continue itself, and a repeated one would be two buttons doing the same.
		if in == "" || seen[in] {
			continue
		}
		seen[in] = true
		choices = append(choices, choice{text: in, status: "continue", input: in})
	}
	choices = append(choices,
		choice{text: "Continue", status: "continue", style: slack.StylePrimary},
		choice{text: "Stop", status: "stop", style: slack.StyleDanger},
	)

	var blocks []slack.Block
	var elements []slack.BlockElement
	flush := func() {
		id := JudgmentActionID
		if n := len(blocks); n > 0 {
			id += ":" + strconv.Itoa(n+1)
		}
		blocks = append(blocks, slack.NewActionBlock(id, elements...))
		elements = nil
	}
	for i, c := range choices {
		value, err := EncodeAction(JudgmentAction{ExecutionID: req.ExecutionID, RefID: req.Stage.RefID, Status: c.status, Input: c.input})
		if err != nil {
			return nil, fmt.Errorf("%w: input %q: %v", ErrBadMessage, fit(c.input, 40, false), err)
		}
		b := slack.NewButtonBlockElement(JudgmentActionID+":"+strconv.Itoa(i), value, plain(c.text, maxButtonText))
		if c.style != "" {
			b = b.WithStyle(c.style)
		}
		if c.status == "stop" {
			b = b.WithConfirm(stopConfirmation(req))
		}
		elements = append(elements, b)
		if len(elements) == maxActions {
			flush()
		}
	}
	if len(elements) > 0 {
		flush()
	}
	return blocks, nil
}

// stopConfirmation asks before Stop, because stopping fails the execution and cannot be undone.
func stopConfirmation(req JudgmentRequest) *slack.ConfirmationBlockObject {
	text := "The execution of " + pipelineName(req.Subject) + " fails at " + stageName(req.Stage) + "."
	return slack.NewConfirmationBlockObject(
		plain("Stop the pipeline?", maxConfirmTitle),
		plain(text, maxConfirmText),
		plain("Stop", maxButtonText),
		plain("Cancel", maxButtonText),
	).WithStyle(slack.StyleDanger)
}

// decisionMessage replaces a judgment message once it no longer waits: the same context, and
// the outcome where the buttons were, so nobody clicks a judgment that is over.
func decisionMessage(req JudgmentRequest, d Decision) message {
	outcome := decisionText(d)
	blocks := append(judgmentContext(req), section(fit(outcome, maxSectionText, false)))
	text := outcome + " (" + escape(stageName(req.Stage)) + " of " + escape(pipelineName(req.Subject)) + ")"
	return message{text: fit(text, maxFallbackText, false), blocks: blocks}
}

// decisionText says how the judgment ended, who decided and when.
func decisionText(d Decision) string {
	var verb string
	switch d.Status {
	case "continue":
		verb = "✅ Continued"
	case "stop":
		verb = "🛑 Stopped"
	default:
		t := "⏹ No longer waiting"
		if d.Ended != "" {
			t += ": " + escape(d.Ended)
		}
		return t
	}
	if d.User != "" {
		verb += " by " + escape(d.User)
	}
	if !d.Time.IsZero() {
		verb += " at " + d.Time.UTC().Format("2006-01-02 15:04 UTC")
	}
	if d.Input != "" {
		verb += " — input: " + escape(d.Input)
	}
	return verb
}

// reminderText is the reply in a judgment message's thread saying it still waits.
func reminderText(req JudgmentRequest) string {
	t := "Still waiting for a judgment on *" + escape(stageName(req.Stage)) + "* of *" + escape(pipelineName(req.Subject)) + "*"
	if l := links(req.Links); l != "" {
		t += ": " + l
	}
	return fit(t, maxFallbackText, false)
}

// links renders the execution's links as mrkdwn, leaving out the empty ones.
func links(l Links) string {
	var parts []string
	if l.Execution != "" {
		parts = append(parts, link(l.Execution, "Execution"))
	}
	if l.Temporal != "" {
		parts = append(parts, link(l.Temporal, "Temporal history"))
	}
	return strings.Join(parts, " · ")
}

// link is a mrkdwn link. The characters that would end the link early are percent-encoded in
// the URL, where they mean the same.
func link(url, text string) string {
	url = strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E", " ", "%20").Replace(url)
	return "<" + url + "|" + escape(text) + ">"
}

// pipelineName is "application / pipeline", as people name a pipeline.
func pipelineName(s Subject) string {
	switch {
	case s.Application != "" && s.Pipeline != "":
		return s.Application + " / " + s.Pipeline
	case s.Pipeline != "":
		return s.Pipeline
	case s.Application != "":
		return s.Application
	}
	return "a pipeline"
}

// stageName names a stage by its name, else its reference ID.
func stageName(st *StageSubject) string {
	switch {
	case st == nil:
		return "a stage"
	case st.Name != "":
		return st.Name
	case st.RefID != "":
		return st.RefID
	}
	return "a stage"
}

func section(mrkdwn string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, mrkdwn, false, false), nil, nil)
}

func header(text string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(plain(text, maxHeaderText))
}

// contextBlock is a context block of mrkdwn elements; Slack allows ten, and no caller needs more.
func contextBlock(mrkdwn ...string) *slack.ContextBlock {
	elements := make([]slack.MixedElement, 0, len(mrkdwn))
	for _, m := range mrkdwn {
		elements = append(elements, slack.NewTextBlockObject(slack.MarkdownType, fit(m, maxSectionText, false), false, false))
	}
	return slack.NewContextBlock("", elements...)
}

func plain(text string, limit int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, fit(text, limit, false), true, false)
}

// escaper turns the characters mrkdwn treats as markup into the entities Slack expects, so a
// name or a reason cannot become a link or an @channel mention.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

// fit cuts s to limit characters, ending with "…" when it was cut. With esc, s is escaped first
// and never cut inside an entity. Characters are counted in UTF-16 code units, as Slack's
// JavaScript counts them, so that an emoji counts for two and the limit holds either way.
func fit(s string, limit int, esc bool) string {
	full := s
	if esc {
		full = escape(s)
	}
	if width(full) <= limit {
		return full
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece := string(r)
		if esc {
			piece = escape(piece)
		}
		w := width(piece)
		if n+w > limit-1 {
			break
		}
		b.WriteString(piece)
		n += w
	}
	return b.String() + "…"
}

// width is the length of s in UTF-16 code units.
func width(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
