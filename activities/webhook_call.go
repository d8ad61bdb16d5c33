package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ohler55/ojg/jp"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/pipeline"
)

// CallWebhookInput is the request to send.
type CallWebhookInput struct {
	Request pipeline.WebhookRequest `json:"request"`
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

// CallWebhook sends the webhook request once and classifies the response: success, a retryable
// error, or a non-retryable one. See Webhooks for the retry policy the caller must set.
func (w *Webhooks) CallWebhook(ctx context.Context, in CallWebhookInput) (CallWebhookResult, error) {
	req := in.Request
	req.Method = strings.ToUpper(req.Method)
	if req.Method == "" {
		req.Method = defaultMethod(req)
	}
	if err := validateRequest(req); err != nil {
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

func defaultMethod(r pipeline.WebhookRequest) string {
	if r.Payload != nil {
		return http.MethodPost
	}
	return http.MethodGet
}

// validateRequest refuses a request that cannot be sent, before anything is sent.
func validateRequest(r pipeline.WebhookRequest) error {
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

func expectedStatus(code int, expected []int) bool {
	if len(expected) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(expected, code)
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

func (r *webhookReply) statusURL(req pipeline.WebhookRequest) (string, error) {
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
