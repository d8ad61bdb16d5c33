package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// Expressions are Spinnaker's ${...} written in the expr language (github.com/expr-lang/expr), with
// Spinnaker's spellings translated (#stage('x'), null, ?:, 'it''s') and these rules:
//
//   - An expression sees trigger, parameters (the trigger's), execution, and ExprEnv.Variables.
//     A name that is none of these is an error ("unknown name foo").
//   - Reading a map key that does not exist, or a list index past the end, is an error
//     ("parameters.foo: no such key"), not a silent null, because a misspelt key should not
//     quietly become an empty string in a URL. Write parameters?.foo, parameters.foo ?? 'x' or
//     'foo' in parameters to read a key that may be absent.
//   - Common Java methods Spinnaker users write on strings, lists and maps (equals, contains,
//     startsWith, toUpperCase, size, split, substring, ...) work as in SpEL.
//   - SpEL's selection and projection (list.?[cond], .^[cond], .$[cond], .![expr], on lists and
//     maps) work, with the element as the context of bare names, #this and #root; inside the
//     brackets a key some elements lack reads as null (see expr_select.go).
//   - Results are JSON-shaped: map[string]any, []any, string, bool, nil, int64 or float64.
//   - now() is not available, because a Temporal workflow must give the same result when replayed.
//   - Expressions are trusted configuration: expr bounds the memory of ranges, but an expression
//     that builds ever longer strings in a long loop can still run for a long time.

// ExprEnv is what an expression can read: the execution so far and what triggered it.
type ExprEnv struct {
	// Execution is the running execution; nil when there is none yet (for example at trigger time).
	Execution *Execution
	// Trigger is what started the execution. When it is empty, the execution's trigger is used.
	Trigger TriggerInfo
	// Variables are further names in scope, such as the variables set by upstream stages, which
	// Spinnaker lets later stages read by name. trigger, parameters, execution and the helper
	// functions' names cannot be replaced; a variable with one of those names is ignored.
	Variables map[string]any
	// Stage is the stage whose context is being evaluated, which #currentStage() returns; nil where
	// there is none, such as for a trigger or the execution's notifications.
	Stage *StageExecution
	// PipelineIDs maps the name of each pipeline of the execution's application to its id, for
	// #pipelineId(name).
	PipelineIDs map[string]string
}

// ExpressionError is one expression that could not be evaluated: where it is, what it says, why.
type ExpressionError struct {
	// Path locates the string in the evaluated value, such as payload.items[0]; empty for the value itself.
	Path string `json:"path,omitempty"`
	// Expression is the expression as written, with its ${ and }.
	Expression string `json:"expression"`
	// Reason says in words why it failed.
	Reason string `json:"reason"`
}

// Error gives `path: expression "${...}": reason`.
func (e ExpressionError) Error() string {
	text := fmt.Sprintf("expression %q: %s", e.Expression, e.Reason)
	if e.Path == "" {
		return text
	}
	return e.Path + ": " + text
}

// EvaluateValue returns a copy of v with every ${...} in its strings evaluated. A string that is
// exactly one ${...} becomes the result itself, keeping its type; otherwise results are spliced in
// as text (null as nothing, maps and lists as JSON). A failed expression leaves its text in place
// and adds one ExpressionError; errors come in a fixed order (map keys sorted).
func EvaluateValue(v any, env ExprEnv) (any, []ExpressionError) {
	ev := newEvaluator(env)
	var errs []ExpressionError
	out := ev.value(v, "", &errs)
	return out, errs
}

