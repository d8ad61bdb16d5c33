package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/gennaker/gennaker/api"
	"github.com/gennaker/gennaker/notify"
)

// The real Slack client is what the API asks who a Slack user is.
var _ api.SlackUsers = (*notify.Slack)(nil)

const slackPath = "/slack/interactions"

// slackHeaders signs a body as Slack does: HMAC-SHA256 of "v0:timestamp:body" with the secret.
func slackHeaders(body string, at time.Time, secret string) map[string]string {
	stamp := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + stamp + ":" + body))
	return map[string]string{
		"Content-Type":              "application/x-www-form-urlencoded",
		"X-Slack-Request-Timestamp": stamp,
		"X-Slack-Signature":         "v0=" + hex.EncodeToString(mac.Sum(nil)),
	}
}

// slackPost sends a body to the interaction endpoint signed at a time with a secret, and waits
// until the API has processed whatever it accepted.
func (e *testEnv) slackPost(t *testing.T, body string, at time.Time, secret string) response {
	t.Helper()
	r := e.do(t, request{method: http.MethodPost, path: slackPath, body: body, headers: slackHeaders(body, at, secret)})
	e.server.Drain()
	return r
}

// interaction is the payload Slack posts for an interaction of type typ with one button action.
func interaction(t *testing.T, typ, slackUserID, responseURL, actionID, value string) string {
	t.Helper()
	payload := map[string]any{
		"type":         typ,
		"token":        "legacy-verification-token",
		"api_app_id":   "A0GENNAKER",
		"trigger_id":   "1234.5678.abcdef",
		"team":         map[string]any{"id": "T0TEAM", "domain": "example"},
		"user":         map[string]any{"id": slackUserID, "username": strings.ToLower(slackUserID), "team_id": "T0TEAM"},
		"channel":      map[string]any{"id": "C0DEPLOYS", "name": "deploys"},
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0DEPLOYS"},
		"response_url": responseURL,
		"actions": []any{map[string]any{
			"type":      "button",
			"action_id": actionID,
			"block_id":  "judgment",
			"value":     value,
			"text":      map[string]any{"type": "plain_text", "text": "Continue"},
			"action_ts": "1700000001.000200",
		}},
	}
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return "payload=" + url.QueryEscape(string(data))
}

// judgmentClick is the body of a click on a judgment button of the message for execution id.
func judgmentClick(t *testing.T, slackUserID, responseURL, id, status, input string) string {
	t.Helper()
	value, err := notify.EncodeAction(notify.JudgmentAction{ExecutionID: id, RefID: "1", Status: status, Input: input})
	if err != nil {
		t.Fatal(err)
	}
	return interaction(t, "block_actions", slackUserID, responseURL, notify.JudgmentActionID+":0", value)
}

// click sends a correctly signed judgment click and expects Slack's 200 with nothing to show.
func (e *testEnv) click(t *testing.T, slackUserID, responseURL, id, status, input string) {
	t.Helper()
	r := e.slackPost(t, judgmentClick(t, slackUserID, responseURL, id, status, input), time.Now(), e.slackSecret)
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("click answered %d %s, want 200 and no body", r.status, r.body)
	}
}

// waitingJudgment starts a one-stage pipeline whose manual judgment requires one of roles (none:
// anyone may decide) and returns the execution once the judgment waits.
func (e *testEnv) waitingJudgment(t *testing.T, name string, roles ...string) string {
	t.Helper()
	st := map[string]any{"refId": "1", "type": "manualJudgment", "name": "Approve",
		"judgmentInputs": []any{map[string]any{"value": "ship"}, map[string]any{"value": "hold"}}}
	if len(roles) > 0 {
		st["selectedStageRoles"] = roles
	}
	e.savePipeline(t, "slacky", name, map[string]any{"stages": []any{st}})
	s := e.start(t, "slacky", name, nil)
	e.waitFor(t, s.ID, 20*time.Second, "the judgment waits", stageIs("1", "RUNNING"))
	return s.ID
}

// expectWaiting fails unless the execution's judgment still waits, undecided.
func (e *testEnv) expectWaiting(t *testing.T, id string) {
	t.Helper()
	x := e.getExecution(t, id)
	if st := x.stage(t, "1"); x.Status != "RUNNING" || st.Status != "RUNNING" || st.Judgment != nil {
		t.Fatalf("the judgment no longer waits: execution %s, stage %s, judgment %+v", x.Status, st.Status, st.Judgment)
	}
}

