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
	"fromBase64":     true,
	"judgement":      true,
	"judgment":       true,
	"readJson":       true,
	"stage":          true,
	"stageByRefId":   true,
	"stageExists":    true,
	"toBase64":       true,
	"toBoolean":      true,
	"toFloat":        true,
	"toInt":          true,
	"toJson":         true,

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

// translateSpEL rewrites the parts of Spinnaker's expression language that expr spells differently,
// outside string literals: #name( becomes name(, null becomes nil, the Elvis operator ?: becomes
// ??, and a doubled quote inside a single-quoted string becomes an escaped one. Every rewrite keeps
// the length, so positions in expr's error messages still point into what the user wrote.
func translateSpEL(src string) (string, error) {
	out := []byte(src)
	var quote byte
	for i := 0; i < len(out); i++ {
		c := out[i]
		if quote != 0 {
			switch {
			case c == '\\' && quote != '`':
				i++
			case c == '\'' && quote == '\'' && i+1 < len(out) && out[i+1] == '\'':
				out[i] = '\\'
				i++
			case c == quote:
				quote = 0
			}
			continue
		}
		switch {
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '#':
			name, call := identAt(src, i+1)
			if !call {
				continue
			}
			if !spelHelpers[name] {
				return "", fmt.Errorf("unknown function #%s; known functions: %s", name, helperNames())
			}
			out[i] = ' '
			i += len(name)
		case c == '?' && i+1 < len(out) && out[i+1] == ':':
			out[i+1] = '?'
			i++
		case isIdentStart(c) && (i == 0 || !isIdentPart(out[i-1]) && out[i-1] != '.' && out[i-1] != '#'):
			name, _ := identAt(src, i)
			if name == "null" {
				copy(out[i:], "nil ")
			}
			i += len(name) - 1
		}
	}
	return string(out), nil
}

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
