package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gennaker/gennaker/internal/procout"

	"sigs.k8s.io/yaml"
)

// binDir holds the gennaker binary built for this run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gennaker-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// gennakerBinary builds ./cmd/gennaker once per test run, the way a user builds it.
func gennakerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(binDir, "gennaker")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/gennaker")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/gennaker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// repoRoot is the directory of the module's go.mod.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the module")
	}
	return filepath.Dir(gomod), nil
}

// devProcess is `gennaker dev` run as a user runs it, with its own data directory kept across
// restarts. Every start listens on ports of its own choosing (port 0), and the test reads them
// from the lines it prints once it runs: no port is chosen here and left free for another
// process to take before gennaker binds it.
type devProcess struct {
	t       *testing.T
	bin     string
	dataDir string
	// uiURL is the Temporal Web UI's base URL printed by the latest start.
	uiURL string
	// awsURL is the local AWS (moto) the latest start printed; empty when it runs none.
	awsURL                 string
	out                    procout.Buffer
	cmd                    *exec.Cmd
	exited                 chan struct{}
	waitErr                error
	starts                 int
	readyTimeout, stopWait time.Duration
	// args are added to the command line, and env to the environment, for settings a test needs.
	args []string
	env  []string
}

// newDevProcess prepares a gennaker dev process; start runs it. Its output is printed when the
// test fails, and it is killed at the end of the test if it still runs.
func newDevProcess(t *testing.T) *devProcess {
	t.Helper()
	skipShort(t)
	p := &devProcess{
		t:            t,
		bin:          gennakerBinary(t),
		dataDir:      t.TempDir(),
		readyTimeout: 60 * time.Second,
		stopWait:     15 * time.Second,
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("gennaker dev output:\n%s", p.out.String())
		}
	})
	return p
}

// The lines gennaker dev prints once it runs, naming the addresses it listens on.
var (
	apiLine = regexp.MustCompile(`(?m)^\s*API:\s+(http://\S+)/api/v1\s*$`)
	awsLine = regexp.MustCompile(`(?m)^\s*Local AWS \(moto\):\s+(http://[^,\s]+), account`)
	uiLine  = regexp.MustCompile(`(?m)^\s*Temporal Web UI:\s+(http://\S+)\s*$`)
)

// start runs gennaker dev, reads the addresses it chose, and waits until /readyz answers 200.
func (p *devProcess) start() *apiClient {
	p.t.Helper()
	p.starts++
	fmt.Fprintf(&p.out, "----- start %d -----\n", p.starts)
	from := len(p.out.String())
	cmd := exec.Command(p.bin, "dev",
		"--data-dir", p.dataDir,
		"--http-address", "127.0.0.1:0",
		"--dev-temporal-port", "0",
		"--dev-ui-port", "0",
	)
	cmd.Args = append(cmd.Args, p.args...)
	cmd.Env = append(withoutGennakerEnv(os.Environ()), p.env...)
	cmd.Stdout = &p.out
	cmd.Stderr = &p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting gennaker dev: %v", err)
	}
	p.cmd = cmd
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		p.waitErr = cmd.Wait()
		close(exited)
	}()

	api := &apiClient{t: p.t, http: &http.Client{Timeout: 30 * time.Second}}
	deadline := time.Now().Add(p.readyTimeout)
	for {
		select {
		case <-exited:
			p.t.Fatalf("gennaker dev exited before it was ready: %v", p.waitErr)
		default:
		}
		if api.base == "" {
			printed := p.out.String()[from:]
			apiURL, ui := apiLine.FindStringSubmatch(printed), uiLine.FindStringSubmatch(printed)
			if apiURL == nil || ui == nil {
				if time.Now().After(deadline) {
					p.t.Fatalf("gennaker dev did not print its addresses within %s", p.readyTimeout)
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			api.base, p.uiURL = apiURL[1], ui[1]
			if m := awsLine.FindStringSubmatch(printed); m != nil {
				p.awsURL = m[1]
			}
		}
		resp, err := api.http.Get(api.base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("gennaker dev was not ready within %s (last: %v)", p.readyTimeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// withoutGennakerEnv drops GENNAKER_* variables, which would change the defaults the test relies on.
func withoutGennakerEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GENNAKER_") {
			out = append(out, kv)
		}
	}
	return out
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would, if it still runs.
func (p *devProcess) kill() {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// interrupt sends SIGINT, as Ctrl-C does, and returns the exit code and how long the exit took.
func (p *devProcess) interrupt() (int, time.Duration) {
	p.t.Helper()
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatalf("sending SIGINT: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(p.stopWait):
		p.t.Fatalf("gennaker dev did not exit within %s of SIGINT", p.stopWait)
	}
	took := time.Since(began)
	var exitErr *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0, took
	case errors.As(p.waitErr, &exitErr):
		return exitErr.ExitCode(), took
	}
	p.t.Fatalf("waiting for gennaker dev: %v", p.waitErr)
	return -1, took
}

// apiClient calls gennaker's HTTP API.
type apiClient struct {
	t    *testing.T
	base string
	http *http.Client
}

// do sends a request with a JSON (or raw []byte) body and returns the status and body.
func (a *apiClient) do(method, path string, body any, header ...string) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatalf("encoding the body of %s %s: %v", method, path, err)
		}
		r = bytes.NewReader(data)
	}
	url := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		url = a.base + path
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, data
}

