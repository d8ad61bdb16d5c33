package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "xoxb-test-token"

// slackAPI is slacktest's server with the methods gennaker calls answered like Slack does, and
// every form it received recorded. slacktest's own chat.postMessage does not answer with a
// channel ID, its users.info answers one fixed user and it has no chat.update, so these are
// registered through its Binder: a Handle after NewTestServer is ignored for a path it serves.
type slackAPI struct {
	mu    sync.Mutex
	forms map[string][]url.Values
}

// Channels the fake workspace has, by name; a post to any other name is channel_not_found.
var testChannels = map[string]string{"deploys": "C0DEPLOYS", "C0DEPLOYS": "C0DEPLOYS"}

// Users the fake workspace has; U0BOT has no email, as a bot or a missing scope gives.
var testUsers = map[string]string{"U0ALICE": "alice@example.com", "U0BOT": ""}

const testTS = "1700000000.000100"

func (a *slackAPI) record(method string, r *http.Request) (url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forms[method] = append(a.forms[method], r.PostForm)
	return r.PostForm, r.PostForm.Get("token") == testToken
}

func (a *slackAPI) received(method string) []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.forms[method]...)
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func slackError(w http.ResponseWriter, code string) {
	answer(w, map[string]any{"ok": false, "error": code})
}

func (a *slackAPI) bind(c slacktest.Customize) {
	c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
		form, authed := a.record("chat.postMessage", r)
		if !authed {
			slackError(w, "invalid_auth")
			return
		}
		id, ok := testChannels[form.Get("channel")]
		if !ok {
			slackError(w, "channel_not_found")
			return
		}
		answer(w, map[string]any{"ok": true, "channel": id, "ts": testTS})
	})
	c.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
		form, authed := a.record("chat.update", r)
		if !authed {
			slackError(w, "invalid_auth")
			return
		}
		if form.Get("ts") != testTS {
			slackError(w, "message_not_found")
			return
		}
		answer(w, map[string]any{"ok": true, "channel": form.Get("channel"), "ts": form.Get("ts"), "text": form.Get("text")})
	})
	c.Handle("/users.info", func(w http.ResponseWriter, r *http.Request) {
		form, authed := a.record("users.info", r)
		if !authed {
			slackError(w, "invalid_auth")
			return
		}
		id := form.Get("user")
		email, ok := testUsers[id]
		if !ok {
			slackError(w, "user_not_found")
			return
		}
		answer(w, map[string]any{"ok": true, "user": map[string]any{"id": id, "name": id, "profile": map[string]any{"email": email}}})
	})
}

// newTestSlack starts a Slack API for one test and a notifier talking to it.
func newTestSlack(t *testing.T) (*Slack, *slackAPI) {
	t.Helper()
	api := &slackAPI{forms: map[string][]url.Values{}}
	s := slacktest.NewTestServer(api.bind)
	s.Start()
	t.Cleanup(s.Stop)
	return NewSlack(testToken, WithAPIURL(s.GetAPIURL())), api
}

