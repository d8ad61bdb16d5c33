package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ohler55/ojg/jp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
)

// MonitorWebhookInput is what to poll and how to read it.
type MonitorWebhookInput struct {
	// StatusURL is CallWebhookResult.StatusURL.
	StatusURL string `json:"statusUrl"`
	// Headers are sent with every poll; Spinnaker sends the stage's customHeaders.
	Headers map[string][]string `json:"headers,omitempty"`
	// RetryStatusCodes are tolerated like 429 and 5xx.
	RetryStatusCodes []int `json:"retryStatusCodes,omitempty"`
	// Monitor says how to read the status responses, as pipeline.ReadWebhookStage read it.
	Monitor pipeline.WebhookMonitor `json:"monitor"`
}

// MonitorWebhookResult is how the remote job ended.
type MonitorWebhookResult struct {
	// Status is SUCCEEDED, CANCELED or TERMINAL, the stage status the remote status maps to.
	Status string `json:"status"`
	// LastStatus is the remote status as read at StatusJSONPath.
	LastStatus string `json:"lastStatus"`
	// Progress is the value at ProgressJSONPath in the last status response.
	Progress string `json:"progress,omitempty"`
	// StatusCode is the HTTP status of the last status response.
	StatusCode int `json:"statusCode"`
	// Body is the last status response, bounded like CallWebhookResult.Body.
	Body any `json:"body,omitempty"`
	// Truncated reports that Body holds only the start of the last status response, as text.
	Truncated bool `json:"truncated,omitempty"`
	// Polls counts status requests, across activity attempts.
	Polls int `json:"polls"`
}

// MonitorWebhook polls the status URL until the remote status is one of the monitor's lists,
// heartbeating throughout. See Webhooks for the timeouts the caller must set.
func (w *Webhooks) MonitorWebhook(ctx context.Context, in MonitorWebhookInput) (MonitorWebhookResult, error) {
	mon := in.Monitor
	if err := validateMonitor(mon); err != nil {
		return MonitorWebhookResult{}, invalidWebhook(err)
	}
	if _, err := parseWebhookURL(in.StatusURL); err != nil {
		return MonitorWebhookResult{}, invalidWebhook(fmt.Errorf("status url: %w", err))
	}
	if err := checkWebhookHeaders(in.Headers); err != nil {
		return MonitorWebhookResult{}, invalidWebhook(err)
	}
	statusPath, _ := jp.ParseString(mon.StatusJSONPath) // validated above
	var progressPath jp.Expr
	if mon.ProgressJSONPath != "" {
		progressPath, _ = jp.ParseString(mon.ProgressJSONPath)
	}
	interval := mon.Interval
	if interval <= 0 {
		interval = pipeline.DefaultWebhookMonitorInterval
	}

	var state monitorState
	resumed := activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &state) == nil
	hb := startMonitorHeartbeats(ctx, state)
	defer hb.stop()

	// A resumed attempt has waited already; waiting again would only delay a job that may be done.
	if !resumed && mon.WaitBefore > 0 {
		if err := waitOrDone(ctx, mon.WaitBefore); err != nil {
			return MonitorWebhookResult{}, err
		}
	}
	logger := activity.GetLogger(ctx)
	for {
		state.Polls++
		res, err := w.poll(ctx, in, statusPath, progressPath)
		switch {
		case err == nil:
			state.Failures, state.LastError, state.LastStatus = 0, "", res.LastStatus
		case ctx.Err() != nil:
			return MonitorWebhookResult{}, ctx.Err()
		case endsMonitoring(err):
			hb.record(state)
			return MonitorWebhookResult{}, err
		default:
			state.Failures++
			state.LastError = err.Error()
			logger.Warn("Webhook status poll failed", "StatusURL", redactWebhookURL(in.StatusURL),
				"Failures", state.Failures, "Error", err)
			if state.Failures >= maxMonitorFailures {
				hb.record(state)
				return MonitorWebhookResult{}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("gave up monitoring after %d failed polls in a row; last: %v", state.Failures, err),
					WebhookErrMonitor, err)
			}
		}
		hb.record(state)
		if err == nil {
			if res.Status = outcome(mon, res.LastStatus); res.Status != "" {
				res.Polls = state.Polls
				return res, nil
			}
		}
		if err := waitOrDone(ctx, interval); err != nil {
			return MonitorWebhookResult{}, err
		}
	}
}

// monitorState is MonitorWebhook's heartbeat details: visible while it runs, and read back by a retried attempt.
type monitorState struct {
	Polls      int    `json:"polls"`
	Failures   int    `json:"failures,omitempty"`
	LastStatus string `json:"lastStatus,omitempty"`
	LastError  string `json:"lastError,omitempty"`
}

