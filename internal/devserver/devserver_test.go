package devserver_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/internal/devserver"
)

// The attributes gennaker registers; the test names them itself so it only
// depends on the server.
var (
	attrApplication  = temporal.NewSearchAttributeKeyKeyword("GennakerApplication")
	searchAttributes = map[string]enums.IndexedValueType{
		"GennakerApplication": enums.INDEXED_VALUE_TYPE_KEYWORD,
		"GennakerPipeline":    enums.INDEXED_VALUE_TYPE_KEYWORD,
		"GennakerStatus":      enums.INDEXED_VALUE_TYPE_KEYWORD,
		"GennakerTriggerType": enums.INDEXED_VALUE_TYPE_KEYWORD,
	}
)

const (
	testTaskQueue = "devserver-test"
	releaseSignal = "release"
)

type tagInput struct {
	Application string
	// WaitForRelease keeps the workflow open until releaseSignal arrives.
	WaitForRelease bool
}

// tagWorkflow upserts the application search attribute and optionally waits for a signal.
func tagWorkflow(ctx workflow.Context, in tagInput) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrApplication.ValueSet(in.Application)); err != nil {
		return "", err
	}
	if !in.WaitForRelease {
		return "done", nil
	}
	var by string
	workflow.GetSignalChannel(ctx, releaseSignal).Receive(ctx, &by)
	return "released by " + by, nil
}

// TestStartRestartKeepsExecutions runs workflows on a file-backed server, restarts
// it on the same data dir, and checks that history, visibility and open
// workflows all survive.
func TestStartRestartKeepsExecutions(t *testing.T) {
	needServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dataDir := t.TempDir()

	// The first start registers only one attribute; the restart asks for all
	// of them, so the missing ones must be added to the existing namespace.
	srv, err := devserver.Start(devserver.Options{
		DataDir: dataDir,
		SearchAttributes: map[string]enums.IndexedValueType{
			attrApplication.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD,
		},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Stop()
		}
	}()
	if srv.UIAddress() == "" {
		t.Fatal("UIAddress is empty with the UI enabled")
	}
	frontend := srv.FrontendAddress()
	firstUI := srv.UIAddress()

	c, w := connect(t, frontend)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "finished", TaskQueue: testTaskQueue},
		tagWorkflow, tagInput{Application: "shop"})
	if err != nil {
		t.Fatalf("start finished workflow: %v", err)
	}
	var result string
	if err := run.Get(ctx, &result); err != nil || result != "done" {
		t.Fatalf("finished workflow: result %q, err %v", result, err)
	}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "blocked", TaskQueue: testTaskQueue},
		tagWorkflow, tagInput{Application: "billing", WaitForRelease: true}); err != nil {
		t.Fatalf("start blocked workflow: %v", err)
	}

	waitForList(ctx, t, c, "GennakerApplication = 'shop'", []string{"finished"})
	waitForList(ctx, t, c, "GennakerApplication = 'billing' AND ExecutionStatus = 'Running'", []string{"blocked"})
	checkUI(ctx, t, firstUI)

	w.Stop()
	c.Close()
	srv.Stop()
	stopped = true

	// Same frontend port, a fresh UI port, all four attributes.
	srv, err = devserver.Start(devserver.Options{
		DataDir:          dataDir,
		Port:             port(t, frontend),
		SearchAttributes: searchAttributes,
	})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	stopped = false
	if srv.FrontendAddress() != frontend {
		t.Errorf("FrontendAddress after restart = %s, want %s", srv.FrontendAddress(), frontend)
	}
	checkUI(ctx, t, srv.UIAddress())

	c, w = connect(t, srv.FrontendAddress())
	defer c.Close()
	defer w.Stop()

	desc, err := c.DescribeWorkflowExecution(ctx, "finished", "")
	if err != nil {
		t.Fatalf("describe finished workflow after restart: %v", err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetStatus(); got != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("finished workflow status after restart = %s, want COMPLETED", got)
	}
	waitForList(ctx, t, c, "GennakerApplication = 'shop'", []string{"finished"})

	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: devserver.DefaultNamespace})
	if err != nil {
		t.Fatalf("list search attributes: %v", err)
	}
	for name, typ := range searchAttributes {
		if got := attrs.GetCustomAttributes()[name]; got != typ {
			t.Errorf("search attribute %s after restart = %s, want %s", name, got, typ)
		}
	}

	if err := c.SignalWorkflow(ctx, "blocked", "", releaseSignal, "test"); err != nil {
		t.Fatalf("signal blocked workflow after restart: %v", err)
	}
	if err := c.GetWorkflow(ctx, "blocked", "").Get(ctx, &result); err != nil {
		t.Fatalf("blocked workflow after restart: %v", err)
	}
	if result != "released by test" {
		t.Errorf("blocked workflow result = %q, want %q", result, "released by test")
	}
}