// newFailingSlack is a Slack API whose chat.postMessage always answers with h.
func newFailingSlack(t *testing.T, h http.HandlerFunc) *Slack {
	t.Helper()
	s := slacktest.NewTestServer(func(c slacktest.Customize) { c.Handle("/chat.postMessage", h) })
	s.Start()
	t.Cleanup(s.Stop)
	return NewSlack(testToken, WithAPIURL(s.GetAPIURL()), WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
}

func TestSlackNotify(t *testing.T) {
	for _, address := range []string{"#deploys", "deploys", "C0DEPLOYS"} {
		t.Run(address, func(t *testing.T) {
			n, api := newTestSlack(t)
			s := subject(PipelineFailed)
			s.Reason = "stage Deploy to prod failed"
			ref, err := n.Notify(context.Background(), address, s)
			require.NoError(t, err)
			assert.Equal(t, MessageRef{Channel: "C0DEPLOYS", TS: testTS}, ref)

			forms := api.received("chat.postMessage")
			require.Len(t, forms, 1)
			form := forms[0]
			assert.Equal(t, strings.TrimPrefix(address, "#"), form.Get("channel"))
			assert.Equal(t, "web / release failed\nstage Deploy to prod failed", form.Get("text"))
			assert.Empty(t, form.Get("thread_ts"))
			texts := allText(parseBlocks(t, form.Get("blocks")))
			assert.Contains(t, texts, "*web / release* failed")
			assert.Contains(t, texts, "<https://gennaker.example/api/v1/executions/01HEXEC|Execution> · <https://temporal.example/namespaces/default/workflows/01HEXEC|Temporal history>")
		})
	}
}

func TestSlackPostJudgment(t *testing.T) {
	n, api := newTestSlack(t)
	req := JudgmentRequest{Subject: subject(ManualJudgment), Instructions: "Check the canary.", Inputs: []string{"deploy", "rollback"}, Roles: []string{"sre"}}
	ref, err := n.PostJudgment(context.Background(), "#deploys", req)
	require.NoError(t, err)
	assert.Equal(t, MessageRef{Channel: "C0DEPLOYS", TS: testTS}, ref)

	forms := api.received("chat.postMessage")
	require.Len(t, forms, 1)
	assert.Equal(t, "deploys", forms[0].Get("channel"))
	blocks := parseBlocks(t, forms[0].Get("blocks"))
	assert.Contains(t, allText(blocks), "Who may decide: sre")

	bs := buttons(t, blocks)
	require.Len(t, bs, 4)
	ids := map[string]bool{}
	var got []JudgmentAction
	for _, b := range bs {
		assert.Equal(t, JudgmentActionID, b.blockID)
		assert.True(t, strings.HasPrefix(b.actionID, JudgmentActionID+":"), b.actionID)
		assert.False(t, ids[b.actionID], "action_id %s repeats", b.actionID)
		ids[b.actionID] = true
		a, err := DecodeAction(b.value)
		require.NoError(t, err)
		got = append(got, a)
	}
	assert.Equal(t, []JudgmentAction{
		{ExecutionID: "01HEXEC", RefID: "3", Status: "continue", Input: "deploy"},
		{ExecutionID: "01HEXEC", RefID: "3", Status: "continue", Input: "rollback"},
		{ExecutionID: "01HEXEC", RefID: "3", Status: "continue"},
		{ExecutionID: "01HEXEC", RefID: "3", Status: "stop"},
	}, got)
}

func TestSlackPostJudgmentRefusedBeforeSending(t *testing.T) {
	n, api := newTestSlack(t)
	req := JudgmentRequest{Subject: subject(ManualJudgment)}
	req.Stage = nil
	_, err := n.PostJudgment(context.Background(), "#deploys", req)
	require.ErrorIs(t, err, ErrBadMessage)
	assert.True(t, IsPermanent(err))
	assert.Empty(t, api.received("chat.postMessage"))
}

func TestSlackRemindJudgment(t *testing.T) {
	n, api := newTestSlack(t)
	ref := MessageRef{Channel: "C0DEPLOYS", TS: testTS}
	require.NoError(t, n.RemindJudgment(context.Background(), ref, JudgmentRequest{Subject: subject(ManualJudgment)}))

	forms := api.received("chat.postMessage")
	require.Len(t, forms, 1)
	form := forms[0]
	assert.Equal(t, "C0DEPLOYS", form.Get("channel"))
	assert.Equal(t, testTS, form.Get("thread_ts"))
	assert.Equal(t, "true", form.Get("reply_broadcast"))
	assert.Contains(t, form.Get("text"), "Still waiting for a judgment on *Deploy to prod* of *web / release*")
	assert.Contains(t, form.Get("text"), "<https://gennaker.example/api/v1/executions/01HEXEC|Execution>")
}

func TestSlackUpdateJudgment(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 3, 0, 0, time.UTC)
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"continued with input", Decision{Status: "continue", Input: "deploy", User: "alice@example.com", Time: at}, "✅ Continued by alice@example.com at 2026-11-23 14:03 UTC — input: deploy"},
		{"stopped", Decision{Status: "stop", User: "alice@example.com", Time: at}, "🛑 Stopped by alice@example.com at 2026-11-23 14:03 UTC"},
		{"timed out", Decision{Ended: "timed out", Time: at}, "⏹ No longer waiting: timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, api := newTestSlack(t)
			ref := MessageRef{Channel: "C0DEPLOYS", TS: testTS}
			req := JudgmentRequest{Subject: subject(ManualJudgment), Inputs: []string{"deploy"}}
			require.NoError(t, n.UpdateJudgment(context.Background(), ref, req, tt.d))

			forms := api.received("chat.update")
			require.Len(t, forms, 1)
			form := forms[0]
			assert.Equal(t, "C0DEPLOYS", form.Get("channel"))
			assert.Equal(t, testTS, form.Get("ts"))
			assert.True(t, strings.HasPrefix(form.Get("text"), tt.want), form.Get("text"))
			blocks := parseBlocks(t, form.Get("blocks"))
			assert.NotContains(t, blockTypes(blocks), "actions")
			assert.Contains(t, allText(blocks), tt.want)
			assert.Contains(t, allText(blocks), "Manual judgment: Deploy to prod")
		})
	}
}

