package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/gennaker/gennaker/pipeline"
)

// webhookEnv is an activity environment running Webhooks with the default client, bounded by guard
// so a test that would hang fails instead.
func webhookEnv(t *testing.T, guard context.Context) (*testsuite.TestActivityEnvironment, *Webhooks) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	if guard == nil {
		var cancel context.CancelFunc
		guard, cancel = context.WithTimeout(context.Background(), 15*time.Second)
		t.Cleanup(cancel)
	}
	env.SetWorkerOptions(worker.Options{BackgroundActivityContext: guard})
	w := &Webhooks{}
	env.RegisterActivity(w)
	return env, w
}

func callWebhook(t *testing.T, req pipeline.WebhookRequest) (CallWebhookResult, error) {
	t.Helper()
	env, w := webhookEnv(t, nil)
	val, err := env.ExecuteActivity(w.CallWebhook, CallWebhookInput{Request: req})
	if err != nil {
		return CallWebhookResult{}, err
	}
	var res CallWebhookResult
	if err := val.Get(&res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	return res, nil
}

func monitorWebhook(t *testing.T, env *testsuite.TestActivityEnvironment, w *Webhooks, in MonitorWebhookInput) (MonitorWebhookResult, error) {
	t.Helper()
	val, err := env.ExecuteActivity(w.MonitorWebhook, in)
	if err != nil {
		return MonitorWebhookResult{}, err
	}
	var res MonitorWebhookResult
	if err := val.Get(&res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	return res, nil
}

// appError asserts err is an application error of the given type and retryability, and returns it.
func appError(t *testing.T, err error, errType string, retryable bool) *temporal.ApplicationError {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %s error, got success", errType)
	}
	if !temporal.IsApplicationError(err) {
		t.Fatalf("want an application error, got %T: %v", err, err)
	}
	var appErr *temporal.ApplicationError
	errors.As(err, &appErr)
	if appErr.Type() != errType {
		t.Errorf("error type = %q, want %q (%v)", appErr.Type(), errType, err)
	}
	if appErr.NonRetryable() == retryable {
		t.Errorf("NonRetryable = %v, want %v (%v)", appErr.NonRetryable(), !retryable, err)
	}
	return appErr
}

// received is what a test server saw of one request.
type received struct {
	Method string
	Header http.Header
	Body   string
}

// recorder is a test server that records requests and answers with respond.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newRecorder(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, received{Method: r.Method, Header: r.Header.Clone(), Body: string(body)})
		n := len(rec.reqs)
		rec.mu.Unlock()
		respond(w, r, n)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func reply(code int, contentType, body string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestCallWebhookPostsJSONPayloadAndHeaders(t *testing.T) {
	srv := newRecorder(t, reply(200, "application/json", `{"id": 42, "ok": true}`))
	payload := map[string]any{"app": "gennaker", "replicas": float64(3), "tags": []any{"a", "b"}}

	res, err := callWebhook(t, pipeline.WebhookRequest{
		URL:     srv.URL + "/hooks/deploy",
		Payload: payload,
		Headers: map[string][]string{"X-Token": {"secret"}, "X-Multi": {"one", "two"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Method != http.MethodPost {
		t.Errorf("method = %s, want POST because a payload was given", got.Method)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if v := got.Header.Get("X-Token"); v != "secret" {
		t.Errorf("X-Token = %q", v)
	}
	if v := got.Header.Values("X-Multi"); !reflect.DeepEqual(v, []string{"one", "two"}) {
		t.Errorf("X-Multi = %q", v)
	}
	var sent any
	if err := json.Unmarshal([]byte(got.Body), &sent); err != nil {
		t.Fatalf("body %q is not JSON: %v", got.Body, err)
	}
	if !reflect.DeepEqual(sent, payload) {
		t.Errorf("server got %v, want %v", sent, payload)
	}

	if res.StatusCode != 200 {
		t.Errorf("StatusCode = %d", res.StatusCode)
	}
	if want := map[string]any{"id": float64(42), "ok": true}; !reflect.DeepEqual(res.Body, want) {
		t.Errorf("Body = %#v, want %#v", res.Body, want)
	}
	if res.Headers["Content-Type"] != "application/json" {
		t.Errorf("Headers = %v", res.Headers)
	}
	if res.StatusURL != "" || res.Truncated {
		t.Errorf("StatusURL = %q, Truncated = %v; want neither without monitoring", res.StatusURL, res.Truncated)
	}
}

func TestCallWebhookCustomContentTypeWins(t *testing.T) {
	srv := newRecorder(t, reply(204, "", ""))
	_, err := callWebhook(t, pipeline.WebhookRequest{
		URL: srv.URL, Method: "put", Payload: []any{1.0},
		Headers: map[string][]string{"content-type": {"application/vnd.api+json"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.requests()[0]
	if got.Method != http.MethodPut || got.Header.Get("Content-Type") != "application/vnd.api+json" || got.Body != "[1]" {
		t.Errorf("server got %+v", got)
	}
}

func TestCallWebhookResponseBodies(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		want                    any
	}{
		{"json", "application/json; charset=utf-8", `{"a":[1,"x"]}`, map[string]any{"a": []any{float64(1), "x"}}},
		{"vendor json", "application/problem+json", `{"title":"ok"}`, map[string]any{"title": "ok"}},
		{"json labelled as text", "text/plain", ` [true] `, []any{true}},
		{"text", "text/plain", "deployment queued", "deployment queued"},
		{"text that starts like json", "text/plain", "{not json", "{not json"},
		{"broken json", "application/json", `{"a":`, `{"a":`},
		{"empty", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t, reply(200, tc.contentType, tc.body))
			res, err := callWebhook(t, pipeline.WebhookRequest{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			if srv.requests()[0].Method != http.MethodGet {
				t.Errorf("method = %s, want GET without a payload", srv.requests()[0].Method)
			}
			if !reflect.DeepEqual(res.Body, tc.want) {
				t.Errorf("Body = %#v, want %#v", res.Body, tc.want)
			}
		})
	}
}

func TestCallWebhookStatusClasses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		req       pipeline.WebhookRequest
		errType   string // empty means success
		retryable bool
	}{
		{name: "2xx by default", code: 201},
		{name: "expected code", code: 202, req: pipeline.WebhookRequest{ExpectedStatusCodes: []int{202}}},
		{name: "expected 404", code: 404, req: pipeline.WebhookRequest{ExpectedStatusCodes: []int{200, 404}}},
		{name: "2xx not in expected", code: 200, req: pipeline.WebhookRequest{ExpectedStatusCodes: []int{202}},
			errType: WebhookErrUnexpectedStatus},
		{name: "404", code: 404, errType: WebhookErrUnexpectedStatus},
		{name: "400", code: 400, errType: WebhookErrUnexpectedStatus},
		{name: "503", code: 503, errType: WebhookErrRetryableStatus, retryable: true},
		{name: "500", code: 500, errType: WebhookErrRetryableStatus, retryable: true},
		{name: "429", code: 429, errType: WebhookErrRetryableStatus, retryable: true},
		{name: "retry code", code: 409, req: pipeline.WebhookRequest{RetryStatusCodes: []int{409}},
			errType: WebhookErrRetryableStatus, retryable: true},
		{name: "fail fast", code: 409, req: pipeline.WebhookRequest{FailFastStatusCodes: []int{409}, RetryStatusCodes: []int{409}},
			errType: WebhookErrFailFast},
		{name: "fail fast beats 5xx", code: 502, req: pipeline.WebhookRequest{FailFastStatusCodes: []int{502}},
			errType: WebhookErrFailFast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t, reply(tc.code, "text/plain", "remote says no"))
			req := tc.req
			req.URL = srv.URL + "/job"
			res, err := callWebhook(t, req)
			if tc.errType == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				if res.StatusCode != tc.code {
					t.Errorf("StatusCode = %d, want %d", res.StatusCode, tc.code)
				}
				return
			}
			appErr := appError(t, err, tc.errType, tc.retryable)
			want := fmt.Sprintf("GET %s/job returned %d %s: remote says no", srv.URL, tc.code, http.StatusText(tc.code))
			if appErr.Message() != want {
				t.Errorf("message = %q, want %q", appErr.Message(), want)
			}
			var details WebhookErrorDetails
			if err := appErr.Details(&details); err != nil || details.StatusCode != tc.code || details.Body != "remote says no" {
				t.Errorf("details = %+v, %v", details, err)
			}
			if len(srv.requests()) != 1 {
				t.Errorf("server got %d requests; one activity attempt must make one", len(srv.requests()))
			}
		})
	}
}

func TestCallWebhookRetryAfterBecomesNextRetryDelay(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err := callWebhook(t, pipeline.WebhookRequest{URL: srv.URL, Method: "POST"})
	appErr := appError(t, err, WebhookErrRetryableStatus, true)
	if appErr.NextRetryDelay() != 7*time.Second {
		t.Errorf("NextRetryDelay = %v, want 7s", appErr.NextRetryDelay())
	}
	if want := "POST " + srv.URL + " returned 503 Service Unavailable"; appErr.Message() != want {
		t.Errorf("message = %q, want %q", appErr.Message(), want)
	}

	plain := newRecorder(t, reply(http.StatusServiceUnavailable, "", ""))
	_, err = callWebhook(t, pipeline.WebhookRequest{URL: plain.URL})
	if d := appError(t, err, WebhookErrRetryableStatus, true).NextRetryDelay(); d != 0 {
		t.Errorf("NextRetryDelay without Retry-After = %v, want 0 so the retry policy decides", d)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"-3", 0},
		{"99999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	} {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestCallWebhookNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more

	_, err := callWebhook(t, pipeline.WebhookRequest{URL: url + "/x", Method: "DELETE"})
	appErr := appError(t, err, WebhookErrUnreachable, true)
	if !strings.HasPrefix(appErr.Message(), "DELETE "+url+"/x failed: ") {
		t.Errorf("message = %q", appErr.Message())
	}
}

func TestCallWebhookRejectsBadInput(t *testing.T) {
	srv := newRecorder(t, reply(200, "", ""))
	for _, tc := range []struct {
		name string
		req  pipeline.WebhookRequest
		want string
	}{
		{"no url", pipeline.WebhookRequest{}, "url"},
		{"relative url", pipeline.WebhookRequest{URL: "/hooks"}, "not an absolute http or https URL"},
		{"ftp url", pipeline.WebhookRequest{URL: "ftp://example.com/x"}, "not an absolute http or https URL"},
		{"method", pipeline.WebhookRequest{URL: srv.URL, Method: "FETCH"}, `method "FETCH"`},
		{"header name", pipeline.WebhookRequest{URL: srv.URL, Headers: map[string][]string{"Bad Header": {"x"}}}, "header name"},
		{"header value", pipeline.WebhookRequest{URL: srv.URL, Headers: map[string][]string{"X": {"a\r\nb"}}}, "line break"},
		{"status code", pipeline.WebhookRequest{URL: srv.URL, RetryStatusCodes: []int{42}}, "retryStatusCodes"},
		{"resolution", pipeline.WebhookRequest{URL: srv.URL, StatusURLResolution: "magic"}, "statusUrlResolution"},
		{"status url path", pipeline.WebhookRequest{URL: srv.URL, StatusURLResolution: pipeline.StatusURLWebhookResponse, StatusURLJSONPath: "$.a b"},
			"statusUrlJsonPath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := callWebhook(t, tc.req)
			appErr := appError(t, err, WebhookErrInvalid, false)
			if !strings.Contains(appErr.Message(), tc.want) {
				t.Errorf("message %q does not mention %q", appErr.Message(), tc.want)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("server got %d requests for invalid input", n)
	}
}

func TestCallWebhookBoundsBody(t *testing.T) {
	big := "x" + strings.Repeat("é", maxResultBody) // two bytes each after one, so the cut falls inside a character
	srv := newRecorder(t, reply(200, "text/plain", big))
	res, err := callWebhook(t, pipeline.WebhookRequest{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := res.Body.(string)
	if !res.Truncated || len(body) != maxResultBody-1 || !utf8.ValidString(body) || !strings.HasPrefix(big, body) {
		t.Errorf("Truncated = %v, len(Body) = %d; want a prefix of at most %d bytes", res.Truncated, len(body), maxResultBody)
	}

	// A JSON body over the bound is kept as text, but the status URL is still read from all of it.
	doc := map[string]any{"padding": strings.Repeat("x", 2*maxResultBody), "links": map[string]any{"status": "/jobs/7"}}
	raw, _ := json.Marshal(doc)
	jsonSrv := newRecorder(t, reply(200, "application/json", string(raw)))
	res, err = callWebhook(t, pipeline.WebhookRequest{URL: jsonSrv.URL, StatusURLResolution: pipeline.StatusURLWebhookResponse,
		StatusURLJSONPath: "$.links.status"})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := res.Body.(string); !res.Truncated || len(body) != maxResultBody {
		t.Errorf("Truncated = %v, Body %T of %d bytes", res.Truncated, res.Body, len(body))
	}
	if res.StatusURL != jsonSrv.URL+"/jobs/7" {
		t.Errorf("StatusURL = %q", res.StatusURL)
	}
}

func TestCallWebhookResolvesStatusURL(t *testing.T) {
	for _, tc := range []struct {
		name       string
		respond    func(base string) (location, body string) // base is the server's URL
		resolution string
		jsonPath   string
		want       func(base string) string
	}{
		{"no monitoring", func(string) (string, string) { return "/elsewhere", `{}` }, "", "",
			func(string) string { return "" }},
		{"getMethod", func(string) (string, string) { return "/elsewhere", `{}` }, pipeline.StatusURLGetMethod, "",
			func(base string) string { return base + "/hooks/run?x=1" }},
		{"relative Location", func(string) (string, string) { return "/jobs/9", `{}` }, pipeline.StatusURLLocationHeader, "",
			func(base string) string { return base + "/jobs/9" }},
		{"absolute Location", func(string) (string, string) { return "https://status.example.com/j/9", "" },
			pipeline.StatusURLLocationHeader, "", func(string) string { return "https://status.example.com/j/9" }},
		{"webhookResponse", func(base string) (string, string) { return "", `{"job":{"href":"` + base + `/jobs/3"}}` },
			pipeline.StatusURLWebhookResponse, "$.job.href", func(base string) string { return base + "/jobs/3" }},
		{"relative webhookResponse", func(string) (string, string) { return "", `{"links":[{"status":"jobs/4"}]}` },
			pipeline.StatusURLWebhookResponse, "$.links[0].status", func(base string) string { return base + "/hooks/jobs/4" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				location, body := tc.respond("http://" + r.Host)
				if location != "" {
					w.Header().Set("Location", location)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				io.WriteString(w, body)
			})
			base := srv.URL
			res, err := callWebhook(t, pipeline.WebhookRequest{URL: base + "/hooks/run?x=1", Payload: map[string]any{},
				StatusURLResolution: tc.resolution, StatusURLJSONPath: tc.jsonPath})
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(base); res.StatusURL != want {
				t.Errorf("StatusURL = %q, want %q", res.StatusURL, want)
			}
			if tc.resolution == pipeline.StatusURLLocationHeader && res.Headers["Location"] == "" {
				t.Errorf("Headers = %v, want the Location kept", res.Headers)
			}
		})
	}
}

func TestCallWebhookStatusURLMissing(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, resolution, path, want string
	}{
		{"no Location", "application/json", `{}`, pipeline.StatusURLLocationHeader, "", "no Location header"},
		{"path matches nothing", "application/json", `{"id":1}`, pipeline.StatusURLWebhookResponse, "$.statusUrl", "$.statusUrl"},
		{"path matches a number", "application/json", `{"statusUrl":1}`, pipeline.StatusURLWebhookResponse, "$.statusUrl", "$.statusUrl"},
		{"text body", "text/plain", `queued`, pipeline.StatusURLWebhookResponse, "$.statusUrl", "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t, reply(201, tc.contentType, tc.body))
			_, err := callWebhook(t, pipeline.WebhookRequest{URL: srv.URL, Method: "POST", StatusURLResolution: tc.resolution,
				StatusURLJSONPath: tc.path})
			appErr := appError(t, err, WebhookErrStatusURL, false)
			if !strings.Contains(appErr.Message(), tc.want) {
				t.Errorf("message %q does not mention %q", appErr.Message(), tc.want)
			}
		})
	}
}

// statusServer answers polls with the given JSON documents in turn, repeating the last one.
func statusServer(t *testing.T, docs ...string) *recorder {
	t.Helper()
	return newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		doc := docs[min(n, len(docs))-1]
		if code, body, ok := strings.Cut(doc, " "); ok && len(code) == 3 && code[0] >= '1' && code[0] <= '5' {
			// "503 body" answers with that status.
			var c int
			fmt.Sscan(code, &c)
			w.WriteHeader(c)
			io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, doc)
	})
}

func fastMonitor() pipeline.WebhookMonitor {
	return pipeline.WebhookMonitor{
		StatusJSONPath:   "$.status",
		ProgressJSONPath: "$.progress",
		SuccessStatuses:  []string{"SUCCESS", "done"},
		CanceledStatuses: []string{"CANCELED"},
		TerminalStatuses: []string{"FAILED", "ERROR"},
		Interval:         5 * time.Millisecond,
	}
}

func TestMonitorWebhookOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		docs       []string
		wantStatus string
		wantLast   string
		wantPolls  int
	}{
		{"succeeds after a few polls", []string{`{"status":"RUNNING","progress":"1/3"}`, `{"status":"RUNNING","progress":"2/3"}`,
			`{"status":"success","progress":"3/3"}`}, "SUCCEEDED", "success", 3},
		{"second success status", []string{`{"status":"Done","progress":"all"}`}, "SUCCEEDED", "Done", 1},
		{"terminal", []string{`{"status":"RUNNING"}`, `{"status":"FAILED","progress":"boom"}`}, "TERMINAL", "FAILED", 2},
		{"canceled", []string{`{"status":"canceled","progress":7}`}, "CANCELED", "canceled", 1},
		{"numeric status", []string{`{"status":1}`, `{"status":"ERROR","progress":null}`}, "TERMINAL", "ERROR", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := statusServer(t, tc.docs...)
			env, w := webhookEnv(t, nil)
			res, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL + "/jobs/1", Monitor: fastMonitor()})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.wantStatus || res.LastStatus != tc.wantLast || res.Polls != tc.wantPolls {
				t.Errorf("got Status %q LastStatus %q Polls %d, want %q %q %d", res.Status, res.LastStatus, res.Polls,
					tc.wantStatus, tc.wantLast, tc.wantPolls)
			}
			if n := len(srv.requests()); n != tc.wantPolls {
				t.Errorf("server got %d polls, want %d", n, tc.wantPolls)
			}
			var last map[string]any
			json.Unmarshal([]byte(tc.docs[len(tc.docs)-1]), &last)
			if !reflect.DeepEqual(res.Body, last) {
				t.Errorf("Body = %v, want the last status document %v", res.Body, last)
			}
		})
	}
}

