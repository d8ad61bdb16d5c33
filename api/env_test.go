package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/slack-go/slack/slacktest"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/gennaker/gennaker/access"
	"github.com/gennaker/gennaker/api"
	"github.com/gennaker/gennaker/internal/devserver"
	"github.com/gennaker/gennaker/internal/localkube/kubetest"
	"github.com/gennaker/gennaker/launch"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/worker"
	"github.com/gennaker/gennaker/workflows"
)

// uiBase is the Temporal Web UI address the test server links executions to.
const uiBase = "http://temporal-ui.test"

// testEnv is the one embedded Temporal server, worker, store and API the package's tests share.
type testEnv struct {
	baseURL string
	client  client.Client
	logger  *slog.Logger
	// server is the API under test, for Drain.
	server *api.Server
	// slackSecret signs the Slack interactions the tests send.
	slackSecret string
	// answers records what the API answers to Slack clicks through their response_url.
	answers *slackAnswers
}

// The users the test API knows, as the Slack tests name them.
const (
	slackSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	// alice is in the user list with her Slack ID and is a release manager.
	alice, aliceSlackID = "alice@example.com", "UALICE"
	// bob has no role and is found by the email of his Slack profile.
	bob, bobSlackID = "bob@example.com", "UBOB"
	// carol is an SRE found by the email of her Slack profile.
	carol, carolSlackID = "carol@example.com", "UCAROL"
	// noMailSlackID is a Slack user whose profile shows no email; unknownSlackID is no Slack user.
	noMailSlackID, unknownSlackID = "UNOMAIL", "UNOBODY"
	// impostorSlackID is a Slack user whose profile shows alice's email.
	impostorSlackID = "UIMPOSTOR"
)

// testUsers is the user list of the test API.
func testUsers() (*access.Directory, error) {
	return access.NewDirectory([]access.User{
		{Name: alice, SlackID: aliceSlackID, Roles: []string{"release-managers"}},
		{Name: bob},
		{Name: carol, Roles: []string{"sre"}},
	})
}

// startSlack starts a Slack Web API test server whose users.info knows the test users by ID.
func startSlack() *slacktest.Server {
	emails := map[string]string{carolSlackID: carol, bobSlackID: bob, noMailSlackID: "", impostorSlackID: alice}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/users.info", func(w http.ResponseWriter, r *http.Request) {
			id := r.FormValue("user")
			email, ok := emails[id]
			w.Header().Set("Content-Type", "application/json")
			if !ok {
				_, _ = w.Write([]byte(`{"ok": false, "error": "user_not_found"}`))
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{
				"id": id, "name": strings.ToLower(id), "profile": map[string]any{"email": email},
			}})
		})
	})
	srv.Start()
	return srv
}

// slackAnswers is a stand-in for Slack's response_url endpoints: each test gets its own URL and
// reads back the messages posted to it.
type slackAnswers struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]slackAnswer
}

// slackAnswer is one message posted to a response_url.
type slackAnswer struct {
	ResponseType    string `json:"response_type"`
	ReplaceOriginal bool   `json:"replace_original"`
	Text            string `json:"text"`
}

