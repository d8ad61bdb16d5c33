package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// templatePart is a piece of a string holding ${...} expressions: either literal text or one
// expression.
type templatePart struct {
	// text is the literal text, or for an expression its full source with the ${ and }.
	text string
	// expr is the expression between ${ and }; empty for literal text.
	expr   string
	isExpr bool
}

// unterminatedError says a ${ has no closing brace; the parts before it are still returned.
type unterminatedError struct{ rest string }

func (e *unterminatedError) Error() string { return "no closing } for ${" }

// splitTemplate cuts s into literal text and ${...} expressions. Braces inside an expression nest
// (map literals) and braces inside quoted strings do not count. An unclosed ${ stops the scan: the
// rest of s is returned as literal text together with an *unterminatedError.
func splitTemplate(s string) ([]templatePart, error) {
	var parts []templatePart
	for {
		start := strings.Index(s, "${")
		if start < 0 {
			if s != "" {
				parts = append(parts, templatePart{text: s})
			}
			return parts, nil
		}
		end := closingBrace(s, start+2)
		if end < 0 {
			parts = append(parts, templatePart{text: s})
			return parts, &unterminatedError{rest: s[start:]}
		}
		if start > 0 {
			parts = append(parts, templatePart{text: s[:start]})
		}
		parts = append(parts, templatePart{text: s[start : end+1], expr: s[start+2 : end], isExpr: true})
		s = s[end+1:]
	}
}

// hasExpression reports whether s holds a ${ that could start an expression.
func hasExpression(s string) bool { return strings.Contains(s, "${") }

// singleExpression returns the expression when s is exactly one ${...} and nothing else.
func singleExpression(s string) (string, bool) {
	parts, err := splitTemplate(s)
	if err != nil || len(parts) != 1 || !parts[0].isExpr {
		return "", false
	}
	return parts[0].expr, true
}

