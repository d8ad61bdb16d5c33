package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/gennaker/gennaker/internal/devserver"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/worker"
	"github.com/gennaker/gennaker/workflows"
)

// taskQueue carries both gennaker's workflows and the floor's, so both share one worker's pollers.
const taskQueue = "bench"

// executionTimeout bounds one execution, so a stuck worker fails the benchmark instead of hanging it.
const executionTimeout = 2 * time.Minute

// Shapes of the stage graph every case is run in.
const (
	// shapeSerial is a chain: each stage requires the one before it.
	shapeSerial = "serial"
	// shapeFanOut is one root, N-2 stages that each require only the root, and one join requiring them all.
	shapeFanOut = "fan-out"
)

// stockServer runs the server with the stock dev server's dispatch throttles, which gennaker's
// embedded server turns off: they add the same waits to every execution, gennaker's and the
// floor's alike, and would make up most of what is measured.
var stockServer = flag.Bool("stockserver", false, "run on the stock dev server's dispatch settings, with its throttles")

// env is what every benchmark shares: one server, one worker, one endpoint for the stages to call.
var env *environment

type environment struct {
	client   client.Client
	endpoint string
	stop     func()
}

// TestMain starts the server only when benchmarks were asked for, so `go test ./...` stays fast,
// and prints the summary table once they have run.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	var err error
	env, err = start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	code := m.Run()
	env.stop()
	printTable(os.Stdout)
	os.Exit(code)
}

// start brings up the embedded server on a throwaway SQLite file (its visibility store is part of
// the floor), the endpoint, a client and one worker carrying gennaker's and the floor's code.
func start() (_ *environment, err error) {
	var undo []func()
	stop := func() {
		for _, f := range slices.Backward(undo) {
			f()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()

	dir, err := os.MkdirTemp("", "gennaker-bench-")
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = os.RemoveAll(dir) })

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := devserver.Options{
		DataDir:          dir,
		Port:             0,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           quiet,
	}
	if *stockServer {
		opts.DynamicConfig = devserver.StockDispatch
	}
	srv, err := devserver.Start(opts)
	if err != nil {
		return nil, err
	}
	undo = append(undo, srv.Stop)

	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	undo = append(undo, endpoint.Close)

	c, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(quiet),
	})
	if err != nil {
		return nil, fmt.Errorf("dialing the embedded server: %w", err)
	}
	undo = append(undo, c.Close)

	// One HTTP client for both sides, with enough idle connections that a fan-out of 48 reuses them.
	httpClient := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128},
	}
	w := worker.New(c, taskQueue, worker.Dependencies{HTTPClient: httpClient})
	w.RegisterWorkflow(floorWorkflow)
	w.RegisterActivity(&floorActivities{client: httpClient})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	undo = append(undo, w.Stop)

	return &environment{client: c, endpoint: endpoint.URL, stop: stop}, nil
}

// BenchmarkPipeline runs each shape and size as gennaker and as the floor, interleaved, and reports
// both medians, their ratio, and the history each leaves.
func BenchmarkPipeline(b *testing.B) {
	for _, shape := range []string{shapeSerial, shapeFanOut} {
		for _, n := range []int{10, 50} {
			b.Run(fmt.Sprintf("%s/N=%d", shape, n), func(b *testing.B) {
				benchCase(b, shape, n)
			})
		}
	}
}

func benchCase(b *testing.B, shape string, n int) {
	if env == nil {
		b.Skip("the environment starts only under -bench")
	}
	p := buildPipeline(b, shape, n, env.endpoint)
	ctx := b.Context()

	pairs := make([]pair, b.N)
	for i := range pairs {
		gennaker := func() { pairs[i].gennaker = measure(func() string { return runGennaker(ctx, b, p, n) }) }
		floor := func() { pairs[i].floor = measure(func() string { return runFloor(ctx, b, shape, n) }) }
		// Alternating which side goes first keeps either from always meeting a warmer server.
		if i%2 == 0 {
			gennaker()
			floor()
		} else {
			floor()
			gennaker()
		}
	}
	b.StopTimer()

	r := summarize(ctx, b, shape, n, pairs)
	record(r)

	// The default ns/op would time a gennaker and a floor execution together, which means nothing.
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(r.gennaker.wall), "gennaker-ms/exec")
	b.ReportMetric(ms(r.floor.wall), "floor-ms/exec")
	b.ReportMetric(r.ratio, "ratio")
	b.ReportMetric(ms(r.gennaker.cpu), "gennaker-cpu-ms/exec")
	b.ReportMetric(ms(r.floor.cpu), "floor-cpu-ms/exec")
	b.ReportMetric(r.cpuRatio, "cpu-ratio")
	b.ReportMetric(float64(r.gennaker.hist.events), "gennaker-events")
	b.ReportMetric(float64(r.floor.hist.events), "floor-events")
	b.ReportMetric(float64(r.gennaker.hist.bytes), "gennaker-history-B")
	b.ReportMetric(float64(r.floor.hist.bytes), "floor-history-B")
}