func TestMonitorWebhookReadsProgressAndSendsHeaders(t *testing.T) {
	srv := statusServer(t, `{"status":"RUNNING","progress":"deploying 2 of 3"}`,
		`{"status":"SUCCESS","progress":{"done":3}}`)
	env, w := webhookEnv(t, nil)
	in := MonitorWebhookInput{StatusURL: srv.URL, Monitor: fastMonitor(),
		Headers: map[string][]string{"Authorization": {"Bearer t0k"}}}

	in.Monitor.ProgressJSONPath = "$.progress"
	res, err := monitorWebhook(t, env, w, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress != `{"done":3}` {
		t.Errorf("Progress = %q, want the object as JSON", res.Progress)
	}
	for _, r := range srv.requests() {
		if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer t0k" {
			t.Errorf("poll was %s with Authorization %q", r.Method, r.Header.Get("Authorization"))
		}
	}

	srv2 := statusServer(t, `{"status":"SUCCESS","progress":"deploying 3 of 3"}`)
	env2, w2 := webhookEnv(t, nil)
	res, err = monitorWebhook(t, env2, w2, MonitorWebhookInput{StatusURL: srv2.URL, Monitor: fastMonitor()})
	if err != nil || res.Progress != "deploying 3 of 3" {
		t.Errorf("Progress = %q, err %v", res.Progress, err)
	}
}