// expectDecided waits for the execution to end as the judgment says and checks who decided.
func (e *testEnv) expectDecided(t *testing.T, id, status, input, user string) {
	t.Helper()
	x := e.waitFor(t, id, 30*time.Second, "the execution ends", func(x execution) bool {
		return x.Status != "RUNNING" && x.Status != "NOT_STARTED"
	})
	want := map[string]string{"continue": "SUCCEEDED", "stop": "TERMINAL"}[status]
	j := x.stage(t, "1").Judgment
	if x.Status != want || j == nil || j.Status != status || j.Input != input || j.User != user {
		t.Fatalf("execution ended %s with judgment %+v; want %s by %s (%s) ending %s", x.Status, j, status, user, input, want)
	}
}

// expectAnswers fails unless the response_url received exactly these messages, each ephemeral and
// each starting with its expected text.
func (e *testEnv) expectAnswers(t *testing.T, responseURL string, prefixes ...string) []string {
	t.Helper()
	got := e.answers.at(responseURL)
	texts := make([]string, len(got))
	for i, a := range got {
		texts[i] = a.Text
		if a.ResponseType != "ephemeral" || a.ReplaceOriginal {
			t.Errorf("answer %q is %q replacing the original %v; want ephemeral, leaving it", a.Text, a.ResponseType, a.ReplaceOriginal)
		}
	}
	if len(texts) != len(prefixes) {
		t.Fatalf("the clicker was told %q, want %d answers starting %q", texts, len(prefixes), prefixes)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(texts[i], p) {
			t.Errorf("answer %d = %q, want it to start %q", i, texts[i], p)
		}
	}
	return texts
}

func TestSlackClickJudges(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	id := e.waitingJudgment(t, "click", "release-managers")

	first := e.answers.newURL()
	e.click(t, aliceSlackID, first, id, "continue", "ship")
	e.expectDecided(t, id, "continue", "ship", alice)
	// The workflow updates the message itself; the clicker who decided is told nothing more.
	e.expectAnswers(t, first)

	// A second click on the message (a double click, or a click on a stale copy) is told who decided.
	second := e.answers.newURL()
	e.click(t, aliceSlackID, second, id, "stop", "")
	got := e.expectAnswers(t, second, "Already decided by alice@example.com: continue (ship) at ")
	if !strings.HasSuffix(got[0], " UTC.") {
		t.Errorf("the answer %q does not say when in UTC", got[0])
	}
	e.expectDecided(t, id, "continue", "ship", alice)
}

func TestSlackClickByProfileEmail(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	// carol is not listed by Slack ID: her Slack profile's email names her.
	id := e.waitingJudgment(t, "email", "sre")
	u := e.answers.newURL()
	e.click(t, carolSlackID, u, id, "stop", "hold")
	e.expectDecided(t, id, "stop", "hold", carol)
	e.expectAnswers(t, u)
}

func TestSlackConcurrentClicks(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	id := e.waitingJudgment(t, "concurrent", "release-managers", "sre")
	urls := map[string]string{alice: e.answers.newURL(), carol: e.answers.newURL()}
	bodies := map[string]string{
		alice: judgmentClick(t, aliceSlackID, urls[alice], id, "continue", "ship"),
		carol: judgmentClick(t, carolSlackID, urls[carol], id, "stop", "hold"),
	}
	var wg sync.WaitGroup
	for who, body := range bodies {
		wg.Go(func() {
			r := e.do(t, request{method: http.MethodPost, path: slackPath, body: body, headers: slackHeaders(body, time.Now(), e.slackSecret)})
			if r.status != http.StatusOK {
				t.Errorf("%s's click answered %d %s", who, r.status, r.body)
			}
		})
	}
	wg.Wait()
	e.server.Drain()

	x := e.waitFor(t, id, 30*time.Second, "the execution ends", func(x execution) bool { return x.Status != "RUNNING" })
	j := x.stage(t, "1").Judgment
	if j == nil || (j.User != alice && j.User != carol) {
		t.Fatalf("recorded judgment = %+v", j)
	}
	winner, loser := alice, carol
	if j.User == carol {
		winner, loser = carol, alice
	}
	// Only one click counts; the other clicker learns who won, the winner is told nothing.
	e.expectAnswers(t, urls[winner])
	e.expectAnswers(t, urls[loser], "Already decided by "+winner+": ")
}

