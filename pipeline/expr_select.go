package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// SpEL's collection selection and projection:
//
//	list.?[p]  the elements for which p is true        map.?[p]  a map of the entries for which p is true
//	list.^[p]  the first such element, or null         map.^[p]  a map of the first such entry, or null
//	list.$[p]  the last such element, or null          map.$[p]  a map of the last such entry, or null
//	list.![e]  e for each element, as a list           map.![e]  e for each entry, as a list
//
// Inside the brackets the element is SpEL's active context object:
//
//   - #this is the element. For a map, the element is one entry, whose key and value are read as
//     key and value; entries are visited in key order, so that .^[, .$[ and .![ give the same
//     result every time (a Go map has no order, and a replayed workflow must see the same value).
//   - A bare name n reads the element's key n. When no element of the list has a key n, n is the
//     root name n (trigger, parameters, execution, an upstream variable) if there is one. An
//     element without a key n that others have, or that is no root name either, reads it as null.
//     Null rather than an error, unlike a.b elsewhere: elements of one list often differ in their
//     keys (artifacts.?[type == 'docker/image'] over artifacts some of which have no type), and
//     SpEL's MapAccessor, which Spinnaker's expressions read maps with, gives null for them too.
//     Whether n is a key is decided for the whole list, not for each element, so that an
//     artifact without a type does not read an upstream variable named type instead. A misspelt
//     name therefore selects nothing instead of failing. Only the element's own key is lenient:
//     metadata.name on an element without metadata still fails as null.name does elsewhere, and
//     #this.type follows the strict rules of a.b (write #this?.type).
//   - A bare call m(args) that is no helper calls the element's method m, as SpEL does.
//   - #root.name is the root name, even where the element has a key name.
//   - In nested brackets a bare name reads the innermost element, then the root names.
//
// translateSpEL turns list.?[p] into list.$select()[p]; selectionPatch then replaces that with
//
//	let $s1 = $source(list, ...); $selected($s1, filter($s1, let $e1 = #; $test(p', ...)))
//
// where p' is p with its bare names bound to $e1, so that the loop runs in expr's virtual machine.
// When p reads a name that could be a root name, let $k1 = $keysOf($s1) also gives the keys the
// elements have.

// Method names the selection operators are translated into; see selectionMethods.
const (
	selectMethod      = "$select"
	selectFirstMethod = "$selectFirst"
	selectLastMethod  = "$selectLast"
	projectMethod     = "$project"
)

// Names #this and #root are translated into.
const (
	thisVar = "$this"
	rootVar = "$root"
)

// Functions the selection patch calls, compiled into every program as pureHelpers.
const (
	sourceFunc       = "$source"
	propFunc         = "$prop"
	keysOfFunc       = "$keysOf"
	testFunc         = "$test"
	selectedFunc     = "$selected"
	selectedOneFunc  = "$selectedOne"
	selectedLastFunc = "$selectedLast"
)

// selectionOp describes one selection operator: how it is written, the expr builtin that loops
// over the elements, and the function that makes the loop's result SpEL's (none for .![).
type selectionOp struct {
	spel    string
	builtin string
	result  string
}

// selectionOps are the selection operators by the method name they are translated into. .$[ loops
// with filter, not findLast: expr's findLast leaves values on the machine's stack, so that it
// gives wrong results anywhere but at the end of an expression (['x', findLast(l, p)]).
var selectionOps = map[string]selectionOp{
	selectMethod:      {".?[", "filter", selectedFunc},
	selectFirstMethod: {".^[", "find", selectedOneFunc},
	selectLastMethod:  {".$[", "filter", selectedLastFunc},
	projectMethod:     {".![", "map", ""},
}

// selectionCall recognises the translated form of a selection, list.$select(), returning the
// member node whose Node is the list, and the operator.
func selectionCall(call *ast.CallNode) (*ast.MemberNode, selectionOp, bool) {
	m, ok := call.Callee.(*ast.MemberNode)
	if !ok || !m.Method || len(call.Arguments) != 0 {
		return nil, selectionOp{}, false
	}
	name, ok := m.Property.(*ast.StringNode)
	if !ok {
		return nil, selectionOp{}, false
	}
	op, ok := selectionOps[name.Value]
	return m, op, ok
}

