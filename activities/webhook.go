package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ohler55/ojg/jp"
	"github.com/ohler55/ojg/oj"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
)

// ErrWebhookStage marks a webhook stage whose configuration cannot be used; ParseWebhookStage wraps it.
var ErrWebhookStage = errors.New("invalid webhook stage")

// Application error types the webhook activities fail with, so a workflow can tell failures apart.
const (
	// WebhookErrInvalid is a request or monitor configuration the activity cannot act on; never retried.
	WebhookErrInvalid = "WebhookInvalid"
	// WebhookErrUnreachable is a network failure talking to the endpoint; retried.
	WebhookErrUnreachable = "WebhookUnreachable"
	// WebhookErrRetryableStatus is a 429, a 5xx or one of retryStatusCodes; retried.
	WebhookErrRetryableStatus = "WebhookRetryableStatus"
	// WebhookErrFailFast is one of failFastStatusCodes; never retried.
	WebhookErrFailFast = "WebhookFailFast"
	// WebhookErrUnexpectedStatus is any other status that was not expected; never retried.
	WebhookErrUnexpectedStatus = "WebhookUnexpectedStatus"
	// WebhookErrStatusURL is a status URL that cannot be found in the response; never retried,
	// because retrying would call the webhook a second time.
	WebhookErrStatusURL = "WebhookStatusURL"
	// WebhookErrMonitor is monitoring that gave up: an unreadable status or too many failed polls; never retried.
	WebhookErrMonitor = "WebhookMonitorFailed"
)

const (
	// defaultWebhookTimeout bounds one HTTP exchange when Webhooks.Client is nil.
	defaultWebhookTimeout = 30 * time.Second
	// defaultHeartbeatPeriod is used when the caller set no heartbeat timeout: cancellation reaches an
	// activity only in a heartbeat's reply, so heartbeats are sent regardless.
	defaultHeartbeatPeriod = 10 * time.Second
	// maxResultBody bounds a body kept in a result, because results are written to workflow history.
	maxResultBody = 64 << 10
	// maxReadBody bounds what is read from the wire, so a huge response cannot exhaust the worker
	// while a status URL is still found in bodies bigger than maxResultBody.
	maxReadBody = 8 << 20
	// errorSnippet is how much of a body an error message quotes.
	errorSnippet = 200
	// maxErrorDetailBody is how much of a body an error carries in its details.
	maxErrorDetailBody = 4 << 10
	// maxMonitorFailures is how many polls in a row may fail before monitoring gives up.
	maxMonitorFailures = 10
	// maxRetryAfter caps a server's Retry-After so a misbehaving endpoint cannot park a stage for days.
	maxRetryAfter = 15 * time.Minute
)

// defaultWebhookClient is shared so connections are reused across activities.
var defaultWebhookClient = &http.Client{Timeout: defaultWebhookTimeout}

// Webhooks calls HTTP endpoints for webhook stages.
//
// CallWebhook makes one HTTP attempt per activity attempt and classifies the outcome, so the caller
// must give it a retry policy with backoff, for example InitialInterval 5s, BackoffCoefficient 2,
// MaximumAttempts 5, and a StartToCloseTimeout a little above the client's timeout (1 minute with
// the default client). A server's Retry-After overrides the policy's interval for the next attempt.
// A webhook that is not idempotent may be called twice when a response is lost on the way back.
//
// MonitorWebhook runs until the remote job finishes: the caller sets StartToCloseTimeout to the
// stage's timeout (and ScheduleToCloseTimeout too, so retries cannot stretch it) and HeartbeatTimeout
// to about 30s so a lost worker or a cancellation is noticed promptly. It tolerates failed polls
// itself and fails non-retryably otherwise, so its retry policy only matters after a heartbeat
// timeout: a few attempts let it resume on another worker, carrying its poll count and skipping
// the initial wait.
type Webhooks struct {
	// Client sends the requests; nil means a shared client with a 30s timeout.
	Client *http.Client
}

