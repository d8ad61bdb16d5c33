package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const eventSecret = "s3cret"

func TestSignEventIsHMACOfVersionTimestampBody(t *testing.T) {
	// Computed apart from SignEvent, as a receiver in another language would.
	mac := hmac.New(sha256.New, []byte(eventSecret))
	mac.Write([]byte(`v1:1700000000:{"id":"e1"}`))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	assert.Equal(t, want, SignEvent(eventSecret, 1700000000, []byte(`{"id":"e1"}`)))
}

func signedHeader(secret string, ts int64, body []byte) http.Header {
	h := http.Header{}
	h.Set(HeaderEventTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderEventSignature, SignEvent(secret, ts, body))
	return h
}

func TestVerifyEvent(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"e1","status":"SUCCEEDED"}`)
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		secret  string
		maxAge  time.Duration
		wantErr error
	}{
		{"signed now", signedHeader(eventSecret, now.Unix(), body), body, eventSecret, time.Minute, nil},
		{"signed within maxAge", signedHeader(eventSecret, now.Add(-59*time.Second).Unix(), body), body, eventSecret, time.Minute, nil},
		{"slightly ahead", signedHeader(eventSecret, now.Add(30*time.Second).Unix(), body), body, eventSecret, time.Minute, nil},
		{"wrong secret", signedHeader("other", now.Unix(), body), body, eventSecret, time.Minute, ErrEventSignature},
		{"tampered body", signedHeader(eventSecret, now.Unix(), body), []byte(`{"id":"e1","status":"TERMINAL"}`), eventSecret, time.Minute, ErrEventSignature},
		{"stale", signedHeader(eventSecret, now.Add(-2*time.Minute).Unix(), body), body, eventSecret, time.Minute, ErrEventStale},
		{"from the future", signedHeader(eventSecret, now.Add(2*time.Minute).Unix(), body), body, eventSecret, time.Minute, ErrEventStale},
		{"default window accepts 4 minutes", signedHeader(eventSecret, now.Add(-4*time.Minute).Unix(), body), body, eventSecret, 0, nil},
		{"default window refuses 6 minutes", signedHeader(eventSecret, now.Add(-6*time.Minute).Unix(), body), body, eventSecret, 0, ErrEventStale},
		{"no headers", http.Header{}, body, eventSecret, time.Minute, ErrEventSignature},
		{"no signature", func() http.Header {
			h := signedHeader(eventSecret, now.Unix(), body)
			h.Del(HeaderEventSignature)
			return h
		}(), body, eventSecret, time.Minute, ErrEventSignature},
		{"no timestamp", func() http.Header {
			h := signedHeader(eventSecret, now.Unix(), body)
			h.Del(HeaderEventTimestamp)
			return h
		}(), body, eventSecret, time.Minute, ErrEventSignature},
		{"timestamp moved after signing", func() http.Header {
			h := signedHeader(eventSecret, now.Add(-time.Hour).Unix(), body)
			h.Set(HeaderEventTimestamp, strconv.FormatInt(now.Unix(), 10))
			return h
		}(), body, eventSecret, time.Minute, ErrEventSignature},
		{"timestamp not a number", func() http.Header {
			h := signedHeader(eventSecret, now.Unix(), body)
			h.Set(HeaderEventTimestamp, "yesterday")
			return h
		}(), body, eventSecret, time.Minute, ErrEventSignature},
		{"empty secret", signedHeader("", now.Unix(), body), body, "", time.Minute, ErrEventSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyEvent(tt.header, tt.body, tt.secret, tt.maxAge, now)
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func testEvent() Event {
	return Event{
		ID:          "01HEXEC:3:SUCCEEDED",
		Type:        EventStage,
		ExecutionID: "01HEXEC",
		Application: "web",
		Pipeline:    "release",
		StageRefID:  "3",
		StageName:   "Deploy to prod",
		StageType:   "deployManifest",
		Status:      "SUCCEEDED",
		Time:        1_700_000_000_123,
		User:        "alice@example.com",
	}
}

// receiver is an endpoint that checks deliveries as a receiver following the docs would.
type receiver struct {
	mu       sync.Mutex
	events   []Event
	failures []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	fail := func(why string) {
		rc.failures = append(rc.failures, why)
		http.Error(w, why, http.StatusUnauthorized)
	}
	if err := VerifyEvent(r.Header, body, eventSecret, time.Minute, time.Now()); err != nil {
		fail(err.Error())
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "gennaker" {
		fail("method " + r.Method + ", content type " + r.Header.Get("Content-Type") + ", agent " + r.Header.Get("User-Agent"))
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		fail(err.Error())
		return
	}
	if r.Header.Get(HeaderEventID) != ev.ID {
		fail("event ID header " + r.Header.Get(HeaderEventID) + " is not the event's " + ev.ID)
		return
	}
	rc.events = append(rc.events, ev)
	w.WriteHeader(http.StatusNoContent)
}

func TestPublishSignedEvent(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	var p Publisher // a nil Client: the default one
	err := p.Publish(context.Background(), Endpoint{Name: "audit", URL: srv.URL + "/hooks/gennaker", Secret: eventSecret}, testEvent())
	require.NoError(t, err)
	assert.Empty(t, rc.failures)
	assert.Equal(t, []Event{testEvent()}, rc.events)
}

func TestPublishWithWrongSecretIsRefused(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	p := Publisher{Client: srv.Client()}
	err := p.Publish(context.Background(), Endpoint{Name: "audit", URL: srv.URL, Secret: "not-the-secret"}, testEvent())
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, http.StatusUnauthorized, de.Status)
	assert.True(t, de.Permanent)
	assert.Equal(t, `event endpoint "audit": answered 401 Unauthorized: the event's signature is missing or wrong`, err.Error())
	assert.Empty(t, rc.events)
}

