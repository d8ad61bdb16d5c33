package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/slack-go/slack"

	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

// SlackSettings turns on POST /slack/interactions, where Slack sends the clicks on judgment buttons.
type SlackSettings struct {
	// SigningSecret is the Slack app's signing secret; a request not signed with it is refused.
	SigningSecret string
	// Users finds the email of a Slack user the Users directory does not list; nil: only listed users.
	Users SlackUsers
	// HTTPClient answers clicks through their response_url; nil uses http.DefaultClient.
	HTTPClient *http.Client
	// Replays remembers accepted signatures; nil: the server keeps its own.
	Replays *notify.ReplayGuard
}

// SlackUsers tells who a Slack user is by the email of their Slack profile (*notify.Slack does).
type SlackUsers interface {
	UserEmail(ctx context.Context, slackUserID string) (string, error)
}

const (
	// interactionTimeout bounds the work on one click, which runs after Slack got its answer.
	interactionTimeout = 30 * time.Second
)

// Drain waits until every Slack click answered so far has been processed. The app calls it on
// shutdown after the HTTP server stopped taking requests, so a decision is not dropped half way.
func (s *Server) Drain() { s.background.wait() }

// replayGuard is the configured guard, or one the server made, made once.
func (s *Server) replayGuard() *notify.ReplayGuard {
	s.replaysOnce.Do(func() {
		if s.Slack != nil && s.Slack.Replays != nil {
			s.replays = s.Slack.Replays
			return
		}
		// A signature stays valid for the signature window, so it must be remembered a little longer.
		s.replays = notify.NewReplayGuard(notify.SlackSignatureWindow + time.Minute)
	})
	return s.replays
}

// slackInteractions checks that a request comes from Slack and answers it at once, as Slack gives
// up after three seconds; the click itself is processed in the background.
func (s *Server) slackInteractions(c *gin.Context) {
	if s.Slack == nil {
		abort(c, http.StatusNotFound, "Slack interactivity is not configured (set --slack-signing-secret)")
		return
	}
	body, ok := readBody(c)
	if !ok {
		return
	}
	if err := notify.VerifySlackRequest(c.Request.Header, body, s.Slack.SigningSecret); err != nil {
		s.Logger.Warn("Slack interaction refused", "error", err, "remote", c.ClientIP())
		abort(c, http.StatusUnauthorized, err.Error())
		return
	}
	// Only a verified request is remembered, so forged ones cannot fill the guard.
	if !s.replayGuard().First(c.GetHeader("X-Slack-Signature"), time.Now()) {
		s.Logger.Warn("Slack interaction refused", "error", notify.ErrReplayed, "remote", c.ClientIP())
		abort(c, http.StatusUnauthorized, notify.ErrReplayed.Error())
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		abort(c, http.StatusBadRequest, "the request has no interaction payload (a form field named payload)")
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		abort(c, http.StatusBadRequest, "the interaction payload is not valid: "+err.Error())
		return
	}
	value, ok := judgmentButton(cb)
	if !ok {
		// Other interactions of the same Slack app are none of gennaker's business.
		c.Status(http.StatusOK)
		return
	}
	click := judgmentClick{slackUserID: cb.User.ID, responseURL: cb.ResponseURL, value: value}
	s.background.add()
	go func() {
		defer s.background.done()
		// The request's context ends with the answer; the click needs its own.
		ctx, cancel := context.WithTimeout(context.Background(), interactionTimeout)
		defer cancel()
		s.processJudgmentClick(ctx, click)
	}()
	c.Status(http.StatusOK)
}

// judgmentButton finds the value of a judgment button click in an interaction.
func judgmentButton(cb slack.InteractionCallback) (string, bool) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return "", false
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a != nil && strings.HasPrefix(a.ActionID, notify.JudgmentActionID) {
			return a.Value, true
		}
	}
	return "", false
}

// judgmentClick is what the background work needs of a click, copied out of the request.
type judgmentClick struct {
	slackUserID string
	responseURL string
	value       string
}