// expect sends a request, fails the test unless the answer has the wanted status, and decodes it into out.
func (a *apiClient) expect(want int, method, path string, body, out any, header ...string) {
	a.t.Helper()
	code, data := a.do(method, path, body, header...)
	if code != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
}

// savePipeline PUTs a pipeline config and returns the saved record.
func (a *apiClient) savePipeline(app, name string, config any) savedPipeline {
	a.t.Helper()
	var rec savedPipeline
	a.expect(http.StatusOK, http.MethodPut, "/api/v1/applications/"+app+"/pipelines/"+name, config, &rec)
	return rec
}

// startExecution starts a saved pipeline and returns the new execution's id.
func (a *apiClient) startExecution(app, name string, body any) startedExecution {
	a.t.Helper()
	var started startedExecution
	a.expect(http.StatusCreated, http.MethodPost, "/api/v1/applications/"+app+"/pipelines/"+name+"/executions", body, &started)
	if started.ID == "" {
		a.t.Fatalf("starting %s/%s: the answer has no id", app, name)
	}
	return started
}

// execution reads an execution as the API shows it.
func (a *apiClient) execution(id string) execution {
	a.t.Helper()
	var got execution
	a.expect(http.StatusOK, http.MethodGet, "/api/v1/executions/"+id, nil, &got)
	return got
}