// selectionPatch rewrites selections, projections and #root.name into plain expr. It runs in three
// passes: selectionScan before anything is rewritten, the patch itself, and selectionLeftovers,
// which rejects what could not be rewritten.
type selectionPatch struct {
	// roots are the root names at run time; nil when only checking, where every name may be one.
	roots map[string]bool
	// lets are the names the expression declares with let, which are never element keys.
	lets map[string]bool
	// operand is the text of each selection's list as written, for messages.
	operand map[*ast.CallNode]string
	// rootRefs are the identifiers #root.name became, which are never element keys.
	rootRefs map[*ast.IdentifierNode]bool
	count    int
	// err is the first construct that cannot be rewritten, at loc.
	err error
	loc file.Location
}

func newSelectionPatch(names []string) *selectionPatch {
	p := &selectionPatch{
		lets:     map[string]bool{},
		operand:  map[*ast.CallNode]string{},
		rootRefs: map[*ast.IdentifierNode]bool{},
	}
	if names != nil {
		p.roots = make(map[string]bool, len(names)+3)
		for _, n := range append(names, varTrigger, varParameters, varExecution) {
			p.roots[n] = true
		}
	}
	return p
}

func (p *selectionPatch) isRoot(name string) bool { return p.roots == nil || p.roots[name] }

func (p *selectionPatch) fail(node ast.Node, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
		p.loc = node.Location()
	}
}

// selectionScan records, before anything is rewritten, the let names and the text of every
// selection's list.
type selectionScan struct{ p *selectionPatch }

func (s selectionScan) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		s.p.lets[n.Name] = true
	case *ast.CallNode:
		if m, _, ok := selectionCall(n); ok {
			s.p.operand[n] = spelText(m.Node.String())
		}
	}
}

// Visit rewrites #root.name and list.$select()[p]. The walk goes children first, so a selection
// inside p has already been rewritten when p is bound to its element.
func (p *selectionPatch) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == rootVar {
		name, ok := n.Property.(*ast.StringNode)
		if !ok || n.Method {
			return // left for selectionLeftovers
		}
		ref := &ast.IdentifierNode{Value: name.Value}
		p.rootRefs[ref] = true
		ast.Patch(node, ref)
		return
	}
	inner := n.Node
	if chain, ok := inner.(*ast.ChainNode); ok {
		inner = chain.Node // list?.?[p]: the ?. is handled below
	}
	call, ok := inner.(*ast.CallNode)
	if !ok {
		return
	}
	callee, op, ok := selectionCall(call)
	if !ok {
		return
	}
	p.count++
	b := nodeBuilder{loc: n.Location()}
	list, elem, keys := "$s"+strconv.Itoa(p.count), "$e"+strconv.Itoa(p.count), "$k"+strconv.Itoa(p.count)
	text := p.operand[call] + op.spel + "...]"
	body := n.Property
	binder := elementBinder{p: p, elem: elem, keys: keys, fixed: map[*ast.IdentifierNode]bool{}, b: b}
	ast.Walk(&body, fixedNames{binder.fixed})
	ast.Walk(&body, &binder)
	if op.builtin != "map" {
		body = b.call(testFunc, body, b.str(text))
	}
	loop := b.set(&ast.BuiltinNode{Name: op.builtin, Arguments: []ast.Node{
		b.ident(list),
		b.set(&ast.PredicateNode{Node: b.set(&ast.VariableDeclaratorNode{
			Name: elem, Value: b.set(&ast.PointerNode{}), Expr: body})}),
	}})
	result := loop
	if op.result != "" {
		result = b.call(op.result, b.ident(list), loop)
	}
	if callee.Optional {
		// list?.?[p] is null when list is.
		result = b.set(&ast.ConditionalNode{Ternary: true,
			Cond: b.set(&ast.BinaryNode{Operator: "==", Left: b.ident(list), Right: b.set(&ast.NilNode{})}),
			Exp1: b.set(&ast.NilNode{}), Exp2: result})
	}
	if binder.readsKeys {
		result = b.set(&ast.VariableDeclaratorNode{Name: keys, Value: b.call(keysOfFunc, b.ident(list)), Expr: result})
	}
	source := b.call(sourceFunc, callee.Node, b.str(text), b.set(&ast.BoolNode{Value: callee.Optional}))
	ast.Patch(node, b.set(&ast.VariableDeclaratorNode{Name: list, Value: source, Expr: result}))
}