func TestStartInMemoryWithoutUI(t *testing.T) {
	needServer(t)
	srv, err := devserver.Start(devserver.Options{UIPort: devserver.UIDisabled, Namespace: "gennaker-test"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer srv.Stop()
	if got := srv.UIAddress(); got != "" {
		t.Errorf("UIAddress = %q, want empty with the UI disabled", got)
	}
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: "gennaker-test"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	for _, ns := range []string{"gennaker-test", devserver.DefaultNamespace} {
		if _, err := c.WorkflowService().DescribeNamespace(t.Context(), &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
			t.Errorf("namespace %q: %v", ns, err)
		}
	}
}

func TestStartRejectsRetypedSearchAttribute(t *testing.T) {
	needServer(t)
	dataDir := t.TempDir()
	srv, err := devserver.Start(devserver.Options{
		DataDir:          dataDir,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: map[string]enums.IndexedValueType{"GennakerStatus": enums.INDEXED_VALUE_TYPE_KEYWORD},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	srv.Stop()
	srv.Stop() // a second Stop is harmless

	srv, err = devserver.Start(devserver.Options{
		DataDir:          dataDir,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: map[string]enums.IndexedValueType{"GennakerStatus": enums.INDEXED_VALUE_TYPE_INT},
	})
	if err == nil {
		srv.Stop()
		t.Fatal("restart with a retyped search attribute succeeded")
	}
	if !strings.Contains(err.Error(), "GennakerStatus") || !strings.Contains(err.Error(), "want Int") {
		t.Errorf("error %q does not name the attribute and its wanted type", err)
	}
}

// TestStartRefusesBusyPort runs under -short too: the ports are checked before anything starts.
func TestStartRefusesBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port

	for name, opts := range map[string]devserver.Options{
		"frontend": {Port: busy, UIPort: devserver.UIDisabled},
		"ui":       {UIPort: busy},
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := devserver.Start(opts)
			if err == nil {
				srv.Stop()
				t.Fatalf("Start on busy port %d succeeded", busy)
			}
			if !strings.Contains(err.Error(), "not free") {
				t.Errorf("error %q does not say the port is not free", err)
			}
		})
	}
}

// needServer skips a test that starts the server under -short.
func needServer(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the embedded Temporal server; skipped with -short")
	}
}

func connect(t *testing.T, hostPort string) (client.Client, worker.Worker) {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: hostPort})
	if err != nil {
		t.Fatalf("dial %s: %v", hostPort, err)
	}
	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflow(tagWorkflow)
	if err := w.Start(); err != nil {
		c.Close()
		t.Fatalf("start worker: %v", err)
	}
	return c, w
}

// waitForList polls a visibility query until it returns exactly the wanted
// workflow IDs; visibility is eventually consistent.
func waitForList(ctx context.Context, t *testing.T, c client.Client, query string, want []string) {
	t.Helper()
	var got []string
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: devserver.DefaultNamespace,
			Query:     query,
		})
		if err != nil {
			t.Fatalf("ListWorkflow %q: %v", query, err)
		}
		got = got[:0]
		for _, e := range resp.GetExecutions() {
			got = append(got, e.GetExecution().GetWorkflowId())
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ListWorkflow %q = %v, want %v", query, got, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkUI fetches the UI's page and, through the UI's own API, the
// namespaces it reads from the frontend, as a browser would right after Start.
func checkUI(ctx context.Context, t *testing.T, base string) {
	t.Helper()
	ct, body := get(ctx, t, base+"/")
	if !strings.HasPrefix(ct, "text/html") || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("UI page is %q, not HTML: %.200s", ct, body)
	}
	ct, body = get(ctx, t, base+"/api/v1/namespaces")
	if !strings.HasPrefix(ct, "application/json") || !strings.Contains(body, `"name": "default"`) {
		t.Errorf("UI API lists no default namespace (%s): %.300s", ct, body)
	}
}

func get(ctx context.Context, t *testing.T, url string) (contentType, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200: %.300s", url, resp.StatusCode, b)
	}
	return resp.Header.Get("Content-Type"), string(b)
}

func port(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("port of %s: %v", hostPort, err)
	}
	return n
}
