package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Problem is one thing wrong with a pipeline, located by a path such as
// stages[2].requisiteStageRefIds[0].
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	// Warning marks a problem that does not stop a save: something the pipeline names that does
	// not exist yet, such as a child pipeline saved after it.
	Warning bool `json:"warning,omitempty"`
	// Unevaluated marks a problem with a value that still holds a ${...} expression. Validation
	// sets it aside, as the expression decides the value when the stage runs; a stage reading its
	// evaluated settings fails on it, since there the expression could not be evaluated.
	Unevaluated bool `json:"-"`
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

// SplitWarnings separates the problems that refuse a save from the warnings that do not.
func SplitWarnings(all []Problem) (problems, warnings []Problem) {
	for _, p := range all {
		if p.Warning {
			warnings = append(warnings, p)
		} else {
			problems = append(problems, p)
		}
	}
	return problems, warnings
}

// ValidateOptions supplies what validation cannot know from the pipeline alone.
type ValidateOptions struct {
	// PipelineExists reports whether an application has a pipeline with this id or name, for
	// pipeline stages and pipeline triggers; nil skips the check. A missing one is a warning.
	PipelineExists func(application, idOrName string) bool
	// KubernetesAccounts are the Kubernetes accounts the worker knows, for stages that deploy;
	// nil skips the check.
	KubernetesAccounts []string
	// AWSAccounts are the AWS accounts the worker knows, each with its regions, for stages that
	// deploy to AWS; nil skips the check.
	AWSAccounts map[string][]string
	// NotificationTypes are the notification types this gennaker is configured to send (slack
	// needs a bot token); nil skips the check.
	NotificationTypes []string
	// PubsubSubscriptions are the pubsub subscriptions this gennaker polls, for pubsub triggers;
	// nil skips the check.
	PubsubSubscriptions []string
	// CanaryConfigExists reports whether an application has a canary config of that name, for
	// kayentaCanary stages; nil skips the check. A missing one is a warning.
	CanaryConfigExists func(application, name string) bool
	// MetricsAccounts are the metrics sources canary analyses may read, the first the default;
	// nil skips the check.
	MetricsAccounts []string
	// ContainerBakery says whether container bakes have a registry to push to, and their base
	// images; nil skips the check.
	ContainerBakery *ContainerBakeryOptions
	// AWSBakeries describes the bakery of each AWS account that has one; nil skips the check.
	AWSBakeries map[string]AWSBakeryOptions
}

// AWSBakeryOptions describes an AWS account's bakery for validation.
type AWSBakeryOptions struct {
	// BaseImages lists each base image's labels by baseOs; a label "" is any label.
	BaseImages map[string][]string
	// Templates are the provisioning scripts bakes may name.
	Templates []string
}