func TestMonitorWebhookToleratesTransientFailures(t *testing.T) {
	srv := statusServer(t, `500 database busy`, `429 slow down`, `200 <html>maintenance</html>`,
		`409 try again`, `{"status":"RUNNING"}`, `{"status":"SUCCESS"}`)
	env, w := webhookEnv(t, nil)
	res, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: fastMonitor(),
		RetryStatusCodes: []int{409}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "SUCCEEDED" || res.Polls != 6 {
		t.Errorf("Status %q after %d polls, want SUCCEEDED after 6", res.Status, res.Polls)
	}
}

func TestMonitorWebhookGivesUpAfterConsecutiveFailures(t *testing.T) {
	// Failures interrupted by a good poll start counting again.
	docs := []string{`503 down`, `503 down`, `{"status":"RUNNING"}`}
	for range maxMonitorFailures {
		docs = append(docs, `503 still down`)
	}
	srv := statusServer(t, docs...)
	env, w := webhookEnv(t, nil)
	_, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: fastMonitor()})
	appErr := appError(t, err, WebhookErrMonitor, false)
	if !strings.Contains(appErr.Message(), "503 Service Unavailable: still down") {
		t.Errorf("message %q does not say what the last poll got", appErr.Message())
	}
	if n, want := len(srv.requests()), 3+maxMonitorFailures; n != want {
		t.Errorf("server got %d polls, want %d", n, want)
	}
}