func TestSlackUpdateJudgmentOfMissingMessage(t *testing.T) {
	n, _ := newTestSlack(t)
	err := n.UpdateJudgment(context.Background(), MessageRef{Channel: "C0DEPLOYS", TS: "1.2"}, JudgmentRequest{Subject: subject(ManualJudgment)}, Decision{Status: "stop"})
	require.Error(t, err)
	assert.Equal(t, "updating the judgment message C0DEPLOYS/1.2: message_not_found", err.Error())
	assert.True(t, IsPermanent(err))
}

func TestSlackUserEmail(t *testing.T) {
	n, api := newTestSlack(t)
	email, err := n.UserEmail(context.Background(), "U0ALICE")
	require.NoError(t, err)
	assert.Equal(t, "alice@example.com", email)
	forms := api.received("users.info")
	require.Len(t, forms, 1)
	assert.Equal(t, "U0ALICE", forms[0].Get("user"))

	_, err = n.UserEmail(context.Background(), "U0BOT")
	require.ErrorIs(t, err, ErrNoEmail)
	assert.True(t, IsPermanent(err))

	_, err = n.UserEmail(context.Background(), "U0NOBODY")
	require.Error(t, err)
	assert.Equal(t, "looking up Slack user U0NOBODY: user_not_found", err.Error())
	assert.True(t, IsPermanent(err))
}

func TestSlackWrongToken(t *testing.T) {
	s := slacktest.NewTestServer((&slackAPI{forms: map[string][]url.Values{}}).bind)
	s.Start()
	defer s.Stop()
	n := NewSlack("xoxb-revoked", WithAPIURL(s.GetAPIURL()))
	_, err := n.Notify(context.Background(), "#deploys", subject(PipelineComplete))
	require.Error(t, err)
	assert.Equal(t, "posting to #deploys: invalid_auth", err.Error())
	assert.True(t, IsPermanent(err))
}

func TestSlackErrorClasses(t *testing.T) {
	tests := []struct {
		name          string
		handler       http.HandlerFunc
		wantMessage   string
		wantPermanent bool
		wantRetry     time.Duration
	}{
		{
			name:          "unknown channel",
			handler:       func(w http.ResponseWriter, r *http.Request) { slackError(w, "channel_not_found") },
			wantMessage:   "posting to #deploys: channel_not_found",
			wantPermanent: true,
		},
		{
			name:          "archived channel",
			handler:       func(w http.ResponseWriter, r *http.Request) { slackError(w, "is_archived") },
			wantMessage:   "posting to #deploys: is_archived",
			wantPermanent: true,
		},
		{
			name:        "a Slack error worth retrying",
			handler:     func(w http.ResponseWriter, r *http.Request) { slackError(w, "internal_error") },
			wantMessage: "posting to #deploys: internal_error",
		},
		{
			name: "rate limited",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			wantMessage: "posting to #deploys: slack rate limit exceeded, retry after 7s",
			wantRetry:   7 * time.Second,
		},
		{
			name: "Slack is down",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "<html>oops</html>", http.StatusServiceUnavailable)
			},
			wantMessage: "posting to #deploys: slack server error: 503 Service Unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFailingSlack(t, tt.handler)
			_, err := n.Notify(context.Background(), "#deploys", subject(PipelineComplete))
			require.Error(t, err)
			assert.Equal(t, tt.wantMessage, err.Error())
			assert.Equal(t, tt.wantPermanent, IsPermanent(err))
			retry, ok := RetryAfter(err)
			assert.Equal(t, tt.wantRetry != 0, ok)
			assert.Equal(t, tt.wantRetry, retry)
		})
	}
}

func TestSlackUnreachable(t *testing.T) {
	s := slacktest.NewTestServer()
	s.Start()
	apiURL := s.GetAPIURL()
	s.Stop()
	n := NewSlack(testToken, WithAPIURL(apiURL))
	_, err := n.Notify(context.Background(), "#deploys", subject(PipelineComplete))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "posting to #deploys: "), err.Error())
	assert.False(t, IsPermanent(err))
	_, ok := RetryAfter(err)
	assert.False(t, ok)
}

func TestIsPermanentOfOtherErrors(t *testing.T) {
	assert.False(t, IsPermanent(nil))
	assert.False(t, IsPermanent(errors.New("connection reset by peer")))
	assert.False(t, IsPermanent(context.DeadlineExceeded))
}
