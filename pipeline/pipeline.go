// Package pipeline holds gennaker's pipeline configuration and execution model in Spinnaker's shape,
// with validation, the stage graph and expression evaluation. It knows nothing of Temporal, clouds or HTTP.
package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"
)

// Pipeline is a pipeline configuration as Spinnaker writes it. Fields gennaker does not know are kept in
// Extra and written back unchanged, so a config carried over from Spinnaker loses nothing.
type Pipeline struct {
	Application             string         `json:"application"`
	Name                    string         `json:"name"`
	ID                      string         `json:"id,omitempty"`
	Description             string         `json:"description,omitempty"`
	Disabled                bool           `json:"disabled,omitempty"`
	LimitConcurrent         bool           `json:"limitConcurrent,omitempty"`
	MaxConcurrentExecutions int            `json:"maxConcurrentExecutions,omitempty"`
	KeepWaitingPipelines    bool           `json:"keepWaitingPipelines,omitempty"`
	Stages                  []Stage        `json:"stages"`
	Triggers                []Trigger      `json:"triggers,omitempty"`
	ParameterConfig         []Parameter    `json:"parameterConfig,omitempty"`
	Notifications           []Notification `json:"notifications,omitempty"`

	// Extra holds every top-level field not named above, exactly as it was written.
	Extra map[string]json.RawMessage `json:"-"`
	// written is every top-level field as it was read, so that a field the typed ones hold at its
	// zero value ("keepWaitingPipelines": false, "triggers": []) is written back as it came.
	written map[string]json.RawMessage
}

// Stage is one stage of a pipeline. The typed fields are the ones every stage type shares; Context
// holds the whole stage object as written (typed fields included), which is where type-specific
// settings such as waitTime or url are read from.
type Stage struct {
	RefID                             string           `json:"refId"`
	RequisiteStageRefIDs              []string         `json:"requisiteStageRefIds,omitempty"`
	Type                              string           `json:"type"`
	Name                              string           `json:"name,omitempty"`
	StageEnabled                      *StageEnabled    `json:"stageEnabled,omitempty"`
	FailPipeline                      *bool            `json:"failPipeline,omitempty"`
	ContinuePipeline                  bool             `json:"continuePipeline,omitempty"`
	CompleteOtherBranchesThenFail     bool             `json:"completeOtherBranchesThenFail,omitempty"`
	FailOnFailedExpressions           bool             `json:"failOnFailedExpressions,omitempty"`
	StageTimeoutMs                    int64            `json:"stageTimeoutMs,omitempty"`
	RestrictExecutionDuringTimeWindow bool             `json:"restrictExecutionDuringTimeWindow,omitempty"`
	RestrictedExecutionWindow         *ExecutionWindow `json:"restrictedExecutionWindow,omitempty"`

	// Context is the full stage object as written, including fields of its stage type.
	Context map[string]any `json:"-"`
}

// StageEnabled is Spinnaker's conditional-stage setting: the stage runs only when Expression is true.
type StageEnabled struct {
	Type       string `json:"type"`
	Expression string `json:"expression"`
}

// ExecutionWindow restricts when a stage may start: on the listed days, inside one of the time ranges.
type ExecutionWindow struct {
	Whitelist []TimeRange `json:"whitelist,omitempty"`
	// Days are 1 (Sunday) to 7 (Saturday), as in Spinnaker; empty means every day.
	Days []int `json:"days,omitempty"`
	// TimeZone is an IANA name such as Europe/Paris; empty means UTC.
	TimeZone string `json:"timeZone,omitempty"`
}

// TimeRange is a daily window from start to end, local to the window's time zone. An end before the
// start wraps past midnight.
type TimeRange struct {
	StartHour int `json:"startHour"`
	StartMin  int `json:"startMin"`
	EndHour   int `json:"endHour"`
	EndMin    int `json:"endMin"`
}

// Trigger is a configured way a pipeline starts itself. Type-specific fields live in Context.
type Trigger struct {
	Type           string `json:"type"`
	ID             string `json:"id,omitempty"`
	Enabled        *bool  `json:"enabled,omitempty"`
	CronExpression string `json:"cronExpression,omitempty"`
	TimeZone       string `json:"timeZone,omitempty"`

	// Context is the full trigger object as written.
	Context map[string]any `json:"-"`
}

// IsEnabled reports whether the trigger is on; Spinnaker treats a missing flag as enabled.
func (t Trigger) IsEnabled() bool { return t.Enabled == nil || *t.Enabled }

