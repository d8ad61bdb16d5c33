package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm/runtime"
)

// Names of the functions member reads and Java-style method calls are rewritten into. The $ keeps
// them apart from anything a pipeline could name.
const (
	fetchFunc          = "$fetch"
	methodFunc         = "$method"
	optionalMethodFunc = "$optionalMethod"
)

// envHelperTypes are the helpers that read the execution. They are passed in the environment (not
// compiled in) so that one compiled program serves every execution; the typed nil values tell the
// compiler their signatures.
var envHelperTypes = map[string]any{
	"stage":        (func(string) (map[string]any, error))(nil),
	"stageByRefId": (func(string) (map[string]any, error))(nil),
	"stageExists":  (func(string) bool)(nil),
	"judgment":     (func(string) (string, error))(nil),
	"judgement":    (func(string) (string, error))(nil),
	"currentStage": (func() (map[string]any, error))(nil),
	"pipelineId":   (func(string) (string, error))(nil),

	"deployedServerGroups": (func() []any)(nil),

	"triggerResolvedArtifact":       (func(string) (map[string]any, error))(nil),
	"triggerResolvedArtifactByType": (func(string) (map[string]any, error))(nil),
}

// helpers implements envHelperTypes over one execution's JSON and its trigger's.
type helpers struct {
	execution, trigger map[string]any
	// current is the JSON of ExprEnv.Stage; nil when there is none.
	current map[string]any
	// pipelineIDs and application are ExprEnv.PipelineIDs and the execution's application.
	pipelineIDs map[string]string
	application string
}

func (h helpers) funcs() map[string]any {
	return map[string]any{
		"stage":        h.stage,
		"stageByRefId": h.stageByRefID,
		"stageExists":  h.stageExists,
		"judgment":     h.judgment,
		"judgement":    h.judgment,
		"currentStage": h.currentStage,
		"pipelineId":   h.pipelineID,

		"deployedServerGroups": h.deployedServerGroups,

		"triggerResolvedArtifact":       h.triggerResolvedArtifact,
		"triggerResolvedArtifactByType": h.triggerResolvedArtifactByType,
	}
}

// serverGroupKinds are the Kubernetes kinds whose deploys #deployedServerGroups lists.
var serverGroupKinds = []string{"replicaSet", "deployment", "statefulSet", "daemonSet"}

// deployedServerGroups is Spinnaker's #deployedServerGroups(): the server groups the execution's
// stages have deployed so far, in stage order, each as {account, region, serverGroup, parentStage,
// stageName}: AWS deploys' (their deploy.server.groups, by region) and Kubernetes deploys'
// workloads (their manifestNamesByNamespace, by namespace).
func (h helpers) deployedServerGroups() []any {
	out := []any{}
	for _, s := range h.stages() {
		outputs, _ := s["outputs"].(map[string]any)
		if outputs == nil {
			continue
		}
		account, _ := outputs["deploy.account.name"].(string)
		add := func(region, name string) {
			out = append(out, map[string]any{"account": account, "region": region, "serverGroup": name,
				"parentStage": s["refId"], "stageName": s["name"]})
		}
		for _, key := range []string{"deploy.server.groups", "manifestNamesByNamespace"} {
			byRegion, _ := outputs[key].(map[string]any)
			for _, region := range sortedKeys(byRegion) {
				names, _ := byRegion[region].([]any)
				for _, n := range names {
					name, _ := n.(string)
					kind, _, hasKind := strings.Cut(name, " ")
					if name == "" || key == "manifestNamesByNamespace" && (!hasKind || !slices.Contains(serverGroupKinds, kind)) {
						continue
					}
					add(region, name)
				}
			}
		}
	}
	return out
}

// triggerResolvedArtifact is Spinnaker's #triggerResolvedArtifact(name): the artifact named name
// that one of the pipeline's expected artifacts was bound to when the execution started.
func (h helpers) triggerResolvedArtifact(name string) (map[string]any, error) {
	return h.boundArtifact("name", name)
}