func TestMonitorWebhookStopsOnUnreadableStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		path    string
		errType string
		want    string
	}{
		{"not found", `404 no such job`, "$.status", WebhookErrUnexpectedStatus, "404 Not Found: no such job"},
		{"path matches nothing", `{"state":"RUNNING"}`, "$.status", WebhookErrMonitor, "statusJsonPath $.status matched nothing"},
		{"path matches an object", `{"status":{"phase":"RUNNING"}}`, "$.status", WebhookErrMonitor, "JSON object"},
		{"invalid path", `{"status":"RUNNING"}`, "$.a b", WebhookErrInvalid, `statusJsonPath "$.a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := statusServer(t, tc.doc)
			env, w := webhookEnv(t, nil)
			mon := fastMonitor()
			mon.StatusJSONPath = tc.path
			_, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: mon})
			appErr := appError(t, err, tc.errType, false)
			if !strings.Contains(appErr.Message(), tc.want) {
				t.Errorf("message %q does not mention %q", appErr.Message(), tc.want)
			}
		})
	}

	srv := statusServer(t, `{"status":"RUNNING"}`)
	env, w := webhookEnv(t, nil)
	mon := fastMonitor()
	mon.ProgressJSONPath = "$["
	_, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: mon})
	if appErr := appError(t, err, WebhookErrInvalid, false); !strings.Contains(appErr.Message(), `progressJsonPath "$["`) {
		t.Errorf("message %q does not name the progress path", appErr.Message())
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("server got %d polls with an invalid path", n)
	}
}

func TestMonitorWebhookCancellationEndsItPromptly(t *testing.T) {
	t.Run("while sleeping", func(t *testing.T) {
		polled := make(chan struct{}, 10)
		srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"RUNNING"}`)
			polled <- struct{}{}
		})
		ctx, cancel := cancelLikeServer()
		defer cancel()
		env, w := webhookEnv(t, ctx)
		go func() {
			<-polled
			cancel()
		}()
		mon := fastMonitor()
		mon.Interval = time.Hour
		assertCanceled(t, func() error {
			_, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: mon})
			return err
		})
		if n := len(srv.requests()); n != 1 {
			t.Errorf("server got %d polls, want 1", n)
		}
	})
	t.Run("during a hanging poll", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		srv := newRecorder(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
			arrived <- struct{}{}
			<-r.Context().Done() // never answers; ends when the client gives up
		})
		ctx, cancel := cancelLikeServer()
		defer cancel()
		env, w := webhookEnv(t, ctx)
		go func() {
			<-arrived
			cancel()
		}()
		assertCanceled(t, func() error {
			_, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: fastMonitor()})
			return err
		})
	})
	t.Run("while waiting before the first poll", func(t *testing.T) {
		srv := statusServer(t, `{"status":"SUCCESS"}`)
		ctx, cancel := cancelLikeServer()
		defer cancel()
		time.AfterFunc(50*time.Millisecond, cancel)
		env, w := webhookEnv(t, ctx)
		mon := fastMonitor()
		mon.WaitBefore = time.Hour
		assertCanceled(t, func() error {
			_, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: mon})
			return err
		})
		if n := len(srv.requests()); n != 0 {
			t.Errorf("server got %d polls during the wait", n)
		}
	})
}

