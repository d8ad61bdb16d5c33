package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ohler55/ojg/jp"
	"github.com/ohler55/ojg/oj"
	"go.temporal.io/sdk/temporal"
)

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

// WebhookErrorDetails are the details of a webhook application error that saw a response.
type WebhookErrorDetails struct {
	// StatusCode is the response's HTTP status.
	StatusCode int `json:"statusCode"`
	// Body is the start of the response body.
	Body string `json:"body,omitempty"`
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

func retryableStatus(code int, extra []int) bool {
	return code == http.StatusTooManyRequests || code >= 500 || slices.Contains(extra, code)
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