// WebhookRequest is the evaluated request half of a webhook stage.
type WebhookRequest struct {
	// URL is the endpoint to call, absolute http or https.
	URL string `json:"url"`
	// Method is one of GET POST PUT PATCH DELETE HEAD; empty means POST with a payload, else GET.
	Method string `json:"method,omitempty"`
	// Headers are the stage's customHeaders, sent as given.
	Headers map[string][]string `json:"headers,omitempty"`
	// Payload is sent as a JSON body when not nil.
	Payload any `json:"payload,omitempty"`
	// ExpectedStatusCodes are the successful statuses; empty means any 2xx.
	ExpectedStatusCodes []int `json:"expectedStatusCodes,omitempty"`
	// FailFastStatusCodes fail the call at once, without retry.
	FailFastStatusCodes []int `json:"failFastStatusCodes,omitempty"`
	// RetryStatusCodes are retried in addition to 429 and 5xx.
	RetryStatusCodes []int `json:"retryStatusCodes,omitempty"`
	// StatusURLResolution is one of the pipeline.StatusURL constants, or empty when the stage does not wait for completion.
	StatusURLResolution string `json:"statusUrlResolution,omitempty"`
	// StatusURLJSONPath finds the status URL in the response body for pipeline.StatusURLWebhookResponse.
	StatusURLJSONPath string `json:"statusUrlJsonPath,omitempty"`
}

// WebhookMonitor is the evaluated monitoring half of a webhook stage that waits for completion.
type WebhookMonitor struct {
	// StatusJSONPath finds the job's status in the status response, e.g. $.status.
	StatusJSONPath string `json:"statusJsonPath"`
	// ProgressJSONPath optionally finds a progress message in the status response.
	ProgressJSONPath string `json:"progressJsonPath,omitempty"`
	// SuccessStatuses, CanceledStatuses and TerminalStatuses end monitoring; compared case-insensitively.
	SuccessStatuses  []string `json:"successStatuses"`
	CanceledStatuses []string `json:"canceledStatuses,omitempty"`
	TerminalStatuses []string `json:"terminalStatuses,omitempty"`
	// Interval is the time between polls; zero means 10s.
	Interval time.Duration `json:"interval,omitempty"`
	// WaitBefore is the time to wait before the first poll.
	WaitBefore time.Duration `json:"waitBefore,omitempty"`
}

// CallWebhookInput is the request to send.
type CallWebhookInput struct {
	Request WebhookRequest `json:"request"`
}

// CallWebhookResult is the webhook's response, bounded for workflow history.
type CallWebhookResult struct {
	// StatusCode is the response's HTTP status, one that was expected.
	StatusCode int `json:"statusCode"`
	// Body is the parsed JSON when the response is JSON, else the text.
	Body any `json:"body,omitempty"`
	// Truncated reports that Body holds only the first 64 KiB of the response, as text.
	Truncated bool `json:"truncated,omitempty"`
	// Headers holds the response's Location and Content-Type when present.
	Headers map[string]string `json:"headers,omitempty"`
	// StatusURL is where to poll for completion; empty when the request has no StatusURLResolution.
	StatusURL string `json:"statusUrl,omitempty"`
}