// cancelLikeServer returns a context whose cancel ends an activity running under it the way a
// cancellation delivered in a heartbeat's reply does: with a canceled error as the cause.
func cancelLikeServer() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	return ctx, func() { cancel(temporal.NewCanceledError()) }
}

// assertCanceled runs fn, which must end with a canceled error well before the hour-long waits the tests set up.
func assertCanceled(t *testing.T, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if !temporal.IsCanceledError(err) {
			t.Errorf("want a canceled error, got %T: %v", err, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("activity did not return after cancellation")
	}
}

func TestMonitorWebhookWaitsBeforeFirstPoll(t *testing.T) {
	srv := statusServer(t, `{"status":"SUCCESS"}`)
	env, w := webhookEnv(t, nil)
	mon := fastMonitor()
	mon.WaitBefore = 60 * time.Millisecond
	start := time.Now()
	if _, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: mon}); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < mon.WaitBefore {
		t.Errorf("finished after %v, before waiting %v", elapsed, mon.WaitBefore)
	}
}

func TestMonitorWebhookResumesFromHeartbeat(t *testing.T) {
	srv := statusServer(t, `{"status":"SUCCESS"}`)
	env, w := webhookEnv(t, nil)
	env.SetHeartbeatDetails(monitorState{Polls: 4, LastStatus: "RUNNING"})
	mon := fastMonitor()
	mon.WaitBefore = time.Hour // a resumed attempt has waited already; waiting again would trip the guard
	res, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: mon})
	if err != nil {
		t.Fatal(err)
	}
	if res.Polls != 5 {
		t.Errorf("Polls = %d, want 5 counting the earlier attempt's", res.Polls)
	}
}

