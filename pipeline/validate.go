package pipeline

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Problem is one thing wrong with a pipeline, located by a path such as
// stages[2].requisiteStageRefIds[0].
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String gives "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ProblemStrings gives each problem as "path: message", for error details and messages.
func ProblemStrings(problems []Problem) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = p.String()
	}
	return out
}

// ValidateOptions supplies what validation cannot know from the pipeline alone.
type ValidateOptions struct {
	// PipelineExists reports whether an application has a pipeline with this id or name, for
	// pipeline stages; nil skips the check.
	PipelineExists func(application, idOrName string) bool
	// KubernetesAccounts are the Kubernetes accounts the worker knows, for stages that deploy;
	// nil skips the check.
	KubernetesAccounts []string
	// NotificationTypes are the notification types this gennaker is configured to send (slack
	// needs a bot token); nil skips the check.
	NotificationTypes []string
	// PubsubSubscriptions are the pubsub subscriptions this gennaker polls, for pubsub triggers;
	// nil skips the check.
	PubsubSubscriptions []string
	// CanaryConfigExists reports whether an application has a canary config of that name, for
	// kayentaCanary stages; nil skips the check.
	CanaryConfigExists func(application, name string) bool
	// MetricsAccounts are the metrics sources canary analyses may read, the first the default;
	// nil skips the check.
	MetricsAccounts []string
}

// StageTypeSpec describes a stage type Validate accepts.
type StageTypeSpec struct {
	Name string
	// Validate checks the type's own settings in stage.Context; path is the stage's path, such as
	// stages[1]. Shared settings (refId, requisites, windows, expressions) are checked by Validate.
	Validate func(stage Stage, path string) []Problem
	// KubernetesAccount marks a type whose "account" names a Kubernetes account, which Validate
	// checks against ValidateOptions.KubernetesAccounts.
	KubernetesAccount bool
}

var stageTypes = struct {
	sync.RWMutex
	specs map[string]StageTypeSpec
}{specs: map[string]StageTypeSpec{}}

// RegisterStageType adds a stage type Validate accepts. It is meant for package initialization and
// panics on an empty or already registered name, as registering twice is a programming mistake.
func RegisterStageType(spec StageTypeSpec) {
	if spec.Name == "" {
		panic("pipeline: RegisterStageType with an empty name")
	}
	stageTypes.Lock()
	defer stageTypes.Unlock()
	if _, dup := stageTypes.specs[spec.Name]; dup {
		panic("pipeline: stage type " + spec.Name + " registered twice")
	}
	stageTypes.specs[spec.Name] = spec
}

// StageTypes lists the stage types Validate accepts, sorted.
func StageTypes() []string {
	stageTypes.RLock()
	defer stageTypes.RUnlock()
	names := make([]string, 0, len(stageTypes.specs))
	for n := range stageTypes.specs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupStageType(name string) (StageTypeSpec, bool) {
	stageTypes.RLock()
	defer stageTypes.RUnlock()
	spec, ok := stageTypes.specs[name]
	return spec, ok
}

// Trigger types a pipeline may configure.
const (
	TriggerManual = "manual"
	TriggerCron   = "cron"
	// TriggerWebhook starts a pipeline when a payload is posted to /webhooks/webhook/{source}.
	TriggerWebhook = "webhook"
	// TriggerGit starts a pipeline when GitHub, GitLab or Bitbucket reports a push.
	TriggerGit = "git"
	// TriggerJenkins starts a pipeline when a CI server reports a finished build to
	// /webhooks/ci/{master}, as Spinnaker's jenkins trigger does.
	TriggerJenkins = "jenkins"
)

// TriggerTypes lists the trigger types Validate accepts, sorted.
var TriggerTypes = []string{TriggerCron, TriggerDocker, TriggerGit, TriggerJenkins, TriggerManual, TriggerPipeline, TriggerPubsub, TriggerWebhook}

// Validate returns every problem with the pipeline, in a fixed order: top-level fields,
// parameters, triggers, then each stage, then dependency cycles.
func Validate(p Pipeline, opts ValidateOptions) []Problem {
	var ps problems
	if strings.TrimSpace(p.Application) == "" {
		ps.add("application", "required")
	}
	switch {
	case strings.TrimSpace(p.Name) == "":
		ps.add("name", "required")
	case strings.Contains(p.Name, "/"):
		ps.add("name", "must not contain /")
	}
	if p.MaxConcurrentExecutions < 0 {
		ps.add("maxConcurrentExecutions", "must not be negative")
	}
	ps = append(ps, validateParameterConfig(p.ParameterConfig)...)
	for i, t := range p.Triggers {
		ps = append(ps, validateTrigger(p, t, joinIndex("triggers", i), opts)...)
	}
	ps = append(ps, validateExpectedArtifacts(p)...)
	ps = append(ps, ValidateNotifications(p.Notifications, "notifications", PipelinePoints, opts.NotificationTypes)...)
	ps = append(ps, validateStages(p.Stages, opts)...)
	ps = append(ps, validateCanaryReferences(p, opts)...)
	return ps
}

// problems collects Problems.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func validateParameterConfig(params []Parameter) []Problem {
	var ps problems
	seen := map[string]bool{}
	for i, param := range params {
		path := joinIndex("parameterConfig", i)
		name := strings.TrimSpace(param.Name)
		switch {
		case name == "":
			ps.add(path+".name", "required")
		case seen[name]:
			ps.add(path+".name", "duplicate parameter %q", name)
		}
		seen[name] = true
		if !param.HasOptions {
			continue
		}
		if len(param.Options) == 0 {
			ps.add(path+".options", "required when hasOptions is set")
			continue
		}
		if !isEmptyValue(param.Default) && !isOption(param.Default, param.Options) {
			ps.add(path+".default", "%q is not one of %s", stringify(param.Default), optionList(param.Options))
		}
	}
	return ps
}