// sample is one execution: how long its caller waited, how much CPU the process (server, worker
// and client together) spent meanwhile, and its workflow ID.
type sample struct {
	wall, cpu time.Duration
	id        string
}

// pair is a gennaker and a floor execution run back to back, so both met the same machine.
type pair struct {
	gennaker, floor sample
}

// measure runs one execution to its end.
func measure(run func() string) sample {
	cpu0, began := processCPU(), time.Now()
	id := run()
	return sample{wall: time.Since(began), cpu: processCPU() - cpu0, id: id}
}

// processCPU is the user and system CPU time this process has used. The server, the worker and
// the client all run in it and the executions run one at a time, so the difference across one
// execution is what that execution cost the machine, the background work of an idle server aside.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// summarize reduces a case's pairs to medians. The ratios are medians of each pair's ratio rather
// than ratios of medians: other work on the machine comes and goes, and a pair shares its share.
func summarize(ctx context.Context, b *testing.B, shape string, n int, pairs []pair) result {
	var gWall, fWall, gCPU, fCPU []time.Duration
	var ratios, cpuRatios []float64
	for _, p := range pairs {
		gWall, fWall = append(gWall, p.gennaker.wall), append(fWall, p.floor.wall)
		gCPU, fCPU = append(gCPU, p.gennaker.cpu), append(fCPU, p.floor.cpu)
		ratios = append(ratios, float64(p.gennaker.wall)/float64(p.floor.wall))
		cpuRatios = append(cpuRatios, float64(p.gennaker.cpu)/float64(p.floor.cpu))
	}
	// Every execution of a case has the same history up to timestamps and the order of parallel
	// completions, so the last one stands for all.
	last := pairs[len(pairs)-1]
	return result{
		shape:    shape,
		stages:   n,
		runs:     len(pairs),
		gennaker: stats{wall: median(gWall), cpu: median(gCPU), hist: historySize(ctx, b, last.gennaker.id)},
		floor:    stats{wall: median(fWall), cpu: median(fCPU), hist: historySize(ctx, b, last.floor.id)},
		ratio:    median(ratios),
		cpuRatio: median(cpuRatios),
	}
}

// stats is one side of one case as reported.
type stats struct {
	wall, cpu time.Duration
	hist      history
}

