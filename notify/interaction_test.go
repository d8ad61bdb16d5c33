package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const slackSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackSigned is the headers Slack sends with body, signed at ts; computed here as Slack
// documents it rather than through slack-go, so that the test checks the scheme itself.
func slackSigned(secret string, ts time.Time, body string) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + stamp + ":" + body))
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

func TestVerifySlackRequest(t *testing.T) {
	body := "payload=%7B%22type%22%3A%22block_actions%22%7D"
	now := time.Now()
	tests := []struct {
		name    string
		header  http.Header
		body    string
		secret  string
		wantErr error
	}{
		{"signed by Slack", slackSigned(slackSigningSecret, now, body), body, slackSigningSecret, nil},
		{"forged signature", slackSigned("a guess", now, body), body, slackSigningSecret, ErrBadSignature},
		{"body changed", slackSigned(slackSigningSecret, now, body), body + "x", slackSigningSecret, ErrBadSignature},
		{"six minutes old", slackSigned(slackSigningSecret, now.Add(-6*time.Minute), body), body, slackSigningSecret, ErrStaleRequest},
		{"no headers", http.Header{}, body, slackSigningSecret, ErrBadSignature},
		{"no signature", func() http.Header {
			h := slackSigned(slackSigningSecret, now, body)
			h.Del("X-Slack-Signature")
			return h
		}(), body, slackSigningSecret, ErrBadSignature},
		{"no timestamp", func() http.Header {
			h := slackSigned(slackSigningSecret, now, body)
			h.Del("X-Slack-Request-Timestamp")
			return h
		}(), body, slackSigningSecret, ErrBadSignature},
		{"signature not hex", func() http.Header {
			h := slackSigned(slackSigningSecret, now, body)
			h.Set("X-Slack-Signature", "v0=zz")
			return h
		}(), body, slackSigningSecret, ErrBadSignature},
		{"no signing secret configured", slackSigned("", now, body), body, "", ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySlackRequest(tt.header, []byte(tt.body), tt.secret)
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestReplayGuard(t *testing.T) {
	g := NewReplayGuard(SlackSignatureWindow)
	t0 := time.Unix(1_700_000_000, 0)
	assert.True(t, g.First("v0=aaa", t0), "first time")
	assert.False(t, g.First("v0=aaa", t0.Add(time.Second)), "replayed at once")
	assert.False(t, g.First("v0=aaa", t0.Add(SlackSignatureWindow-time.Second)), "replayed within the window")
	assert.True(t, g.First("v0=bbb", t0.Add(time.Second)), "another request")
	assert.True(t, g.First("v0=aaa", t0.Add(SlackSignatureWindow)), "after the window, when Slack's timestamp check refuses it anyway")
}

func TestReplayGuardForgetsExpiredSignatures(t *testing.T) {
	g := NewReplayGuard(time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range maxRemembered / 2 {
		g.First(fmt.Sprint("v0=", i), t0)
	}
	require.Len(t, g.seen, maxRemembered/2)
	assert.True(t, g.First("v0=new", t0.Add(2*time.Minute)))
	assert.Len(t, g.seen, 1, "the expired signatures were dropped")
}

func TestActionRoundTrip(t *testing.T) {
	for _, a := range []JudgmentAction{
		{ExecutionID: "01HEXEC", RefID: "3", Status: "continue"},
		{ExecutionID: "01HEXEC", RefID: "3", Status: "continue", Input: "deploy \"v42\" <now>"},
		{ExecutionID: "01HEXEC", RefID: "judge-prod", Status: "stop"},
	} {
		v, err := EncodeAction(a)
		require.NoError(t, err)
		got, err := DecodeAction(v)
		require.NoError(t, err)
		assert.Equal(t, a, got)
	}
}

func TestEncodeActionTooLong(t *testing.T) {
	_, err := EncodeAction(JudgmentAction{ExecutionID: "e", RefID: "r", Status: "continue", Input: strings.Repeat("x", maxActionValue)})
	assert.Error(t, err)
}

func TestDecodeActionRejectsJunk(t *testing.T) {
	for _, v := range []string{
		"",
		"approve",
		`["e","r","continue"]`,
		`{"e":"01HEXEC","r":"3"}`,
		`{"e":"01HEXEC","r":"3","s":"maybe"}`,
		`{"e":"","r":"3","s":"stop"}`,
		`{"e":"01HEXEC","r":"","s":"stop"}`,
		`{"e":"01HEXEC","r":"3","s":"stop","admin":true}`,
		`{"e":1,"r":"3","s":"stop"}`,
	} {
		_, err := DecodeAction(v)
		assert.Error(t, err, "%q", v)
	}
}

func TestEphemeral(t *testing.T) {
	var got map[string]any
	var contentType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contentType = r.Header.Get("Content-Type")
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	require.NoError(t, Ephemeral(context.Background(), nil, srv.URL+"/actions/T1/123/abc", "Only release-managers may decide."))
	assert.Equal(t, "application/json", contentType)
	assert.Equal(t, map[string]any{"response_type": "ephemeral", "replace_original": false, "text": "Only release-managers may decide."}, got)
}

func TestEphemeralRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "expired_url", http.StatusNotFound)
	}))
	defer srv.Close()

	err := Ephemeral(context.Background(), srv.Client(), srv.URL, "hello")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404")

	url := srv.URL
	srv.Close()
	assert.Error(t, Ephemeral(context.Background(), nil, url, "hello"), "unreachable")
}