// EvaluateContext evaluates a stage context, leaving the keys in skipKeys as they are. A context
// with skipExpressionEvaluation: true is returned unevaluated, as Spinnaker does. The input map is
// never modified.
func EvaluateContext(ctx map[string]any, env ExprEnv, skipKeys ...string) (map[string]any, []ExpressionError) {
	if ctx == nil {
		return nil, nil
	}
	if skip, _ := ctx["skipExpressionEvaluation"].(bool); skip {
		return DeepCopy(ctx).(map[string]any), nil
	}
	skip := make(map[string]bool, len(skipKeys))
	for _, k := range skipKeys {
		skip[k] = true
	}
	ev := newEvaluator(env)
	var errs []ExpressionError
	out := make(map[string]any, len(ctx))
	for _, k := range slices.Sorted(maps.Keys(ctx)) {
		if skip[k] {
			out[k] = DeepCopy(ctx[k])
			continue
		}
		out[k] = ev.value(ctx[k], joinKey("", k), &errs)
	}
	return out, errs
}

// EvaluateCondition evaluates a boolean expression such as a stageEnabled or precondition
// expression, written with or without ${}. A string result of "true" or "false" (any case) counts;
// any other non-boolean result is an error. Errors are ExpressionError values.
func EvaluateCondition(expression string, env ExprEnv) (bool, error) {
	src, err := conditionSource(expression)
	if err != nil {
		return false, ExpressionError{Expression: expression, Reason: err.Error()}
	}
	out, err := newEvaluator(env).eval(src)
	if err != nil {
		return false, ExpressionError{Expression: expression, Reason: err.Error()}
	}
	b, err := conditionResult(out)
	if err != nil {
		return false, ExpressionError{Expression: expression, Reason: err.Error()}
	}
	return b, nil
}

// CheckExpressions compiles every ${...} in v without evaluating it and returns one Problem per
// expression that does not compile, with path as the prefix of each Problem's path. Names that only
// exist at run time (variables of upstream stages) are not errors here.
func CheckExpressions(v any, path string) []Problem {
	var problems []Problem
	walkStrings(v, path, func(p, s string) {
		parts, err := splitTemplate(s)
		for _, part := range parts {
			if !part.isExpr {
				continue
			}
			if _, err := compileExpr(part.expr, nil); err != nil {
				problems = append(problems, Problem{Path: p,
					Message: fmt.Sprintf("invalid expression %q: %s", part.text, err)})
			}
		}
		var unterminated *unterminatedError
		if errors.As(err, &unterminated) {
			problems = append(problems, Problem{Path: p,
				Message: fmt.Sprintf("invalid expression %q: %s", unterminated.rest, err)})
		}
	})
	return problems
}

// checkCondition compiles a condition written with or without ${}.
func checkCondition(expression string) error {
	src, err := conditionSource(expression)
	if err != nil {
		return err
	}
	_, err = compileExpr(src, nil)
	return err
}

// conditionSource strips the ${} from a condition written as one expression.
func conditionSource(expression string) (string, error) {
	trimmed := strings.TrimSpace(expression)
	if trimmed == "" {
		return "", errors.New("empty expression")
	}
	if inner, ok := singleExpression(trimmed); ok {
		return inner, nil
	}
	if hasExpression(trimmed) {
		return "", errors.New("a condition must be one expression, written with or without ${}")
	}
	return trimmed, nil
}

// conditionResult reads an expression result as a boolean.
func conditionResult(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("gave %s, not true or false", describeValue(v))
}

// describeValue names a value and its kind for messages, shortening long ones.
func describeValue(v any) string {
	text := stringify(v)
	if v == nil {
		text = "null"
	}
	if len(text) > 60 {
		text = text[:57] + "..."
	}
	switch v.(type) {
	case string:
		return fmt.Sprintf("the string %q", text)
	case map[string]any:
		return "the map " + text
	case []any:
		return "the list " + text
	}
	return text
}

// walkStrings calls f for every string in v with its path, map keys in sorted order.
func walkStrings(v any, path string, f func(path, s string)) {
	switch x := v.(type) {
	case string:
		f(path, x)
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			walkStrings(x[k], joinKey(path, k), f)
		}
	case []any:
		for i, e := range x {
			walkStrings(e, joinIndex(path, i), f)
		}
	case []string:
		for i, e := range x {
			f(joinIndex(path, i), e)
		}
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f(joinKey(path, k), x[k])
		}
	}
}