func TestMonitorWebhookHeartbeatsLastStatus(t *testing.T) {
	srv := statusServer(t, `{"status":"QUEUED"}`, `{"status":"SUCCESS"}`)
	env, w := webhookEnv(t, nil)
	var mu sync.Mutex
	var beats []monitorState
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var s monitorState
		if err := details.Get(&s); err != nil {
			t.Errorf("heartbeat details: %v", err)
		}
		mu.Lock()
		beats = append(beats, s)
		mu.Unlock()
	})
	if _, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: srv.URL, Monitor: fastMonitor()}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The SDK throttles heartbeats, so within a short test only the first reaches the server.
	if len(beats) == 0 || beats[0].Polls != 1 || beats[0].LastStatus != "QUEUED" {
		t.Errorf("heartbeats = %+v, want the first after poll 1 with status QUEUED", beats)
	}
}

func TestMonitorWebhookRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   MonitorWebhookInput
		want string
	}{
		{"no status url", MonitorWebhookInput{Monitor: fastMonitor()}, "status url"},
		{"no status path", MonitorWebhookInput{StatusURL: "http://example.com", Monitor: pipeline.WebhookMonitor{SuccessStatuses: []string{"OK"}}},
			"statusJsonPath is required"},
		{"no success statuses", MonitorWebhookInput{StatusURL: "http://example.com", Monitor: pipeline.WebhookMonitor{StatusJSONPath: "$.s"}},
			"successStatuses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, w := webhookEnv(t, nil)
			_, err := monitorWebhook(t, env, w, tc.in)
			if appErr := appError(t, err, WebhookErrInvalid, false); !strings.Contains(appErr.Message(), tc.want) {
				t.Errorf("message %q does not mention %q", appErr.Message(), tc.want)
			}
		})
	}
}