// triggerResolvedArtifactByType is Spinnaker's #triggerResolvedArtifactByType(type).
func (h helpers) triggerResolvedArtifactByType(artifactType string) (map[string]any, error) {
	return h.boundArtifact("type", artifactType)
}

func (h helpers) boundArtifact(field, value string) (map[string]any, error) {
	list, _ := h.trigger["resolvedExpectedArtifacts"].([]any)
	for _, item := range list {
		e, _ := item.(map[string]any)
		bound, _ := e["boundArtifact"].(map[string]any)
		if v, _ := bound[field].(string); bound != nil && v == value {
			return bound, nil
		}
	}
	return nil, fmt.Errorf("no expected artifact of the trigger was bound to an artifact with %s %q", field, value)
}

// stages lists the execution's stages as JSON maps.
func (h helpers) stages() []map[string]any {
	list, _ := h.execution["stages"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, s := range list {
		if m, ok := s.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// find returns the first stage whose field equals value.
func (h helpers) find(field, value string) (map[string]any, bool) {
	for _, s := range h.stages() {
		if v, _ := s[field].(string); v == value {
			return s, true
		}
	}
	return nil, false
}

// stage is Spinnaker's #stage(name).
func (h helpers) stage(name string) (map[string]any, error) {
	s, ok := h.find("name", name)
	if !ok {
		return nil, fmt.Errorf("no stage named %q", name)
	}
	return stageView(s), nil
}

// stageByRefID is Spinnaker's #stageByRefId(refId).
func (h helpers) stageByRefID(ref string) (map[string]any, error) {
	s, ok := h.find("refId", ref)
	if !ok {
		return nil, fmt.Errorf("no stage with refId %q", ref)
	}
	return stageView(s), nil
}

// stageExists is Spinnaker's #stageExists(nameOrRefId).
func (h helpers) stageExists(nameOrRef string) bool {
	_, byName := h.find("name", nameOrRef)
	_, byRef := h.find("refId", nameOrRef)
	return byName || byRef
}

// judgment is Spinnaker's #judgment(name): the input chosen at the named manual judgment stage, or
// "" while it has none.
func (h helpers) judgment(name string) (string, error) {
	for _, s := range h.stages() {
		if s["name"] != name || s["type"] != "manualJudgment" {
			continue
		}
		if j, ok := s["judgment"].(map[string]any); ok {
			if in, ok := j["judgmentInput"].(string); ok && in != "" {
				return in, nil
			}
		}
		for _, k := range []string{"context", "outputs"} {
			if m, ok := s[k].(map[string]any); ok {
				if in, ok := m["judgmentInput"].(string); ok {
					return in, nil
				}
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("no manual judgment stage named %q", name)
}

// currentStage is Spinnaker's #currentStage(): the stage whose context is being evaluated, as
// #stage returns it.
func (h helpers) currentStage() (map[string]any, error) {
	if h.current == nil {
		return nil, errors.New("#currentStage(): there is no current stage here; only a stage's own expressions have one")
	}
	return stageView(h.current), nil
}

// pipelineID is Spinnaker's #pipelineId(name): the id of the pipeline called name in the
// execution's application.
func (h helpers) pipelineID(name string) (string, error) {
	if id, ok := h.pipelineIDs[name]; ok {
		return id, nil
	}
	if h.application == "" {
		return "", fmt.Errorf("no pipeline named %q", name)
	}
	return "", fmt.Errorf("no pipeline named %q in application %q", name, h.application)
}

// stageView is the stage as #stage returns it: its execution JSON with context and outputs always
// present and, for a judged stage, judgmentStatus, judgmentInput and lastModifiedBy at the top as
// Spinnaker has them.
func stageView(s map[string]any) map[string]any {
	view := make(map[string]any, len(s)+5)
	for k, v := range s {
		view[k] = v
	}
	for _, k := range []string{"context", "outputs"} {
		if _, ok := view[k].(map[string]any); !ok {
			view[k] = map[string]any{}
		}
	}
	for _, k := range []string{"name", "refId", "type", "status"} {
		if _, ok := view[k]; !ok {
			view[k] = ""
		}
	}
	if j, ok := s["judgment"].(map[string]any); ok {
		view["judgmentStatus"] = j["judgmentStatus"]
		view["judgmentInput"] = stringOr(j["judgmentInput"], "")
		view["lastModifiedBy"] = stringOr(j["user"], "")
	}
	return view
}

func stringOr(v any, def string) string {
	if s, ok := v.(string); ok {
		return s
	}
	return def
}

// pureHelper is a helper that needs nothing but its arguments, compiled into every program.
type pureHelper struct {
	fn    func(args ...any) (any, error)
	types []any
}

// pureHelpers are Spinnaker's conversion helpers plus the internal rewrite targets.
var pureHelpers = map[string]pureHelper{
	"toJson":           {fn: toJSONHelper, types: []any{new(func(any) string)}},
	"readJson":         {fn: readJSONHelper, types: []any{new(func(string) any)}},
	"toInt":            {fn: toIntHelper, types: []any{new(func(any) int64)}},
	"toFloat":          {fn: toFloatHelper, types: []any{new(func(any) float64)}},
	"toBoolean":        {fn: toBooleanHelper, types: []any{new(func(any) bool)}},
	"alphanumerical":   {fn: alphanumericalHelper, types: []any{new(func(string) string)}},
	"keys":             {fn: sortedKeysHelper, types: []any{new(func(any) []any)}},
	"values":           {fn: sortedValuesHelper, types: []any{new(func(any) []any)}},
	"toPairs":          {fn: sortedPairsHelper, types: []any{new(func(any) []any)}},
	fetchFunc:          {fn: fetchHelper},
	methodFunc:         {fn: methodHelper},
	optionalMethodFunc: {fn: optionalMethodHelper},
	sourceFunc:         {fn: sourceHelper},
	propFunc:           {fn: propHelper},
	keysOfFunc:         {fn: keysOfHelper},
	testFunc:           {fn: testHelper, types: []any{new(func(any, string) bool)}},
	selectedFunc:       {fn: selectedHelper},
	selectedOneFunc:    {fn: selectedOneHelper},
	selectedLastFunc:   {fn: selectedLastHelper},
}

func sortedHelperNames(m map[string]pureHelper) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func oneArg(name string, args []any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%s takes 1 argument, got %d", name, len(args))
	}
	return args[0], nil
}

func toJSONHelper(args ...any) (any, error) {
	v, err := oneArg("toJson", args)
	if err != nil {
		return nil, err
	}
	shaped, err := toJSONShape(v)
	if err != nil {
		return nil, fmt.Errorf("toJson: %w", err)
	}
	return jsonText(shaped)
}

func readJSONHelper(args ...any) (any, error) {
	v, err := oneArg("readJson", args)
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("readJson needs a string, got %s", describeValue(v))
	}
	var out any
	if err := unmarshalNumbers([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("readJson: %v", err)
	}
	return normalizeNumbers(out), nil
}

func toIntHelper(args ...any) (any, error) {
	v, err := oneArg("toInt", args)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("toInt: %q is not a whole number", s)
		}
		return i, nil
	}
	if i, ok := wholeNumber(v); ok {
		return i, nil
	}
	return nil, fmt.Errorf("toInt: %s is not a whole number", describeValue(v))
}

func toFloatHelper(args ...any) (any, error) {
	v, err := oneArg("toFloat", args)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("toFloat: %q is not a number", s)
		}
		return f, nil
	}
	if f, ok := number(v); ok {
		return f, nil
	}
	return nil, fmt.Errorf("toFloat: %s is not a number", describeValue(v))
}

// toBooleanHelper follows Java's Boolean.parseBoolean: only "true", in any case, is true.
func toBooleanHelper(args ...any) (any, error) {
	v, err := oneArg("toBoolean", args)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return strings.EqualFold(strings.TrimSpace(x), "true"), nil
	case nil:
		return false, nil
	}
	return nil, fmt.Errorf("toBoolean: %s is not true or false", describeValue(v))
}