// MonitorWebhookInput is what to poll and how to read it.
type MonitorWebhookInput struct {
	// StatusURL is CallWebhookResult.StatusURL.
	StatusURL string `json:"statusUrl"`
	// Headers are sent with every poll; Spinnaker sends the stage's customHeaders.
	Headers map[string][]string `json:"headers,omitempty"`
	// RetryStatusCodes are tolerated like 429 and 5xx.
	RetryStatusCodes []int `json:"retryStatusCodes,omitempty"`
	// Monitor says how to read the status responses, as ParseWebhookStage returned it.
	Monitor WebhookMonitor `json:"monitor"`
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

// WebhookErrorDetails are the details of a webhook application error that saw a response.
type WebhookErrorDetails struct {
	// StatusCode is the response's HTTP status.
	StatusCode int `json:"statusCode"`
	// Body is the start of the response body.
	Body string `json:"body,omitempty"`
}

// ParseWebhookStage reads an evaluated webhook stage context, with Spinnaker's field names.
// The monitor is nil unless waitForCompletion is true.
func ParseWebhookStage(ctx map[string]any) (WebhookRequest, *WebhookMonitor, error) {
	r := webhookFields{ctx: ctx}
	req := WebhookRequest{
		URL:                 r.str("url"),
		Method:              strings.ToUpper(r.str("method")),
		Headers:             r.headers("customHeaders"),
		Payload:             ctx["payload"],
		ExpectedStatusCodes: r.codes("expectedStatusCodes"),
		FailFastStatusCodes: r.codes("failFastStatusCodes"),
		RetryStatusCodes:    r.codes("retryStatusCodes"),
	}
	wait := r.boolean("waitForCompletion")
	var mon *WebhookMonitor
	if wait {
		req.StatusURLResolution = r.str("statusUrlResolution")
		if req.StatusURLResolution == "" {
			req.StatusURLResolution = pipeline.StatusURLGetMethod
		}
		req.StatusURLJSONPath = r.str("statusUrlJsonPath")
		mon = &WebhookMonitor{
			StatusJSONPath:   r.str("statusJsonPath"),
			ProgressJSONPath: r.str("progressJsonPath"),
			SuccessStatuses:  r.list("successStatuses"),
			CanceledStatuses: r.list("canceledStatuses"),
			TerminalStatuses: r.list("terminalStatuses"),
			Interval:         r.seconds("monitorIntervalSeconds", pipeline.DefaultWebhookMonitorInterval),
			WaitBefore:       r.seconds("waitBeforeMonitorSeconds", 0),
		}
	}
	if r.err != nil {
		return WebhookRequest{}, nil, r.err
	}
	if req.URL == "" {
		return WebhookRequest{}, nil, fmt.Errorf("%w: url is required", ErrWebhookStage)
	}
	if req.Method == "" {
		req.Method = req.defaultMethod()
	}
	if err := req.validate(); err != nil {
		return WebhookRequest{}, nil, fmt.Errorf("%w: %w", ErrWebhookStage, err)
	}
	if mon != nil {
		if mon.Interval <= 0 {
			return WebhookRequest{}, nil, fmt.Errorf("%w: monitorIntervalSeconds must be more than 0", ErrWebhookStage)
		}
		if err := mon.validate(); err != nil {
			return WebhookRequest{}, nil, fmt.Errorf("%w: %w", ErrWebhookStage, err)
		}
	}
	return req, mon, nil
}

// CallWebhook sends the webhook request once and classifies the response: success, a retryable
// error, or a non-retryable one. See Webhooks for the retry policy the caller must set.
func (w *Webhooks) CallWebhook(ctx context.Context, in CallWebhookInput) (CallWebhookResult, error) {
	req := in.Request
	req.Method = strings.ToUpper(req.Method)
	if req.Method == "" {
		req.Method = req.defaultMethod()
	}
	if err := req.validate(); err != nil {
		return CallWebhookResult{}, invalidWebhook(err)
	}
	reply, err := w.send(ctx, req.Method, req.URL, req.Headers, req.Payload)
	if err != nil {
		var te *webhookTransportError
		if errors.As(err, &te) {
			return CallWebhookResult{}, temporal.NewApplicationErrorWithOptions(te.Error(), WebhookErrUnreachable,
				temporal.ApplicationErrorOptions{Cause: te.err})
		}
		return CallWebhookResult{}, err
	}

	code := reply.code
	switch {
	case slices.Contains(req.FailFastStatusCodes, code):
		return CallWebhookResult{}, reply.failure(WebhookErrFailFast, true, 0)
	case expectedStatus(code, req.ExpectedStatusCodes):
	case retryableStatus(code, req.RetryStatusCodes):
		return CallWebhookResult{}, reply.failure(WebhookErrRetryableStatus, false, retryAfter(reply.header.Get("Retry-After"), time.Now()))
	default:
		return CallWebhookResult{}, reply.failure(WebhookErrUnexpectedStatus, true, 0)
	}

	res := CallWebhookResult{StatusCode: code, Headers: map[string]string{}}
	res.Body, res.Truncated = reply.boundedBody()
	for _, h := range []string{"Location", "Content-Type"} {
		if v := reply.header.Get(h); v != "" {
			res.Headers[h] = v
		}
	}
	if res.StatusURL, err = reply.statusURL(req); err != nil {
		return CallWebhookResult{}, err
	}
	return res, nil
}

// MonitorWebhook polls the status URL until the remote status is one of the monitor's lists,
// heartbeating throughout. See Webhooks for the timeouts the caller must set.
func (w *Webhooks) MonitorWebhook(ctx context.Context, in MonitorWebhookInput) (MonitorWebhookResult, error) {
	mon := in.Monitor
	if err := mon.validate(); err != nil {
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
			if res.Status = mon.outcome(res.LastStatus); res.Status != "" {
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
func (m WebhookMonitor) outcome(status string) string {
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

func (m WebhookMonitor) validate() error {
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

func (r WebhookRequest) defaultMethod() string {
	if r.Payload != nil {
		return http.MethodPost
	}
	return http.MethodGet
}

func (r WebhookRequest) validate() error {
	if _, err := parseWebhookURL(r.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if !slices.Contains(pipeline.WebhookMethods, r.Method) {
		return fmt.Errorf("method %q is not one of %s", r.Method, strings.Join(pipeline.WebhookMethods, ", "))
	}
	if err := checkWebhookHeaders(r.Headers); err != nil {
		return err
	}
	for field, codes := range map[string][]int{
		"expectedStatusCodes": r.ExpectedStatusCodes,
		"failFastStatusCodes": r.FailFastStatusCodes,
		"retryStatusCodes":    r.RetryStatusCodes,
	} {
		for _, c := range codes {
			if c < 100 || c > 599 {
				return fmt.Errorf("%s: %d is not an HTTP status code", field, c)
			}
		}
	}
	switch r.StatusURLResolution {
	case "", pipeline.StatusURLGetMethod, pipeline.StatusURLLocationHeader:
	case pipeline.StatusURLWebhookResponse:
		if r.StatusURLJSONPath == "" {
			return fmt.Errorf("statusUrlJsonPath is required with statusUrlResolution %s", pipeline.StatusURLWebhookResponse)
		}
		if err := checkWebhookJSONPath("statusUrlJsonPath", r.StatusURLJSONPath); err != nil {
			return err
		}
	default:
		return fmt.Errorf("statusUrlResolution %q is not one of %s, %s, %s", r.StatusURLResolution,
			pipeline.StatusURLGetMethod, pipeline.StatusURLLocationHeader, pipeline.StatusURLWebhookResponse)
	}
	return nil
}

func checkWebhookJSONPath(field, path string) error {
	if _, err := jp.ParseString(path); err != nil {
		return fmt.Errorf("%s %q is not a valid JSONPath: %w", field, path, err)
	}
	return nil
}

// checkWebhookHeaders rejects what net/http would refuse at send time, where it would look like a network error and be retried.
func checkWebhookHeaders(h map[string][]string) error {
	for name, values := range h {
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isHeaderTokenChar(r) }) >= 0 {
			return fmt.Errorf("header name %q is not valid", name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("header %s has a value with a line break or NUL", name)
			}
		}
	}
	return nil
}

func isHeaderTokenChar(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

func parseWebhookURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http or https URL", redactWebhookURL(raw))
	}
	return u, nil
}

// redactWebhookURL hides a password in the URL, because messages end up in workflow history and the UI.
func redactWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

func invalidWebhook(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), WebhookErrInvalid, err)
}

func endsMonitoring(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

func expectedStatus(code int, expected []int) bool {
	if len(expected) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(expected, code)
}

func retryableStatus(code int, extra []int) bool {
	return code == http.StatusTooManyRequests || code >= 500 || slices.Contains(extra, code)
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date; 0 leaves the delay to the retry policy.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// webhookTransportError is a request that got no response.
type webhookTransportError struct {
	method, url string
	err         error
}

func (e *webhookTransportError) Error() string {
	return fmt.Sprintf("%s %s failed: %v", e.method, e.url, e.err)
}
func (e *webhookTransportError) Unwrap() error { return e.err }

// webhookReply is a response read into memory.
type webhookReply struct {
	method string
	url    string // redacted, for messages
	final  *url.URL
	code   int
	status string
	header http.Header
	raw    []byte
	// cut reports that raw holds only the first maxReadBody bytes.
	cut    bool
	isJSON bool
	parsed any
}

func (w *Webhooks) client() *http.Client {
	if w.Client != nil {
		return w.Client
	}
	return defaultWebhookClient
}

// send makes one request. Errors are ctx.Err() when the activity is done, a *webhookTransportError
// when no response came, or a non-retryable application error for a request that cannot be built.
func (w *Webhooks) send(ctx context.Context, method, rawURL string, headers map[string][]string, payload any) (*webhookReply, error) {
	var body io.Reader
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, invalidWebhook(fmt.Errorf("payload cannot be encoded as JSON: %w", err))
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, invalidWebhook(err)
	}
	for name, values := range headers {
		// net/http sends Request.Host and ignores a Host header.
		if strings.EqualFold(name, "Host") {
			if len(values) > 0 {
				req.Host = values[0]
			}
			continue
		}
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	// A custom Content-Type wins: some endpoints want a vendor JSON type.
	if payload != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	where := redactWebhookURL(rawURL)
	resp, err := w.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the method and URL the message already names
		}
		return nil, &webhookTransportError{method: method, url: where, err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReadBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &webhookTransportError{method: method, url: where, err: fmt.Errorf("reading the response: %w", err)}
	}
	reply := &webhookReply{method: method, url: where, final: resp.Request.URL, code: resp.StatusCode,
		status: resp.Status, header: resp.Header, raw: raw}
	if len(raw) > maxReadBody {
		reply.raw, reply.cut = raw[:maxReadBody], true
	}
	if !reply.cut && looksLikeJSON(resp.Header.Get("Content-Type"), raw) {
		if v, err := oj.Parse(raw); err == nil {
			reply.parsed, reply.isJSON = v, true
		}
	}
	return reply, nil
}

// looksLikeJSON decides whether to parse a body; endpoints often label JSON as text/plain, so the body's first byte counts too.
func looksLikeJSON(contentType string, raw []byte) bool {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return true
	}
	trimmed := bytes.TrimSpace(raw)
	return len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
}

// describe says in words what came back, e.g. "POST https://x returned 503 Service Unavailable: busy".
func (r *webhookReply) describe() string {
	msg := fmt.Sprintf("%s %s returned %s", r.method, r.url, r.status)
	if s := bodySnippet(r.raw, errorSnippet); s != "" {
		msg += ": " + s
	}
	return msg
}

func (r *webhookReply) failure(errType string, nonRetryable bool, delay time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(r.describe(), errType, temporal.ApplicationErrorOptions{
		NonRetryable:   nonRetryable,
		NextRetryDelay: delay,
		Details:        []any{WebhookErrorDetails{StatusCode: r.code, Body: bodySnippet(r.raw, maxErrorDetailBody)}},
	})
}

// boundedBody is the body as it may go into a result: parsed JSON when it fits, else at most maxResultBody bytes of text.
func (r *webhookReply) boundedBody() (any, bool) {
	if len(r.raw) <= maxResultBody && !r.cut {
		if r.isJSON {
			return r.parsed, false
		}
		if len(r.raw) == 0 {
			return nil, false
		}
		return string(r.raw), false
	}
	return cutAtRune(r.raw, maxResultBody), true
}

func (r *webhookReply) statusURL(req WebhookRequest) (string, error) {
	var found string
	switch req.StatusURLResolution {
	case "":
		return "", nil
	case pipeline.StatusURLGetMethod:
		return req.URL, nil
	case pipeline.StatusURLLocationHeader:
		found = r.header.Get("Location")
		if found == "" {
			return "", r.statusURLError("the response has no Location header")
		}
	case pipeline.StatusURLWebhookResponse:
		if !r.isJSON {
			return "", r.statusURLError("the response body is not JSON, so statusUrlJsonPath " + req.StatusURLJSONPath + " cannot be read")
		}
		path, err := jp.ParseString(req.StatusURLJSONPath)
		if err != nil {
			return "", invalidWebhook(err)
		}
		v, ok := path.FirstFound(r.parsed)
		s, isString := v.(string)
		if !ok || !isString || strings.TrimSpace(s) == "" {
			return "", r.statusURLError(fmt.Sprintf("statusUrlJsonPath %s matched no URL in the response: %s",
				req.StatusURLJSONPath, bodySnippet(r.raw, errorSnippet)))
		}
		found = strings.TrimSpace(s)
	}
	// A relative status URL is relative to where the response came from, after redirects.
	ref, err := url.Parse(found)
	if err != nil {
		return "", r.statusURLError(fmt.Sprintf("status URL %q is not a URL: %v", found, err))
	}
	u := r.final.ResolveReference(ref)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", r.statusURLError(fmt.Sprintf("status URL %q is not an http or https URL", found))
	}
	return u.String(), nil
}

func (r *webhookReply) statusURLError(why string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s %s returned %s but its status URL cannot be found: %s", r.method, r.url, r.status, why),
		WebhookErrStatusURL, nil, WebhookErrorDetails{StatusCode: r.code, Body: bodySnippet(r.raw, maxErrorDetailBody)})
}

