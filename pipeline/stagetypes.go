package pipeline

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The stage types gennaker runs, with Spinnaker's names.
const (
	StageWait               = "wait"
	StageManualJudgment     = "manualJudgment"
	StageCheckPreconditions = "checkPreconditions"
	StageEvaluateVariables  = "evaluateVariables"
	StagePipeline           = "pipeline"
	StageWebhook            = "webhook"
)

// Webhook settings' values and defaults.
const (
	// StatusURLGetMethod polls the URL the webhook was called on.
	StatusURLGetMethod = "getMethod"
	// StatusURLLocationHeader polls the URL in the response's Location header.
	StatusURLLocationHeader = "locationHeader"
	// StatusURLWebhookResponse polls the URL found at statusUrlJsonPath in the response body.
	StatusURLWebhookResponse = "webhookResponse"

	// DefaultWebhookMonitorInterval is how often a webhook's status is polled when
	// monitorIntervalSeconds is not set.
	DefaultWebhookMonitorInterval = 10 * time.Second
)

// WebhookMethods are the HTTP methods a webhook stage may use.
var WebhookMethods = []string{"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}

func init() {
	for _, spec := range []StageTypeSpec{
		{Name: StageWait, Validate: validateWait},
		{Name: StageManualJudgment, Validate: validateManualJudgment},
		{Name: StageCheckPreconditions, Validate: validateCheckPreconditions},
		{Name: StageEvaluateVariables, Validate: validateEvaluateVariables},
		{Name: StagePipeline, Validate: validatePipelineStage},
		{Name: StageWebhook, Validate: validateWebhook},
	} {
		RegisterStageType(spec)
	}
}

// fields reads a stage context's settings and records what is wrong with them. A string holding
// an expression is accepted wherever a value is expected, as it only has a type once evaluated.
type fields struct {
	ctx  map[string]any
	path string
	ps   *problems
}

func newFields(ctx map[string]any, path string, ps *problems) fields {
	return fields{ctx: ctx, path: path, ps: ps}
}

func (f fields) at(key string) string { return joinKey(f.path, key) }

// get returns a setting; a null setting counts as absent.
func (f fields) get(key string) (any, bool) {
	v, ok := f.ctx[key]
	return v, ok && v != nil
}

func isExprString(v any) bool {
	s, ok := v.(string)
	return ok && hasExpression(s)
}

// requiredString returns a non-blank string setting, or records why there is none.
func (f fields) requiredString(key string) string {
	v, ok := f.get(key)
	s, isString := v.(string)
	switch {
	case !ok || isString && strings.TrimSpace(s) == "":
		f.ps.add(f.at(key), "required")
	case !isString:
		f.ps.add(f.at(key), "must be a string")
	}
	return s
}

func (f fields) optionalString(key string) (string, bool) {
	v, ok := f.get(key)
	if !ok {
		return "", false
	}
	s, isString := v.(string)
	if !isString {
		f.ps.add(f.at(key), "must be a string")
	}
	return s, isString
}

// optionalBool returns the setting and whether it is a literal boolean.
func (f fields) optionalBool(key string) (value, literal bool) {
	v, ok := f.get(key)
	if !ok {
		return false, false
	}
	if b, isBool := v.(bool); isBool {
		return b, true
	}
	if !isExprString(v) {
		f.ps.add(f.at(key), "must be true or false")
	}
	return false, false
}

func (f fields) optionalObject(key string) (map[string]any, bool) {
	v, ok := f.get(key)
	if !ok {
		return nil, false
	}
	if m, isMap := v.(map[string]any); isMap {
		return m, true
	}
	if !isExprString(v) {
		f.ps.add(f.at(key), "must be an object")
	}
	return nil, false
}

// list returns a list setting; required lists must have at least one item.
func (f fields) list(key string, required bool) ([]any, bool) {
	v, ok := f.get(key)
	if !ok {
		if required {
			f.ps.add(f.at(key), "required")
		}
		return nil, false
	}
	l, isList := v.([]any)
	switch {
	case !isList && isExprString(v):
		return nil, false
	case !isList:
		f.ps.add(f.at(key), "must be a list")
		return nil, false
	case required && len(l) == 0:
		f.ps.add(f.at(key), "must have at least one item")
	}
	return l, true
}

func (f fields) stringList(key string) {
	l, _ := f.list(key, false)
	for i, item := range l {
		if _, ok := item.(string); !ok {
			f.ps.add(joinIndex(f.at(key), i), "must be a string")
		}
	}
}

// statusCodes checks a list of HTTP status codes.
func (f fields) statusCodes(key string) {
	l, _ := f.list(key, false)
	for i, item := range l {
		if isExprString(item) {
			continue
		}
		if code, ok := wholeNumber(item); !ok || code < 100 || code > 599 {
			f.ps.add(joinIndex(f.at(key), i), "must be an HTTP status code (100-599)")
		}
	}
}

// eachObject calls check for each item of a list that is an object, and records the items that
// are not, keeping problems in item order.
func (f fields) eachObject(key string, required bool, check func(item fields)) {
	l, _ := f.list(key, required)
	for i, item := range l {
		m, ok := item.(map[string]any)
		if !ok {
			f.ps.add(joinIndex(f.at(key), i), "must be an object")
			continue
		}
		check(newFields(m, joinIndex(f.at(key), i), f.ps))
	}
}

func validateWait(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	v, ok := f.get("waitTime")
	if !ok {
		ps.add(f.at("waitTime"), "required")
		return ps
	}
	seconds, isNumber := number(v)
	if text, isString := v.(string); isString {
		switch {
		case strings.TrimSpace(text) == "":
			ps.add(f.at("waitTime"), "required")
			return ps
		case hasExpression(text):
			return ps
		}
		parsed, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		seconds, isNumber = parsed, err == nil
	}
	switch {
	case !isNumber:
		ps.add(f.at("waitTime"), "must be a number of seconds or an expression")
	case seconds < 0:
		ps.add(f.at("waitTime"), "must not be negative")
	}
	return ps
}

func validateManualJudgment(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	f.optionalString("instructions")
	f.eachObject("judgmentInputs", false, func(input fields) { input.requiredString("value") })
	f.stringList("selectedStageRoles")
	return ps
}

func validateCheckPreconditions(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	f.eachObject("preconditions", true, func(pre fields) {
		switch t, _ := pre.get("type"); t {
		case nil, "":
			ps.add(pre.at("type"), "required")
		case "expression":
		default:
			ps.add(pre.at("type"), "unknown precondition type %q; supported types: expression", stringify(t))
		}
		pre.optionalBool("failPipeline")
		ctxValue, ok := pre.get("context")
		ctx, isMap := ctxValue.(map[string]any)
		if !ok || !isMap {
			if !ok {
				ps.add(pre.at("context"), "required")
			} else {
				ps.add(pre.at("context"), "must be an object")
			}
			return
		}
		c := newFields(ctx, pre.at("context"), &ps)
		c.optionalString("failureMessage")
		checkPreconditionExpression(c)
	})
	return ps
}

// checkPreconditionExpression checks a precondition's expression: a boolean, or a condition
// written with or without ${}. Syntax inside ${} is reported by the stage's expression check, so it
// is not reported twice here.
func checkPreconditionExpression(c fields) {
	v, ok := c.get("expression")
	if _, isBool := v.(bool); isBool {
		return
	}
	text, isString := v.(string)
	switch {
	case !ok || isString && strings.TrimSpace(text) == "":
		c.ps.add(c.at("expression"), "required")
	case !isString:
		c.ps.add(c.at("expression"), "must be a string")
	case hasExpression(text):
		if _, single := singleExpression(strings.TrimSpace(text)); !single {
			c.ps.add(c.at("expression"), "must be one expression, written with or without ${}")
		}
	default:
		if err := checkCondition(text); err != nil {
			c.ps.add(c.at("expression"), "invalid expression %q: %v", text, err)
		}
	}
}

func validateEvaluateVariables(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	seen := map[string]bool{}
	f.eachObject("variables", true, func(variable fields) {
		key := variable.requiredString("key")
		switch {
		case key == "":
		case seen[key]:
			ps.add(variable.at("key"), "duplicate key %q", key)
		case reservedName(key):
			ps.add(variable.at("key"), "%q is a name expressions already use", key)
		}
		seen[key] = true
	})
	return ps
}

func validatePipelineStage(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	f.requiredString("application")
	f.requiredString("pipeline")
	f.optionalObject("pipelineParameters")
	f.optionalBool("waitForCompletion")
	return ps
}

func validateWebhook(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	if u := f.requiredString("url"); u != "" && !hasExpression(u) {
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			ps.add(f.at("url"), "must be an absolute http or https URL")
		}
	}
	if m, ok := f.optionalString("method"); ok && !hasExpression(m) && !slices.Contains(WebhookMethods, strings.ToUpper(strings.TrimSpace(m))) {
		ps.add(f.at("method"), "must be one of %s", strings.Join(WebhookMethods, ", "))
	}
	if headers, ok := f.optionalObject("customHeaders"); ok {
		h := newFields(headers, f.at("customHeaders"), &ps)
		for _, name := range slices.Sorted(maps.Keys(headers)) {
			switch headers[name].(type) {
			case string:
			case []any:
				h.stringList(name)
			default:
				ps.add(h.at(name), "must be a string or a list of strings")
			}
		}
	}
	f.statusCodes("expectedStatusCodes")
	f.statusCodes("failFastStatusCodes")
	f.statusCodes("retryStatusCodes")
	wait, literal := f.optionalBool("waitForCompletion")
	if !literal || !wait {
		return ps
	}
	resolution, ok := f.optionalString("statusUrlResolution")
	switch {
	case !ok || resolution == "" || hasExpression(resolution):
	case resolution == StatusURLWebhookResponse:
		f.requiredString("statusUrlJsonPath")
	case resolution != StatusURLGetMethod && resolution != StatusURLLocationHeader:
		ps.add(f.at("statusUrlResolution"), "must be one of %s, %s, %s",
			StatusURLGetMethod, StatusURLLocationHeader, StatusURLWebhookResponse)
	}
	f.requiredString("statusJsonPath")
	f.optionalString("progressJsonPath")
	f.requiredString("successStatuses")
	f.optionalString("canceledStatuses")
	f.optionalString("terminalStatuses")
	if v, ok := f.get("monitorIntervalSeconds"); ok && !isExprString(v) {
		if seconds, isNumber := number(v); !isNumber || seconds <= 0 {
			ps.add(f.at("monitorIntervalSeconds"), "must be a number of seconds above 0")
		}
	}
	return ps
}
