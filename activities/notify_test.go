package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

const (
	slackToken = "xoxb-test"
	// slackChannelID and slackTS are what the Slack API answers every post with.
	slackChannelID = "C123"
	slackTS        = "1700000000.000100"
)

// slackCalls are the forms the Slack Web API received, by method.
type slackCalls struct {
	mu    sync.Mutex
	forms map[string][]url.Values
}

func (c *slackCalls) of(method string) []url.Values {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.forms[method])
}

func (c *slackCalls) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.forms {
		n += len(f)
	}
	return n
}

// slackOK answers like Slack does a message it posted or updated.
func slackOK(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true,"channel":"`+slackChannelID+`","ts":"`+slackTS+`"}`)
}

// startSlack runs slacktest's fake of the Slack Web API (Slack cannot run here), its
// chat.postMessage and chat.update answered by answer after their forms are recorded, and returns a
// notifier that talks to it. The handlers go through NewTestServer: slacktest registers its own
// chat.postMessage there, and a Handle after it is ignored.
func startSlack(t *testing.T, answer http.HandlerFunc) (*notify.Slack, *slackCalls) {
	t.Helper()
	calls := &slackCalls{forms: map[string][]url.Values{}}
	record := func(method string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			calls.mu.Lock()
			calls.forms[method] = append(calls.forms[method], r.PostForm)
			calls.mu.Unlock()
			answer(w, r)
		}
	}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", record("chat.postMessage"))
		c.Handle("/chat.update", record("chat.update"))
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	return notify.NewSlack(slackToken, notify.WithAPIURL(srv.GetAPIURL())), calls
}

// notifyEnv is an activity environment running n, bounded so that a hung call fails the test.
func notifyEnv(t *testing.T, n *activities.Notifications) *testsuite.TestActivityEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	guard, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	env.SetWorkerOptions(worker.Options{BackgroundActivityContext: guard})
	env.RegisterActivity(n)
	return env
}

// execute runs one activity and decodes its result.
func execute[R any](t *testing.T, env *testsuite.TestActivityEnvironment, fn, in any) (R, error) {
	t.Helper()
	var res R
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return res, err
	}
	if err := val.Get(&res); err != nil {
		t.Fatalf("decoding the result: %v", err)
	}
	return res, nil
}

// requireAppError asserts err is an application error of errType and returns it.
func requireAppError(t *testing.T, err error, errType string, nonRetryable bool) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("want a %s application error, got %T: %v", errType, err, err)
	}
	if appErr.Type() != errType {
		t.Errorf("error type = %q, want %q (%v)", appErr.Type(), errType, err)
	}
	if appErr.NonRetryable() != nonRetryable {
		t.Errorf("NonRetryable = %v, want %v (%v)", appErr.NonRetryable(), nonRetryable, err)
	}
	return appErr
}

const (
	executionBase = "https://gennaker.example/executions/"
	temporalBase  = "https://temporal.example/namespaces/default/workflows/"
)

// linked is a Notifications with links to executions, as the worker builds it.
func linked(n activities.Notifications) *activities.Notifications {
	n.ExecutionURL = func(id string) string { return executionBase + id }
	n.TemporalURL = func(id string) string { return temporalBase + id }
	return &n
}

func subject() notify.Subject {
	return notify.Subject{
		Point:       notify.PipelineFailed,
		ExecutionID: "exec-1",
		Application: "shop",
		Pipeline:    "deploy",
		Status:      "TERMINAL",
		Reason:      "stage Deploy to prod failed",
	}
}

func judgmentRequest() notify.JudgmentRequest {
	s := subject()
	s.Point = notify.ManualJudgment
	s.Status = ""
	s.Reason = ""
	s.Stage = &notify.StageSubject{RefID: "3", Name: "Approve prod", Type: "manualJudgment"}
	return notify.JudgmentRequest{Subject: s, Instructions: "Check the canary first.", Inputs: []string{"Rollback"}}
}

// buttonValues are the values of the buttons in a message's blocks, as posted.
func buttonValues(t *testing.T, blocks string) []string {
	t.Helper()
	var decoded any
	if err := json.Unmarshal([]byte(blocks), &decoded); err != nil {
		t.Fatalf("the posted blocks are not JSON: %v\n%s", err, blocks)
	}
	var values []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "button" {
				value, _ := v["value"].(string)
				values = append(values, value)
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(decoded)
	return values
}

// NotificationSettings hands an execution its application's notifications, and asks for events only when an endpoint exists.
func TestNotificationSettings(t *testing.T) {
	appNotifications := []pipeline.Notification{
		{"type": "slack", "address": "#shop-alerts", "when": []any{"pipeline.failed"}},
	}
	apps := map[string]activities.ApplicationNotifications{
		"shop": {SlackChannel: "shop-deploys", Notifications: appNotifications},
	}
	endpoints := []notify.Endpoint{{Name: "audit", URL: "http://127.0.0.1:1/", Secret: "s"}}
	for _, tc := range []struct {
		name        string
		endpoints   []notify.Endpoint
		application string
		want        activities.NotificationSettingsResult
	}{
		{"with endpoints", endpoints, "shop", activities.NotificationSettingsResult{Notifications: appNotifications, PublishEvents: true}},
		{"without endpoints", nil, "shop", activities.NotificationSettingsResult{Notifications: appNotifications}},
		{"unknown application", endpoints, "other", activities.NotificationSettingsResult{PublishEvents: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &activities.Notifications{Applications: apps, Endpoints: tc.endpoints}
			got, err := execute[activities.NotificationSettingsResult](t, notifyEnv(t, n), n.NotificationSettings, activities.NotificationSettingsInput{Application: tc.application})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("settings = %#v, want %#v", got, tc.want)
			}
		})
	}
}

// SendNotification posts to the notification's own address, else its application's channel, else the default one.
func TestSendNotificationAddressOrder(t *testing.T) {
	for _, tc := range []struct {
		name        string
		address     string
		appChannel  string
		defaultChan string
		wantAddress string
		wantChannel string // as posted: the API takes names without '#'
	}{
		{"own address", "#alerts", "shop-deploys", "deploys", "#alerts", "alerts"},
		{"application channel", "", "shop-deploys", "deploys", "shop-deploys", "shop-deploys"},
		{"blank address is none", "  ", "shop-deploys", "deploys", "shop-deploys", "shop-deploys"},
		{"default channel", "", "", "deploys", "deploys", "deploys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slack, calls := startSlack(t, slackOK)
			n := linked(activities.Notifications{
				Slack:               slack,
				Applications:        map[string]activities.ApplicationNotifications{"shop": {SlackChannel: tc.appChannel}},
				DefaultSlackChannel: tc.defaultChan,
			})
			res, err := execute[activities.SendNotificationResult](t, notifyEnv(t, n), n.SendNotification,
				activities.SendNotificationInput{Type: pipeline.NotificationSlack, Address: tc.address, Subject: subject()})
			if err != nil {
				t.Fatal(err)
			}
			want := activities.SendNotificationResult{Address: tc.wantAddress, Message: notify.MessageRef{Channel: slackChannelID, TS: slackTS}}
			if res != want {
				t.Errorf("result = %+v, want %+v", res, want)
			}
			posts := calls.of("chat.postMessage")
			if len(posts) != 1 {
				t.Fatalf("chat.postMessage called %d times, want 1", len(posts))
			}
			if got := posts[0].Get("channel"); got != tc.wantChannel {
				t.Errorf("posted to channel %q, want %q", got, tc.wantChannel)
			}
			if got := posts[0].Get("token"); got != slackToken {
				t.Errorf("posted with token %q, want the bot token", got)
			}
		})
	}
}

// SendNotification puts the execution's gennaker and Temporal links, built by the configured functions, in the message.
func TestSendNotificationLinks(t *testing.T) {
	slack, calls := startSlack(t, slackOK)
	n := linked(activities.Notifications{Slack: slack, DefaultSlackChannel: "deploys"})
	if _, err := execute[activities.SendNotificationResult](t, notifyEnv(t, n), n.SendNotification,
		activities.SendNotificationInput{Type: pipeline.NotificationSlack, Subject: subject()}); err != nil {
		t.Fatal(err)
	}
	posts := calls.of("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("chat.postMessage called %d times, want 1", len(posts))
	}
	blocks := posts[0].Get("blocks")
	for _, link := range []string{executionBase + "exec-1", temporalBase + "exec-1"} {
		if !strings.Contains(blocks, link) {
			t.Errorf("the posted blocks lack the link %s:\n%s", link, blocks)
		}
	}
	if text := posts[0].Get("text"); !strings.Contains(text, "shop / deploy failed") {
		t.Errorf("fallback text = %q, want the headline", text)
	}
}

// SendNotification refuses for good, without calling Slack, what this gennaker cannot send.
func TestSendNotificationNotConfigured(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noSlack  bool
		kind     string
		apps     map[string]activities.ApplicationNotifications
		wantText string
	}{
		{"no channel anywhere", false, pipeline.NotificationSlack, map[string]activities.ApplicationNotifications{"shop": {}}, `"shop"`},
		{"application unknown and no default", false, pipeline.NotificationSlack, nil, `"shop"`},
		{"no bot token", true, pipeline.NotificationSlack, nil, "--slack-bot-token"},
		{"unsupported type", false, "email", nil, `"email"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slack, calls := startSlack(t, slackOK)
			n := &activities.Notifications{Slack: slack, Applications: tc.apps}
			if tc.noSlack {
				n.Slack = nil
				n.DefaultSlackChannel = "deploys" // a channel does not make up for a missing token
			}
			_, err := execute[activities.SendNotificationResult](t, notifyEnv(t, n), n.SendNotification,
				activities.SendNotificationInput{Type: tc.kind, Subject: subject()})
			appErr := requireAppError(t, err, activities.NotifyErrNotConfigured, true)
			if !strings.Contains(appErr.Message(), tc.wantText) {
				t.Errorf("message %q does not mention %s", appErr.Message(), tc.wantText)
			}
			if got := calls.total(); got != 0 {
				t.Errorf("Slack was called %d times, want none", got)
			}
		})
	}
}

