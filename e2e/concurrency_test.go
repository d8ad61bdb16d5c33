package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// queuedExecution is what these tests read of an execution.
type queuedExecution struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	BuildTime          int64  `json:"buildTime"`
	WaitingFor         string `json:"waitingFor"`
	CancellationReason string `json:"cancellationReason"`
	Stages             []struct {
		StartTime int64 `json:"startTime"`
		EndTime   int64 `json:"endTime"`
	} `json:"stages"`
}

func (a *apiClient) queued(id string) queuedExecution {
	a.t.Helper()
	var out queuedExecution
	a.expect(http.StatusOK, http.MethodGet, "/api/v1/executions/"+id, nil, &out)
	return out
}

// TestLimitConcurrent starts 20 executions of a limitConcurrent pipeline at once: they run one at a
// time, those that had to wait in the order they were asked for. With keepWaitingPipelines false
// only the newest waiting execution runs when the running one ends, the others end superseded; a
// waiting execution that is cancelled leaves the queue.
func TestLimitConcurrent(t *testing.T) {
	skipShort(t)
	t.Parallel()
	api := newDevProcess(t).start()
	api.savePipeline("queue", "one-at-a-time", map[string]any{
		"limitConcurrent": true, "keepWaitingPipelines": true,
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 0.3}},
	})

	// Twenty starts at once, from twenty clients.
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(api.base+"/api/v1/applications/queue/pipelines/one-at-a-time/executions", "application/json", bytes.NewReader([]byte(`{}`)))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var s startedExecution
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("start %d: status %d, %v", i, resp.StatusCode, err)
				return
			}
			ids[i] = s.ID
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// While they wait, the API lists them as QUEUED.
	api.listed("application=queue&status=QUEUED", ids[n-1], 30*time.Second)

	var runs []queuedExecution
	for _, id := range ids {
		api.waitUntilDone(id, 3*time.Minute)
		x := api.queued(id)
		if x.Status != "SUCCEEDED" || len(x.Stages) != 1 {
			t.Fatalf("execution %s ended %s", id, x.Status)
		}
		runs = append(runs, x)
	}
	slices.SortFunc(runs, func(a, b queuedExecution) int { return int(a.Stages[0].StartTime - b.Stages[0].StartTime) })
	for i := 1; i < len(runs); i++ {
		if runs[i].Stages[0].StartTime < runs[i-1].Stages[0].EndTime {
			t.Errorf("executions %s and %s ran at the same time", runs[i-1].ID, runs[i].ID)
		}
	}
	// The first to reach the queue ran at once; every other waited, and they ran in the order
	// they were asked for.
	waited := runs[1:]
	if !slices.IsSortedFunc(waited, func(a, b queuedExecution) int {
		if a.BuildTime != b.BuildTime {
			return int(a.BuildTime - b.BuildTime)
		}
		return strings.Compare(a.ID, b.ID)
	}) {
		var order []string
		for _, r := range waited {
			order = append(order, fmt.Sprintf("%s@%d", r.ID, r.BuildTime))
		}
		t.Errorf("waiting executions ran out of order: %v", order)
	}

	// keepWaitingPipelines false: the newest waiting execution supersedes the others. Each run
	// holds the queue until its wait is skipped, so the others queue up however slow the machine.
	api.savePipeline("queue", "latest-only", map[string]any{
		"limitConcurrent": true, "keepWaitingPipelines": false,
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 3600}},
	})
	skipWait := func(id string) {
		t.Helper()
		api.waitForStage(id, "1", "RUNNING", 30*time.Second)
		api.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+id+"/stages/1/skip", map[string]any{"user": "bo"}, nil)
	}
	first := api.startExecution("queue", "latest-only", nil).ID
	api.waitForStage(first, "1", "RUNNING", 30*time.Second)
	var waiting []string
	for range 3 {
		id := api.startExecution("queue", "latest-only", nil).ID
		waiting = append(waiting, id)
		api.waitForExecution(id, 30*time.Second, "waiting for its turn", func(execution) bool { return api.queued(id).WaitingFor != "" })
	}
	skipWait(first)
	skipWait(waiting[2])
	if x := api.waitUntilDone(waiting[2], time.Minute); x.Status != "SUCCEEDED" {
		t.Errorf("the newest waiting execution: %s", x.describe())
	}
	for _, id := range waiting[:2] {
		x := api.waitUntilDone(id, time.Minute)
		q := api.queued(id)
		if x.Status != "CANCELED" || !strings.Contains(q.CancellationReason, "superseded by the newer execution "+waiting[2]) || len(q.Stages) != 1 || q.Stages[0].StartTime != 0 {
			t.Errorf("superseded execution %s: %s, %q", id, x.describe(), q.CancellationReason)
		}
	}

	// A waiting execution that is cancelled leaves the queue; the next one still runs.
	api.savePipeline("queue", "held", map[string]any{
		"limitConcurrent": true, "keepWaitingPipelines": true,
		"stages": []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 3600}},
	})
	running := api.startExecution("queue", "held", nil).ID
	api.waitForStage(running, "1", "RUNNING", 30*time.Second)
	cancelled := api.startExecution("queue", "held", nil).ID
	next := api.startExecution("queue", "held", nil).ID
	api.waitForExecution(cancelled, 30*time.Second, "waiting for its turn", func(execution) bool { return api.queued(cancelled).WaitingFor != "" })
	api.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+cancelled+"/cancel", map[string]any{"user": "bo", "reason": "not this one"}, nil)
	if x := api.waitUntilDone(cancelled, 30*time.Second); x.Status != "CANCELED" || x.CanceledBy != "bo" {
		t.Errorf("the cancelled waiting execution: %s by %q", x.describe(), x.CanceledBy)
	}
	for _, id := range []string{running, next} {
		skipWait(id)
		if x := api.waitUntilDone(id, time.Minute); x.Status != "SUCCEEDED" {
			t.Errorf("%s: %s", id, x.describe())
		}
	}
}
