package workflows

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
)

// EventStreamInput names the execution whose events the stream delivers.
type EventStreamInput struct {
	ExecutionID string `json:"executionId"`
	// Pending are events received but not yet delivered when the stream continued as new.
	Pending []notify.Event `json:"pending,omitempty"`
	// Ended is set once the execution's final status was received.
	Ended bool `json:"ended,omitempty"`
	// Next is the sequence number of the next event to deliver; 0 means the first.
	Next int `json:"next,omitempty"`
	// Early are events received ahead of one still on its way, held to keep the order.
	Early []notify.Event `json:"early,omitempty"`
}

// StatusTerminated is the status the event stream reports for an execution whose workflow ended
// without a final status of its own, as one terminated in Temporal does.
const StatusTerminated = "TERMINATED"

// EventStreamResult counts what was delivered.
type EventStreamResult struct {
	Delivered int `json:"delivered"`
	// Dropped lists events an endpoint refused for good, or that could not be delivered in time.
	Dropped []string `json:"dropped,omitempty"`
}

const (
	// eventBatch bounds the events one delivery activity carries.
	eventBatch = 100
	// eventDeliveryLimit is how long a batch is retried before its events are given up: long
	// enough to ride out an endpoint's bad day.
	eventDeliveryLimit = 7 * 24 * time.Hour
	// eventStreamIdle is how long the stream waits for an event before it checks that its
	// execution still runs; one terminated outside gennaker never sends its final status.
	eventStreamIdle = 24 * time.Hour
	// eventStreamMaxHistory continues the stream as new before its history grows large.
	eventStreamMaxHistory = 10_000
	// eventGapWait is how long an event that arrived early waits for the ones before it: signals
	// from the execution can overtake each other, but none is lost, so a gap closes quickly.
	eventGapWait = time.Minute
)

// EventStream delivers an execution's status changes to the configured endpoints, in order and
// durably: an endpoint that is down is retried with backoff for up to a week, without ever holding
// up the execution, which only signals its events here. It ends once the execution's final status
// is delivered.
func EventStream(ctx workflow.Context, in EventStreamInput) (EventStreamResult, error) {
	events := workflow.GetSignalChannel(ctx, SignalEvent)
	pending := in.Pending
	ended := in.Ended
	next := max(in.Next, 1)
	early := map[int]notify.Event{}
	for _, ev := range in.Early {
		early[ev.Sequence] = ev
	}
	var result EventStreamResult
	var last *notify.Event
	accept := func(ev notify.Event) {
		last = &ev
		pending = append(pending, ev)
		next = ev.Sequence + 1
		if ev.Type == notify.EventExecution && pipeline.Status(ev.Status).Complete() {
			ended = true
		}
	}
	// receive takes the events that arrived and queues them in sequence order.
	receive := func() {
		var ev notify.Event
		for events.ReceiveAsync(&ev) {
			early[ev.Sequence] = ev
			ev = notify.Event{}
		}
		for {
			ev, ok := early[next]
			if !ok {
				return
			}
			delete(early, next)
			accept(ev)
		}
	}
	// giveUpGap queues the early events as they are when the ones before them never came.
	giveUpGap := func() {
		for _, seq := range slices.Sorted(maps.Keys(early)) {
			accept(early[seq])
		}
		clear(early)
	}
	earlyList := func() []notify.Event {
		var out []notify.Event
		for _, seq := range slices.Sorted(maps.Keys(early)) {
			out = append(out, early[seq])
		}
		return out
	}
	deliverCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    5 * time.Minute,
		HeartbeatTimeout:       time.Minute,
		ScheduleToCloseTimeout: eventDeliveryLimit,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
	})
	var acts *activities.Notifications
	for {
		receive()
		if len(pending) > 0 {
			batch := pending[:min(len(pending), eventBatch)]
			var res activities.PublishEventsResult
			err := workflow.ExecuteActivity(deliverCtx, acts.PublishEvents, activities.PublishEventsInput{Events: batch}).Get(ctx, &res)
			if err != nil {
				workflow.GetLogger(ctx).Error("events could not be delivered", "execution", in.ExecutionID, "events", len(batch), "error", err)
				result.Dropped = appendDropped(result.Dropped, fmt.Sprintf("%d events from %s: %s", len(batch), batch[0].ID, describeError(err)))
			}
			result.Delivered += res.Delivered
			for _, d := range res.Dropped {
				result.Dropped = appendDropped(result.Dropped, d)
			}
			pending = pending[len(batch):]
			continue
		}
		if ended {
			return result, nil
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > eventStreamMaxHistory {
			receive()
			return result, workflow.NewContinueAsNewError(ctx, EventStream, EventStreamInput{
				ExecutionID: in.ExecutionID, Pending: pending, Ended: ended, Next: next, Early: earlyList(),
			})
		}
		if len(early) > 0 {
			got, err := workflow.AwaitWithTimeout(ctx, eventGapWait, func() bool { return events.Len() > 0 })
			if err != nil {
				return result, err
			}
			if !got {
				giveUpGap()
			}
			continue
		}
		got, err := workflow.AwaitWithTimeout(ctx, eventStreamIdle, func() bool { return events.Len() > 0 })
		if err != nil {
			return result, err
		}
		if !got && !executionRunning(ctx, in.ExecutionID) {
			// Terminated outside gennaker, the execution never sent its final status: say so,
			// so that the receivers' trail has an end.
			end := notify.Event{ID: in.ExecutionID + "-terminated", Sequence: next, Type: notify.EventExecution,
				ExecutionID: in.ExecutionID, Status: StatusTerminated, Time: workflow.Now(ctx).UnixMilli(),
				Reason: "the execution's workflow ended without reporting a final status (terminated in Temporal?)"}
			if last != nil {
				end.Application, end.Pipeline = last.Application, last.Pipeline
			}
			pending = append(pending, end)
			ended = true
		}
	}
}

// executionRunning asks Temporal whether an execution still runs; when it cannot tell, it says yes.
func executionRunning(ctx workflow.Context, id string) bool {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var locks *activities.Locks
	var res activities.ExecutionRunningResult
	if err := workflow.ExecuteActivity(actx, locks.ExecutionRunning, activities.ExecutionRunningInput{WorkflowID: id}).Get(ctx, &res); err != nil {
		return true
	}
	return res.Running
}

func appendDropped(list []string, s string) []string {
	if len(list) >= 50 {
		return list
	}
	return append(list, s)
}