// Parameter declares a pipeline parameter, its default and the values it may take.
type Parameter struct {
	Name        string         `json:"name"`
	Label       string         `json:"label,omitempty"`
	Description string         `json:"description,omitempty"`
	Default     any            `json:"default,omitempty"`
	Required    bool           `json:"required,omitempty"`
	HasOptions  bool           `json:"hasOptions,omitempty"`
	Options     []OptionValue  `json:"options,omitempty"`
	Pinned      bool           `json:"pinned,omitempty"`
	Extra       map[string]any `json:"-"`
	written     map[string]json.RawMessage
}

// OptionValue is one allowed value of a parameter.
type OptionValue struct {
	Value any `json:"value"`
}

// Notification is a notification setting, kept as written; notifiers read what they need from it.
type Notification map[string]any

// Decode reads a pipeline from JSON or YAML.
func Decode(data []byte) (Pipeline, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] != '{' {
		converted, err := yaml.YAMLToJSON(data)
		if err != nil {
			return Pipeline{}, fmt.Errorf("reading YAML: %w", err)
		}
		data = converted
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		// An empty document would decode as a pipeline with nothing in it; say so instead.
		return Pipeline{}, fmt.Errorf("the document is empty: a pipeline is a JSON or YAML object")
	}
	var p Pipeline
	if err := json.Unmarshal(data, &p); err != nil {
		return Pipeline{}, describeJSONError(err)
	}
	return p, nil
}

// describeJSONError turns encoding/json's errors into a message that names the field.
func describeJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		typeErr = e
		field := typeErr.Field
		if field == "" {
			field = "(document)"
		}
		return fmt.Errorf("%s: expected %s, got %s", field, typeErr.Type, typeErr.Value)
	}
	return err
}

// pipelineFields are the top-level keys the typed Pipeline owns.
var pipelineFields = jsonFieldNames(Pipeline{})

// UnmarshalJSON keeps every unknown top-level field in Extra.
func (p *Pipeline) UnmarshalJSON(data []byte) error {
	type plain Pipeline
	var typed plain
	if err := json.Unmarshal(data, &typed); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	*p = Pipeline(typed)
	p.written = all
	p.Extra = nil
	for k, v := range all {
		if !pipelineFields[k] {
			if p.Extra == nil {
				p.Extra = map[string]json.RawMessage{}
			}
			p.Extra[k] = v
		}
	}
	return nil
}

// MarshalJSON writes the pipeline as it was read, with the typed fields' changes: each typed field
// that still reads as it was written keeps its written form, and every unknown field is kept.
func (p Pipeline) MarshalJSON() ([]byte, error) {
	type plain Pipeline
	if p.Stages == nil {
		p.Stages = []Stage{}
	}
	fields := make(map[string]json.RawMessage, len(p.written)+len(p.Extra))
	for k, v := range p.written {
		if pipelineFields[k] {
			fields[k] = v
		}
	}
	for k, v := range p.Extra {
		fields[k] = v
	}
	return marshalPreserving(plain(p), fields)
}

// UnmarshalJSON reads the shared fields and keeps the whole object in Context.
func (s *Stage) UnmarshalJSON(data []byte) error {
	type plain Stage
	var typed plain
	ctx, err := decodeWithContext(data, &typed)
	if err != nil {
		return err
	}
	*s = Stage(typed)
	s.Context = ctx
	return nil
}

// MarshalJSON writes Context with the typed fields laid over it; a typed field that still reads as
// Context has it keeps Context's form.
func (s Stage) MarshalJSON() ([]byte, error) {
	type plain Stage
	return overlayJSON(plain(s), s.Context)
}

// DisplayName is the stage's name, or its type and refId when it has none.
func (s Stage) DisplayName() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Type + " " + s.RefID
}

// SkipsExpressionEvaluation reports whether the stage's settings are used as written, ${...}
// included (skipExpressionEvaluation, true or "true").
func (s Stage) SkipsExpressionEvaluation() bool {
	skip, _ := readBool(s.Context["skipExpressionEvaluation"])
	return skip
}

// FailsPipeline reports whether a failure of this stage should halt the whole pipeline; Spinnaker's
// default is true.
func (s Stage) FailsPipeline() bool { return s.FailPipeline == nil || *s.FailPipeline }

// UnmarshalJSON reads the shared fields and keeps the whole object in Context.
func (t *Trigger) UnmarshalJSON(data []byte) error {
	type plain Trigger
	var typed plain
	ctx, err := decodeWithContext(data, &typed)
	if err != nil {
		return err
	}
	*t = Trigger(typed)
	t.Context = ctx
	return nil
}