// buildPipeline writes the pipeline as a user would, in JSON, so every stage's context is exactly
// what a saved pipeline carries, and checks that gennaker accepts it.
func buildPipeline(b *testing.B, shape string, n int, url string) pipeline.Pipeline {
	b.Helper()
	type stage struct {
		RefID    string   `json:"refId"`
		Type     string   `json:"type"`
		Name     string   `json:"name"`
		Requires []string `json:"requisiteStageRefIds,omitempty"`
		Method   string   `json:"method"`
		URL      string   `json:"url"`
	}
	ref := func(i int) string { return strconv.Itoa(i) }
	stages := make([]stage, n)
	for i := range stages {
		s := stage{RefID: ref(i + 1), Type: pipeline.StageWebhook, Name: "call " + ref(i+1), Method: http.MethodGet, URL: url}
		switch {
		case i == 0:
		case shape == shapeSerial:
			s.Requires = []string{ref(i)}
		case i < n-1:
			s.Requires = []string{ref(1)}
		default:
			for j := 2; j < n; j++ {
				s.Requires = append(s.Requires, ref(j))
			}
		}
		stages[i] = s
	}
	raw, err := json.Marshal(map[string]any{
		"application": "bench",
		"name":        fmt.Sprintf("%s-%d", shape, n),
		"stages":      stages,
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := pipeline.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	if problems := pipeline.Validate(p, pipeline.ValidateOptions{}); len(problems) > 0 {
		b.Fatalf("the benchmark pipeline is invalid: %v", problems)
	}
	return p
}

// runGennaker starts an execution as the launcher does, waits for its result and checks that every
// stage succeeded.
func runGennaker(ctx context.Context, b *testing.B, p pipeline.Pipeline, n int) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, executionTimeout)
	defer cancel()
	in := workflows.PipelineInput{
		Pipeline:  p,
		Trigger:   pipeline.TriggerInfo{Type: pipeline.TriggerManual, User: "bench"},
		BuildTime: time.Now().UnixMilli(),
	}
	run, err := env.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    executionID("gennaker", p.Name),
		TaskQueue:             taskQueue,
		TypedSearchAttributes: workflows.StartAttributes(p, pipeline.TriggerManual),
	}, workflows.Pipeline, in)
	if err != nil {
		b.Fatalf("starting gennaker's %s: %v", p.Name, err)
	}
	var res workflows.PipelineResult
	if err := run.Get(ctx, &res); err != nil {
		b.Fatalf("gennaker's %s: %v", p.Name, err)
	}
	succeeded := 0
	for _, s := range res.Execution.Stages {
		if s.Status == pipeline.StatusSucceeded {
			succeeded++
		}
	}
	if succeeded != n {
		b.Fatalf("gennaker's %s: %d of %d stages succeeded", p.Name, succeeded, n)
	}
	return run.GetID()
}

// runFloor runs the floor workflow in the same shape, waits for its result and checks that it made
// every call.
func runFloor(ctx context.Context, b *testing.B, shape string, n int) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, executionTimeout)
	defer cancel()
	run, err := env.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        executionID("floor", fmt.Sprintf("%s-%d", shape, n)),
		TaskQueue: taskQueue,
	}, floorWorkflow, floorInput{Shape: shape, Stages: n, URL: env.endpoint})
	if err != nil {
		b.Fatalf("starting the floor's %s-%d: %v", shape, n, err)
	}
	var res floorResult
	if err := run.Get(ctx, &res); err != nil {
		b.Fatalf("the floor's %s-%d: %v", shape, n, err)
	}
	if res.Calls != n {
		b.Fatalf("the floor's %s-%d: %d of %d calls made", shape, n, res.Calls, n)
	}
	return run.GetID()
}

var executionSeq struct {
	sync.Mutex
	n int
}

func executionID(side, name string) string {
	executionSeq.Lock()
	defer executionSeq.Unlock()
	executionSeq.n++
	return fmt.Sprintf("%s-%s-%d", side, name, executionSeq.n)
}

// history is the size of one closed execution's history, as the server stores and replays it.
type history struct {
	events int
	bytes  int
}

func historySize(ctx context.Context, b *testing.B, workflowID string) history {
	b.Helper()
	var h history
	it := env.client.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			b.Fatalf("reading the history of %s: %v", workflowID, err)
		}
		h.events++
		h.bytes += proto.Size(ev)
	}
	return h
}

// floorInput is the floor's whole configuration: the shape, the number of calls, where to call.
type floorInput struct {
	Shape  string `json:"shape"`
	Stages int    `json:"stages"`
	URL    string `json:"url"`
}

// floorResult counts the calls made, so the benchmark can check the floor did all its work.
type floorResult struct {
	Calls int `json:"calls"`
}

// floorWorkflow is what the same pipeline costs in plain Temporal: the same HTTP call as an
// activity, with the options gennaker's webhook stage uses, in the same shape.
func floorWorkflow(ctx workflow.Context, in floorInput) (floorResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 5},
	})
	var a *floorActivities
	call := func() workflow.Future {
		return workflow.ExecuteActivity(ctx, a.Get, floorGetInput{URL: in.URL})
	}
	var res floorResult
	if in.Shape == shapeSerial {
		for range in.Stages {
			if err := call().Get(ctx, nil); err != nil {
				return res, err
			}
			res.Calls++
		}
		return res, nil
	}
	if err := call().Get(ctx, nil); err != nil {
		return res, err
	}
	res.Calls++
	branches := make([]workflow.Future, in.Stages-2)
	for i := range branches {
		branches[i] = call()
	}
	for _, f := range branches {
		if err := f.Get(ctx, nil); err != nil {
			return res, err
		}
		res.Calls++
	}
	if err := call().Get(ctx, nil); err != nil {
		return res, err
	}
	res.Calls++
	return res, nil
}