func alphanumericalHelper(args ...any) (any, error) {
	v, err := oneArg("alphanumerical", args)
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("alphanumerical needs a string, got %s", describeValue(v))
	}
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, s), nil
}

// stringMap reads a map with string keys, whatever its Go type.
func stringMap(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	out := make(map[string]any, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		out[iter.Key().String()] = iter.Value().Interface()
	}
	return out, true
}

// list reads a slice or array, whatever its Go type.
func list(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func sortedKeysHelper(args ...any) (any, error) {
	m, err := mapArg("keys", args)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k)
	}
	return out, nil
}

func sortedValuesHelper(args ...any) (any, error) {
	m, err := mapArg("values", args)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out, nil
}

func sortedPairsHelper(args ...any) (any, error) {
	m, err := mapArg("toPairs", args)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, []any{k, m[k]})
	}
	return out, nil
}

func mapArg(name string, args []any) (map[string]any, error) {
	v, err := oneArg(name, args)
	if err != nil {
		return nil, err
	}
	m, ok := stringMap(v)
	if !ok {
		return nil, fmt.Errorf("%s needs a map, got %s", name, describeValue(v))
	}
	return m, nil
}

// fetchHelper reads obj[key] for a rewritten member read; text is the read as written.
func fetchHelper(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("%s takes 3 arguments, got %d", fetchFunc, len(args))
	}
	obj, key := args[0], args[1]
	text, _ := args[2].(string)
	if obj == nil {
		return nil, fmt.Errorf("%s: cannot read %s of null", text, describeKey(key))
	}
	if m, ok := stringMap(obj); ok {
		k, ok := key.(string)
		if !ok {
			return nil, fmt.Errorf("%s: a map key must be a string, not %s", text, describeValue(key))
		}
		v, ok := m[k]
		if !ok {
			return nil, fmt.Errorf("%s: no such key", text)
		}
		return v, nil
	}
	if s, ok := obj.(string); ok {
		runes := []rune(s)
		i, err := listIndex(text, key, len(runes))
		if err != nil {
			return nil, err
		}
		return string(runes[i]), nil
	}
	if l, ok := list(obj); ok {
		i, err := listIndex(text, key, len(l))
		if err != nil {
			return nil, err
		}
		return l[i], nil
	}
	return fetchOther(obj, key, text)
}