// MarshalJSON writes Context with the typed fields laid over it.
func (t Trigger) MarshalJSON() ([]byte, error) {
	type plain Trigger
	return overlayJSON(plain(t), t.Context)
}

var parameterFields = jsonFieldNames(Parameter{})

// UnmarshalJSON keeps unknown parameter fields.
func (p *Parameter) UnmarshalJSON(data []byte) error {
	type plain Parameter
	var typed plain
	if err := json.Unmarshal(data, &typed); err != nil {
		return err
	}
	var all map[string]any
	if err := unmarshalNumbers(data, &all); err != nil {
		return err
	}
	var written map[string]json.RawMessage
	if err := json.Unmarshal(data, &written); err != nil {
		return err
	}
	for k := range parameterFields {
		delete(all, k)
	}
	*p = Parameter(typed)
	p.written = written
	if len(all) > 0 {
		p.Extra = all
	} else {
		p.Extra = nil
	}
	return nil
}

// MarshalJSON writes the typed fields and the kept unknown ones; a typed field that still reads as
// it was written keeps its written form.
func (p Parameter) MarshalJSON() ([]byte, error) {
	type plain Parameter
	fields := make(map[string]json.RawMessage, len(p.written)+len(p.Extra))
	for k, v := range p.written {
		if parameterFields[k] {
			fields[k] = v
		}
	}
	for k, v := range p.Extra {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		fields[k] = raw
	}
	return marshalPreserving(plain(p), fields)
}

// decodeWithContext fills typed from data and also returns the whole object as a JSON-shaped map.
func decodeWithContext(data []byte, typed any) (map[string]any, error) {
	if err := json.Unmarshal(data, typed); err != nil {
		return nil, err
	}
	var ctx map[string]any
	if err := unmarshalNumbers(data, &ctx); err != nil {
		return nil, err
	}
	return ctx, nil
}

// unmarshalNumbers decodes JSON keeping numbers as float64 but integers exact where they fit, so a
// round trip does not turn 30 into 30.0 or lose large IDs.
func unmarshalNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	normalizeNumbers(v)
	return nil
}

// normalizeNumbers replaces json.Number values in place with int64 or float64.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case *map[string]any:
		normalizeNumbers(*x)
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// overlayJSON marshals context with the typed fields laid over it (see marshalPreserving).
func overlayJSON(typed any, context map[string]any) ([]byte, error) {
	fields := make(map[string]json.RawMessage, len(context))
	for k, v := range context {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		fields[k] = raw
	}
	return marshalPreserving(typed, fields)
}

// marshalPreserving writes a struct's tagged fields over the fields as written: a typed field
// whose written form still reads as its value keeps that form, so a zero value written on
// purpose ("triggers": [], "limitConcurrent": false) comes back as it was sent; a field changed
// since is written anew (left out when it is empty and tagged omitempty); every written field the
// struct does not name is kept.
func marshalPreserving(typed any, written map[string]json.RawMessage) ([]byte, error) {
	out := make(map[string]json.RawMessage, len(written))
	for k, v := range written {
		out[k] = v
	}
	rv := reflect.ValueOf(typed)
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		value := rv.Field(i)
		if raw, ok := written[name]; ok {
			again := reflect.New(f.Type)
			if json.Unmarshal(raw, again.Interface()) == nil && reflect.DeepEqual(again.Elem().Interface(), value.Interface()) {
				continue
			}
		}
		if strings.Contains(opts, "omitempty") && value.IsZero() || strings.Contains(opts, "omitempty") && isEmptyCollection(value) {
			delete(out, name)
			continue
		}
		raw, err := json.Marshal(value.Interface())
		if err != nil {
			return nil, err
		}
		out[name] = raw
	}
	return json.Marshal(out)
}

// isEmptyCollection reports whether a value is a slice or map with nothing in it, which
// encoding/json's omitempty leaves out.
func isEmptyCollection(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return false
}

// jsonFieldNames lists the JSON names of a struct's tagged fields.
func jsonFieldNames(v any) map[string]bool {
	names := map[string]bool{}
	for _, f := range structJSONTags(v) {
		names[f] = true
	}
	return names
}

// structJSONTags returns the names in a struct's json tags, skipping "-".
func structJSONTags(v any) []string {
	var names []string
	t := reflect.TypeOf(v)
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}