// A Slack failure is classed: a refusal is final, a server error is retried, a rate limit waits as long as Slack asks.
func TestSendNotificationSlackErrors(t *testing.T) {
	send := func(t *testing.T, answer http.HandlerFunc) error {
		t.Helper()
		slack, _ := startSlack(t, answer)
		n := &activities.Notifications{Slack: slack, DefaultSlackChannel: "deploys"}
		_, err := execute[activities.SendNotificationResult](t, notifyEnv(t, n), n.SendNotification,
			activities.SendNotificationInput{Type: pipeline.NotificationSlack, Subject: subject()})
		if err == nil {
			t.Fatal("want an error, got success")
		}
		return err
	}

	t.Run("channel_not_found", func(t *testing.T) {
		err := send(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
		})
		appErr := requireAppError(t, err, activities.NotifyErrRejected, true)
		if !strings.Contains(appErr.Message(), "channel_not_found") {
			t.Errorf("message %q does not say what Slack answered", appErr.Message())
		}
	})

	t.Run("server error", func(t *testing.T) {
		err := send(t, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>oops</html>", http.StatusInternalServerError)
		})
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && (appErr.NonRetryable() || appErr.Type() == activities.NotifyErrRejected) {
			t.Errorf("a 500 must be retried, got %s error (non-retryable %v): %v", appErr.Type(), appErr.NonRetryable(), err)
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		err := send(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			http.Error(w, "rate limited", http.StatusTooManyRequests)
		})
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) {
			t.Fatalf("want an application error, got %T: %v", err, err)
		}
		if appErr.NonRetryable() {
			t.Errorf("a rate limit must be retried: %v", err)
		}
		if got := appErr.NextRetryDelay(); got != 7*time.Second {
			t.Errorf("NextRetryDelay = %v, want 7s", got)
		}
	})
}