func TestPublishFailures(t *testing.T) {
	tests := []struct {
		status        int
		retryAfter    string
		body          string
		wantPermanent bool
		wantRetry     time.Duration
	}{
		{http.StatusInternalServerError, "", "boom", false, 0},
		{http.StatusServiceUnavailable, "30", "down for maintenance", false, 30 * time.Second},
		{http.StatusBadGateway, "", "", false, 0},
		{http.StatusBadRequest, "", `{"error":"unknown field"}`, true, 0},
		{http.StatusNotFound, "", "", true, 0},
		{http.StatusGone, "", "", true, 0},
		{http.StatusRequestTimeout, "", "", false, 0},
		{http.StatusTooEarly, "", "", false, 0},
		{http.StatusTooManyRequests, "3", "slow down", false, 3 * time.Second},
		{http.StatusMultipleChoices, "", "", false, 0},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()

			p := Publisher{Client: srv.Client()}
			err := p.Publish(context.Background(), Endpoint{Name: "audit", URL: srv.URL, Secret: eventSecret}, testEvent())
			var de *DeliveryError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, "audit", de.Endpoint)
			assert.Equal(t, tt.status, de.Status)
			assert.Equal(t, tt.wantPermanent, de.Permanent)
			assert.Equal(t, tt.body, de.Message)
			assert.Equal(t, tt.wantRetry, de.RetryAfter)
			want := `event endpoint "audit": answered ` + strconv.Itoa(tt.status) + " " + http.StatusText(tt.status)
			if tt.body != "" {
				want += ": " + tt.body
			}
			assert.Equal(t, want, err.Error())
		})
	}
}

func TestPublishQuotesOnlyTheStartOfTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		// 199 bytes, then a two-byte character cut by the 200-byte quote, then a megabyte.
		_, _ = io.WriteString(w, strings.Repeat("a", 199)+"é"+strings.Repeat("b", 1<<20))
	}))
	defer srv.Close()

	err := (&Publisher{Client: srv.Client()}).Publish(context.Background(), Endpoint{URL: srv.URL, Secret: eventSecret}, testEvent())
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, strings.Repeat("a", 199), de.Message)
	// Without a name, the URL names the endpoint.
	assert.Equal(t, srv.URL, de.Endpoint)
}

func TestPublishUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	err := (&Publisher{}).Publish(context.Background(), Endpoint{Name: "audit", URL: url, Secret: eventSecret}, testEvent())
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 0, de.Status)
	assert.False(t, de.Permanent)
	assert.NotNil(t, de.Err)
	assert.Contains(t, err.Error(), `event endpoint "audit": `)
	assert.Contains(t, err.Error(), "connection refused")
}

func TestPublishCanceled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&Publisher{Client: srv.Client()}).Publish(ctx, Endpoint{Name: "audit", URL: srv.URL, Secret: eventSecret}, testEvent())
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	assert.False(t, de.Permanent)
}

func TestPublishBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://example.com/x", "example.com/hook", "http://"} {
		t.Run(u, func(t *testing.T) {
			err := (&Publisher{}).Publish(context.Background(), Endpoint{Name: "audit", URL: u, Secret: eventSecret}, testEvent())
			var de *DeliveryError
			require.ErrorAs(t, err, &de)
			assert.True(t, de.Permanent)
			assert.Equal(t, 0, de.Status)
		})
	}
}