// bodySnippet is the start of a body for a message, cut at a character boundary.
func bodySnippet(raw []byte, n int) string {
	return cutAtRune(bytes.TrimSpace(raw), n)
}

func cutAtRune(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	b = b[:n]
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return string(b)
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

// webhookFields reads typed fields from an evaluated stage context, keeping the first error.
type webhookFields struct {
	ctx map[string]any
	err error
}

func (r *webhookFields) get(field string) (any, bool) {
	if r.err != nil {
		return nil, false
	}
	v, ok := r.ctx[field]
	return v, ok && v != nil
}

func (r *webhookFields) fail(field, want string, v any) {
	r.err = fmt.Errorf("%w: %s must be %s, got %T %v", ErrWebhookStage, field, want, v, v)
}

func (r *webhookFields) str(field string) string {
	v, ok := r.get(field)
	if !ok {
		return ""
	}
	s, isString := v.(string)
	if !isString {
		r.fail(field, "a string", v)
		return ""
	}
	return strings.TrimSpace(s)
}

// boolean accepts "true" and "false" too, because an expression evaluates to a string.
func (r *webhookFields) boolean(field string) bool {
	v, ok := r.get(field)
	if !ok {
		return false
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		if parsed, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return parsed
		}
	}
	r.fail(field, "a boolean", v)
	return false
}