// evaluator evaluates expressions against one environment, built once for all of them, and only
// when the first expression is met: writing the execution out as JSON grows with the execution,
// and most stage contexts hold no expression at all.
type evaluator struct {
	env      ExprEnv
	prepared bool
	vars     map[string]any
	names    []string
	setupErr error
}

// Names every expression can read, which Variables cannot replace.
const (
	varTrigger    = "trigger"
	varParameters = "parameters"
	varExecution  = "execution"
)

func newEvaluator(env ExprEnv) *evaluator { return &evaluator{env: env} }

// prepare builds the environment the expressions read.
func (ev *evaluator) prepare() {
	if ev.prepared {
		return
	}
	ev.prepared = true
	env := ev.env
	trigger := env.Trigger
	if isZeroTrigger(trigger) && env.Execution != nil {
		trigger = env.Execution.Trigger
	}
	triggerMap, err := triggerShape(trigger)
	if err != nil {
		ev.setupErr = fmt.Errorf("reading the trigger: %w", err)
		return
	}
	execMap := map[string]any{}
	if env.Execution != nil {
		shaped, err := viaJSON(env.Execution)
		if err != nil {
			ev.setupErr = fmt.Errorf("reading the execution: %w", err)
			return
		}
		execMap, _ = shaped.(map[string]any)
	}
	var current map[string]any
	if env.Stage != nil {
		shaped, err := viaJSON(env.Stage)
		if err != nil {
			ev.setupErr = fmt.Errorf("reading the current stage: %w", err)
			return
		}
		current, _ = shaped.(map[string]any)
	}
	vars := map[string]any{}
	for name, v := range env.Variables {
		if reservedName(name) {
			continue
		}
		shaped, err := toJSONShape(v)
		if err != nil {
			ev.setupErr = fmt.Errorf("reading variable %s: %w", name, err)
			return
		}
		vars[name] = shaped
	}
	vars[varTrigger] = triggerMap
	vars[varParameters] = triggerMap["parameters"]
	vars[varExecution] = execMap
	h := helpers{execution: execMap, trigger: triggerMap, current: current, pipelineIDs: env.PipelineIDs}
	if env.Execution != nil {
		h.application = env.Execution.Application
	}
	for name, fn := range h.funcs() {
		vars[name] = fn
	}
	ev.vars = vars
	ev.names = make([]string, 0, len(vars))
	for name := range vars {
		ev.names = append(ev.names, name)
	}
	sort.Strings(ev.names)
}

// reservedName reports whether a variable name is taken by the environment itself.
func reservedName(name string) bool {
	switch name {
	case varTrigger, varParameters, varExecution:
		return true
	}
	_, helper := envHelperTypes[name]
	_, pure := pureHelpers[name]
	return helper || pure || strings.HasPrefix(name, "$")
}

func isZeroTrigger(t TriggerInfo) bool {
	return t.Type == "" && t.User == "" && len(t.Parameters) == 0 && len(t.Payload) == 0 &&
		t.ParentExecutionID == "" && t.ParentStageRefID == ""
}

// triggerShape gives the trigger as JSON with parameters, payload, user and type always present,
// so reading a missing parameter names the parameter rather than "parameters".
func triggerShape(t TriggerInfo) (map[string]any, error) {
	shaped, err := viaJSON(t)
	if err != nil {
		return nil, err
	}
	m, _ := shaped.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	for _, k := range []string{"parameters", "payload"} {
		if _, ok := m[k].(map[string]any); !ok {
			m[k] = map[string]any{}
		}
	}
	for _, k := range []string{"type", "user"} {
		if _, ok := m[k]; !ok {
			m[k] = ""
		}
	}
	return m, nil
}

// value evaluates the expressions in v, copying its containers.
func (ev *evaluator) value(v any, path string, errs *[]ExpressionError) any {
	switch x := v.(type) {
	case string:
		return ev.text(x, path, errs)
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out[k] = ev.value(x[k], joinKey(path, k), errs)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ev.value(e, joinIndex(path, i), errs)
		}
		return out
	case []string, map[string]string:
		shaped, _ := toJSONShape(x)
		return ev.value(shaped, path, errs)
	}
	return v
}