// fetchOther lets expr read what is not JSON, such as a field of a date() result.
func fetchOther(obj, key any, text string) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%s: cannot read %s of %s", text, describeKey(key), describeValue(obj))
		}
	}()
	return runtime.Fetch(obj, key), nil
}

// listIndex checks an index into a list of n items; negative indexes count from the end.
func listIndex(text string, key any, n int) (int, error) {
	i64, ok := wholeNumber(key)
	if !ok {
		return 0, fmt.Errorf("%s: an index must be a whole number, not %s", text, describeValue(key))
	}
	i := i64
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, fmt.Errorf("%s: index %d is out of range (length %d)", text, i64, n)
	}
	return int(i), nil
}

func describeKey(key any) string {
	if s, ok := key.(string); ok {
		return strconv.Quote(s)
	}
	return stringify(key)
}

// number reads any Go number as float64.
func number(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// wholeNumber reads a Go number that is a whole number and fits in an int64.
func wholeNumber(v any) (int64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt64 {
			return 0, false
		}
		return int64(rv.Uint()), true
	}
	f, ok := number(v)
	if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// methodHelper runs obj.name(args...) for a rewritten method call. On JSON values it offers the
// Java methods SpEL users call on strings, lists and maps (equals, contains, startsWith,
// toUpperCase, size, split, substring, ...), so Spinnaker expressions such as
// parameters.env.equals('prod') keep working.
func methodHelper(args ...any) (any, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("%s takes at least 2 arguments, got %d", methodFunc, len(args))
	}
	obj, params := args[0], args[2:]
	name, _ := args[1].(string)
	if obj == nil {
		return nil, fmt.Errorf("cannot call %s() on null", name)
	}
	want := func(n int) error {
		if len(params) != n {
			return fmt.Errorf("%s() takes %d argument(s), got %d", name, n, len(params))
		}
		return nil
	}
	s, isString := obj.(string)
	l, isList := list(obj)
	if isString {
		isList = false
	}
	m, isMap := stringMap(obj)
	if _, isNumber := number(obj); !isString && !isList && !isMap && !isNumber {
		if _, isBool := obj.(bool); !isBool {
			return callGoMethod(obj, name, params)
		}
	}
	switch name {
	case "equals":
		if err := want(1); err != nil {
			return nil, err
		}
		return valuesEqual(obj, params[0]), nil
	case "toString":
		if err := want(0); err != nil {
			return nil, err
		}
		return stringify(obj), nil
	case "size", "length", "isEmpty":
		if err := want(0); err != nil {
			return nil, err
		}
		n := -1
		switch {
		case isString:
			n = utf8.RuneCountInString(s)
		case isList:
			n = len(l)
		case isMap:
			n = len(m)
		}
		if n < 0 {
			break
		}
		if name == "isEmpty" {
			return n == 0, nil
		}
		return int64(n), nil
	case "contains":
		if err := want(1); err != nil {
			return nil, err
		}
		if isString {
			sub, ok := params[0].(string)
			if !ok {
				return nil, fmt.Errorf("contains() on a string needs a string, got %s", describeValue(params[0]))
			}
			return strings.Contains(s, sub), nil
		}
		if isList {
			return indexIn(l, params[0]) >= 0, nil
		}
	case "containsKey":
		if err := want(1); err != nil {
			return nil, err
		}
		if isMap {
			k, _ := params[0].(string)
			_, ok := m[k]
			return ok, nil
		}
	case "indexOf":
		if err := want(1); err != nil {
			return nil, err
		}
		if isString {
			sub, ok := params[0].(string)
			if !ok {
				return nil, fmt.Errorf("indexOf() on a string needs a string, got %s", describeValue(params[0]))
			}
			i := strings.Index(s, sub)
			if i < 0 {
				return int64(-1), nil
			}
			return int64(utf8.RuneCountInString(s[:i])), nil
		}
		if isList {
			return int64(indexIn(l, params[0])), nil
		}
	case "get":
		if err := want(1); err != nil {
			return nil, err
		}
		if isList || isMap {
			return fetchHelper(obj, params[0], fmt.Sprintf("get(%s)", describeKey(params[0])))
		}
	default:
		if !isString {
			break
		}
		return stringMethod(name, s, params)
	}
	return nil, fmt.Errorf("cannot call %s() on %s", name, describeValue(obj))
}

