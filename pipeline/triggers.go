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

// Build results a jenkins trigger may fire on, as Jenkins names them.
const (
	BuildSuccess  = "SUCCESS"
	BuildUnstable = "UNSTABLE"
	BuildFailure  = "FAILURE"
	BuildAborted  = "ABORTED"
)

// BuildResults lists the build results a jenkins trigger may name, from best to worst as Jenkins
// orders them.
var BuildResults = []string{BuildSuccess, BuildUnstable, BuildFailure, BuildAborted}

// DefaultBuildResults are the results a jenkins trigger fires on when it names none: a build that
// succeeded, as Spinnaker's jenkins trigger does.
var DefaultBuildResults = []string{BuildSuccess}

// JenkinsSettings are a jenkins trigger's own settings, read from its Context.
type JenkinsSettings struct {
	// Master names the CI server: the last segment of the URL it reports builds to,
	// POST /webhooks/ci/{master}.
	Master string
	// Job is the job's full name (with its folders), matched exactly.
	Job string
	// PropertyConstraints maps a build property to a regular expression its value must match in full.
	PropertyConstraints map[string]string
	// BuildResults are the results that fire the trigger; DefaultBuildResults when it names none.
	BuildResults []string
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
	return WebhookSettings{
		Source:             contextString(ctx, "source"),
		PayloadConstraints: stringValues(ctx["payloadConstraints"]),
		Secret:             contextString(ctx, "secret"),
	}
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

// Jenkins reads the trigger's jenkins settings. A setting of the wrong type reads as empty, and a
// buildResults list with no string in it as DefaultBuildResults, as Validate reports them.
func (t Trigger) Jenkins() JenkinsSettings {
	ctx := t.shapedContext()
	s := JenkinsSettings{
		Master:              contextString(ctx, "master"),
		Job:                 contextString(ctx, "job"),
		PropertyConstraints: stringValues(ctx["propertyConstraints"]),
		Secret:              contextString(ctx, "secret"),
	}
	list, _ := ctx["buildResults"].([]any)
	for _, v := range list {
		if result, ok := v.(string); ok {
			s.BuildResults = append(s.BuildResults, result)
		}
	}
	if len(s.BuildResults) == 0 {
		s.BuildResults = slices.Clone(DefaultBuildResults)
	}
	return s
}

// stringValues keeps the string values of an object; anything else reads as nil.
func stringValues(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		if text, isString := e.(string); isString {
			out[k] = text
		}
	}
	return out
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

func validateJenkinsTrigger(t Trigger, path string) []Problem {
	var ps problems
	f := newFields(t.shapedContext(), path, &ps)
	if master := f.requiredString("master"); strings.TrimSpace(master) != "" && !ValidWebhookSource(master) {
		ps.add(f.at("master"), "%q is not a URL path segment: use letters, digits, -, _ and .", master)
	}
	f.requiredString("job")
	if v, ok := f.get("propertyConstraints"); ok {
		constraints, isMap := v.(map[string]any)
		if !isMap {
			ps.add(f.at("propertyConstraints"), "must be an object mapping build properties to regular expressions")
		}
		keys := make([]string, 0, len(constraints))
		for k := range constraints {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			validateNamedConstraint(key, constraints[key], joinKey(f.at("propertyConstraints"), key), "a build property", &ps)
		}
	}
	if v, ok := f.get("buildResults"); ok {
		validateBuildResults(v, f.at("buildResults"), &ps)
	}
	f.optionalString("secret")
	return ps
}

// validateNamedConstraint checks a constraint whose key names a value (a build property, a
// message attribute) rather than a place in a payload.
func validateNamedConstraint(key string, value any, path, what string, ps *problems) {
	if strings.TrimSpace(key) == "" {
		ps.add(path, "a constraint needs %s as its key", what)
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

func validateBuildResults(v any, path string, ps *problems) {
	allowed := strings.Join(BuildResults, ", ")
	list, isList := v.([]any)
	switch {
	case !isList:
		ps.add(path, "must be a list of build results: %s", allowed)
		return
	case len(list) == 0:
		// An empty list would never fire; leaving the setting out is how to mean the default.
		ps.add(path, "must name at least one result; leave it out to fire on %s only", strings.Join(DefaultBuildResults, ", "))
	}
	for i, item := range list {
		if result, ok := item.(string); !ok || !slices.Contains(BuildResults, result) {
			ps.add(joinIndex(path, i), "%q is not a build result; use one of %s", stringify(item), allowed)
		}
	}
}
