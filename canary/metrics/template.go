package metrics

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Expand substitutes the placeholders of a query template the way Kayenta's query templates do, so
// canary configs written for Kayenta keep their meaning:
//
//   - ${scope} and ${location} are the scope's fields, bound only when not empty;
//   - ${key} is Extended[key], which wins over scope and location;
//   - ${key:-default} falls back to default when key is unbound or empty;
//   - $${ is a literal ${.
//
// A placeholder nothing binds is an ErrBadQuery naming it: a query run with a hole in it would
// measure something other than what the config meant, silently.
func Expand(template string, s Scope) (string, error) {
	bindings := make(map[string]string, 2+len(s.Extended))
	if s.Scope != "" {
		bindings["scope"] = s.Scope
	}
	if s.Location != "" {
		bindings["location"] = s.Location
	}
	maps.Copy(bindings, s.Extended)

	var out strings.Builder
	var unbound []string
	rest := template
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			out.WriteString(rest)
			break
		}
		if i > 0 && rest[i-1] == '$' {
			// The escape: the first $ is dropped and ${ kept as text.
			out.WriteString(rest[:i-1])
			out.WriteString("${")
			rest = rest[i+2:]
			continue
		}
		out.WriteString(rest[:i])
		end := strings.IndexByte(rest[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("%w: unterminated placeholder %q in %q", ErrBadQuery, rest[i:], template)
		}
		name := rest[i+2 : i+2+end]
		rest = rest[i+2+end+1:]
		name, fallback, hasFallback := strings.Cut(name, ":-")
		if name == "" {
			return "", fmt.Errorf("%w: empty placeholder ${} in %q", ErrBadQuery, template)
		}
		value, ok := bindings[name]
		switch {
		case ok && value != "":
			out.WriteString(value)
		case hasFallback:
			out.WriteString(fallback)
		case ok:
			// Bound on purpose to the empty string by an extended parameter.
		default:
			if !slices.Contains(unbound, name) {
				unbound = append(unbound, name)
			}
		}
	}
	if len(unbound) > 0 {
		known := slices.Sorted(maps.Keys(bindings))
		return "", fmt.Errorf("%w: nothing binds %s in %q (bound: %s)", ErrBadQuery,
			placeholders(unbound), template, listOrNone(known))
	}
	return out.String(), nil
}

// placeholders writes names as they appear in a template, for messages.
func placeholders(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "${" + n + "}"
	}
	return strings.Join(quoted, ", ")
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