// optionalMethodHelper runs obj?.name(args...): null when obj is null, else as methodHelper.
func optionalMethodHelper(args ...any) (any, error) {
	if len(args) > 0 && args[0] == nil {
		return nil, nil
	}
	return methodHelper(args...)
}

// stringMethod runs the Java String methods that only apply to strings.
func stringMethod(name, s string, params []any) (any, error) {
	strs := make([]string, 0, len(params))
	ints := make([]int64, 0, len(params))
	for _, p := range params {
		if ps, ok := p.(string); ok {
			strs = append(strs, ps)
		}
		if pi, ok := wholeNumber(p); ok {
			ints = append(ints, pi)
		}
	}
	argErr := fmt.Errorf("wrong arguments for %s()", name)
	switch name {
	case "equalsIgnoreCase", "startsWith", "endsWith":
		if len(params) != 1 || len(strs) != 1 {
			return nil, argErr
		}
		switch name {
		case "equalsIgnoreCase":
			return strings.EqualFold(s, strs[0]), nil
		case "startsWith":
			return strings.HasPrefix(s, strs[0]), nil
		}
		return strings.HasSuffix(s, strs[0]), nil
	case "toUpperCase", "toLowerCase", "trim":
		if len(params) != 0 {
			return nil, argErr
		}
		switch name {
		case "toUpperCase":
			return strings.ToUpper(s), nil
		case "toLowerCase":
			return strings.ToLower(s), nil
		}
		return strings.TrimSpace(s), nil
	case "replace":
		if len(params) != 2 || len(strs) != 2 {
			return nil, argErr
		}
		return strings.ReplaceAll(s, strs[0], strs[1]), nil
	case "split":
		if len(params) != 1 || len(strs) != 1 {
			return nil, argErr
		}
		return javaSplit(s, strs[0])
	case "substring":
		if len(params) < 1 || len(params) > 2 || len(ints) != len(params) {
			return nil, argErr
		}
		runes := []rune(s)
		begin, end := ints[0], int64(len(runes))
		if len(ints) == 2 {
			end = ints[1]
		}
		if begin < 0 || end > int64(len(runes)) || begin > end {
			return nil, fmt.Errorf("substring(%d, %d) is out of range for a string of length %d", begin, end, len(runes))
		}
		return string(runes[begin:end]), nil
	}
	return nil, fmt.Errorf("cannot call %s() on a string", name)
}

