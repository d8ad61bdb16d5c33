package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Slack posts notifications and manual judgments to Slack channels through the Web API, as a
// bot whose token needs chat:write (and users:read, users:read.email for UserEmail).
type Slack struct {
	client *slack.Client
}

var _ Judge = (*Slack)(nil)

// SlackOption changes how NewSlack reaches Slack.
type SlackOption func(*slackConfig)

type slackConfig struct {
	apiURL     string
	httpClient *http.Client
}

// WithAPIURL points the client at another Web API base URL (with its trailing slash), such as a
// test server's.
func WithAPIURL(url string) SlackOption {
	return func(c *slackConfig) { c.apiURL = url }
}

// WithHTTPClient sends the API calls through client instead of one with a 30s timeout (nil:
// http.DefaultClient).
func WithHTTPClient(client *http.Client) SlackOption {
	return func(c *slackConfig) { c.httpClient = client }
}

// NewSlack is a Slack notifier using the bot token token.
func NewSlack(token string, opts ...SlackOption) *Slack {
	// slack-go's own client has no timeout; a hung call would hold an activity until its
	// start-to-close timeout instead of failing and being retried.
	cfg := slackConfig{httpClient: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.httpClient == nil {
		cfg.httpClient = http.DefaultClient
	}
	options := []slack.Option{slack.OptionHTTPClient(cfg.httpClient)}
	if cfg.apiURL != "" {
		options = append(options, slack.OptionAPIURL(cfg.apiURL))
	}
	return &Slack{client: slack.New(token, options...)}
}

// Notify posts the notification for s to the channel address ("#deploys", "deploys" or an ID).
func (n *Slack) Notify(ctx context.Context, address string, s Subject) (MessageRef, error) {
	m := notificationMessage(s)
	return n.post(ctx, address, m)
}

// PostJudgment posts the interactive message of a manual judgment to the channel address.
func (n *Slack) PostJudgment(ctx context.Context, address string, req JudgmentRequest) (MessageRef, error) {
	m, err := judgmentMessage(req)
	if err != nil {
		return MessageRef{}, fmt.Errorf("posting the judgment to %s: %w", address, err)
	}
	return n.post(ctx, address, m)
}

func (n *Slack) post(ctx context.Context, address string, m message) (MessageRef, error) {
	// The API takes a channel's bare name or its ID; people write names with '#'.
	channel := strings.TrimPrefix(strings.TrimSpace(address), "#")
	ch, ts, err := n.client.PostMessageContext(ctx, channel,
		slack.MsgOptionText(m.text, false),
		slack.MsgOptionBlocks(m.blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
	)
	if err != nil {
		return MessageRef{}, fmt.Errorf("posting to %s: %w", address, err)
	}
	return MessageRef{Channel: ch, TS: ts}, nil
}

// RemindJudgment replies in the judgment message's thread, broadcast to the channel, that the
// judgment still waits; the reply stays tied to the buttons it is about.
func (n *Slack) RemindJudgment(ctx context.Context, ref MessageRef, req JudgmentRequest) error {
	_, _, err := n.client.PostMessageContext(ctx, ref.Channel,
		slack.MsgOptionText(reminderText(req), false),
		slack.MsgOptionTS(ref.TS),
		slack.MsgOptionBroadcast(),
		slack.MsgOptionDisableLinkUnfurl(),
	)
	if err != nil {
		return fmt.Errorf("reminding of the judgment in the thread of %s/%s: %w", ref.Channel, ref.TS, err)
	}
	return nil
}

// UpdateJudgment replaces the judgment message's buttons with how the judgment ended.
func (n *Slack) UpdateJudgment(ctx context.Context, ref MessageRef, req JudgmentRequest, d Decision) error {
	m := decisionMessage(req, d)
	_, _, _, err := n.client.UpdateMessageContext(ctx, ref.Channel, ref.TS,
		slack.MsgOptionText(m.text, false),
		slack.MsgOptionBlocks(m.blocks...),
	)
	if err != nil {
		return fmt.Errorf("updating the judgment message %s/%s: %w", ref.Channel, ref.TS, err)
	}
	return nil
}

// ErrNoEmail is a Slack user whose email the app cannot see: it lacks the users:read.email
// scope, or the user (a bot, a guest) has none.
var ErrNoEmail = errors.New("no email for the Slack user (does the app have users:read.email?)")

// UserEmail is the email of a Slack user, by which gennaker knows the person who clicked.
func (n *Slack) UserEmail(ctx context.Context, userID string) (string, error) {
	u, err := n.client.GetUserInfoContext(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("looking up Slack user %s: %w", userID, err)
	}
	if u.Profile.Email == "" {
		return "", fmt.Errorf("looking up Slack user %s: %w", userID, ErrNoEmail)
	}
	return u.Profile.Email, nil
}

// permanentSlackErrors are Slack's answers that no retry can change: a person must fix the
// token, the app's scopes, the channel or the message.
var permanentSlackErrors = map[string]bool{
	"invalid_auth":        true,
	"not_authed":          true,
	"account_inactive":    true,
	"token_revoked":       true,
	"token_expired":       true,
	"no_permission":       true,
	"missing_scope":       true,
	"channel_not_found":   true,
	"not_in_channel":      true,
	"is_archived":         true,
	"msg_too_long":        true,
	"invalid_blocks":      true,
	"invalid_arguments":   true,
	"message_not_found":   true,
	"cant_update_message": true,
	"restricted_action":   true,
	"user_not_found":      true,
}

// IsPermanent reports whether err from Slack calls cannot succeed on retry (bad token, missing
// scope, unknown channel, a message Slack refuses), so the caller should fail instead of retrying.
func IsPermanent(err error) bool {
	var resp slack.SlackErrorResponse
	if errors.As(err, &resp) {
		return permanentSlackErrors[resp.Err]
	}
	return errors.Is(err, ErrBadMessage) || errors.Is(err, ErrNoEmail)
}

// RetryAfter is how long Slack asked to wait when err is its rate limit.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}
