package pipeline

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ohler55/ojg/jp"
)

// The stage types gennaker runs on no cloud, with Spinnaker's names.
const (
	StageWait               = "wait"
	StageManualJudgment     = "manualJudgment"
	StageCheckPreconditions = "checkPreconditions"
	StageEvaluateVariables  = "evaluateVariables"
	StagePipeline           = "pipeline"
	StageWebhook            = "webhook"
)

// WaitStageType waits on a durable timer.
var WaitStageType = RegisterStageType(StageType[WaitStage]{Name: StageWait, Read: ReadWaitStage})

// WaitStage is a wait stage's settings.
type WaitStage struct {
	// Wait is waitTime, in seconds as written. Spinnaker waits not at all when it is absent or not
	// above zero, and so does gennaker.
	Wait time.Duration
}

// ReadWaitStage reads a wait stage: waitTime is a number of seconds, or text holding one. Absent,
// empty, zero or negative, it waits not at all, as Spinnaker does.
func ReadWaitStage(settings map[string]any, path string) (WaitStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	v, ok := f.get("waitTime")
	if text, isString := v.(string); !ok || isString && strings.TrimSpace(text) == "" {
		return WaitStage{}, ps
	}
	seconds, isNumber := readNumber(v)
	if !isNumber {
		f.bad(f.at("waitTime"), v, "must be a number of seconds, got %s", stringify(v))
	}
	return WaitStage{Wait: secondsDuration(seconds)}, ps
}

// maxStageSeconds caps durations written in seconds, so that Java's "no limit" values do not
// overflow a time.Duration.
const maxStageSeconds = float64(100 * 365 * 24 * 3600)

// ManualJudgmentStageType waits for a person's decision.
var ManualJudgmentStageType = RegisterStageType(StageType[ManualJudgmentStage]{Name: StageManualJudgment, Read: ReadManualJudgmentStage})

// ManualJudgmentStage is a manualJudgment stage's settings.
type ManualJudgmentStage struct {
	Instructions string
	// Inputs are the values of judgmentInputs, the choices a person is offered.
	Inputs []string
	// Roles are selectedStageRoles: who may decide; empty means anyone.
	Roles []string
}

// ReadManualJudgmentStage reads a manualJudgment stage.
func ReadManualJudgmentStage(settings map[string]any, path string) (ManualJudgmentStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := ManualJudgmentStage{Instructions: f.str("instructions")}
	f.eachObject("judgmentInputs", false, func(_ int, input fields) {
		if v := input.requiredString("value"); v != "" {
			s.Inputs = append(s.Inputs, v)
		}
	})
	s.Roles = f.stringList("selectedStageRoles")
	return s, ps
}

// EvaluateVariablesStageType makes each of its variables an output.
var EvaluateVariablesStageType = RegisterStageType(StageType[EvaluateVariablesStage]{Name: StageEvaluateVariables, Read: ReadEvaluateVariablesStage})

// EvaluateVariablesStage is an evaluateVariables stage's settings.
type EvaluateVariablesStage struct {
	Variables []Variable
}

// Variable is one of an evaluateVariables stage's variables: a name and its value, evaluated.
type Variable struct {
	Key   string
	Value any
}

// ReadEvaluateVariablesStage reads an evaluateVariables stage.
func ReadEvaluateVariablesStage(settings map[string]any, path string) (EvaluateVariablesStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	var s EvaluateVariablesStage
	seen := map[string]bool{}
	f.eachObject("variables", true, func(_ int, variable fields) {
		key := variable.requiredString("key")
		switch {
		case key == "":
			return
		case seen[key]:
			ps.add(variable.at("key"), "duplicate key %q", key)
		case reservedName(key):
			ps.add(variable.at("key"), "%q is a name expressions already use", key)
		}
		seen[key] = true
		s.Variables = append(s.Variables, Variable{Key: key, Value: variable.ctx["value"]})
	})
	return s, ps
}

// PipelineStageType runs another saved pipeline.
var PipelineStageType = RegisterStageType(StageType[PipelineStage]{Name: StagePipeline, Read: ReadPipelineStage})

// PipelineStage is a pipeline stage's settings: the pipeline to run and its parameters.
type PipelineStage struct {
	Application string
	// Pipeline is the pipeline's id or name.
	Pipeline   string
	Parameters map[string]any
	// WaitForCompletion is true unless written false: the stage ends when the child does.
	WaitForCompletion bool
}

// ReadPipelineStage reads a pipeline stage.
func ReadPipelineStage(settings map[string]any, path string) (PipelineStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := PipelineStage{Application: f.requiredString("application"), Pipeline: f.requiredString("pipeline")}
	s.Parameters, _ = f.optionalObject("pipelineParameters")
	s.WaitForCompletion = f.boolean("waitForCompletion", true)
	return s, ps
}

// References names the pipeline the stage runs.
func (s PipelineStage) References(path string) []Reference {
	return []Reference{{Path: joinKey(path, "pipeline"), Kind: RefPipeline, Application: s.Application, Name: s.Pipeline}}
}

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