// PostJudgment posts buttons that carry the execution and stage, with the links, to the application's channel.
func TestPostJudgment(t *testing.T) {
	slack, calls := startSlack(t, slackOK)
	n := linked(activities.Notifications{
		Slack:        slack,
		Applications: map[string]activities.ApplicationNotifications{"shop": {SlackChannel: "#shop-deploys"}},
	})
	res, err := execute[activities.PostJudgmentResult](t, notifyEnv(t, n), n.PostJudgment, activities.PostJudgmentInput{Request: judgmentRequest()})
	if err != nil {
		t.Fatal(err)
	}
	want := activities.PostJudgmentResult{Address: "#shop-deploys", Message: notify.MessageRef{Channel: slackChannelID, TS: slackTS}}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	posts := calls.of("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("chat.postMessage called %d times, want 1", len(posts))
	}
	if got := posts[0].Get("channel"); got != "shop-deploys" {
		t.Errorf("posted to channel %q, want shop-deploys", got)
	}
	blocks := posts[0].Get("blocks")
	if !strings.Contains(blocks, executionBase+"exec-1") {
		t.Errorf("the judgment lacks the execution link:\n%s", blocks)
	}
	var got []notify.JudgmentAction
	for _, v := range buttonValues(t, blocks) {
		a, err := notify.DecodeAction(v)
		if err != nil {
			t.Fatalf("button value %q: %v", v, err)
		}
		got = append(got, a)
	}
	wantActions := []notify.JudgmentAction{
		{ExecutionID: "exec-1", RefID: "3", Status: "continue", Input: "Rollback"},
		{ExecutionID: "exec-1", RefID: "3", Status: "continue"},
		{ExecutionID: "exec-1", RefID: "3", Status: "stop"},
	}
	if !reflect.DeepEqual(got, wantActions) {
		t.Errorf("button actions = %+v, want %+v", got, wantActions)
	}
}