func newSlackAnswers() *slackAnswers {
	a := &slackAnswers{got: map[string][]slackAnswer{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m slackAnswer
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&m) != nil {
			http.Error(w, "not a response_url message", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.got[r.URL.Path] = append(a.got[r.URL.Path], m)
		a.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	return a
}

// newURL is a response_url of its own, so that tests running in parallel do not see each other's
// answers.
func (a *slackAnswers) newURL() string { return a.srv.URL + "/actions/" + ulid.Make().String() }

// at lists the messages posted to a response_url so far.
func (a *slackAnswers) at(responseURL string) []slackAnswer {
	path := strings.TrimPrefix(responseURL, a.srv.URL)
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got[path])
}

// env is set by TestMain unless the tests run with -short.
var env *testEnv

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	stop, err := startEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test environment:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	// The Kubernetes control plane is started only by the tests that need it.
	kubetest.Stop()
	os.Exit(code)
}

// startEnv brings up Temporal, the store, a worker on its own task queue and the API; the
// returned function stops them newest first.
func startEnv() (stop func(), err error) {
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	dir, err := os.MkdirTemp("", "gennaker-api-test-")
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = os.RemoveAll(dir) })

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := devserver.Start(devserver.Options{
		DataDir:          filepath.Join(dir, "temporal"),
		Port:             0,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           logger,
	})
	if err != nil {
		return nil, err
	}
	undo = append(undo, srv.Stop)

	c, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(logger),
	})
	if err != nil {
		return nil, err
	}
	undo = append(undo, c.Close)

	st, err := store.OpenSQLite(filepath.Join(dir, "gennaker.db"))
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = st.Close() })

	taskQueue := "api-test-" + ulid.Make().String()
	launcher := &launch.Launcher{Client: c, Source: st, TaskQueue: taskQueue}
	w := worker.New(c, taskQueue, worker.Dependencies{Pipelines: st, Starter: launcher})
	if err := w.Start(); err != nil {
		return nil, err
	}
	undo = append(undo, w.Stop)

	users, err := testUsers()
	if err != nil {
		return nil, err
	}
	slackAPI := startSlack()
	undo = append(undo, slackAPI.Stop)
	answers := newSlackAnswers()
	undo = append(undo, answers.srv.Close)

	server := &api.Server{
		Store:       st,
		Temporal:    c,
		Namespace:   srv.Namespace(),
		Launcher:    launcher,
		Schedules:   &launch.Schedules{Client: c, TaskQueue: taskQueue},
		WorkflowURL: func(id string) string { return workflowURL(srv.Namespace(), id) },
		Logger:      logger,
		Users:       users,
		Slack: &api.SlackSettings{
			SigningSecret: slackSigningSecret,
			Users:         notify.NewSlack("xoxb-test", notify.WithAPIURL(slackAPI.GetAPIURL())),
			HTTPClient:    &http.Client{Timeout: 10 * time.Second},
		},
	}
	hs := httptest.NewServer(server.Handler())
	// Undone newest first: the API stops taking requests, then the clicks it still processes end,
	// then the servers they use stop.
	undo = append(undo, server.Drain, hs.Close)
	env = &testEnv{baseURL: hs.URL, client: c, logger: logger, server: server, slackSecret: slackSigningSecret, answers: answers}
	return stop, nil
}

func workflowURL(namespace, id string) string {
	return uiBase + "/namespaces/" + namespace + "/workflows/" + id
}

// needEnv returns the shared environment, skipping the test under -short.
func needEnv(t *testing.T) *testEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the embedded Temporal server; skipped with -short")
	}
	return env
}

// response is what the API answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request is one HTTP call; body is sent as is when it is a string or []byte, else as JSON.
type request struct {
	method  string
	path    string
	body    any
	headers map[string]string
}

func (e *testEnv) do(t *testing.T, r request) response {
	t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encoding the body of %s %s: %v", r.method, r.path, err)
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, e.baseURL+r.path, body)
	if err != nil {
		t.Fatalf("building %s %s: %v", r.method, r.path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", r.method, r.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func (e *testEnv) get(t *testing.T, path string) response {
	t.Helper()
	return e.do(t, request{method: http.MethodGet, path: path})
}

func (e *testEnv) post(t *testing.T, path string, body any) response {
	t.Helper()
	return e.do(t, request{method: http.MethodPost, path: path, body: body})
}

func (e *testEnv) put(t *testing.T, path string, body any) response {
	t.Helper()
	return e.do(t, request{method: http.MethodPut, path: path, body: body})
}

// expect fails the test unless the answer has the status, and decodes its JSON body into out.
func (r response) expect(t *testing.T, status int, out any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	if out == nil {
		return
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		t.Fatalf("body is not the JSON expected (%v): %s", err, r.body)
	}
}

// errorBody is the API's error shape.
type errorBody struct {
	Error   string   `json:"error"`
	Details []string `json:"details"`
}

// expectError fails the test unless the answer is the status with a JSON error body.
func (r response) expectError(t *testing.T, status int) errorBody {
	t.Helper()
	var e errorBody
	r.expect(t, status, &e)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answer has Content-Type %q, want JSON", ct)
	}
	if e.Error == "" {
		t.Errorf("error answer has no error message: %s", r.body)
	}
	return e
}

// eventually calls check until it reports done or the deadline passes, then fails with its last words.
func eventually(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 50 * time.Millisecond
	for {
		done, last := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %s; last: %s", what, timeout, last)
		}
		time.Sleep(wait)
		if wait < 500*time.Millisecond {
			wait *= 2
		}
	}
}

// execution is the part of the execution JSON the tests read.
type execution struct {
	ID                 string  `json:"id"`
	Application        string  `json:"application"`
	Name               string  `json:"name"`
	PipelineVersion    int     `json:"pipelineVersion"`
	Status             string  `json:"status"`
	Canceled           bool    `json:"canceled"`
	CanceledBy         string  `json:"canceledBy"`
	CancellationReason string  `json:"cancellationReason"`
	Trigger            trigger `json:"trigger"`
	Stages             []stage `json:"stages"`
}