// waitForExecution polls an execution until cond holds; it fails the test after timeout.
func (a *apiClient) waitForExecution(id string, timeout time.Duration, what string, cond func(execution) bool) execution {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, data := a.do(http.MethodGet, "/api/v1/executions/"+id, nil)
		var got execution
		// 503 means the worker or Temporal is not back yet, as right after a restart.
		if code == http.StatusOK {
			if err := json.Unmarshal(data, &got); err != nil {
				a.t.Fatalf("decoding execution %s: %v", id, err)
			}
			if cond(got) {
				return got
			}
		} else if code != http.StatusServiceUnavailable {
			a.t.Fatalf("GET execution %s: status %d: %s", id, code, data)
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("execution %s: %s did not happen within %s; last answer %d: %s", id, what, timeout, code, data)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitUntilDone polls until the execution has a final status.
func (a *apiClient) waitUntilDone(id string, timeout time.Duration) execution {
	a.t.Helper()
	return a.waitForExecution(id, timeout, "the end", func(e execution) bool { return isFinal(e.Status) })
}

// waitForStage polls until a stage has the wanted status.
func (a *apiClient) waitForStage(id, refID, status string, timeout time.Duration) execution {
	a.t.Helper()
	return a.waitForExecution(id, timeout, "stage "+refID+" "+status, func(e execution) bool {
		s := e.stage(refID)
		return s != nil && s.Status == status
	})
}

// listed polls the execution listing until the query's answer includes the id.
func (a *apiClient) listed(query, id string, timeout time.Duration) executionSummary {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var page struct {
			Executions []executionSummary `json:"executions"`
		}
		a.expect(http.StatusOK, http.MethodGet, "/api/v1/executions?"+query, nil, &page)
		for _, e := range page.Executions {
			if e.ID == id {
				return e
			}
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("execution %s is not listed by ?%s after %s: %+v", id, query, timeout, page.Executions)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func isFinal(status string) bool {
	switch status {
	case "SUCCEEDED", "FAILED_CONTINUE", "TERMINAL", "CANCELED", "STOPPED", "SKIPPED":
		return true
	}
	return false
}

// savedPipeline is the answer to a pipeline save.
type savedPipeline struct {
	ID       string          `json:"id"`
	Version  int             `json:"version"`
	SavedBy  string          `json:"savedBy"`
	Config   json.RawMessage `json:"config"`
	Warnings []string        `json:"warnings"`
}

// startedExecution is the answer to a start.
type startedExecution struct {
	ID              string            `json:"id"`
	PipelineVersion int               `json:"pipelineVersion"`
	Links           map[string]string `json:"links"`
}

// executionSummary is one row of the execution listing.
type executionSummary struct {
	ID          string `json:"id"`
	Application string `json:"application"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	TriggerType string `json:"triggerType"`
}

// execution is the execution JSON a user reads, with the fields these tests look at.
type execution struct {
	ID                 string  `json:"id"`
	Status             string  `json:"status"`
	StartTime          int64   `json:"startTime"`
	EndTime            int64   `json:"endTime"`
	Canceled           bool    `json:"canceled"`
	CanceledBy         string  `json:"canceledBy"`
	CancellationReason string  `json:"cancellationReason"`
	Stages             []stage `json:"stages"`
	Trigger            struct {
		Type       string         `json:"type"`
		User       string         `json:"user"`
		Parameters map[string]any `json:"parameters"`
	} `json:"trigger"`
}

type stage struct {
	RefID     string         `json:"refId"`
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	StartTime int64          `json:"startTime"`
	EndTime   int64          `json:"endTime"`
	Context   map[string]any `json:"context"`
	Outputs   map[string]any `json:"outputs"`
	Error     string         `json:"error"`
	// WaitingForWindowUntil is set while the stage waits for its execution window.
	WaitingForWindowUntil int64 `json:"waitingForWindowUntil"`
	Judgment              *struct {
		Status string `json:"judgmentStatus"`
		Input  string `json:"judgmentInput"`
		User   string `json:"user"`
	} `json:"judgment"`
}

func (e execution) stage(refID string) *stage {
	for i := range e.Stages {
		if e.Stages[i].RefID == refID {
			return &e.Stages[i]
		}
	}
	return nil
}

// mustStage returns a stage of the execution, failing the test when there is none.
func (e execution) mustStage(t *testing.T, refID string) stage {
	t.Helper()
	s := e.stage(refID)
	if s == nil {
		t.Fatalf("execution %s has no stage %s", e.ID, refID)
	}
	return *s
}

// describe is a one-line summary of the stages, for failure messages.
func (e execution) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "execution %s %s:", e.ID, e.Status)
	for _, s := range e.Stages {
		fmt.Fprintf(&b, " [%s %s %s %d-%d %q]", s.RefID, s.Type, s.Status, s.StartTime, s.EndTime, s.Error)
	}
	return b.String()
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs gennaker dev (its embedded Temporal server and local Kubernetes cluster); skipped with -short")
	}
}

// TestREADMEWalkthrough follows the README: save examples/hello.json, start it with a version,
// open the Temporal Web UI link, approve the manual judgment, and read the finished execution.
func TestREADMEWalkthrough(t *testing.T) {
	skipShort(t)
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	hello, err := os.ReadFile(filepath.Join(root, "examples", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	dev := newDevProcess(t)
	api := dev.start()

	var saved savedPipeline
	api.expect(http.StatusOK, http.MethodPut, "/api/v1/applications/hello/pipelines/hello", hello, &saved, "X-Gennaker-User", "ana")
	if saved.Version != 1 || saved.SavedBy != "ana" || len(saved.Warnings) != 0 {
		t.Errorf("saved pipeline: version %d by %q, warnings %v; want version 1 by ana, no warnings", saved.Version, saved.SavedBy, saved.Warnings)
	}

	started := api.startExecution("hello", "hello", `{"parameters": {"version": "2.0.0"}, "user": "ana"}`)
	if started.PipelineVersion != 1 {
		t.Errorf("pipelineVersion %d, want 1", started.PipelineVersion)
	}
	ui := started.Links["temporalUI"]
	wantUI := dev.uiURL + "/namespaces/default/workflows/" + started.ID
	if ui != wantUI {
		t.Errorf("links.temporalUI = %q, want %q", ui, wantUI)
	}
	if code, body := api.do(http.MethodGet, ui, nil); code != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("GET %s: status %d, want 200 with the Web UI page; body starts %.200q", ui, code, body)
	}

	id := started.ID
	running := api.execution(id)
	if running.Status != "RUNNING" || running.Trigger.User != "ana" || running.Trigger.Parameters["version"] != "2.0.0" {
		t.Errorf("just started: status %s, trigger %+v; want RUNNING by ana with version 2.0.0", running.Status, running.Trigger)
	}

	waiting := api.waitForStage(id, "2", "RUNNING", 60*time.Second)
	if s := waiting.mustStage(t, "1"); s.Status != "SUCCEEDED" {
		t.Errorf("stage 1 is %s while stage 2 waits for a judgment, want SUCCEEDED", s.Status)
	}
	if got := waiting.mustStage(t, "2").Context["instructions"]; got != "Release version 2.0.0 to everyone?" {
		t.Errorf("judgment instructions = %q, want the version filled in", got)
	}
	if row := api.listed("application=hello&status=AWAITING_JUDGMENT", id, 30*time.Second); row.Status != "AWAITING_JUDGMENT" {
		t.Errorf("listed as %s, want AWAITING_JUDGMENT", row.Status)
	}

	var judged map[string]any
	api.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+id+"/stages/2/judgment",
		`{"judgmentStatus": "continue", "judgmentInput": "ship", "user": "bo"}`, &judged)
	if judged["user"] != "bo" || judged["judgmentStatus"] != "continue" {
		t.Errorf("judgment answer %v", judged)
	}

	done := api.waitUntilDone(id, 60*time.Second)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("execution ended %s, want SUCCEEDED: %s", done.Status, done.describe())
	}
	for _, s := range done.Stages {
		if s.Status != "SUCCEEDED" {
			t.Errorf("stage %s %q ended %s (%s), want SUCCEEDED", s.RefID, s.Name, s.Status, s.Error)
		}
	}
	s1, s2, s3, s4, s5 := done.mustStage(t, "1"), done.mustStage(t, "2"), done.mustStage(t, "3"), done.mustStage(t, "4"), done.mustStage(t, "5")
	if s1.EndTime-s1.StartTime < 5000 {
		t.Errorf("the 5 s wait took %d ms", s1.EndTime-s1.StartTime)
	}
	if s2.StartTime < s1.EndTime {
		t.Errorf("stage 2 started at %d, before stage 1 ended at %d", s2.StartTime, s1.EndTime)
	}
	if s3.StartTime != s4.StartTime {
		t.Errorf("parallel stages 3 and 4 started at %d and %d, want together", s3.StartTime, s4.StartTime)
	}
	if s3.StartTime < s2.EndTime {
		t.Errorf("stages 3 and 4 started at %d, before the judgment ended at %d", s3.StartTime, s2.EndTime)
	}
	if s4.EndTime-s4.StartTime < 3000 {
		t.Errorf("the 3 s wait took %d ms", s4.EndTime-s4.StartTime)
	}
	if s5.StartTime < s3.EndTime || s5.StartTime < s4.EndTime {
		t.Errorf("join stage 5 started at %d, before stages 3 (%d) and 4 (%d) both ended", s5.StartTime, s3.EndTime, s4.EndTime)
	}
	if got := s3.Outputs["message"]; got != "ship 2.0.0, approved by bo" {
		t.Errorf("stage 3 output message = %q, want %q", got, "ship 2.0.0, approved by bo")
	}
	if s2.Judgment == nil || s2.Judgment.User != "bo" || s2.Judgment.Input != "ship" {
		t.Errorf("stage 2 judgment = %+v, want ship by bo", s2.Judgment)
	}
	if done.EndTime < s5.EndTime {
		t.Errorf("execution ended at %d, before its last stage at %d", done.EndTime, s5.EndTime)
	}

	// A second judgment is refused rather than lost.
	if code, body := api.do(http.MethodPost, "/api/v1/executions/"+id+"/stages/2/judgment", `{"judgmentStatus": "stop", "user": "cy"}`); code != http.StatusConflict {
		t.Errorf("judging a finished stage: status %d, want 409: %s", code, body)
	}
	if row := api.listed("application=hello&status=SUCCEEDED", id, 30*time.Second); row.Name != "hello" || row.TriggerType != "manual" {
		t.Errorf("listed as %+v, want pipeline hello, manual trigger", row)
	}
}

// TestCrashAndResume kills gennaker dev with SIGKILL in the middle of a wait stage; started again on
// the same data directory, the execution carries on from where it was and succeeds. Then Ctrl-C
// stops the process cleanly.
func TestCrashAndResume(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const waitSeconds = 15
	dev := newDevProcess(t)
	api := dev.start()

	api.savePipeline("e2e", "crash", map[string]any{
		"stages": []any{
			map[string]any{"refId": "1", "type": "wait", "name": "Long wait", "waitTime": waitSeconds},
			map[string]any{"refId": "2", "requisiteStageRefIds": []string{"1"}, "type": "evaluateVariables", "name": "After",
				"variables": []any{map[string]any{"key": "resumed", "value": "${#stage('Long wait').status}"}}},
		},
	})
	id := api.startExecution("e2e", "crash", nil).ID
	before := api.waitForStage(id, "1", "RUNNING", 30*time.Second)
	waitBefore := before.mustStage(t, "1")

	dev.kill()

	api = dev.start()
	after := api.waitForExecution(id, time.Minute, "an answer after the restart", func(execution) bool { return true })
	if after.StartTime != before.StartTime {
		t.Errorf("after the restart the execution's start time is %d, was %d", after.StartTime, before.StartTime)
	}
	done := api.waitUntilDone(id, 60*time.Second)
	if done.Status != "SUCCEEDED" {
		t.Fatalf("execution ended %s after the restart, want SUCCEEDED: %s", done.Status, done.describe())
	}
	wait := done.mustStage(t, "1")
	if wait.StartTime != waitBefore.StartTime {
		t.Errorf("the wait stage's start time changed from %d to %d: it was restarted, not resumed", waitBefore.StartTime, wait.StartTime)
	}
	if took := wait.EndTime - wait.StartTime; took < waitSeconds*1000 || took > (waitSeconds+20)*1000 {
		t.Errorf("the %d s wait took %d ms", waitSeconds, took)
	}
	if got := done.mustStage(t, "2"); got.Status != "SUCCEEDED" || got.Outputs["resumed"] != "SUCCEEDED" || got.StartTime < wait.EndTime {
		t.Errorf("stage 2 after the wait: %+v", got)
	}

	code, took := dev.interrupt()
	if code != 0 {
		t.Errorf("gennaker dev exited %d after SIGINT, want 0", code)
	}
	t.Logf("gennaker dev stopped %s after SIGINT", took.Round(time.Millisecond))
}

// TestExamplesSave saves every pipeline in examples/ through the API: each must pass validation.
// Pipelines that run other pipelines are saved once the pipelines they name are.
func TestExamplesSave(t *testing.T) {
	skipShort(t)
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	type example struct {
		file, app, name string
		body            []byte
	}
	var pending []example
	for _, pattern := range []string{"*.json", "*.yaml", "*.yml"} {
		files, err := filepath.Glob(filepath.Join(root, "examples", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(body, &doc); err != nil {
				t.Errorf("%s is not JSON or YAML: %v", file, err)
				continue
			}
			if _, ok := doc["stages"]; !ok {
				continue // not a pipeline: a canary config, a settings file
			}
			if _, err := exec.LookPath("moto_server"); err != nil && bytes.Contains(body, []byte(`"aws-local"`)) && os.Getenv("CI") != "true" {
				t.Logf("%s is not saved: it deploys to the local AWS, which needs moto_server", filepath.Base(file))
				continue
			}
			ex := example{file: filepath.Base(file), body: body}
			ex.app, _ = doc["application"].(string)
			if ex.app == "" {
				ex.app = "examples"
			}
			ex.name, _ = doc["name"].(string)
			if ex.name == "" {
				ex.name = strings.TrimSuffix(ex.file, filepath.Ext(ex.file))
			}
			pending = append(pending, ex)
		}
	}
	if len(pending) == 0 {
		t.Fatal("examples/ holds no pipeline")
	}

	dev := newDevProcess(t)
	// Examples that notify through Slack are refused where no Slack bot token is configured, and
	// pubsub triggers where their subscription is not.
	// Canary stages are refused without a metrics source, and without their canary config, which
	// examples/*-canary-config.json hold (saved to application web first).
	dev.args = []string{"--slack-bot-token", "xoxb-examples", "--pubsub", filepath.Join(root, "examples", "pubsub.yaml"),
		"--prometheus-url", "http://127.0.0.1:9090"}
	api := dev.start()
	canaryConfigs, err := filepath.Glob(filepath.Join(root, "examples", "*-canary-config.json"))
	if err != nil || len(canaryConfigs) == 0 {
		t.Fatalf("examples/ holds no canary config: %v", err)
	}
	for _, file := range canaryConfigs {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(file), "-config.json")
		if code, answer := api.do(http.MethodPut, "/api/v1/applications/web/canaryConfigs/"+name, json.RawMessage(body)); code != http.StatusOK {
			t.Errorf("examples/%s was refused: %d %s", filepath.Base(file), code, answer)
		}
	}
	problems := map[string]string{}
	for len(pending) > 0 {
		var retry []example
		for _, ex := range pending {
			code, body := api.do(http.MethodPut, "/api/v1/applications/"+ex.app+"/pipelines/"+ex.name, ex.body)
			if code != http.StatusOK {
				problems[ex.file] = fmt.Sprintf("status %d: %s", code, body)
				retry = append(retry, ex)
				continue
			}
			delete(problems, ex.file)
			var saved savedPipeline
			if err := json.Unmarshal(body, &saved); err != nil {
				t.Errorf("%s: decoding the answer: %v", ex.file, err)
			} else if len(saved.Warnings) > 0 {
				t.Errorf("%s saved with warnings: %v", ex.file, saved.Warnings)
			}
			t.Logf("%s saved as %s/%s", ex.file, ex.app, ex.name)
		}
		if len(retry) == len(pending) {
			break // no progress: what is left fails on its own
		}
		pending = retry
	}
	for file, why := range problems {
		t.Errorf("examples/%s was refused: %s", file, why)
	}
}