// PostJudgment refuses for good, without calling Slack, a judgment whose buttons could not name its stage.
func TestPostJudgmentBadRequest(t *testing.T) {
	slack, calls := startSlack(t, slackOK)
	n := &activities.Notifications{Slack: slack, DefaultSlackChannel: "deploys"}
	req := judgmentRequest()
	req.Stage.RefID = ""
	_, err := execute[activities.PostJudgmentResult](t, notifyEnv(t, n), n.PostJudgment, activities.PostJudgmentInput{Request: req})
	requireAppError(t, err, activities.NotifyErrRejected, true)
	if got := calls.total(); got != 0 {
		t.Errorf("Slack was called %d times, want none", got)
	}
}

// RemindJudgment replies in the judgment message's thread, broadcast to the channel.
func TestRemindJudgment(t *testing.T) {
	slack, calls := startSlack(t, slackOK)
	n := linked(activities.Notifications{Slack: slack})
	ref := notify.MessageRef{Channel: slackChannelID, TS: slackTS}
	if _, err := execute[activities.RemindJudgmentResult](t, notifyEnv(t, n), n.RemindJudgment,
		activities.RemindJudgmentInput{Message: ref, Request: judgmentRequest()}); err != nil {
		t.Fatal(err)
	}
	posts := calls.of("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("chat.postMessage called %d times, want 1", len(posts))
	}
	p := posts[0]
	if p.Get("channel") != slackChannelID || p.Get("thread_ts") != slackTS || p.Get("reply_broadcast") != "true" {
		t.Errorf("reminder posted with channel %q thread_ts %q reply_broadcast %q, want %s %s true",
			p.Get("channel"), p.Get("thread_ts"), p.Get("reply_broadcast"), slackChannelID, slackTS)
	}
	if text := p.Get("text"); !strings.Contains(text, "Approve prod") || !strings.Contains(text, executionBase+"exec-1") {
		t.Errorf("reminder text %q names neither the stage nor the execution link", text)
	}
}