// WebhookStageType calls an HTTP endpoint and, optionally, polls its status until it is done.
var WebhookStageType = RegisterStageType(StageType[WebhookStage]{Name: StageWebhook, Read: ReadWebhookStage})

// WebhookStage is a webhook stage's settings: the request, and how to monitor the remote work
// when the stage waits for it.
type WebhookStage struct {
	Request WebhookRequest
	// Monitor is set when waitForCompletion is true.
	Monitor *WebhookMonitor
}

// WebhookRequest is the request a webhook stage sends.
type WebhookRequest struct {
	// URL is the endpoint to call, absolute http or https.
	URL string `json:"url"`
	// Method is one of WebhookMethods; POST when the stage has a payload and names none, else GET.
	Method string `json:"method,omitempty"`
	// Headers are the stage's customHeaders, sent as given.
	Headers map[string][]string `json:"headers,omitempty"`
	// Payload is sent as a JSON body when not nil.
	Payload any `json:"payload,omitempty"`
	// ExpectedStatusCodes are the successful statuses; empty means any 2xx.
	ExpectedStatusCodes []int `json:"expectedStatusCodes,omitempty"`
	// FailFastStatusCodes fail the call at once, without retry.
	FailFastStatusCodes []int `json:"failFastStatusCodes,omitempty"`
	// RetryStatusCodes are retried in addition to 429 and 5xx.
	RetryStatusCodes []int `json:"retryStatusCodes,omitempty"`
	// StatusURLResolution is one of the StatusURL constants, or empty when the stage does not wait for completion.
	StatusURLResolution string `json:"statusUrlResolution,omitempty"`
	// StatusURLJSONPath finds the status URL in the response body for StatusURLWebhookResponse.
	StatusURLJSONPath string `json:"statusUrlJsonPath,omitempty"`
}

// WebhookMonitor says how a webhook stage that waits for completion reads the remote work's status.
type WebhookMonitor struct {
	// StatusJSONPath finds the job's status in the status response, e.g. $.status.
	StatusJSONPath string `json:"statusJsonPath"`
	// ProgressJSONPath optionally finds a progress message in the status response.
	ProgressJSONPath string `json:"progressJsonPath,omitempty"`
	// SuccessStatuses, CanceledStatuses and TerminalStatuses end monitoring; compared case-insensitively.
	SuccessStatuses  []string `json:"successStatuses"`
	CanceledStatuses []string `json:"canceledStatuses,omitempty"`
	TerminalStatuses []string `json:"terminalStatuses,omitempty"`
	// Interval is the time between polls; zero means DefaultWebhookMonitorInterval.
	Interval time.Duration `json:"interval,omitempty"`
	// WaitBefore is the time to wait before the first poll.
	WaitBefore time.Duration `json:"waitBefore,omitempty"`
}

// ReadWebhookStage reads a webhook stage with Spinnaker's field names. Status lists may be written
// as comma-separated text, as Deck does, or as lists; status codes as numbers or text.
func ReadWebhookStage(settings map[string]any, path string) (WebhookStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	req := WebhookRequest{URL: strings.TrimSpace(f.requiredString("url")), Payload: settings["payload"]}
	if u, err := url.Parse(req.URL); req.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		f.bad(f.at("url"), req.URL, "must be an absolute http or https URL")
	}
	req.Method = strings.ToUpper(f.trimmed("method"))
	switch {
	case req.Method == "" && req.Payload != nil:
		req.Method = "POST"
	case req.Method == "":
		req.Method = "GET"
	case !slices.Contains(WebhookMethods, req.Method):
		f.bad(f.at("method"), req.Method, "must be one of %s", strings.Join(WebhookMethods, ", "))
	}
	req.Headers = readHeaders(f, "customHeaders")
	req.ExpectedStatusCodes = f.statusCodes("expectedStatusCodes")
	req.FailFastStatusCodes = f.statusCodes("failFastStatusCodes")
	req.RetryStatusCodes = f.statusCodes("retryStatusCodes")
	s := WebhookStage{Request: req}
	if !f.boolean("waitForCompletion", false) {
		return s, ps
	}
	s.Request.StatusURLResolution = f.oneOf("statusUrlResolution", StatusURLGetMethod,
		StatusURLGetMethod, StatusURLLocationHeader, StatusURLWebhookResponse)
	if s.Request.StatusURLResolution == StatusURLWebhookResponse {
		s.Request.StatusURLJSONPath = jsonPath(f, "statusUrlJsonPath", true)
	}
	mon := &WebhookMonitor{
		StatusJSONPath:   jsonPath(f, "statusJsonPath", true),
		ProgressJSONPath: jsonPath(f, "progressJsonPath", false),
		SuccessStatuses:  f.stringsOrCommaList("successStatuses"),
		CanceledStatuses: f.stringsOrCommaList("canceledStatuses"),
		TerminalStatuses: f.stringsOrCommaList("terminalStatuses"),
		Interval:         DefaultWebhookMonitorInterval,
	}
	if len(mon.SuccessStatuses) == 0 && !f.has("successStatuses") {
		// Without a success status the stage could only time out, which is never what was meant.
		ps.add(f.at("successStatuses"), "required")
	}
	if seconds, ok := f.float("monitorIntervalSeconds"); ok {
		if seconds <= 0 {
			f.bad(f.at("monitorIntervalSeconds"), f.ctx["monitorIntervalSeconds"], "must be a number of seconds above 0")
		} else {
			mon.Interval = secondsDuration(seconds)
		}
	}
	if seconds, ok := f.float("waitBeforeMonitorSeconds"); ok {
		mon.WaitBefore = secondsDuration(seconds)
	}
	s.Monitor = mon
	return s, ps
}