// poll makes one status request. A plain error is transient; a non-retryable application error ends monitoring.
func (w *Webhooks) poll(ctx context.Context, in MonitorWebhookInput, statusPath, progressPath jp.Expr) (MonitorWebhookResult, error) {
	reply, err := w.send(ctx, http.MethodGet, in.StatusURL, in.Headers, nil)
	if err != nil {
		return MonitorWebhookResult{}, err
	}
	switch {
	case reply.code >= 200 && reply.code < 300:
	case retryableStatus(reply.code, in.RetryStatusCodes):
		return MonitorWebhookResult{}, errors.New(reply.describe())
	default:
		return MonitorWebhookResult{}, reply.failure(WebhookErrUnexpectedStatus, true, 0)
	}
	// A proxy's HTML error page served with 200 is a hiccup, not the job's answer.
	if !reply.isJSON {
		return MonitorWebhookResult{}, fmt.Errorf("%s %s returned a body that is not JSON: %s",
			reply.method, reply.url, bodySnippet(reply.raw, errorSnippet))
	}
	v, found := statusPath.FirstFound(reply.parsed)
	if !found {
		return MonitorWebhookResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("statusJsonPath %s matched nothing in the response of %s %s: %s",
				in.Monitor.StatusJSONPath, reply.method, reply.url, bodySnippet(reply.raw, errorSnippet)),
			WebhookErrMonitor, nil)
	}
	status, ok := scalarText(v)
	if !ok {
		return MonitorWebhookResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("statusJsonPath %s matched a %s, not a string, number or boolean", in.Monitor.StatusJSONPath, jsonKindName(v)),
			WebhookErrMonitor, nil)
	}
	res := MonitorWebhookResult{LastStatus: status, StatusCode: reply.code}
	if progressPath != nil {
		// Progress is informational: a job that does not report it yet is not an error.
		if p, found := progressPath.FirstFound(reply.parsed); found {
			if s, ok := scalarText(p); ok {
				res.Progress = s
			} else if b, err := json.Marshal(p); err == nil {
				res.Progress = string(b)
			}
		}
	}
	res.Body, res.Truncated = reply.boundedBody()
	return res, nil
}

// outcome maps a remote status to the stage status it ends monitoring with, or "" to keep polling.
func outcome(m pipeline.WebhookMonitor, status string) string {
	status = strings.TrimSpace(status)
	in := func(list []string) bool {
		return slices.ContainsFunc(list, func(s string) bool {
			s = strings.TrimSpace(s)
			return s != "" && strings.EqualFold(s, status)
		})
	}
	switch {
	case in(m.SuccessStatuses):
		return string(pipeline.StatusSucceeded)
	case in(m.CanceledStatuses):
		return string(pipeline.StatusCanceled)
	case in(m.TerminalStatuses):
		return string(pipeline.StatusTerminal)
	}
	return ""
}

// validateMonitor refuses monitoring that could never end well, before the first poll.
func validateMonitor(m pipeline.WebhookMonitor) error {
	if m.StatusJSONPath == "" {
		return errors.New("statusJsonPath is required to wait for completion")
	}
	if err := checkWebhookJSONPath("statusJsonPath", m.StatusJSONPath); err != nil {
		return err
	}
	if m.ProgressJSONPath != "" {
		if err := checkWebhookJSONPath("progressJsonPath", m.ProgressJSONPath); err != nil {
			return err
		}
	}
	// Without a success status the stage could only time out, which is never what was meant.
	if !slices.ContainsFunc(m.SuccessStatuses, func(s string) bool { return strings.TrimSpace(s) != "" }) {
		return errors.New("successStatuses is required to wait for completion")
	}
	if m.Interval < 0 {
		return errors.New("monitorIntervalSeconds must not be negative")
	}
	if m.WaitBefore < 0 {
		return errors.New("waitBeforeMonitorSeconds must not be negative")
	}
	return nil
}

func endsMonitoring(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

// scalarText renders a JSON scalar as the text a status list is written in; null reads as "".
func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", true
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case json.Number:
		return t.String(), true
	case map[string]any, []any:
		return "", false
	}
	return fmt.Sprint(v), true
}

func jsonKindName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "JSON object"
	case []any:
		return "JSON array"
	}
	return fmt.Sprintf("%T", v)
}

// waitOrDone waits for d or until the activity is canceled or timed out.
func waitOrDone(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// monitorHeartbeats records the latest monitor state on a timer, so a poll that hangs up to the client's
// timeout or a long interval never lets the heartbeat timeout lapse, and cancellation is delivered.
type monitorHeartbeats struct {
	ctx   context.Context
	mu    sync.Mutex
	state monitorState
	done  chan struct{}
	wg    sync.WaitGroup
}

func startMonitorHeartbeats(ctx context.Context, state monitorState) *monitorHeartbeats {
	h := &monitorHeartbeats{ctx: ctx, state: state, done: make(chan struct{})}
	period := defaultHeartbeatPeriod
	if t := activity.GetInfo(ctx).HeartbeatTimeout; t > 0 {
		period = max(t/3, 100*time.Millisecond)
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				h.mu.Lock()
				s := h.state
				h.mu.Unlock()
				activity.RecordHeartbeat(ctx, s)
			}
		}
	}()
	return h
}

// record heartbeats now with the given state and keeps it for the timer's heartbeats.
func (h *monitorHeartbeats) record(s monitorState) {
	h.mu.Lock()
	h.state = s
	h.mu.Unlock()
	activity.RecordHeartbeat(h.ctx, s)
}

func (h *monitorHeartbeats) stop() {
	close(h.done)
	h.wg.Wait()
}