// UpdateJudgment replaces the judgment message, found by its channel and ts, with the decision and no buttons.
func TestUpdateJudgment(t *testing.T) {
	slack, calls := startSlack(t, slackOK)
	n := linked(activities.Notifications{Slack: slack})
	ref := notify.MessageRef{Channel: "C777", TS: "1700000001.000200"}
	decision := notify.Decision{Status: "continue", User: "alice@example.com", Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	if _, err := execute[activities.UpdateJudgmentResult](t, notifyEnv(t, n), n.UpdateJudgment,
		activities.UpdateJudgmentInput{Message: ref, Request: judgmentRequest(), Decision: decision}); err != nil {
		t.Fatal(err)
	}
	updates := calls.of("chat.update")
	if len(updates) != 1 {
		t.Fatalf("chat.update called %d times, want 1", len(updates))
	}
	u := updates[0]
	if u.Get("channel") != ref.Channel || u.Get("ts") != ref.TS {
		t.Errorf("updated %s/%s, want %s/%s", u.Get("channel"), u.Get("ts"), ref.Channel, ref.TS)
	}
	blocks := u.Get("blocks")
	if !strings.Contains(blocks, "Continued by alice@example.com") {
		t.Errorf("the updated message does not tell the decision:\n%s", blocks)
	}
	if buttons := buttonValues(t, blocks); len(buttons) != 0 {
		t.Errorf("the updated message still has buttons %q", buttons)
	}
	if got := len(calls.of("chat.postMessage")); got != 0 {
		t.Errorf("chat.postMessage called %d times, want none", got)
	}
}

// RemindJudgment and UpdateJudgment refuse for good when no bot token is configured.
func TestJudgmentWithoutSlack(t *testing.T) {
	n := &activities.Notifications{}
	env := notifyEnv(t, n)
	ref := notify.MessageRef{Channel: slackChannelID, TS: slackTS}
	_, err := execute[activities.RemindJudgmentResult](t, env, n.RemindJudgment, activities.RemindJudgmentInput{Message: ref, Request: judgmentRequest()})
	requireAppError(t, err, activities.NotifyErrNotConfigured, true)
	_, err = execute[activities.UpdateJudgmentResult](t, env, n.UpdateJudgment, activities.UpdateJudgmentInput{Message: ref, Request: judgmentRequest()})
	requireAppError(t, err, activities.NotifyErrNotConfigured, true)
}

// eventReceiver is an event endpoint that checks every delivery's signature and answers the nth
// delivery it receives (from 1) with status(n).
type eventReceiver struct {
	*httptest.Server
	endpoint notify.Endpoint
	status   func(n int) int

	mu       sync.Mutex
	received []notify.Event // every delivery, in order
	accepted []notify.Event // the deliveries answered with a 2xx
	problems []string
}

func newEventReceiver(t *testing.T, name, secret string, status func(n int) int) *eventReceiver {
	t.Helper()
	rec := &eventReceiver{status: status}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if err := notify.VerifyEvent(r.Header, body, secret, 5*time.Minute, time.Now()); err != nil {
			rec.problems = append(rec.problems, "signature: "+err.Error())
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev notify.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			rec.problems = append(rec.problems, "body: "+err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if got := r.Header.Get(notify.HeaderEventID); got != ev.ID {
			rec.problems = append(rec.problems, "event ID header "+got+" for event "+ev.ID)
		}
		rec.received = append(rec.received, ev)
		code := rec.status(len(rec.received))
		if code/100 == 2 {
			rec.accepted = append(rec.accepted, ev)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rec.Close)
	rec.endpoint = notify.Endpoint{Name: name, URL: rec.URL, Secret: secret}
	return rec
}

func always(code int) func(int) int { return func(int) int { return code } }

// check asserts the receiver saw only well-signed deliveries, and accepted want.
func (rec *eventReceiver) check(t *testing.T, want []notify.Event) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.problems {
		t.Errorf("%s: %s", rec.endpoint.Name, p)
	}
	if !reflect.DeepEqual(rec.accepted, want) {
		t.Errorf("%s accepted %v, want %v", rec.endpoint.Name, eventIDs(rec.accepted), eventIDs(want))
	}
}

func (rec *eventReceiver) deliveries() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.received)
}

func eventIDs(evs []notify.Event) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

func testEvents() []notify.Event {
	base := notify.Event{ExecutionID: "exec-1", Application: "shop", Pipeline: "deploy"}
	evs := []notify.Event{base, base, base}
	evs[0].Type, evs[0].Status, evs[0].User = notify.EventExecution, "RUNNING", "alice@example.com"
	evs[1].Type, evs[1].Status, evs[1].StageRefID, evs[1].StageName, evs[1].StageType = notify.EventStage, "SUCCEEDED", "1", "Deploy", "deployManifest"
	evs[2].Type, evs[2].Status = notify.EventExecution, "SUCCEEDED"
	for i := range evs {
		evs[i].Sequence = i + 1
		evs[i].ID = "exec-1:" + string(rune('1'+i))
		evs[i].Time = int64(1700000000000 + i*1000)
	}
	return evs
}