// fixedNames collects the identifiers that are not element keys: the names of called functions
// and the root names of nested selections, already bound.
type fixedNames struct{ fixed map[*ast.IdentifierNode]bool }

func (f fixedNames) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	f.fixed[id] = true
	if id.Value == propFunc && len(call.Arguments) == 4 {
		if root, ok := call.Arguments[3].(*ast.IdentifierNode); ok {
			f.fixed[root] = true
		}
	}
}

// elementBinder binds the body of one selection to its element: it rewrites a bare name n into
// $prop(elem, "n"), or $prop(elem, "n", keys, n) when n may be a root name, and a bare call m(args)
// that is no helper into $method(elem, "m", args).
type elementBinder struct {
	p          *selectionPatch
	elem, keys string
	fixed      map[*ast.IdentifierNode]bool
	b          nodeBuilder
	// readsKeys is set when a $prop needs the keys of the elements.
	readsKeys bool
}

func (e *elementBinder) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if e.fixed[n] || e.p.rootRefs[n] || e.p.lets[n.Value] {
			return
		}
		if n.Value == thisVar {
			ast.Patch(node, e.b.ident(e.elem))
			return
		}
		if strings.HasPrefix(n.Value, "$") {
			return
		}
		args := []ast.Node{e.b.ident(e.elem), e.b.str(n.Value)}
		if e.p.isRoot(n.Value) {
			args = append(args, e.b.ident(e.keys), e.b.ident(n.Value))
			e.readsKeys = true
		}
		ast.Patch(node, e.b.call(propFunc, args...))
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || strings.HasPrefix(id.Value, "$") || e.p.lets[id.Value] || isHelper(id.Value) {
			return
		}
		args := append([]ast.Node{e.b.ident(e.elem), e.b.str(id.Value)}, n.Arguments...)
		ast.Patch(node, e.b.call(methodFunc, args...))
	}
}

// isHelper reports whether name is a function every expression can call.
func isHelper(name string) bool {
	_, env := envHelperTypes[name]
	_, pure := pureHelpers[name]
	return env || pure
}

// selectionLeftovers rejects what the patch could not rewrite: #this outside brackets, #root not
// followed by a name, and a selection whose brackets hold no single expression (list.?[1:2]).
type selectionLeftovers struct{ p *selectionPatch }

func (l selectionLeftovers) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		switch n.Value {
		case thisVar:
			l.p.fail(n, "#this is only defined inside .?[...], .^[...], .$[...] and .![...], where it is the element")
		case rootVar:
			l.p.fail(n, "#root must be followed by a name, such as #root.trigger")
		}
	case *ast.CallNode:
		if _, op, ok := selectionCall(n); ok {
			l.p.fail(n, "%s...] must hold one expression", op.spel)
		}
	}
}

// nodeBuilder makes the nodes of a rewrite, all at the location of what they replace, so that a
// compile error in them points at the selection the user wrote.
type nodeBuilder struct{ loc file.Location }

func (b nodeBuilder) set(n ast.Node) ast.Node {
	n.SetLocation(b.loc)
	return n
}

func (b nodeBuilder) ident(name string) ast.Node { return b.set(&ast.IdentifierNode{Value: name}) }

func (b nodeBuilder) str(s string) ast.Node { return b.set(&ast.StringNode{Value: s}) }

func (b nodeBuilder) call(name string, args ...ast.Node) ast.Node {
	return b.set(&ast.CallNode{Callee: b.ident(name), Arguments: args})
}

// mapEntry is one entry of a map being selected from or projected, SpEL's Map.Entry: its key and
// value are read as key and value.
type mapEntry map[string]any