func TestSlackRefusesUnverifiedRequests(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	id := e.waitingJudgment(t, "unverified", "release-managers")
	u := e.answers.newURL()
	forged := judgmentClick(t, aliceSlackID, u, id, "stop", "hold")

	cases := []struct {
		name    string
		headers map[string]string
	}{
		{"wrong secret", slackHeaders(forged, time.Now(), "not-the-signing-secret")},
		{"six minutes old", slackHeaders(forged, time.Now().Add(-6*time.Minute), e.slackSecret)},
		{"from the future", slackHeaders(forged, time.Now().Add(6*time.Minute), e.slackSecret)},
		{"unsigned", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{"signature of another body", slackHeaders(forged+"&x=1", time.Now(), e.slackSecret)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{method: http.MethodPost, path: slackPath, body: forged, headers: tc.headers})
			e.server.Drain()
			r.expectError(t, http.StatusUnauthorized)
		})
	}
	e.expectWaiting(t, id)
	e.expectAnswers(t, u)

	// A captured request, correctly signed, is taken once only: bob's refused click is told so
	// once, and its replay is refused before anything else happens.
	replayed := e.answers.newURL()
	body := judgmentClick(t, bobSlackID, replayed, id, "continue", "ship")
	at := time.Now()
	if r := e.slackPost(t, body, at, e.slackSecret); r.status != http.StatusOK {
		t.Fatalf("the first delivery answered %d %s", r.status, r.body)
	}
	got := e.slackPost(t, body, at, e.slackSecret).expectError(t, http.StatusUnauthorized)
	if got.Error != notify.ErrReplayed.Error() {
		t.Errorf("the replay was refused with %q", got.Error)
	}
	e.expectAnswers(t, replayed, "You (bob@example.com) may not decide this judgment")

	// None of it decided anything: alice's real click is the decision.
	e.expectWaiting(t, id)
	e.click(t, aliceSlackID, e.answers.newURL(), id, "continue", "ship")
	e.expectDecided(t, id, "continue", "ship", alice)
}

func TestSlackClickRefused(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	id := e.waitingJudgment(t, "refused", "release-managers")

	cases := []struct {
		name        string
		slackUserID string
		answer      string
	}{
		{"without the role", bobSlackID,
			"You (bob@example.com) may not decide this judgment: bob@example.com has none of the roles this judgment requires (release-managers)."},
		{"with another role", carolSlackID,
			"You (carol@example.com) may not decide this judgment: carol@example.com has none of the roles this judgment requires (release-managers)."},
		{"no email in the profile", noMailSlackID, "gennaker could not tell who you are: asking Slack: "},
		{"unknown to Slack", unknownSlackID, "gennaker could not tell who you are: asking Slack: "},
		{"a profile showing a listed user's email", impostorSlackID,
			"gennaker could not tell who you are: the Slack user UIMPOSTOR shows the email alice@example.com, which gennaker's user list gives another Slack user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := e.answers.newURL()
			e.click(t, tc.slackUserID, u, id, "continue", "ship")
			e.expectAnswers(t, u, tc.answer)
			e.expectWaiting(t, id)
		})
	}
	e.click(t, aliceSlackID, e.answers.newURL(), id, "stop", "")
	e.expectDecided(t, id, "stop", "", alice)
}

func TestSlackClickOnUnknownExecution(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	id := ulid.Make().String()
	u := e.answers.newURL()
	e.click(t, aliceSlackID, u, id, "continue", "")
	e.expectAnswers(t, u, "gennaker has no execution "+id+".")
}

func TestSlackClickAfterExecutionEnded(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	id := e.waitingJudgment(t, "ended", "release-managers")
	e.post(t, "/api/v1/executions/"+id+"/cancel", map[string]string{"user": "dave", "reason": "not today"}).expect(t, http.StatusAccepted, nil)
	x := e.waitFor(t, id, 20*time.Second, "the execution is canceled", statusIs("CANCELED"))
	st := x.stage(t, "1")
	if st.Status != "CANCELED" || st.Judgment != nil {
		t.Fatalf("the canceled judgment stage is %s with judgment %+v", st.Status, st.Judgment)
	}

	u := e.answers.newURL()
	e.click(t, aliceSlackID, u, id, "continue", "ship")
	e.expectAnswers(t, u, "slacky/ended execution "+id+" is no longer waiting for a judgment on Approve (status "+st.Status+").")
	if x := e.getExecution(t, id); x.stage(t, "1").Judgment != nil {
		t.Errorf("the canceled stage recorded a judgment: %+v", x.stage(t, "1").Judgment)
	}
}

