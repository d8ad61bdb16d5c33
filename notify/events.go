package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The headers of an event delivery. The signature scheme has the shape of Slack's, so that
// receivers find it familiar.
const (
	// HeaderEventSignature carries "v1=" and the hex HMAC-SHA256 of "v1:timestamp:body".
	HeaderEventSignature = "X-Gennaker-Signature"
	// HeaderEventTimestamp is when the delivery was signed, in Unix seconds.
	HeaderEventTimestamp = "X-Gennaker-Timestamp"
	// HeaderEventID repeats the event's ID, so that a receiver can drop a redelivery unread.
	HeaderEventID = "X-Gennaker-Event-Id"
)

// EventSignatureWindow is how far from now VerifyEvent accepts a timestamp when given no maxAge.
const EventSignatureWindow = 5 * time.Minute

// Reasons VerifyEvent refuses a delivery.
var (
	// ErrEventSignature is a missing, malformed or wrong signature or timestamp.
	ErrEventSignature = errors.New("the event's signature is missing or wrong")
	// ErrEventStale is a correctly signed delivery whose timestamp is too far from now: a replay,
	// or clocks that disagree.
	ErrEventStale = errors.New("the event's timestamp is too far from now")
)

// SignEvent is the signature of a delivery of body signed at timestamp (Unix seconds) with secret.
func SignEvent(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v1:" + strconv.FormatInt(timestamp, 10) + ":"))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyEvent checks a delivery's signature and that its timestamp is within maxAge of now, in
// either direction (maxAge ≤ 0 means EventSignatureWindow). Receivers call it with the raw body.
func VerifyEvent(h http.Header, body []byte, secret string, maxAge time.Duration, now time.Time) error {
	sig := h.Get(HeaderEventSignature)
	tsText := h.Get(HeaderEventTimestamp)
	// An empty secret would let anyone sign; refusing it beats accepting everything.
	if secret == "" || sig == "" || tsText == "" {
		return ErrEventSignature
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: the timestamp %q is not Unix seconds", ErrEventSignature, tsText)
	}
	if !hmac.Equal([]byte(sig), []byte(SignEvent(secret, ts, body))) {
		return ErrEventSignature
	}
	// The signature is checked first so that "stale" is only said of genuine deliveries, where
	// it points at a replay or a clock to fix.
	if maxAge <= 0 {
		maxAge = EventSignatureWindow
	}
	age := now.Sub(time.Unix(ts, 0))
	if age > maxAge {
		return fmt.Errorf("%w: signed %s ago", ErrEventStale, age.Round(time.Second))
	}
	if age < -maxAge {
		return fmt.Errorf("%w: signed %s in the future", ErrEventStale, (-age).Round(time.Second))
	}
	return nil
}

// Publisher delivers events to HTTP endpoints, one signed POST per event.
type Publisher struct {
	// Client sends the deliveries; nil means a client with a 10s timeout.
	Client *http.Client
}

var defaultEventClient = &http.Client{Timeout: 10 * time.Second}

// Bounds on what is read of an endpoint's answer: enough to reuse the connection and quote it.
const (
	maxEventResponse = 64 << 10
	maxQuotedAnswer  = 200
)

// DeliveryError is an event an endpoint did not accept, classed so that the caller knows
// whether to retry.
type DeliveryError struct {
	// Endpoint is the endpoint's name, or its URL when it has none.
	Endpoint string
	// Status is the HTTP status the endpoint answered; 0 when there was no answer.
	Status int
	// Permanent is an answer no retry will change: a 4xx other than 408, 425 and 429, or an
	// endpoint whose URL cannot be posted to.
	Permanent bool
	// Message is the start of the endpoint's answer, or what kept the request from being answered.
	Message string
	// RetryAfter is the wait the endpoint asked for with Retry-After (in seconds), if any.
	RetryAfter time.Duration
	// Err is the cause when there was no answer, such as a refused connection or a canceled context.
	Err error
}

// Error says which endpoint refused the event and how.
func (e *DeliveryError) Error() string {
	prefix := fmt.Sprintf("event endpoint %q: ", e.Endpoint)
	if e.Status == 0 {
		return prefix + e.Message
	}
	s := prefix + "answered " + strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap is the cause of a delivery that got no answer.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Publish delivers ev to ep: its JSON, signed with ep.Secret, answered with a 2xx. Any other
// outcome is a *DeliveryError.
func (p *Publisher) Publish(ctx context.Context, ep Endpoint, ev Event) error {
	name := ep.Name
	if name == "" {
		name = ep.URL
	}
	fail := func(permanent bool, err error) error {
		return &DeliveryError{Endpoint: name, Permanent: permanent, Message: err.Error(), Err: err}
	}
	u, err := url.Parse(ep.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(true, fmt.Errorf("the URL %q is not an http or https URL", ep.URL))
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fail(true, fmt.Errorf("encoding the event: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return fail(true, err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gennaker")
	req.Header.Set(HeaderEventTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderEventSignature, SignEvent(ep.Secret, ts, body))
	req.Header.Set(HeaderEventID, ev.ID)

	client := p.Client
	if client == nil {
		client = defaultEventClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(false, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxEventResponse))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if len(answer) > maxQuotedAnswer {
		answer = answer[:maxQuotedAnswer]
	}
	e := &DeliveryError{
		Endpoint:  name,
		Status:    resp.StatusCode,
		Permanent: permanentStatus(resp.StatusCode),
		// The cut may split a character; what is left must still print.
		Message: strings.TrimSpace(strings.ToValidUTF8(string(answer), "")),
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// permanentStatus reports whether an endpoint's answer means the same event will never be
// accepted: a client error, except timeouts, "too early" and throttling, which pass.
func permanentStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return code/100 == 4
}