// mapEntries stands for a map in a selection: its entries in key order.
type mapEntries []any

// sourceHelper is $source(value, text, optional): the elements a selection loops over.
func sourceHelper(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("%s takes 3 arguments, got %d", sourceFunc, len(args))
	}
	v := args[0]
	text, _ := args[1].(string)
	verb := "select from"
	if strings.Contains(text, ".![") {
		verb = "project"
	}
	if v == nil {
		if optional, _ := args[2].(bool); optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: cannot %s null", text, verb)
	}
	if _, ok := v.(string); !ok {
		if m, ok := stringMap(v); ok {
			entries := make(mapEntries, 0, len(m))
			for _, k := range slices.Sorted(maps.Keys(m)) {
				entries = append(entries, mapEntry{"key": k, "value": m[k]})
			}
			return entries, nil
		}
		if l, ok := list(v); ok {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%s: cannot %s %s; only from a list or a map", text, verb, describeValue(v))
}

// keysOfHelper is $keysOf(elements): the keys any of the elements has.
func keysOfHelper(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%s takes 1 argument, got %d", keysOfFunc, len(args))
	}
	keys := map[string]bool{}
	l, _ := list(args[0])
	for _, e := range l {
		if m, ok := stringMap(e); ok {
			for k := range m {
				keys[k] = true
			}
		}
	}
	return keys, nil
}

// propHelper is $prop(element, name[, keys, root]): a bare name inside selection brackets, root
// being the root name's value, used when none of the elements has the key (keys). See the comment
// at the top of this file for why a key the element lacks is null.
func propHelper(args ...any) (any, error) {
	if len(args) != 2 && len(args) != 4 {
		return nil, fmt.Errorf("%s takes 2 or 4 arguments, got %d", propFunc, len(args))
	}
	elem := args[0]
	name, _ := args[1].(string)
	m, isMap := stringMap(elem)
	if v, ok := m[name]; ok {
		return v, nil
	}
	if len(args) == 4 {
		if keys, _ := args[2].(map[string]bool); !keys[name] {
			return args[3], nil
		}
	}
	if isMap {
		return nil, nil
	}
	return nil, fmt.Errorf("%s: the element is %s, which has no %q", name, describeValue(elem), name)
}

// testHelper is $test(value, text): a selection condition, which must be true or false. Null, as
// a missing key gives, counts as false.
func testHelper(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%s takes 2 arguments, got %d", testFunc, len(args))
	}
	switch v := args[0].(type) {
	case bool:
		return v, nil
	case nil:
		return false, nil
	}
	return nil, fmt.Errorf("%s: the condition gave %s, not true or false", args[1], describeValue(args[0]))
}

// selectedHelper is $selected(source, elements): the result of .?[, a map when the source was one.
func selectedHelper(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%s takes 2 arguments, got %d", selectedFunc, len(args))
	}
	l, _ := list(args[1])
	if _, ok := args[0].(mapEntries); !ok {
		return l, nil
	}
	out := make(map[string]any, len(l))
	for _, e := range l {
		entry, _ := e.(mapEntry)
		key, _ := entry["key"].(string)
		out[key] = entry["value"]
	}
	return out, nil
}

// selectedOneHelper is $selectedOne(source, element): the result of .^[ and .$[, a map of one
// entry when the source was a map.
func selectedOneHelper(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%s takes 2 arguments, got %d", selectedOneFunc, len(args))
	}
	entry, ok := args[1].(mapEntry)
	if _, fromMap := args[0].(mapEntries); !fromMap || !ok {
		return args[1], nil
	}
	key, _ := entry["key"].(string)
	return map[string]any{key: entry["value"]}, nil
}

// selectedLastHelper is $selectedLast(source, elements): the result of .$[, the last of the
// elements the condition held for.
func selectedLastHelper(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%s takes 2 arguments, got %d", selectedLastFunc, len(args))
	}
	l, _ := list(args[1])
	if len(l) == 0 {
		return nil, nil
	}
	return selectedOneHelper(args[0], l[len(l)-1])
}