// closingBrace finds the } that ends an expression whose body starts at i, or -1.
func closingBrace(s string, i int) int {
	depth := 1
	var quote byte
	for ; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			switch {
			case c == '\\' && quote != '`':
				i++
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"', '`':
			quote = c
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// spelHelpers are the functions an expression may call with Spinnaker's #name( syntax.
var spelHelpers = map[string]bool{
	"alphanumerical": true,
	"currentStage":   true,
	"fromBase64":     true,

	"deployedServerGroups": true,

	"judgement":    true,
	"judgment":     true,
	"pipelineId":   true,
	"readJson":     true,
	"stage":        true,
	"stageByRefId": true,
	"stageExists":  true,
	"toBase64":     true,
	"toBoolean":    true,
	"toFloat":      true,
	"toInt":        true,
	"toJson":       true,

	"triggerResolvedArtifact":       true,
	"triggerResolvedArtifactByType": true,
}

// helperNames lists spelHelpers sorted, for messages.
func helperNames() string {
	names := make([]string, 0, len(spelHelpers))
	for n := range spelHelpers {
		names = append(names, "#"+n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// translateSpEL rewrites the parts of Spinnaker's expression language that expr spells differently;
// see translateSpELMapped.
func translateSpEL(src string) (string, error) {
	t, err := translateSpELMapped(src)
	return t.text, err
}

// spelTranslation is an expression rewritten into expr's syntax together with where each of its
// bytes came from, so that a position expr reports in the rewritten text can be shown in the text
// the user wrote.
type spelTranslation struct {
	source, text string
	// from[i] is the offset in source of byte i of text; from[len(text)] is len(source).
	from []int
}

// selectionMethods are the method names list.?[p], .^[p], .$[p] and .![e] are rewritten into:
// list.$select()[p] and so on, which expr parses as a method call followed by an index, keeping p
// and the user's closing ] where they were. selectionPatch then turns them into loops.
var selectionMethods = map[byte]string{
	'?': selectMethod,
	'^': selectFirstMethod,
	'$': selectLastMethod,
	'!': projectMethod,
}

// spelVariables are SpEL's #this and #root, rewritten to names expr accepts outside a predicate.
var spelVariables = map[string]string{"this": thisVar, "root": rootVar}

// translateSpELMapped rewrites, outside string literals: #name( into name(, null into nil, the
// Elvis operator ?: into ??, a doubled quote inside a single-quoted string into an escaped one,
// #this and #root into $this and $root, and the selection and projection operators .?[ .^[ .$[
// .![ into method calls (see selectionMethods). Only the last rewrite changes the length; the
// returned offsets undo it for messages.
func translateSpELMapped(src string) (spelTranslation, error) {
	out := make([]byte, 0, len(src)+16)
	from := make([]int, 0, len(src)+16)
	// keep copies src[i:j] unchanged; same writes s, of the same length, over src[i:].
	keep := func(i, j int) {
		for k := i; k < j && k < len(src); k++ {
			out = append(out, src[k])
			from = append(from, k)
		}
	}
	same := func(s string, i int) {
		for k := 0; k < len(s); k++ {
			out = append(out, s[k])
			from = append(from, i+k)
		}
	}
	// open holds the brackets not yet closed; a selection's records its operator, to name it when
	// it is never closed. After a mismatched bracket the count is off, and expr's message is left.
	type bracket struct {
		at    int
		op    string
		close byte
	}
	var open []bracket
	mismatched := false
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		if quote != 0 {
			switch {
			case c == '\\' && quote != '`':
				keep(i, i+2)
				i++
			case c == '\'' && quote == '\'' && i+1 < len(src) && src[i+1] == '\'':
				same(`\'`, i)
				i++
			default:
				if c == quote {
					quote = 0
				}
				keep(i, i+1)
			}
			continue
		}
		switch {
		case c == '\'' || c == '"' || c == '`':
			quote = c
			keep(i, i+1)
		case c == '#':
			name, call := identAt(src, i+1)
			if alias, ok := spelVariables[name]; ok && !call {
				same(alias, i)
				i += len(name)
				continue
			}
			if !call {
				keep(i, i+1)
				continue
			}
			if !spelHelpers[name] {
				return spelTranslation{}, fmt.Errorf("unknown function #%s; known functions: %s", name, helperNames())
			}
			same(" "+name, i)
			i += len(name)
		case c == '.' && selectionAt(src, i) > 0:
			j := selectionAt(src, i)
			op := "." + src[j-1:j+1]
			if numberBefore(src, i) {
				return spelTranslation{}, fmt.Errorf("%s must follow a list or a map, not a number (%s)", op, sourcePosition(src, i))
			}
			keep(i, i+1)
			for _, b := range []byte(selectionMethods[src[j-1]] + "()") {
				out = append(out, b)
				from = append(from, j-1)
			}
			keep(j, j+1)
			open = append(open, bracket{at: i, op: op, close: ']'})
			i = j
		case c == '.' && selectionWithoutBracket(src, i) != "":
			// expr would only say "expected name" about the text after the dot.
			op := selectionWithoutBracket(src, i)
			example := "condition"
			if op == ".!" {
				example = "expression"
			}
			return spelTranslation{}, fmt.Errorf("%s must be followed by [, as in list%s[%s] (%s)", op, op, example, sourcePosition(src, i))
		case c == '(' || c == '[' || c == '{':
			open = append(open, bracket{at: i, close: map[byte]byte{'(': ')', '[': ']', '{': '}'}[c]})
			keep(i, i+1)
		case c == ')' || c == ']' || c == '}':
			if len(open) == 0 || open[len(open)-1].close != c {
				mismatched = true
			} else {
				open = open[:len(open)-1]
			}
			keep(i, i+1)
		case c == '?' && i+1 < len(src) && src[i+1] == ':':
			same("??", i)
			i++
		case isIdentStart(c) && (i == 0 || !isIdentPart(src[i-1]) && src[i-1] != '.' && src[i-1] != '#'):
			name, _ := identAt(src, i)
			if name == "null" {
				same("nil ", i)
			} else {
				keep(i, i+len(name))
			}
			i += len(name) - 1
		default:
			keep(i, i+1)
		}
	}
	if quote == 0 && !mismatched {
		for _, b := range open {
			if b.op != "" {
				return spelTranslation{}, fmt.Errorf("no closing ] for %s (%s)", b.op, sourcePosition(src, b.at))
			}
		}
	}
	from = append(from, len(src))
	return spelTranslation{source: src, text: string(out), from: from}, nil
}

// selectionAt returns the index of the [ when src[i] is the . of a selection or projection
// (.?[ .^[ .$[ .![, with spaces allowed after the dot, as SpEL allows them between tokens), or 0.
func selectionAt(src string, i int) int {
	j := i + 1
	for j < len(src) && (src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r') {
		j++
	}
	if j+1 < len(src) && selectionMethods[src[j]] != "" && src[j+1] == '[' {
		return j + 1
	}
	return 0
}

// selectionWithoutBracket returns .? .^ or .! when src[i] is a dot followed by one of them without
// the [ that would make it a selection or projection, or "". (.$x is left alone: $x is a name.)
func selectionWithoutBracket(src string, i int) string {
	j := i + 1
	for j < len(src) && (src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r') {
		j++
	}
	if j < len(src) && strings.IndexByte("?^!", src[j]) >= 0 && (j+1 == len(src) || src[j+1] != '[') {
		return "." + src[j:j+1]
	}
	return ""
}

// numberBefore reports whether the text before src[i] is a number literal, which expr would read
// together with the dot.
func numberBefore(src string, i int) bool {
	k := i
	for k > 0 && isIdentPart(src[k-1]) {
		k--
	}
	return k < i && src[k] >= '0' && src[k] <= '9'
}

// sourcePosition gives the byte offset at in src as line:column, both counted from 1 and the
// column in characters, as expr shows positions.
func sourcePosition(src string, at int) string {
	line, col := 1, 1
	for i, r := range src {
		if i >= at {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("%d:%d", line, col)
}

// position gives the place in the source of the character at index r (in characters) of the
// translated text, as line:column.
func (t spelTranslation) position(r int) string {
	at := len(t.text)
	n := 0
	for i := range t.text {
		if n == r {
			at = i
			break
		}
		n++
	}
	return sourcePosition(t.source, t.from[at])
}

// spelUntranslate turns text printed from a translated expression back into what the user wrote,
// for messages.
var spelUntranslate = strings.NewReplacer(
	"."+selectMethod+"()[", ".?[",
	"."+selectFirstMethod+"()[", ".^[",
	"."+selectLastMethod+"()[", ".$[",
	"."+projectMethod+"()[", ".![",
	thisVar, "#this",
	rootVar, "#root",
)

// spelText gives text printed from a translated expression as the user wrote it.
func spelText(s string) string { return spelUntranslate.Replace(s) }

// identAt reads the identifier starting at i and reports whether a call's ( follows it.
func identAt(s string, i int) (name string, call bool) {
	j := i
	for j < len(s) && (isIdentPart(s[j]) && (j > i || isIdentStart(s[j]))) {
		j++
	}
	name = s[i:j]
	for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
		j++
	}
	return name, name != "" && j < len(s) && s[j] == '('
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