func TestSlackIgnoresOtherInteractions(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	id := e.waitingJudgment(t, "others", "release-managers")
	value, err := notify.EncodeAction(notify.JudgmentAction{ExecutionID: id, RefID: "1", Status: "continue"})
	if err != nil {
		t.Fatal(err)
	}
	u := e.answers.newURL()
	cases := []struct{ name, typ, actionID string }{
		{"another button", "block_actions", "open_dashboard"},
		{"a judgment action id inside another", "block_actions", "x_" + notify.JudgmentActionID},
		{"a shortcut", "shortcut", notify.JudgmentActionID + ":0"},
		{"a view submission", "view_submission", notify.JudgmentActionID + ":0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.slackPost(t, interaction(t, tc.typ, aliceSlackID, u, tc.actionID, value), time.Now(), e.slackSecret)
			if r.status != http.StatusOK {
				t.Fatalf("answered %d %s, want 200", r.status, r.body)
			}
		})
	}
	e.expectAnswers(t, u)
	e.expectWaiting(t, id)
	e.click(t, aliceSlackID, e.answers.newURL(), id, "continue", "")
	e.expectDecided(t, id, "continue", "", alice)
}

func TestSlackMalformedRequests(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	cases := []struct {
		name   string
		body   string
		status int
	}{
		{"no payload", "text=hello", http.StatusBadRequest},
		{"empty body", "", http.StatusBadRequest},
		{"not a form", "%zz", http.StatusBadRequest},
		{"payload is not JSON", "payload=" + url.QueryEscape("{not json"), http.StatusBadRequest},
		{"actions is not a list", "payload=" + url.QueryEscape(`{"type": "block_actions", "actions": {"a": 1}}`), http.StatusBadRequest},
		{"larger than 1 MiB", "payload=" + strings.Repeat("x", api.MaxBodyBytes), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.slackPost(t, tc.body, time.Now(), e.slackSecret).expectError(t, tc.status)
		})
	}
	// A judgment button whose value is not one gennaker wrote is answered, not acted on.
	u := e.answers.newURL()
	e.slackPost(t, interaction(t, "block_actions", aliceSlackID, u, notify.JudgmentActionID+":0", `{"e": "x"}`), time.Now(), e.slackSecret)
	e.expectAnswers(t, u, "gennaker could not read this button: ")
}

func TestSlackNotConfigured(t *testing.T) {
	t.Parallel()
	// Without Slack settings the endpoint never reaches Temporal, so no environment is needed.
	h := (&api.Server{}).Handler()
	body := "payload=" + url.QueryEscape(`{"type": "block_actions"}`)
	req := httptest.NewRequest(http.MethodPost, slackPath, strings.NewReader(body))
	for k, v := range slackHeaders(body, time.Now(), slackSigningSecret) {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	got := r.expectError(t, http.StatusNotFound)
	if want := "Slack interactivity is not configured (set --slack-signing-secret)"; got.Error != want {
		t.Errorf("error = %q, want %q", got.Error, want)
	}
}

func TestJudgmentRoles(t *testing.T) {
	e := needEnv(t)
	t.Parallel()
	judge := func(id string, body map[string]string, headers map[string]string) response {
		return e.do(t, request{method: http.MethodPost, path: "/api/v1/executions/" + id + "/stages/1/judgment", body: body, headers: headers})
	}
	t.Run("required", func(t *testing.T) {
		t.Parallel()
		id := e.waitingJudgment(t, "api-roles", "release-managers")
		got := judge(id, map[string]string{"judgmentStatus": "continue", "user": bob}, nil).expectError(t, http.StatusForbidden)
		if want := "bob@example.com has none of the roles this judgment requires (release-managers)"; got.Error != want {
			t.Errorf("error = %q, want %q", got.Error, want)
		}
		got = judge(id, map[string]string{"judgmentStatus": "continue"}, nil).expectError(t, http.StatusForbidden)
		if !strings.Contains(got.Error, "a user must be named") {
			t.Errorf("anonymous refusal = %q", got.Error)
		}
		e.expectWaiting(t, id)

		var ack map[string]string
		judge(id, map[string]string{"judgmentStatus": "continue", "judgmentInput": "ship"}, map[string]string{"X-Gennaker-User": alice}).
			expect(t, http.StatusAccepted, &ack)
		if ack["user"] != alice {
			t.Errorf("judgment answer = %v", ack)
		}
		e.expectDecided(t, id, "continue", "ship", alice)
		got = judge(id, map[string]string{"judgmentStatus": "stop", "user": alice}, nil).expectError(t, http.StatusConflict)
		if !strings.Contains(got.Error, "already decided by alice@example.com: continue (ship) at ") {
			t.Errorf("late judgment error = %q", got.Error)
		}
	})
	t.Run("anyone", func(t *testing.T) {
		t.Parallel()
		id := e.waitingJudgment(t, "api-anyone")
		judge(id, map[string]string{"judgmentStatus": "continue"}, nil).expect(t, http.StatusAccepted, nil)
		e.expectDecided(t, id, "continue", "", "anonymous")
	})
}