// text evaluates the expressions in one string.
func (ev *evaluator) text(s string, path string, errs *[]ExpressionError) any {
	if !hasExpression(s) {
		return s
	}
	parts, splitErr := splitTemplate(s)
	var unterminated *unterminatedError
	if errors.As(splitErr, &unterminated) {
		*errs = append(*errs, ExpressionError{Path: path, Expression: unterminated.rest, Reason: splitErr.Error()})
	}
	if splitErr == nil && len(parts) == 1 && parts[0].isExpr {
		out, err := ev.eval(parts[0].expr)
		if err != nil {
			*errs = append(*errs, ExpressionError{Path: path, Expression: parts[0].text, Reason: err.Error()})
			return s
		}
		return out
	}
	var b strings.Builder
	for _, part := range parts {
		if !part.isExpr {
			b.WriteString(part.text)
			continue
		}
		out, err := ev.eval(part.expr)
		if err != nil {
			*errs = append(*errs, ExpressionError{Path: path, Expression: part.text, Reason: err.Error()})
			b.WriteString(part.text)
			continue
		}
		b.WriteString(stringify(out))
	}
	return b.String()
}

// eval compiles (or reuses) and runs one expression, returning a JSON-shaped result.
func (ev *evaluator) eval(src string) (out any, err error) {
	ev.prepare()
	if ev.setupErr != nil {
		return nil, ev.setupErr
	}
	program, err := compileExpr(src, ev.names)
	if err != nil {
		return nil, err
	}
	defer func() {
		// expr recovers its own panics; this guards the helpers and anything it misses.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%v", r)
		}
	}()
	result, err := expr.Run(program, ev.vars)
	if err != nil {
		// The position expr appends points at the failing part, which the message already names.
		return nil, errors.New(errorPosition.ReplaceAllString(firstLine(err.Error()), ""))
	}
	return toJSONShape(result)
}

// errorPosition is the "(line:column)" expr ends a message with.
var errorPosition = regexp.MustCompile(` \(\d+:\d+\)$`)

// firstLine drops the source excerpt expr adds under its messages; the caller shows the expression.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// maxCachedPrograms bounds the compiled-program cache; past it, programs are compiled each time.
const maxCachedPrograms = 4096

var programCache = struct {
	sync.Mutex
	programs map[string]*vm.Program
}{programs: map[string]*vm.Program{}}

// compileExpr compiles an expression for the given top-level names, or for syntax checking when
// names is nil (then unknown names are allowed). Programs are cached by source and names: a
// compiled program holds no values, so one serves every environment with the same names.
func compileExpr(src string, names []string) (*vm.Program, error) {
	key := src + "\x00" + strings.Join(names, ",")
	if names == nil {
		key = src + "\x00\x00check"
	}
	programCache.Lock()
	program, ok := programCache.programs[key]
	programCache.Unlock()
	if ok {
		return program, nil
	}
	program, err := compileUncached(src, names)
	if err != nil {
		return nil, err
	}
	programCache.Lock()
	if len(programCache.programs) < maxCachedPrograms {
		programCache.programs[key] = program
	}
	programCache.Unlock()
	return program, nil
}