// ContainerBakeryOptions describes the container bakery for validation.
type ContainerBakeryOptions struct {
	// Configured is false when no registry is configured for container bakes.
	Configured bool
	// BaseImages lists each base image's labels by baseOs; a label "" is any label.
	BaseImages map[string][]string
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
// parameters, triggers, then each stage, then dependency cycles. Problems marked Warning name
// things outside the pipeline that do not exist yet and do not refuse a save (SplitWarnings).
func Validate(p Pipeline, opts ValidateOptions) []Problem {
	all := validate(p, opts)
	out := all[:0:0]
	for _, pr := range all {
		if !pr.Unevaluated {
			out = append(out, pr)
		}
	}
	return out
}

func validate(p Pipeline, opts ValidateOptions) []Problem {
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
	if id := p.ID; id != "" && (len(id) > 200 || strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0) {
		ps.add("id", "must be at most 200 characters without spaces or control characters")
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
	ps = append(ps, validateStages(p, opts)...)
	return ps
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

func validateStages(p Pipeline, opts ValidateOptions) []Problem {
	var ps problems
	stages := p.Stages
	firstIndex := map[string]int{}
	for i, s := range stages {
		if _, seen := firstIndex[s.RefID]; !seen && s.RefID != "" {
			firstIndex[s.RefID] = i
		}
	}
	arts := newArtifactScope(p)
	for i, s := range stages {
		path := joinIndex("stages", i)
		ps = append(ps, validateStage(p, s, i, path, firstIndex, arts, opts)...)
	}
	for _, cycle := range findCycles(stages) {
		ps.add(joinIndex("stages", cycle[0])+".requisiteStageRefIds", "%s", describeCycle(stages, cycle))
	}
	return ps
}

func validateStage(p Pipeline, s Stage, index int, path string, firstIndex map[string]int, arts artifactScope, opts ValidateOptions) []Problem {
	var ps problems
	switch {
	case strings.TrimSpace(s.RefID) == "":
		// Orca runs every stage without requisites at once, so a pipeline whose stages have no
		// refIds would run them all in parallel, which is never what a list of steps meant.
		ps.add(path+".refId", "required: stages are ordered by refId and requisiteStageRefIds (a stage without them would run at once, beside every other)")
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
	t, why := stageTypeOf(s.Type, s.Context)
	switch {
	case s.Type == "":
		ps.add(path+".type", "required")
	case t == nil && why == "":
		ps.add(path+".type", "unknown stage type %q; supported types: %s", s.Type, strings.Join(StageTypes(), ", "))
	case t == nil:
		ps.add(path+".cloudProvider", "%s", why)
	default:
		settings, problems := t.read(s.Context, path)
		ps = append(ps, problems...)
		if r, ok := settings.(Referrer); ok {
			for _, ref := range r.References(path) {
				checkReference(ref, p, index, arts, opts, &ps)
			}
		}
	}
	ps = append(ps, arts.checkProduced(s, path)...)
	validateStageNotifications(s, path, opts.NotificationTypes, &ps)
	if !s.SkipsExpressionEvaluation() {
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

// checkReference checks one thing a stage names outside itself against what gennaker knows.
// Accounts and metrics sources are configuration: an unknown one refuses the save. Pipelines and
// canary configs are saved like this pipeline, in any order: a missing one is a warning.
func checkReference(ref Reference, p Pipeline, stage int, arts artifactScope, opts ValidateOptions, ps *problems) {
	if (ref.Name == "" && ref.Kind != RefContainerBakery && ref.Kind != RefAWSBakery) || hasExpression(ref.Name) || hasExpression(ref.Application) {
		return
	}
	app := ref.Application
	if app == "" {
		app = p.Application
	}
	switch ref.Kind {
	case RefAccount:
		known, checked := opts.accounts(ref.Provider)
		switch {
		case !checked || slices.Contains(known, ref.Name):
		case len(known) == 0:
			ps.add(ref.Path, "unknown account %q: no %s accounts are configured", ref.Name, providerTitle(ref.Provider))
		default:
			ps.add(ref.Path, "unknown account %q; known %s accounts: %s", ref.Name, providerTitle(ref.Provider), strings.Join(known, ", "))
		}
	case RefRegion:
		regions, known := opts.AWSAccounts[ref.Account]
		if ref.Provider == CloudAWS && known && !slices.Contains(regions, ref.Name) {
			ps.add(ref.Path, "account %q has no region %q; its regions: %s", ref.Account, ref.Name, strings.Join(regions, ", "))
		}
	case RefMetricsAccount:
		switch {
		case opts.MetricsAccounts == nil:
		case len(opts.MetricsAccounts) == 0:
			ps.add(ref.Path, "no metrics source is configured for canary analysis; start gennaker with --prometheus-url")
		case ref.Name != DefaultMetricsAccount && !slices.Contains(opts.MetricsAccounts, ref.Name):
			ps.add(ref.Path, "unknown metrics account %q; configured: %s", ref.Name, strings.Join(opts.MetricsAccounts, ", "))
		}
	case RefPipeline:
		if opts.PipelineExists != nil && !opts.PipelineExists(app, ref.Name) {
			ps.warn(ref.Path, "no pipeline %q in application %q yet: save it too, or the stage fails when it runs", ref.Name, app)
		}
	case RefCanaryConfig:
		if opts.CanaryConfigExists != nil && !opts.CanaryConfigExists(app, ref.Name) {
			ps.warn(ref.Path, "application %q has no canary config %q yet: save it (PUT /api/v1/applications/%s/canaryConfigs/%s), or the stage fails when it runs",
				app, ref.Name, app, ref.Name)
		}
	case RefContainerBakery:
		checkContainerBakery(ref, opts.ContainerBakery, ps)
	case RefAWSBakery, RefAWSBakeTemplate:
		checkAWSBakery(ref, opts.AWSBakeries, ps)
	case RefExpectedArtifact:
		arts.checkUse(ref, stage, ps)
	}
}

// accounts are the accounts of a cloud provider that stages may name, and whether they are known.
func (o ValidateOptions) accounts(provider string) ([]string, bool) {
	switch provider {
	case CloudKubernetes:
		return o.KubernetesAccounts, o.KubernetesAccounts != nil
	case CloudAWS:
		return slices.Sorted(maps.Keys(o.AWSAccounts)), o.AWSAccounts != nil
	}
	return nil, false
}

// providerTitle names a cloud provider in messages.
func providerTitle(provider string) string {
	switch provider {
	case CloudKubernetes:
		return "Kubernetes"
	case CloudAWS:
		return "AWS"
	}
	return provider
}

func validateStageEnabled(se StageEnabled, path string) []Problem {
	var ps problems
	if se.Type != "expression" {
		ps.add(path+".type", "must be \"expression\"")
	}
	// Without an expression the stage runs, as in Spinnaker, where Deck leaves one of type
	// expression and nothing else when the condition is turned off.
	if strings.TrimSpace(se.Expression) == "" {
		return ps
	}
	if err := checkCondition(se.Expression); err != nil {
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

// checkContainerBakery checks a container bake against the bakery configured.
func checkContainerBakery(ref Reference, b *ContainerBakeryOptions, ps *problems) {
	switch {
	case b == nil, hasExpression(ref.Name), hasExpression(ref.Label):
		return
	case !b.Configured:
		ps.add(ref.Path, "no registry is configured for container bakes: add bakery.docker (registry, baseImages) to the accounts file")
		return
	case ref.Name == "":
		return
	}
	labels, ok := b.BaseImages[ref.Name]
	if !ok {
		known := slices.Sorted(maps.Keys(b.BaseImages))
		if len(known) == 0 {
			ps.add(ref.Path, "no base image %q: the container bakery has none configured; name an image with baseAmi", ref.Name)
			return
		}
		ps.add(ref.Path, "no base image %q; the container bakery has %s", ref.Name, strings.Join(known, ", "))
		return
	}
	if ref.Label != "" && !slices.Contains(labels, ref.Label) && !slices.Contains(labels, "") {
		ps.add(ref.Path, "base image %q has no label %q; its labels: %s", ref.Name, ref.Label, strings.Join(labels, ", "))
	}
}

// checkAWSBakery checks a machine image bake against its account's bakery.
func checkAWSBakery(ref Reference, bakeries map[string]AWSBakeryOptions, ps *problems) {
	if bakeries == nil || hasExpression(ref.Account) || hasExpression(ref.Label) {
		return
	}
	if ref.Account == "" {
		names := slices.Sorted(maps.Keys(bakeries))
		switch {
		case ref.Kind != RefAWSBakery:
		case len(names) == 0:
			ps.add(ref.Path, "no AWS account has a bakery configured: add bakery (baseImages, templates) to an AWS account in the accounts file")
			return
		case len(names) > 1:
			ps.add(joinKey(strings.TrimSuffix(ref.Path, ".baseOs"), "account"), "required: the AWS account to bake in; these have a bakery: %s", strings.Join(names, ", "))
			return
		}
		if len(names) != 1 {
			return
		}
		ref.Account = names[0]
	}
	b, ok := bakeries[ref.Account]
	switch {
	case !ok && ref.Kind == RefAWSBakery:
		ps.add(ref.Path, "AWS account %q has no bakery configured: add bakery (baseImages, templates) to the account in the accounts file", ref.Account)
		return
	case !ok:
		return
	case ref.Kind == RefAWSBakeTemplate:
		if !slices.Contains(b.Templates, ref.Name) {
			ps.add(ref.Path, "the bakery of AWS account %q has no template %q; it has %s", ref.Account, ref.Name, strings.Join(b.Templates, ", "))
		}
		return
	case ref.Name == "":
		return
	}
	labels, ok := b.BaseImages[ref.Name]
	if !ok {
		ps.add(ref.Path, "the bakery of AWS account %q has no base image %q; it has %s", ref.Account, ref.Name, strings.Join(slices.Sorted(maps.Keys(b.BaseImages)), ", "))
		return
	}
	if ref.Label != "" && !slices.Contains(labels, ref.Label) && !slices.Contains(labels, "") {
		ps.add(ref.Path, "base image %q of AWS account %q has no label %q; its labels: %s", ref.Name, ref.Account, ref.Label, strings.Join(labels, ", "))
	}
}