// javaSplit splits like Java's String.split: the separator is a regular expression and trailing
// empty strings are dropped.
func javaSplit(s, sep string) (any, error) {
	re, err := regexp.Compile(sep)
	if err != nil {
		return nil, fmt.Errorf("split(): invalid pattern %q: %v", sep, err)
	}
	parts := re.Split(s, -1)
	if len(parts) > 1 {
		for len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func indexIn(l []any, v any) int {
	for i, e := range l {
		if valuesEqual(e, v) {
			return i
		}
	}
	return -1
}

// valuesEqual compares two values as JSON would, so 3 (int) equals 3 (int64) and 3.0.
func valuesEqual(a, b any) bool {
	af, aNum := number(a)
	bf, bNum := number(b)
	if aNum || bNum {
		if !aNum || !bNum {
			return false
		}
		ai, aWhole := wholeNumber(a)
		bi, bWhole := wholeNumber(b)
		if aWhole && bWhole {
			return ai == bi
		}
		return af == bf
	}
	as, errA := toJSONShape(a)
	bs, errB := toJSONShape(b)
	if errA != nil || errB != nil {
		return false
	}
	return reflect.DeepEqual(as, bs)
}

// callGoMethod calls a method of a Go value an expression function returned, such as Year() on
// the result of date().
func callGoMethod(obj any, name string, params []any) (any, error) {
	method := reflect.ValueOf(obj).MethodByName(name)
	if !method.IsValid() {
		return nil, fmt.Errorf("cannot call %s() on %s", name, describeValue(obj))
	}
	t := method.Type()
	if t.IsVariadic() || t.NumIn() != len(params) || t.NumOut() == 0 || t.NumOut() > 2 {
		return nil, fmt.Errorf("%s() cannot be called with %d argument(s)", name, len(params))
	}
	in := make([]reflect.Value, len(params))
	for i, p := range params {
		v := reflect.ValueOf(p)
		if !v.IsValid() || !(v.Type().AssignableTo(t.In(i)) || isNumericKind(v.Kind()) && isNumericKind(t.In(i).Kind())) {
			return nil, fmt.Errorf("%s(): argument %d has the wrong type", name, i+1)
		}
		in[i] = v.Convert(t.In(i))
	}
	out := method.Call(in)
	if len(out) == 2 {
		if err, _ := out[1].Interface().(error); err != nil {
			return nil, fmt.Errorf("%s(): %w", name, err)
		}
	}
	return out[0].Interface(), nil
}

func isNumericKind(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Float64
}

// UsesHelper reports whether any expression of the pipeline may call the helper #name, so that
// what the helper needs is read when an execution starts only for pipelines that use it.
func UsesHelper(p Pipeline, name string) bool {
	data, err := json.Marshal(p)
	return err == nil && strings.Contains(string(data), "#"+name)
}