// jsonPath reads a JSONPath setting, such as $.status, and checks that it parses.
func jsonPath(f fields, key string, required bool) string {
	var path string
	if required {
		path = f.requiredString(key)
	} else {
		path = f.trimmed(key)
	}
	if path != "" {
		if _, err := jp.ParseString(path); err != nil {
			f.bad(f.at(key), path, "%q is not a JSONPath: %v", path, err)
		}
	}
	return path
}

// readHeaders reads customHeaders: an object whose values are a string or a list of strings.
func readHeaders(f fields, key string) map[string][]string {
	headers, ok := f.optionalObject(key)
	if !ok {
		return nil
	}
	h := f.sub(key, headers)
	out := map[string][]string{}
	for _, name := range sortedKeys(headers) {
		switch v := headers[name].(type) {
		case nil:
		case []any:
			out[name] = h.stringList(name)
		default:
			if s, isText := text(v); isText {
				out[name] = []string{s}
			} else {
				h.bad(h.at(name), v, "must be a string or a list of strings")
			}
		}
	}
	return out
}

// secondsDuration turns a number of seconds into a duration, capped as stage durations are.
func secondsDuration(seconds float64) time.Duration {
	if seconds <= 0 || math.IsNaN(seconds) {
		return 0
	}
	return time.Duration(min(seconds, maxStageSeconds) * float64(time.Second))
}

// StageFindArtifactFromExecution binds artifacts of another pipeline's (or this one's) latest
// execution, with Spinnaker's name.
const StageFindArtifactFromExecution = "findArtifactFromExecution"

// FindArtifactFromExecutionStageType finds artifacts in the latest execution of a pipeline.
var FindArtifactFromExecutionStageType = RegisterStageType(StageType[FindArtifactFromExecutionStage]{
	Name: StageFindArtifactFromExecution, Read: ReadFindArtifactFromExecutionStage})

// FindArtifactFromExecutionStage is a findArtifactFromExecution stage's settings.
type FindArtifactFromExecutionStage struct {
	// Application is the pipeline's application; empty means this pipeline's.
	Application string
	// Pipeline is the pipeline's id (as Deck writes it) or name.
	Pipeline string
	// Statuses are those of executionOptions: SUCCEEDED (successful), TERMINAL, RUNNING; none means any.
	Statuses []string
	// Expected are the artifacts to find, each bound to the first of the execution's artifacts it
	// matches; later stages use them by id.
	Expected []ExpectedArtifact
}

// ReadFindArtifactFromExecutionStage reads a findArtifactFromExecution stage.
func ReadFindArtifactFromExecutionStage(settings map[string]any, path string) (FindArtifactFromExecutionStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := FindArtifactFromExecutionStage{Application: f.trimmed("application"), Pipeline: f.requiredString("pipeline")}
	if opts, ok := f.optionalObject("executionOptions"); ok {
		o := f.sub("executionOptions", opts)
		// Deck writes successful; Orca long read succeeded, and still takes both.
		if o.boolean("successful", false) || o.boolean("succeeded", false) {
			s.Statuses = append(s.Statuses, string(StatusSucceeded))
		}
		if o.boolean("terminal", false) {
			s.Statuses = append(s.Statuses, string(StatusTerminal))
		}
		if o.boolean("running", false) {
			s.Statuses = append(s.Statuses, string(StatusRunning))
		}
	}
	expected, err := Stage{Context: settings}.ProducedArtifacts()
	switch {
	case err != nil:
		// Reported with the stage's expectedArtifacts.
	case len(expected) == 0:
		ps.add(f.at("expectedArtifacts"), "required: the artifacts to find, as [{\"id\": \"config\", \"matchArtifact\": {\"type\": \"kubernetes/configMap\", \"name\": \"web-config\"}}]")
	default:
		s.Expected = expected
	}
	return s, ps
}

// References names the pipeline whose executions the stage reads.
func (s FindArtifactFromExecutionStage) References(path string) []Reference {
	return []Reference{{Path: joinKey(path, "pipeline"), Kind: RefPipeline, Application: s.Application, Name: s.Pipeline}}
}