// floorActivities makes the floor's HTTP calls with the client gennaker's webhooks use.
type floorActivities struct {
	client *http.Client
}

type floorGetInput struct {
	URL string `json:"url"`
}

type floorGetResult struct {
	StatusCode int `json:"statusCode"`
}

// Get calls the URL once and fails on anything but a 2xx.
func (a *floorActivities) Get(ctx context.Context, in floorGetInput) (floorGetResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL, nil)
	if err != nil {
		return floorGetResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "FloorInvalid", err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return floorGetResult{}, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return floorGetResult{}, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return floorGetResult{}, fmt.Errorf("GET %s returned %s", in.URL, resp.Status)
	}
	return floorGetResult{StatusCode: resp.StatusCode}, nil
}

// result is one case as the summary table shows it.
type result struct {
	shape           string
	stages          int
	runs            int
	gennaker, floor stats
	ratio, cpuRatio float64
}

// overheadPerStage spreads gennaker's extra time over the stages.
func (r result) overheadPerStage() time.Duration {
	return (r.gennaker.wall - r.floor.wall) / time.Duration(r.stages)
}

// results holds the last measurement of each case; the warm-up run the testing package makes
// first is replaced by the measured one.
var results struct {
	sync.Mutex
	order []string
	byKey map[string]result
}

func record(r result) {
	results.Lock()
	defer results.Unlock()
	key := fmt.Sprintf("%s/%d", r.shape, r.stages)
	if results.byKey == nil {
		results.byKey = map[string]result{}
	}
	if _, seen := results.byKey[key]; !seen {
		results.order = append(results.order, key)
	}
	results.byKey[key] = r
}

// targetRatio is what gennaker aims for: at most 30% slower than the floor.
const targetRatio = 1.3

// printTable writes the summary a person reads after `make bench`.
func printTable(out io.Writer) {
	results.Lock()
	defer results.Unlock()
	if len(results.order) == 0 {
		return
	}
	server := "dispatch throttles off; -stockserver runs it as shipped"
	if *stockServer {
		server = "stock settings, dispatch throttles on"
	}
	fmt.Fprintf(out, "\ngennaker against the floor, the same stages as a plain Temporal workflow on the same\n")
	fmt.Fprintf(out, "embedded server (%s) and worker.\n\n", server)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tN\truns\tgennaker ms\tfloor ms\tratio\textra ms/stage\tCPU ms g/f\tCPU ratio\tevents g/f\thistory KiB g/f\t")
	over := false
	for _, key := range results.order {
		r := results.byKey[key]
		ratio := fmt.Sprintf("%.2f", r.ratio)
		if r.ratio > targetRatio {
			ratio += " *"
			over = true
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%s\t%.2f\t%.0f / %.0f\t%.2f\t%d / %d\t%.1f / %.1f\t\n",
			r.shape, r.stages, r.runs, ms(r.gennaker.wall), ms(r.floor.wall), ratio, ms(r.overheadPerStage()),
			ms(r.gennaker.cpu), ms(r.floor.cpu), r.cpuRatio,
			r.gennaker.hist.events, r.floor.hist.events, kib(r.gennaker.hist.bytes), kib(r.floor.hist.bytes))
	}
	_ = tw.Flush()
	marked := ""
	if over {
		marked = " (* above)"
	}
	fmt.Fprintf(out, `
  gennaker, floor ms  wall time of one execution, start to result; medians
  ratio               gennaker / floor, median over pairs run back to back; target %.1f or less%s
  extra ms/stage      (gennaker - floor) / N
  CPU ms, CPU ratio   CPU time of the whole process (server, worker, client) during one execution
  events, history     the workflow history of one execution, gennaker / floor

`, targetRatio, marked)
}

func median[T time.Duration | float64](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func kib(n int) float64 { return float64(n) / 1024 }
