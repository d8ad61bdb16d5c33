package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Reasons a request that claims to come from Slack is refused.
var (
	// ErrBadSignature is a missing, malformed or wrong signature.
	ErrBadSignature = errors.New("the request's Slack signature is missing or wrong")
	// ErrStaleRequest is a request signed more than five minutes away from now.
	ErrStaleRequest = errors.New("the request's Slack timestamp is more than five minutes old")
	// ErrReplayed is a request whose signature was already seen.
	ErrReplayed = errors.New("the request was already received once")
)

// SlackSignatureWindow is how far a request's timestamp may be from now, as Slack recommends.
const SlackSignatureWindow = 5 * time.Minute

// VerifySlackRequest checks Slack's v0 signature of a request: HMAC-SHA256 of "v0:timestamp:body"
// with the app's signing secret, compared in constant time, with a timestamp within five minutes.
func VerifySlackRequest(header http.Header, body []byte, signingSecret string) error {
	if signingSecret == "" {
		return ErrBadSignature
	}
	v, err := slack.NewSecretsVerifier(header, signingSecret)
	if err != nil {
		if errors.Is(err, slack.ErrExpiredTimestamp) {
			return ErrStaleRequest
		}
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if _, err := v.Write(body); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if err := v.Ensure(); err != nil {
		return ErrBadSignature
	}
	return nil
}

// ReplayGuard remembers the signatures of accepted requests for as long as their timestamp is
// acceptable, so that a captured request cannot be sent again. It is per process: a replay
// reaching another API replica passes it, and then finds the judgment already made.
type ReplayGuard struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[string]time.Time
}

// maxRemembered bounds the guard's memory; past it the oldest half is forgotten early.
const maxRemembered = 100_000

// NewReplayGuard remembers signatures for window (use SlackSignatureWindow and a little more).
func NewReplayGuard(window time.Duration) *ReplayGuard {
	return &ReplayGuard{window: window, seen: map[string]time.Time{}}
}

// First records signature and reports whether it is the first time it was seen within the window.
func (g *ReplayGuard) First(signature string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if at, ok := g.seen[signature]; ok && now.Sub(at) < g.window {
		return false
	}
	if len(g.seen) >= maxRemembered/2 {
		g.prune(now)
	}
	g.seen[signature] = now
	return true
}

// prune drops expired entries, and the oldest ones if that is not enough.
func (g *ReplayGuard) prune(now time.Time) {
	for k, at := range g.seen {
		if now.Sub(at) >= g.window {
			delete(g.seen, k)
		}
	}
	if len(g.seen) < maxRemembered {
		return
	}
	cutoff := now.Add(-g.window / 2)
	for k, at := range g.seen {
		if at.Before(cutoff) {
			delete(g.seen, k)
		}
	}
}

// maxActionValue is Slack's limit on a button's value.
const maxActionValue = 2000

// EncodeAction writes a judgment action as a button value.
func EncodeAction(a JudgmentAction) (string, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	if len(data) > maxActionValue {
		return "", fmt.Errorf("the judgment button's value is %d bytes, more than Slack's %d", len(data), maxActionValue)
	}
	return string(data), nil
}

// DecodeAction reads a judgment button's value.
func DecodeAction(value string) (JudgmentAction, error) {
	var a JudgmentAction
	dec := json.NewDecoder(bytes.NewReader([]byte(value)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return JudgmentAction{}, fmt.Errorf("the button's value is not a gennaker judgment: %w", err)
	}
	if a.ExecutionID == "" || a.RefID == "" || (a.Status != "continue" && a.Status != "stop") {
		return JudgmentAction{}, fmt.Errorf("the button's value is not a complete gennaker judgment: %s", value)
	}
	return a, nil
}

// Ephemeral answers an interaction with a message only the person who clicked sees, through the
// interaction's response_url; the original message is left as it is.
func Ephemeral(ctx context.Context, client *http.Client, responseURL, text string) error {
	if client == nil {
		client = http.DefaultClient
	}
	body, err := json.Marshal(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("answering the interaction: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("answering the interaction: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answering the interaction: Slack answered %s", resp.Status)
	}
	return nil
}
