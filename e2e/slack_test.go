package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"sigs.k8s.io/yaml"

	"github.com/gennaker/gennaker/notify"
)

// Slack's servers cannot run here: slacktest stands in for its Web API, and the test plays the
// part of Slack's interactivity by posting signed button clicks, built as Slack builds them.
const (
	slackToken         = "xoxb-e2e"
	slackSigningSecret = "e2e-signing-secret"
	eventSecret        = "e2e-event-secret"
)

// workspace is Slack's Web API as slacktest serves it, recording what gennaker asked of it.
type workspace struct {
	srv     *slacktest.Server
	down    atomic.Bool
	mu      sync.Mutex
	posts   []url.Values
	updates []url.Values
	seq     int
}

func newWorkspace(t *testing.T) *workspace {
	w := &workspace{}
	w.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(rw http.ResponseWriter, r *http.Request) {
			if w.down.Load() {
				http.Error(rw, "Slack is having a bad day", http.StatusServiceUnavailable)
				return
			}
			_ = r.ParseForm()
			w.mu.Lock()
			w.seq++
			ts := fmt.Sprintf("1700000000.%06d", w.seq)
			form := r.PostForm
			form.Set("ts", ts)
			w.posts = append(w.posts, form)
			w.mu.Unlock()
			writeJSON(rw, map[string]any{"ok": true, "channel": "C-" + form.Get("channel"), "ts": ts})
		})
		c.Handle("/chat.update", func(rw http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.mu.Lock()
			w.updates = append(w.updates, r.PostForm)
			w.mu.Unlock()
			writeJSON(rw, map[string]any{"ok": true, "channel": r.PostForm.Get("channel"), "ts": r.PostForm.Get("ts")})
		})
		c.Handle("/users.info", func(rw http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			emails := map[string]string{"UCAROL": "carol@example.com"}
			email, ok := emails[r.PostForm.Get("user")]
			if !ok {
				writeJSON(rw, map[string]any{"ok": false, "error": "user_not_found"})
				return
			}
			writeJSON(rw, map[string]any{"ok": true, "user": map[string]any{"id": r.PostForm.Get("user"), "profile": map[string]any{"email": email}}})
		})
	})
	w.srv.Start()
	t.Cleanup(w.srv.Stop)
	return w
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// waitForPost waits for a message posted to channel (as named in the pipeline, without #) whose
// fallback text contains text.
func (w *workspace) waitForPost(t *testing.T, channel, text string) url.Values {
	t.Helper()
	var found url.Values
	eventually(t, 60*time.Second, fmt.Sprintf("a Slack message to #%s saying %q", channel, text), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, p := range w.posts {
			if p.Get("channel") == channel && strings.Contains(p.Get("text"), text) {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

func (w *workspace) waitForUpdate(t *testing.T, ts, text string) url.Values {
	t.Helper()
	var found url.Values
	eventually(t, 60*time.Second, fmt.Sprintf("the message %s updated to say %q", ts, text), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, u := range w.updates {
			if u.Get("ts") == ts && strings.Contains(u.Get("text"), text) {
				found = u
				return true
			}
		}
		return false
	})
	return found
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buttons decodes the judgment buttons of a posted message.
func buttons(t *testing.T, post url.Values) []notify.JudgmentAction {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(post.Get("blocks")), &blocks); err != nil {
		t.Fatalf("the message's blocks are not JSON: %v: %s", err, post.Get("blocks"))
	}
	var out []notify.JudgmentAction
	for _, b := range blocks {
		if b.Type != "actions" {
			continue
		}
		for _, e := range b.Elements {
			a, err := notify.DecodeAction(e.Value)
			if err != nil {
				t.Fatalf("button %s: %v", e.ActionID, err)
			}
			out = append(out, a)
		}
	}
	return out
}

// eventSink receives the event stream and checks every signature.
type eventSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []notify.Event
	forged int
}

func newEventSink(t *testing.T) *eventSink {
	s := &eventSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.VerifyEvent(r.Header, body, eventSecret, 5*time.Minute, time.Now()); err != nil {
			s.mu.Lock()
			s.forged++
			s.mu.Unlock()
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev notify.Event
		if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get(notify.HeaderEventID) != ev.ID {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// of returns the events of one execution, once its final status arrived.
func (s *eventSink) of(t *testing.T, executionID string) []notify.Event {
	t.Helper()
	var out []notify.Event
	eventually(t, 60*time.Second, "the final event of execution "+executionID, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		out = out[:0]
		final := false
		for _, ev := range s.events {
			if ev.ExecutionID == executionID {
				out = append(out, ev)
				final = final || ev.Type == notify.EventExecution && isFinal(ev.Status)
			}
		}
		return final
	})
	return out
}

// checkEvents checks that every status change the execution went through was published once.
func checkEvents(t *testing.T, x execution, events []notify.Event) {
	t.Helper()
	seen := map[string]bool{}
	var got []string
	for i, ev := range events {
		if ev.Sequence != i+1 {
			t.Errorf("event %d of execution %s has sequence %d: delivered out of order", i+1, x.ID, ev.Sequence)
		}
		if seen[ev.ID] {
			t.Errorf("event %s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
		key := "execution"
		if ev.Type == notify.EventStage {
			key = "stage " + ev.StageRefID
		}
		got = append(got, key+" "+ev.Status)
	}
	want := []string{"execution RUNNING"}
	for _, s := range x.Stages {
		want = append(want, "stage "+s.RefID+" RUNNING", "stage "+s.RefID+" "+s.Status)
	}
	want = append(want, "execution "+x.Status)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no event for %q; events: %v", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d events, want %d: %v", len(got), len(want), got)
	}
	if len(got) > 0 && (got[0] != "execution RUNNING" || got[len(got)-1] != "execution "+x.Status) {
		t.Errorf("events out of order: %v", got)
	}
}

// answers records what gennaker says back to the person who clicked, by response_url path.
type answers struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]string
}

func newAnswers(t *testing.T) *answers {
	a := &answers{got: map[string][]string{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			ResponseType string `json:"response_type"`
			Text         string `json:"text"`
		}
		_ = json.NewDecoder(r.Body).Decode(&msg)
		a.mu.Lock()
		a.got[r.URL.Path] = append(a.got[r.URL.Path], msg.ResponseType+": "+msg.Text)
		a.mu.Unlock()
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *answers) waitFor(t *testing.T, path, text string) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("an answer at %s saying %q", path, text), func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, m := range a.got[path] {
			if strings.HasPrefix(m, "ephemeral: ") && strings.Contains(m, text) {
				return true
			}
		}
		return false
	})
}