func TestMonitorWebhookEndToEndWithCall(t *testing.T) {
	// The usual shape: POST starts a job, Location says where its status is, polls follow it.
	var polls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "/jobs/17")
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /jobs/17", func(w http.ResponseWriter, _ *http.Request) {
		status := "RUNNING"
		if polls.Add(1) >= 3 {
			status = "SUCCESS"
		}
		fmt.Fprintf(w, `{"status":%q}`, status)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	settings, problems := pipeline.ReadWebhookStage(map[string]any{
		"url": srv.URL + "/jobs", "payload": map[string]any{"x": int64(1)}, "waitForCompletion": true,
		"statusUrlResolution": "locationHeader", "statusJsonPath": "$.status", "successStatuses": "SUCCESS",
		"monitorIntervalSeconds": 0.005,
	}, "")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	req, mon := settings.Request, settings.Monitor
	called, err := callWebhook(t, req)
	if err != nil {
		t.Fatal(err)
	}
	env, w := webhookEnv(t, nil)
	res, err := monitorWebhook(t, env, w, MonitorWebhookInput{StatusURL: called.StatusURL, Headers: req.Headers, Monitor: *mon})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "SUCCEEDED" || res.Polls != 3 {
		t.Errorf("Status %q after %d polls", res.Status, res.Polls)
	}
}

func TestWebhookTypesRoundTripJSON(t *testing.T) {
	in := MonitorWebhookInput{StatusURL: "https://x.example/s", Headers: map[string][]string{"A": {"b"}},
		RetryStatusCodes: []int{409}, Monitor: fastMonitor()}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back MonitorWebhookInput
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, in)
	}
}