func validateTrigger(p Pipeline, t Trigger, path string, opts ValidateOptions) []Problem {
	var ps problems
	switch t.Type {
	case "":
		ps.add(path+".type", "required")
	case TriggerManual:
	case TriggerCron:
		if strings.TrimSpace(t.CronExpression) == "" {
			ps.add(path+".cronExpression", "required")
		} else if _, err := CronSpec(t.CronExpression, ""); err != nil {
			ps.add(path+".cronExpression", "%v", err)
		}
		if err := checkTimeZone(t.TimeZone); err != nil {
			ps.add(path+".timeZone", "%v", err)
		}
	case TriggerWebhook:
		ps = append(ps, validateWebhookTrigger(t, path)...)
	case TriggerGit:
		ps = append(ps, validateGitTrigger(t, path)...)
	case TriggerJenkins:
		ps = append(ps, validateJenkinsTrigger(t, path)...)
	case TriggerDocker:
		ps = append(ps, validateDockerTrigger(t, path)...)
	case TriggerPubsub:
		ps = append(ps, validatePubsubTrigger(t, path, opts)...)
	case TriggerPipeline:
		ps = append(ps, validatePipelineTrigger(t, path, opts)...)
		if pt := t.PipelineTrigger(); pt.Application == p.Application && pt.Pipeline != "" && (pt.Pipeline == p.Name || pt.Pipeline == p.ID) {
			ps.add(path+".pipeline", "a pipeline cannot be triggered by itself: each end would start it again")
		}
	default:
		ps.add(path+".type", "unknown trigger type %q; supported types: %s", t.Type, strings.Join(TriggerTypes, ", "))
	}
	return ps
}

// checkTimeZone accepts an empty zone (UTC) or one time.LoadLocation knows.
func checkTimeZone(zone string) error {
	if zone == "" {
		return nil
	}
	if _, err := time.LoadLocation(zone); err != nil {
		return fmt.Errorf("unknown time zone %q", zone)
	}
	return nil
}

func validateStages(stages []Stage, opts ValidateOptions) []Problem {
	var ps problems
	firstIndex := map[string]int{}
	for i, s := range stages {
		if _, seen := firstIndex[s.RefID]; !seen && s.RefID != "" {
			firstIndex[s.RefID] = i
		}
	}
	for i, s := range stages {
		path := joinIndex("stages", i)
		ps = append(ps, validateStage(s, i, path, firstIndex, opts)...)
	}
	for _, cycle := range findCycles(stages) {
		ps.add(joinIndex("stages", cycle[0])+".requisiteStageRefIds", "%s", describeCycle(stages, cycle))
	}
	return ps
}