type trigger struct {
	Type       string         `json:"type"`
	User       string         `json:"user"`
	Parameters map[string]any `json:"parameters"`
	Payload    map[string]any `json:"payload"`
}

type stage struct {
	RefID    string         `json:"refId"`
	Type     string         `json:"type"`
	Name     string         `json:"name"`
	Status   string         `json:"status"`
	Outputs  map[string]any `json:"outputs"`
	Error    string         `json:"error"`
	Judgment *struct {
		Status string `json:"judgmentStatus"`
		Input  string `json:"judgmentInput"`
		User   string `json:"user"`
	} `json:"judgment"`
}

func (x execution) stage(t *testing.T, refID string) stage {
	t.Helper()
	for _, s := range x.Stages {
		if s.RefID == refID {
			return s
		}
	}
	t.Fatalf("execution %s has no stage %q", x.ID, refID)
	return stage{}
}

// started is the answer to a start.
type started struct {
	ID              string            `json:"id"`
	Application     string            `json:"application"`
	Name            string            `json:"name"`
	PipelineVersion int               `json:"pipelineVersion"`
	Links           map[string]string `json:"links"`
}

// savePipeline PUTs a config and expects it saved.
func (e *testEnv) savePipeline(t *testing.T, app, name string, cfg any) pipelineRecord {
	t.Helper()
	var rec pipelineRecord
	e.put(t, pipelinePath(app, name), cfg).expect(t, http.StatusOK, &rec)
	return rec
}

// start starts an execution and expects 201.
func (e *testEnv) start(t *testing.T, app, name string, body any) started {
	t.Helper()
	var s started
	e.post(t, pipelinePath(app, name)+"/executions", body).expect(t, http.StatusCreated, &s)
	return s
}

// getExecution reads an execution and expects 200.
func (e *testEnv) getExecution(t *testing.T, id string) execution {
	t.Helper()
	var out execution
	e.get(t, "/api/v1/executions/"+id).expect(t, http.StatusOK, &out)
	return out
}

// waitFor polls an execution until cond holds.
func (e *testEnv) waitFor(t *testing.T, id string, timeout time.Duration, what string, cond func(execution) bool) execution {
	t.Helper()
	var last execution
	eventually(t, timeout, what, func() (bool, string) {
		r := e.get(t, "/api/v1/executions/"+id)
		if r.status == http.StatusServiceUnavailable {
			// A query waits for the workflow's worker; on a loaded machine that can outlast the
			// API's deadline. The API says so with 503, and a poller asks again.
			return false, string(r.body)
		}
		var out execution
		r.expect(t, http.StatusOK, &out)
		last = out
		data, _ := json.Marshal(last)
		return cond(last), string(data)
	})
	return last
}

func stageIs(refID, status string) func(execution) bool {
	return func(x execution) bool {
		for _, s := range x.Stages {
			if s.RefID == refID {
				return s.Status == status
			}
		}
		return false
	}
}

func statusIs(status string) func(execution) bool {
	return func(x execution) bool { return x.Status == status }
}

// pipelineRecord is a saved pipeline as the API returns it.
type pipelineRecord struct {
	ID          string          `json:"id"`
	Application string          `json:"application"`
	Name        string          `json:"name"`
	Version     int             `json:"version"`
	SavedBy     string          `json:"savedBy"`
	SavedAt     time.Time       `json:"savedAt"`
	Config      json.RawMessage `json:"config"`
	Warnings    []string        `json:"warnings"`
}

func pipelinePath(app, name string) string {
	return "/api/v1/applications/" + app + "/pipelines/" + name
}

// summary is one row of an execution listing.
type summary struct {
	ID          string            `json:"id"`
	Application string            `json:"application"`
	Name        string            `json:"name"`
	Status      string            `json:"status"`
	TriggerType string            `json:"triggerType"`
	Links       map[string]string `json:"links"`
}

type listing struct {
	Executions    []summary `json:"executions"`
	NextPageToken string    `json:"nextPageToken"`
}

func (e *testEnv) list(t *testing.T, query string) listing {
	t.Helper()
	var l listing
	e.get(t, "/api/v1/executions?"+query).expect(t, http.StatusOK, &l)
	return l
}

// readJSON reads a file of the repository as a generic JSON object.
func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(a, b []byte) (bool, error) {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return false, err
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya), nil
}

var errNotObject = errors.New("not a JSON object")

// object decodes a JSON object.
func object(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotObject
	}
	return m, nil
}