// seconds reads a number of seconds, fractions allowed; absent means def.
func (r *webhookFields) seconds(field string, def time.Duration) time.Duration {
	v, ok := r.get(field)
	if !ok {
		return def
	}
	f, ok := stageNumber(v)
	if !ok || f < 0 || f > float64(math.MaxInt64)/float64(time.Second) {
		r.fail(field, "a number of seconds, not negative", v)
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// codes reads a list of status codes, also written as a comma-separated string.
func (r *webhookFields) codes(field string) []int {
	var out []int
	for _, item := range r.items(field, "a list of HTTP status codes") {
		f, ok := stageNumber(item)
		if !ok || f != math.Trunc(f) || f < 100 || f > 599 {
			r.fail(field, "a list of HTTP status codes", item)
			return nil
		}
		out = append(out, int(f))
	}
	return out
}

// list reads Spinnaker's comma-separated statuses, or a list of strings.
func (r *webhookFields) list(field string) []string {
	var out []string
	for _, item := range r.items(field, "a comma-separated string or a list of strings") {
		s, ok := item.(string)
		if !ok {
			r.fail(field, "a comma-separated string or a list of strings", item)
			return nil
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// items splits a field into list items: a string on commas, a slice of any element type as is.
func (r *webhookFields) items(field, want string) []any {
	v, ok := r.get(field)
	if !ok {
		return nil
	}
	if s, isString := v.(string); isString {
		var out []any
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		r.fail(field, want, v)
		return nil
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}

// headers reads customHeaders: an object whose values are a string or a list of strings.
func (r *webhookFields) headers(field string) map[string][]string {
	v, ok := r.get(field)
	if !ok {
		return nil
	}
	out := map[string][]string{}
	switch m := v.(type) {
	case map[string]string:
		for k, s := range m {
			out[k] = []string{s}
		}
	case map[string][]string:
		for k, vs := range m {
			out[k] = slices.Clone(vs)
		}
	case map[string]any:
		for k, hv := range m {
			switch t := hv.(type) {
			case string:
				out[k] = []string{t}
			case []string:
				out[k] = slices.Clone(t)
			case []any:
				for _, item := range t {
					s, isString := item.(string)
					if !isString {
						r.fail(field+"."+k, "a string or a list of strings", item)
						return nil
					}
					out[k] = append(out[k], s)
				}
			default:
				r.fail(field+"."+k, "a string or a list of strings", hv)
				return nil
			}
		}
	default:
		r.fail(field, "an object of header names to values", v)
		return nil
	}
	return out
}

// stageNumber reads a JSON-ish number: Go numeric types, json.Number, or a numeric string from an expression.
func stageNumber(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(n), 64); err != nil {
			return 0, false
		}
	default:
		rv := reflect.ValueOf(v)
		switch {
		case rv.CanInt():
			f = float64(rv.Int())
		case rv.CanUint():
			f = float64(rv.Uint())
		case rv.CanFloat():
			f = rv.Float()
		default:
			return 0, false
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