func validateStage(s Stage, index int, path string, firstIndex map[string]int, opts ValidateOptions) []Problem {
	var ps problems
	switch {
	case strings.TrimSpace(s.RefID) == "":
		ps.add(path+".refId", "required")
	case firstIndex[s.RefID] != index:
		ps.add(path+".refId", "duplicate refId %q", s.RefID)
	}
	seen := map[string]bool{}
	for j, ref := range s.RequisiteStageRefIDs {
		refPath := joinIndex(path+".requisiteStageRefIds", j)
		_, known := firstIndex[ref]
		switch {
		case ref == "":
			ps.add(refPath, "required")
		case ref == s.RefID:
			ps.add(refPath, "a stage cannot wait for itself")
		case !known:
			ps.add(refPath, "unknown refId %q", ref)
		case seen[ref]:
			ps.add(refPath, "refId %q is listed twice", ref)
		}
		seen[ref] = true
	}
	if s.StageEnabled != nil {
		ps = append(ps, validateStageEnabled(*s.StageEnabled, path+".stageEnabled")...)
	}
	if s.StageTimeoutMs < 0 {
		ps.add(path+".stageTimeoutMs", "must not be negative")
	}
	if s.RestrictExecutionDuringTimeWindow {
		if s.RestrictedExecutionWindow == nil {
			ps.add(path+".restrictedExecutionWindow", "required when restrictExecutionDuringTimeWindow is set")
		} else {
			ps = append(ps, s.RestrictedExecutionWindow.problems(path+".restrictedExecutionWindow", true)...)
		}
	}
	// Type-specific checks read a JSON-shaped context, whatever Go types the caller built it from.
	if shaped, err := toJSONShape(s.Context); err == nil {
		s.Context, _ = shaped.(map[string]any)
	}
	switch spec, ok := lookupStageType(s.Type); {
	case s.Type == "":
		ps.add(path+".type", "required")
	case !ok:
		ps.add(path+".type", "unknown stage type %q; supported types: %s", s.Type, strings.Join(StageTypes(), ", "))
	case spec.Validate != nil:
		ps = append(ps, spec.Validate(s, path)...)
	}
	checkAccount(s, path, opts.KubernetesAccounts, &ps)
	validateStageNotifications(s, path, opts.NotificationTypes, &ps)
	if s.Type == StagePipeline && opts.PipelineExists != nil {
		app, _ := s.Context["application"].(string)
		target, _ := s.Context["pipeline"].(string)
		if app != "" && target != "" && !hasExpression(app) && !hasExpression(target) && !opts.PipelineExists(app, target) {
			ps.add(path+".pipeline", "no pipeline %q in application %q", target, app)
		}
	}
	if skip, _ := s.Context["skipExpressionEvaluation"].(bool); !skip {
		ctx := make(map[string]any, len(s.Context))
		for k, v := range s.Context {
			// stageEnabled is checked above as a condition, which may be written without ${}.
			if k != "stageEnabled" {
				ctx[k] = v
			}
		}
		ps = append(ps, CheckExpressions(ctx, path)...)
	}
	return ps
}

func validateStageEnabled(se StageEnabled, path string) []Problem {
	var ps problems
	if se.Type != "expression" {
		ps.add(path+".type", "must be \"expression\"")
	}
	if strings.TrimSpace(se.Expression) == "" {
		ps.add(path+".expression", "required")
	} else if err := checkCondition(se.Expression); err != nil {
		ps.add(path+".expression", "invalid expression %q: %v", se.Expression, err)
	}
	return ps
}

// isEmptyValue reports whether a parameter value counts as not given.
func isEmptyValue(v any) bool {
	s, isString := v.(string)
	return v == nil || isString && s == ""
}

// isOption reports whether v is one of the options, compared as strings as Spinnaker does.
func isOption(v any, options []OptionValue) bool {
	text := stringify(v)
	for _, o := range options {
		if stringify(o.Value) == text {
			return true
		}
	}
	return false
}

// optionList renders options as [a b c] for messages.
func optionList(options []OptionValue) string {
	texts := make([]string, len(options))
	for i, o := range options {
		texts[i] = stringify(o.Value)
	}
	return "[" + strings.Join(texts, " ") + "]"
}