// click is a signed Slack interaction request for one judgment button.
type click struct {
	body      string
	timestamp string
	signature string
}

func newClick(secret, slackUser, responseURL string, action notify.JudgmentAction, at time.Time) click {
	value, _ := notify.EncodeAction(action)
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": slackUser},
		"response_url": responseURL,
		"actions":      []any{map[string]any{"type": "button", "action_id": notify.JudgmentActionID + ":0", "block_id": notify.JudgmentActionID, "value": value}},
	})
	c := click{body: "payload=" + url.QueryEscape(string(payload)), timestamp: strconv.FormatInt(at.Unix(), 10)}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", c.timestamp, c.body)
	c.signature = "v0=" + hex.EncodeToString(mac.Sum(nil))
	return c
}

func (a *apiClient) sendClick(c click) int {
	a.t.Helper()
	code, body := a.do(http.MethodPost, "/slack/interactions", c.body,
		"Content-Type", "application/x-www-form-urlencoded",
		"X-Slack-Request-Timestamp", c.timestamp,
		"X-Slack-Signature", c.signature)
	if code != http.StatusOK && code != http.StatusUnauthorized {
		a.t.Fatalf("POST /slack/interactions: %d: %s", code, body)
	}
	return code
}

// slackDev starts gennaker dev configured with the example users and notification files, Slack
// at the fake workspace and the event stream at sink.
func slackDev(t *testing.T, ws *workspace, sink *eventSink) *apiClient {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "examples", "notifications.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(data, &settings); err != nil {
		t.Fatal(err)
	}
	settings["eventEndpoints"] = []any{map[string]any{"name": "audit", "url": sink.srv.URL + "/events", "secret": eventSecret}}
	out, _ := yaml.Marshal(settings)
	notificationsFile := filepath.Join(t.TempDir(), "notifications.yaml")
	if err := os.WriteFile(notificationsFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	dev := newDevProcess(t)
	dev.args = []string{
		"--slack-bot-token", slackToken,
		"--slack-signing-secret", slackSigningSecret,
		"--slack-api-url", ws.srv.GetAPIURL(),
		"--users", filepath.Join(root, "examples", "users.yaml"),
		"--notifications", notificationsFile,
	}
	return dev.start()
}