func compileUncached(src string, names []string) (program *vm.Program, err error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	translated, err := translateSpELMapped(src)
	if err != nil {
		return nil, err
	}
	shape := types.Map{}
	for name, t := range envHelperTypes {
		shape[name] = types.TypeOf(t)
	}
	for _, name := range []string{varTrigger, varParameters, varExecution} {
		shape[name] = types.Any
	}
	for _, name := range names {
		if _, ok := shape[name]; !ok {
			shape[name] = types.Any
		}
	}
	opts := []expr.Option{expr.Env(shape)}
	if names == nil {
		opts = append(opts, expr.AllowUndefinedVariables())
	}
	// now() would make a replayed workflow see a different time; keys, values and toPairs are
	// replaced by versions that return map entries in key order.
	for _, name := range []string{"now", "keys", "values", "toPairs"} {
		opts = append(opts, expr.DisableBuiltin(name))
	}
	for _, name := range sortedHelperNames(pureHelpers) {
		h := pureHelpers[name]
		opts = append(opts, expr.Function(name, h.fn, h.types...))
	}
	rw := &memberRewrite{exempt: map[*ast.MemberNode]bool{}, text: map[*ast.MemberNode]string{}}
	sel := newSelectionPatch(names)
	// The marker records the text of member reads before the selections holding them are rewritten.
	opts = append(opts, expr.Patch(selectionScan{sel}), expr.Patch(memberMarker{rw}), expr.Patch(sel),
		expr.Patch(selectionLeftovers{sel}), expr.Patch(memberRewriter{rw}))
	defer func() {
		if r := recover(); r != nil {
			program, err = nil, fmt.Errorf("cannot compile: %v", r)
		}
	}()
	program, err = expr.Compile(translated.text, opts...)
	if sel.err != nil {
		return nil, fmt.Errorf("%s (%s)", sel.err, translated.position(sel.loc.From))
	}
	if err != nil {
		return nil, compileError(err, translated)
	}
	return program, nil
}

// compileError gives an error of expr's compiler with its position moved from the translated text
// to what the user wrote, and the translated spellings turned back into SpEL's.
func compileError(err error, t spelTranslation) error {
	var located *file.Error
	if !errors.As(err, &located) {
		return errors.New(spelText(firstLine(err.Error())))
	}
	message := spelText(firstLine(located.Message))
	if located.Snippet == "" {
		// expr shows no position for these either.
		return errors.New(message)
	}
	return fmt.Errorf("%s (%s)", message, t.position(located.From))
}

// memberRewrite turns member reads (a.b, a[0]) into calls of $fetch, which fails on a missing key
// instead of giving null. Reads the user marked optional (a?.b, a.b ?? c) are left alone.
type memberRewrite struct {
	exempt map[*ast.MemberNode]bool
	// text is each member read as written, for error messages, taken before anything is rewritten.
	text map[*ast.MemberNode]string
}

// memberMarker is the first pass: it records the text of every member read and which are optional.
type memberMarker struct{ rw *memberRewrite }

func (m memberMarker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		m.rw.text[n] = spelText(n.String())
	case *ast.ChainNode:
		m.exemptChain(n.Node)
	case *ast.BinaryNode:
		if n.Operator == "??" {
			m.exemptChain(n.Left)
		}
	}
}

// exemptChain marks the member reads along a.b.c as optional.
func (m memberMarker) exemptChain(node ast.Node) {
	for {
		switch n := node.(type) {
		case *ast.MemberNode:
			m.rw.exempt[n] = true
			node = n.Node
		case *ast.ChainNode:
			node = n.Node
		default:
			return
		}
	}
}

// memberRewriter is the second pass: it replaces member reads and method calls, so that Java's
// String, List and Map methods work on JSON values and an unknown method gets a clear message.
type memberRewriter struct{ rw *memberRewrite }

func (r memberRewriter) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if n.Method || n.Optional || r.rw.exempt[n] {
			return
		}
		text, ok := r.rw.text[n]
		if !ok {
			text = n.String()
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: fetchFunc},
			Arguments: []ast.Node{n.Node, n.Property, &ast.StringNode{Value: text}},
		})
	case *ast.CallNode:
		member, ok := n.Callee.(*ast.MemberNode)
		if !ok || !member.Method {
			return
		}
		name, ok := member.Property.(*ast.StringNode)
		if !ok {
			return
		}
		// a?.m() is null when a is; left to expr, it would look m up among Go methods and fail.
		fn := methodFunc
		if member.Optional {
			fn = optionalMethodFunc
		}
		args := append([]ast.Node{member.Node, &ast.StringNode{Value: name.Value}}, n.Arguments...)
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: args})
	}
}

// jsonText renders a value as JSON with map keys sorted (encoding/json sorts them).
func jsonText(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(raw), nil
}
