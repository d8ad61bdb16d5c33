package pipeline

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/ohler55/ojg/jp"
)

// Git providers a git trigger may name as its source.
const (
	GitBitbucket = "bitbucket"
	GitGitHub    = "github"
	GitGitLab    = "gitlab"
)

// GitSources lists the git providers a git trigger may name, sorted.
var GitSources = []string{GitBitbucket, GitGitHub, GitGitLab}

// WebhookSettings are a webhook trigger's own settings, read from its Context.
type WebhookSettings struct {
	// Source is the last segment of the URL the trigger listens on: POST /webhooks/webhook/{source}.
	Source string
	// PayloadConstraints maps a payload field (a top-level or dotted key, or a JSONPath starting
	// with $) to a regular expression its value must match in full.
	PayloadConstraints map[string]string
	// Secret, when set, is the HMAC-SHA256 key of the X-Hub-Signature-256 header senders must give.
	Secret string
}

// GitSettings are a git trigger's own settings, read from its Context.
type GitSettings struct {
	// Source is the provider, lower-case: github, gitlab or bitbucket.
	Source  string
	Project string
	Slug    string
	// Branch is a regular expression a pushed branch must match in full; empty means any branch.
	Branch string
	// Secret, when set, authenticates the provider's deliveries (a signature key, or GitLab's token).
	Secret string
}

// Webhook reads the trigger's webhook settings. A setting of the wrong type reads as empty, as
// Validate reports it; callers matching deliveries then simply find nothing to match.
func (t Trigger) Webhook() WebhookSettings {
	ctx := t.shapedContext()
	s := WebhookSettings{Source: contextString(ctx, "source"), Secret: contextString(ctx, "secret")}
	if m, ok := ctx["payloadConstraints"].(map[string]any); ok {
		s.PayloadConstraints = make(map[string]string, len(m))
		for k, v := range m {
			if text, isString := v.(string); isString {
				s.PayloadConstraints[k] = text
			}
		}
	}
	return s
}

// Git reads the trigger's git settings, with the provider lower-cased since providers are matched
// without regard to case.
func (t Trigger) Git() GitSettings {
	ctx := t.shapedContext()
	return GitSettings{
		Source:  strings.ToLower(strings.TrimSpace(contextString(ctx, "source"))),
		Project: contextString(ctx, "project"),
		Slug:    contextString(ctx, "slug"),
		Branch:  contextString(ctx, "branch"),
		Secret:  contextString(ctx, "secret"),
	}
}

// shapedContext gives the trigger's Context in JSON shape, whatever Go types built it.
func (t Trigger) shapedContext() map[string]any {
	if shaped, err := toJSONShape(t.Context); err == nil {
		if m, ok := shaped.(map[string]any); ok {
			return m
		}
	}
	return t.Context
}

func contextString(ctx map[string]any, key string) string {
	s, _ := ctx[key].(string)
	return s
}

// webhookSource is what a source may hold so that it is a single URL path segment needing no escaping.
var webhookSource = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidWebhookSource reports whether s can be a webhook trigger's source, which is a URL path segment.
func ValidWebhookSource(s string) bool {
	// "." and ".." would be cleaned out of the path by any router before it is seen.
	return webhookSource.MatchString(s) && s != "." && s != ".."
}

// FullMatchRegexp compiles a pattern that must match a whole value, as Java's Pattern.matches does,
// which is how Spinnaker reads payload constraints and git branches: "pro" does not match "prod".
func FullMatchRegexp(pattern string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(pattern); err != nil {
		// Report the pattern as written, not the anchored one.
		return nil, err
	}
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

// IsJSONPathConstraint reports whether a payload constraint's key is a JSONPath rather than a field name.
func IsJSONPathConstraint(key string) bool { return strings.HasPrefix(key, "$") }

func validateWebhookTrigger(t Trigger, path string) []Problem {
	var ps problems
	f := newFields(t.shapedContext(), path, &ps)
	if source := f.requiredString("source"); strings.TrimSpace(source) != "" && !ValidWebhookSource(source) {
		ps.add(f.at("source"), "%q is not a URL path segment: use letters, digits, -, _ and .", source)
	}
	if v, ok := f.get("payloadConstraints"); ok {
		constraints, isMap := v.(map[string]any)
		if !isMap {
			ps.add(f.at("payloadConstraints"), "must be an object mapping payload fields to regular expressions")
		}
		keys := make([]string, 0, len(constraints))
		for k := range constraints {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			validatePayloadConstraint(key, constraints[key], joinKey(f.at("payloadConstraints"), key), &ps)
		}
	}
	f.optionalString("secret")
	return ps
}

func validatePayloadConstraint(key string, value any, path string, ps *problems) {
	if strings.TrimSpace(key) == "" {
		ps.add(path, "a constraint needs a payload field or JSONPath as its key")
	} else if IsJSONPathConstraint(key) {
		if _, err := jp.ParseString(key); err != nil {
			ps.add(path, "invalid JSONPath %q: %v", key, err)
		}
	}
	pattern, isString := value.(string)
	if !isString {
		ps.add(path, "the constraint on %q must be a string holding a regular expression", key)
		return
	}
	if _, err := FullMatchRegexp(pattern); err != nil {
		ps.add(path, "invalid regular expression for %q: %v", key, err)
	}
}

func validateGitTrigger(t Trigger, path string) []Problem {
	var ps problems
	f := newFields(t.shapedContext(), path, &ps)
	if source := f.requiredString("source"); strings.TrimSpace(source) != "" && !slices.Contains(GitSources, strings.ToLower(strings.TrimSpace(source))) {
		ps.add(f.at("source"), "unknown git provider %q; supported: %s", source, strings.Join(GitSources, ", "))
	}
	f.requiredString("project")
	f.requiredString("slug")
	if branch, ok := f.optionalString("branch"); ok {
		if _, err := FullMatchRegexp(branch); err != nil {
			ps.add(f.at("branch"), "invalid regular expression: %v", err)
		}
	}
	f.optionalString("secret")
	return ps
}