// TestSlackJudgment follows a release approved in Slack: the judgment message is posted, a
// forged click, a stale one and one by a person without the role change nothing, a release
// manager's click lets the execution continue, the message is updated in place, and late or
// repeated clicks are answered. Every status change reaches the event endpoint, signed.
func TestSlackJudgment(t *testing.T) {
	skipShort(t)
	t.Parallel()
	ws := newWorkspace(t)
	sink := newEventSink(t)
	ans := newAnswers(t)
	api := slackDev(t, ws, sink)

	root, _ := repoRoot()
	example, err := os.ReadFile(filepath.Join(root, "examples", "approve-in-slack.json"))
	if err != nil {
		t.Fatal(err)
	}
	api.savePipeline("web", "approve-in-slack", json.RawMessage(example))
	started := api.startExecution("web", "approve-in-slack", map[string]any{"parameters": map[string]any{"version": "2.0.0"}, "user": "dora@example.com"})

	ws.waitForPost(t, "web-deploys", "started")
	ask := ws.waitForPost(t, "web-approvals", "Approve release")
	actions := buttons(t, ask)
	var ship, stop notify.JudgmentAction
	for _, a := range actions {
		switch {
		case a.Status == "continue" && a.Input == "ship":
			ship = a
		case a.Status == "stop":
			stop = a
		}
	}
	if ship.ExecutionID != started.ID || ship.RefID != "1" || stop.ExecutionID != started.ID {
		t.Fatalf("the message's buttons are %+v", actions)
	}
	if !strings.Contains(ask.Get("blocks"), "release-managers") || !strings.Contains(ask.Get("blocks"), "2.0.0") {
		t.Errorf("the message does not say who may decide or what: %s", ask.Get("blocks"))
	}

	answerURL := func(name string) string { return ans.srv.URL + "/" + name }
	now := time.Now()
	// Refused before anything happens: a wrong signature, a stale timestamp.
	if code := api.sendClick(newClick("not-the-secret", "UALICE", answerURL("forged"), ship, now)); code != http.StatusUnauthorized {
		t.Errorf("a forged click got %d", code)
	}
	if code := api.sendClick(newClick(slackSigningSecret, "UALICE", answerURL("stale"), ship, now.Add(-6*time.Minute))); code != http.StatusUnauthorized {
		t.Errorf("a stale click got %d", code)
	}
	// A developer may not decide.
	if code := api.sendClick(newClick(slackSigningSecret, "UBOB", answerURL("bob"), ship, now)); code != http.StatusOK {
		t.Errorf("bob's click got %d", code)
	}
	ans.waitFor(t, "/bob", "may not decide")
	if x := api.execution(started.ID); x.mustStage(t, "1").Status != "RUNNING" {
		t.Fatalf("after refused clicks: %s", x.describe())
	}

	// A release manager ships.
	aliceClick := newClick(slackSigningSecret, "UALICE", answerURL("alice"), ship, time.Now())
	if code := api.sendClick(aliceClick); code != http.StatusOK {
		t.Fatalf("alice's click got %d", code)
	}
	done := api.waitUntilDone(started.ID, 60*time.Second)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("after alice's click: %s", done.describe())
	}
	j := done.mustStage(t, "1").Judgment
	if j == nil || j.User != "alice@example.com" || j.Status != "continue" || j.Input != "ship" {
		t.Errorf("judgment recorded: %+v", j)
	}
	if got := done.mustStage(t, "2").Outputs["message"]; got != "ship: web 2.0.0, approved by alice@example.com" {
		t.Errorf("announcement %q", got)
	}
	ws.waitForUpdate(t, ask.Get("ts"), "alice@example.com")
	ws.waitForPost(t, "web-approvals", "continued")
	ws.waitForPost(t, "web-deploys", "web 2.0.0 is out")

	// The same request again is a replay; a new click after the decision is told who decided.
	if code := api.sendClick(aliceClick); code != http.StatusUnauthorized {
		t.Errorf("a replayed click got %d", code)
	}
	if code := api.sendClick(newClick(slackSigningSecret, "UCAROL", answerURL("carol"), stop, time.Now())); code != http.StatusOK {
		t.Errorf("carol's late click got %d", code)
	}
	ans.waitFor(t, "/carol", "alice@example.com")
	unknown := ship
	unknown.ExecutionID = "01NOSUCHEXECUTION0000000000"
	api.sendClick(newClick(slackSigningSecret, "UALICE", answerURL("unknown"), unknown, time.Now()))
	ans.waitFor(t, "/unknown", "no execution")
	ans.mu.Lock()
	if len(ans.got["/forged"])+len(ans.got["/stale"]) > 0 {
		t.Errorf("refused requests were answered: %v", ans.got)
	}
	ans.mu.Unlock()

	checkEvents(t, done, sink.of(t, started.ID))
	if sink.forged != 0 {
		t.Errorf("%d events failed the signature check", sink.forged)
	}
	for _, ev := range sink.of(t, started.ID) {
		if ev.Type == notify.EventStage && ev.StageRefID == "1" && ev.Status == "SUCCEEDED" && ev.User != "alice@example.com" {
			t.Errorf("the judgment's event names %q", ev.User)
		}
	}

	// Slack is down while a pipeline runs: the pipeline does not wait for it, and the
	// notifications go out once Slack is back.
	ws.down.Store(true)
	api.savePipeline("web", "quick", map[string]any{
		"notifications": []any{map[string]any{"type": "slack", "when": []any{"pipeline.starting", "pipeline.complete"}}},
		"stages":        []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 1}},
	})
	quick := api.startExecution("web", "quick", nil)
	x := api.waitForExecution(quick.ID, 60*time.Second, "the end while Slack is down", func(x execution) bool { return x.Status == "SUCCEEDED" })
	ws.down.Store(false)
	ws.waitForPost(t, "web-deploys", "succeeded")
	checkEvents(t, x, sink.of(t, quick.ID))
}