// processJudgmentClick makes the judgment a click asks for, as the gennaker user the clicker is,
// and tells the clicker privately when it was not made.
func (s *Server) processJudgmentClick(ctx context.Context, click judgmentClick) {
	log := s.Logger.With("via", "slack", "slackUser", click.slackUserID)
	answer := func(text string) {
		if click.responseURL == "" {
			log.Warn("cannot answer a Slack click without a response_url", "answer", text)
			return
		}
		if err := notify.Ephemeral(ctx, s.Slack.HTTPClient, click.responseURL, text); err != nil {
			log.Warn("answering a Slack click", "error", err, "answer", text)
		}
	}
	action, err := notify.DecodeAction(click.value)
	if err != nil {
		log.Warn("a Slack click carried no judgment", "error", err)
		answer("gennaker could not read this button: " + err.Error())
		return
	}
	log = log.With("execution", action.ExecutionID, "stage", action.RefID)
	user, err := s.slackUser(ctx, click.slackUserID)
	if err != nil {
		log.Warn("judgment refused: the Slack user is not known", "error", err)
		answer("gennaker could not tell who you are: " + err.Error())
		return
	}
	log = log.With("user", user)
	res := s.makeJudgment(ctx, log, judgmentAttempt{
		ExecutionID: action.ExecutionID,
		RefID:       action.RefID,
		Status:      action.Status,
		Input:       action.Input,
		User:        user,
	})
	if res.Outcome != judgmentDelivered && res.Outcome != judgmentRefused && res.Outcome != judgmentFailed {
		// makeJudgment logs role refusals itself; these are refusals too, of a late or odd click.
		log.Info("judgment from Slack not made", "reason", res.Reason)
	}
	switch res.Outcome {
	case judgmentDelivered:
		// The workflow took it (a second click was refused by it, below); it updates the message.
		log.Info("judgment from Slack recorded", "judgmentStatus", res.Attempt.Status, "judgmentInput", res.Attempt.Input)
	case judgmentNoExecution:
		answer(fmt.Sprintf("gennaker has no execution %s.", action.ExecutionID))
	case judgmentNoStage, judgmentNotJudgment, judgmentBadRequest:
		answer("gennaker cannot take this decision: " + res.Reason + ".")
	case judgmentDecided:
		if res.Stage != nil && res.Stage.Judgment != nil {
			answer("Already decided by " + describeJudgment(*res.Stage.Judgment) + ".")
		} else {
			// The workflow refused it, having just taken another's: its words say whose.
			answer(strings.ToUpper(res.Reason[:1]) + res.Reason[1:] + ".")
		}
	case judgmentNotWaiting:
		answer(noLongerWaiting(res))
	case judgmentRefused:
		// makeJudgment logged the refusal.
		answer(fmt.Sprintf("You (%s) may not decide this judgment: %s.", user, res.Reason))
	default:
		log.Error("delivering a judgment from Slack", "error", res.Err, "reason", res.Reason)
		answer(fmt.Sprintf("gennaker could not deliver your decision, try again: %s: %v", res.Reason, res.Err))
	}
}

// noLongerWaiting tells a clicker that the stage stopped waiting without a judgment.
func noLongerWaiting(res judgmentResult) string {
	why := "status " + string(res.Stage.Status)
	if res.Ended {
		why = "the execution has ended"
	}
	return fmt.Sprintf("%s/%s execution %s is no longer waiting for a judgment on %s (%s).",
		res.Exec.Application, res.Exec.Name, res.Exec.ID, stageName(res.Stage), why)
}

func stageName(st *pipeline.StageExecution) string {
	if st.Name != "" {
		return st.Name
	}
	return st.RefID
}

// slackUser finds the gennaker user a Slack user is: the one the directory gives that Slack ID,
// else the email of their Slack profile.
func (s *Server) slackUser(ctx context.Context, slackUserID string) (string, error) {
	if slackUserID == "" {
		return "", errors.New("the click names no Slack user")
	}
	if u, ok := s.Users.BySlackID(slackUserID); ok {
		return u.Name, nil
	}
	if s.Slack.Users == nil {
		return "", fmt.Errorf("the Slack user %s is not in gennaker's user list", slackUserID)
	}
	email, err := s.Slack.Users.UserEmail(ctx, slackUserID)
	if err != nil {
		return "", fmt.Errorf("asking Slack: %w", err)
	}
	email = strings.TrimSpace(email)
	if email == "" {
		return "", fmt.Errorf("the Slack user %s has no email in their profile and is not in gennaker's user list", slackUserID)
	}
	// A user the list ties to another Slack account is not taken over by a profile that shows
	// the same email.
	if u, ok := s.Users.ByName(email); ok && u.SlackID != "" && u.SlackID != slackUserID {
		return "", fmt.Errorf("the Slack user %s shows the email %s, which gennaker's user list gives another Slack user", slackUserID, email)
	}
	return email, nil
}

// inflight counts work still running after its request was answered. Unlike sync.WaitGroup it
// allows new work to start while someone waits, as parallel tests and a draining server do.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero; nil while nobody waits
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n--; f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

func (f *inflight) wait() {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()
	<-idle
}