// PublishEvents delivers every event, signed with the endpoint's secret, to every endpoint in order.
func TestPublishEventsDeliversToEveryEndpoint(t *testing.T) {
	a := newEventReceiver(t, "audit", "secret-a", always(http.StatusOK))
	b := newEventReceiver(t, "chatops", "secret-b", always(http.StatusAccepted))
	n := &activities.Notifications{Publisher: &notify.Publisher{}, Endpoints: []notify.Endpoint{a.endpoint, b.endpoint}}
	events := testEvents()
	res, err := execute[activities.PublishEventsResult](t, notifyEnv(t, n), n.PublishEvents, activities.PublishEventsInput{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 6 || len(res.Dropped) != 0 {
		t.Errorf("result = %+v, want 6 delivered and none dropped", res)
	}
	a.check(t, events)
	b.check(t, events)
}

// An event an endpoint refuses for good is reported as dropped, and the endpoint still gets the events after it.
func TestPublishEventsDropsRefusedEvent(t *testing.T) {
	steady := newEventReceiver(t, "audit", "secret-a", always(http.StatusOK))
	picky := newEventReceiver(t, "picky", "secret-p", func(n int) int {
		if n == 2 {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	n := &activities.Notifications{Publisher: &notify.Publisher{}, Endpoints: []notify.Endpoint{picky.endpoint, steady.endpoint}}
	events := testEvents()
	res, err := execute[activities.PublishEventsResult](t, notifyEnv(t, n), n.PublishEvents, activities.PublishEventsInput{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 5 {
		t.Errorf("delivered %d, want 5", res.Delivered)
	}
	if len(res.Dropped) != 1 || !strings.Contains(res.Dropped[0], events[1].ID) || !strings.Contains(res.Dropped[0], "picky") {
		t.Errorf("dropped = %q, want one entry naming %s and picky", res.Dropped, events[1].ID)
	}
	picky.check(t, []notify.Event{events[0], events[2]})
	steady.check(t, events)
}

// An unreachable endpoint fails the attempt, and a retry from the recorded progress delivers only what was left.
func TestPublishEventsResumesAfterFailure(t *testing.T) {
	steady := newEventReceiver(t, "audit", "secret-a", always(http.StatusOK))
	flaky := newEventReceiver(t, "flaky", "secret-f", func(n int) int {
		if n == 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	n := &activities.Notifications{Publisher: &notify.Publisher{}, Endpoints: []notify.Endpoint{steady.endpoint, flaky.endpoint}}
	env := notifyEnv(t, n)
	var mu sync.Mutex
	var heartbeats []converter.EncodedValues
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		mu.Lock()
		heartbeats = append(heartbeats, details)
		mu.Unlock()
	})
	events := testEvents()

	_, err := execute[activities.PublishEventsResult](t, env, n.PublishEvents, activities.PublishEventsInput{Events: events})
	if err == nil {
		t.Fatal("want the attempt to fail on the 503, got success")
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Fatalf("a 503 must be retried, got a non-retryable error: %v", err)
	}
	if !strings.Contains(err.Error(), events[2].ID) {
		t.Errorf("error %q does not name the event %s", err, events[2].ID)
	}

	// What the failed attempt recorded: steady got all three, flaky the first two.
	progress := map[string]any{
		"next":   map[string]any{"audit": 3, "flaky": 2},
		"result": map[string]any{"delivered": 5},
	}
	mu.Lock()
	recorded := slices.Clone(heartbeats)
	mu.Unlock()
	if len(recorded) == 0 {
		t.Fatal("the failed attempt recorded no progress")
	}
	var last map[string]any
	if err := recorded[len(recorded)-1].Get(&last); err != nil {
		t.Fatalf("decoding the last heartbeat: %v", err)
	}
	if got, want := jsonOf(t, map[string]any{"next": last["next"], "result": last["result"]}), jsonOf(t, progress); got != want {
		t.Errorf("the failed attempt recorded %s, want %s", got, want)
	}

	env.SetHeartbeatDetails(progress)
	before := map[*eventReceiver]int{steady: steady.deliveries(), flaky: flaky.deliveries()}
	res, err := execute[activities.PublishEventsResult](t, env, n.PublishEvents, activities.PublishEventsInput{Events: events})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if res.Delivered != 6 || len(res.Dropped) != 0 {
		t.Errorf("result = %+v, want 6 delivered over both attempts and none dropped", res)
	}
	if got := steady.deliveries() - before[steady]; got != 0 {
		t.Errorf("the retry sent %d events again to the endpoint that had them all", got)
	}
	if got := flaky.deliveries() - before[flaky]; got != 1 {
		t.Errorf("the retry sent %d events to flaky, want only the one it had not accepted", got)
	}
	steady.check(t, events)
	flaky.check(t, events)
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// An endpoint answering 429 with Retry-After is retried when it asked, not on the usual backoff.
func TestPublishEventsHonoursRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	n := &activities.Notifications{Publisher: &notify.Publisher{}, Endpoints: []notify.Endpoint{{Name: "busy", URL: srv.URL, Secret: "s"}}}
	_, err := execute[activities.PublishEventsResult](t, notifyEnv(t, n), n.PublishEvents, activities.PublishEventsInput{Events: testEvents()})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NonRetryable() || appErr.NextRetryDelay() != 7*time.Second {
		t.Fatalf("error %v, want a retryable one with a 7s delay", err)
	}
}
