package pipeline

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// fields reads a settings object (a stage's context, a trigger, a part of either) into typed
// values and records what is wrong with them, each problem at its JSON path. It accepts what
// Spinnaker accepts: a string where a number or a boolean is expected when it holds one ("30",
// "true"), a single string where Spinnaker splits a comma-separated list, null as absent.
//
// The same reader runs twice: when a pipeline is saved, on settings whose ${...} expressions are
// not evaluated yet, and when the stage runs, on the evaluated settings. A value that fails a check
// while it still holds an expression is recorded as an unevaluated problem: validation at save time
// sets those aside (the expression decides), and at run time, where the expression has been
// evaluated or could not be, they fail the stage like any other.
type fields struct {
	ctx  map[string]any
	path string
	ps   *problems
}

func newFields(ctx map[string]any, path string, ps *problems) fields {
	return fields{ctx: ctx, path: path, ps: ps}
}

// at is the path of one of the settings.
func (f fields) at(key string) string { return joinKey(f.path, key) }

// sub reads a nested object of settings at key.
func (f fields) sub(key string, ctx map[string]any) fields {
	return newFields(ctx, f.at(key), f.ps)
}

// get returns a setting; a null setting counts as absent.
func (f fields) get(key string) (any, bool) {
	v, ok := f.ctx[key]
	return v, ok && v != nil
}

// has reports whether a setting is present and not null.
func (f fields) has(key string) bool {
	_, ok := f.get(key)
	return ok
}

// bad records that the value at path fails a check; see fields for when it counts as unevaluated.
func (f fields) bad(path string, v any, format string, args ...any) {
	f.ps.addValue(v, path, format, args...)
}

func isExprString(v any) bool {
	s, ok := v.(string)
	return ok && hasExpression(s)
}

// holdsExpression reports whether v, or any string inside it, holds a ${...} expression.
func holdsExpression(v any) bool {
	switch x := v.(type) {
	case string:
		return hasExpression(x)
	case map[string]any:
		for _, e := range x {
			if holdsExpression(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holdsExpression(e) {
				return true
			}
		}
	}
	return false
}

// text reads a text setting; ok is false for anything but a string.
func text(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// requiredString returns a non-blank text setting, or records why there is none.
func (f fields) requiredString(key string) string {
	v, ok := f.get(key)
	s, isText := text(v)
	switch {
	case !ok || isText && strings.TrimSpace(s) == "":
		f.ps.add(f.at(key), "required")
	case !isText:
		f.bad(f.at(key), v, "must be a string")
	}
	return s
}

// optionalString returns a text setting and whether it is present as text.
func (f fields) optionalString(key string) (string, bool) {
	v, ok := f.get(key)
	if !ok {
		return "", false
	}
	s, isText := text(v)
	if !isText {
		f.bad(f.at(key), v, "must be a string")
	}
	return s, isText
}

// str returns a text setting, empty when absent.
func (f fields) str(key string) string {
	s, _ := f.optionalString(key)
	return s
}

// trimmed returns a text setting without surrounding spaces, empty when absent.
func (f fields) trimmed(key string) string { return strings.TrimSpace(f.str(key)) }

// readBool reads a boolean written as true/false or as the text "true"/"false".
func readBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// optionalBool returns the setting and whether it is present as a boolean.
func (f fields) optionalBool(key string) (value, present bool) {
	v, ok := f.get(key)
	if !ok {
		return false, false
	}
	b, isBool := readBool(v)
	if !isBool {
		f.bad(f.at(key), v, "must be true or false")
	}
	return b, isBool
}

// boolean returns a boolean setting, def when absent.
func (f fields) boolean(key string, def bool) bool {
	if b, present := f.optionalBool(key); present {
		return b
	}
	return def
}

// readNumber reads a number written as one or as text holding one.
func readNumber(v any) (float64, bool) {
	if s, isString := v.(string); isString {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return n, err == nil && !math.IsNaN(n) && !math.IsInf(n, 0)
	}
	return number(v)
}

// float returns a number setting and whether it is present as a number.
func (f fields) float(key string) (float64, bool) {
	v, ok := f.get(key)
	if !ok {
		return 0, false
	}
	n, isNumber := readNumber(v)
	if !isNumber {
		f.bad(f.at(key), v, "must be a number, got %s", stringify(v))
	}
	return n, isNumber
}

// count returns a whole number setting of at least min: def when absent, and def too (with a
// problem recorded) when it is not one. Text holding a whole number counts, as in Spinnaker.
func (f fields) count(key string, min, def int64) int64 {
	v, ok := f.get(key)
	if !ok {
		return def
	}
	n, isNumber := readNumber(v)
	if !isNumber || n != math.Trunc(n) || n < float64(min) || n > math.MaxInt32 {
		f.bad(f.at(key), v, "must be a whole number of at least %d", min)
		return def
	}
	return int64(n)
}

// requiredCount is count for a setting that must be given.
func (f fields) requiredCount(key string, min int64) int64 {
	if !f.has(key) {
		f.ps.add(f.at(key), "required")
		return 0
	}
	return f.count(key, min, 0)
}

// optionalObject returns an object setting and whether it is present as one.
func (f fields) optionalObject(key string) (map[string]any, bool) {
	v, ok := f.get(key)
	if !ok {
		return nil, false
	}
	if m, isMap := v.(map[string]any); isMap {
		return m, true
	}
	f.bad(f.at(key), v, "must be an object")
	return nil, false
}

// list returns a list setting; required lists must have at least one item.
func (f fields) list(key string, required bool) ([]any, bool) {
	v, ok := f.get(key)
	if !ok {
		if required {
			f.ps.add(f.at(key), "required")
		}
		return nil, false
	}
	l, isList := v.([]any)
	switch {
	case !isList:
		f.bad(f.at(key), v, "must be a list")
		return nil, false
	case required && len(l) == 0:
		f.ps.add(f.at(key), "must have at least one item")
	}
	return l, true
}

// stringList returns a list of text settings, leaving out blank items.
func (f fields) stringList(key string) []string {
	l, _ := f.list(key, false)
	var out []string
	for i, item := range l {
		s, ok := text(item)
		if !ok {
			f.bad(joinIndex(f.at(key), i), item, "must be a string")
			continue
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// stringsOrCommaList reads Spinnaker's lists that may also be written as one comma-separated
// string, such as a webhook's successStatuses.
func (f fields) stringsOrCommaList(key string) []string {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	if s, isString := v.(string); isString {
		var out []string
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out
	}
	if _, isList := v.([]any); !isList {
		f.bad(f.at(key), v, "must be a comma-separated string or a list of strings")
		return nil
	}
	return f.stringList(key)
}

// statusCodes reads a list of HTTP status codes, also written as a comma-separated string.
func (f fields) statusCodes(key string) []int {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	var items []any
	switch x := v.(type) {
	case string:
		for part := range strings.SplitSeq(x, ",") {
			if part = strings.TrimSpace(part); part != "" {
				items = append(items, part)
			}
		}
	case []any:
		items = x
	default:
		f.bad(f.at(key), v, "must be a list of HTTP status codes")
		return nil
	}
	var codes []int
	for i, item := range items {
		n, isNumber := readNumber(item)
		if !isNumber || n != math.Trunc(n) || n < 100 || n > 599 {
			path := f.at(key)
			if _, isList := v.([]any); isList {
				path = joinIndex(path, i)
			}
			f.bad(path, item, "must be an HTTP status code (100-599)")
			continue
		}
		codes = append(codes, int(n))
	}
	return codes
}

// eachObject calls check for each item of a list that is an object, and records the items that
// are not, keeping problems in item order.
func (f fields) eachObject(key string, required bool, check func(i int, item fields)) {
	l, _ := f.list(key, required)
	for i, item := range l {
		m, ok := item.(map[string]any)
		if !ok {
			f.bad(joinIndex(f.at(key), i), item, "must be an object")
			continue
		}
		check(i, newFields(m, joinIndex(f.at(key), i), f.ps))
	}
}

// oneOf checks that a text setting is one of the allowed values; absent is def.
func (f fields) oneOf(key, def string, allowed ...string) string {
	s, ok := f.optionalString(key)
	if !ok || strings.TrimSpace(s) == "" {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	f.bad(f.at(key), s, "must be one of %s, not %q", strings.Join(allowed, ", "), s)
	return def
}

// problems collects Problems.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// addValue records a problem with the value v; it is unevaluated when v holds an expression.
func (ps *problems) addValue(v any, path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...), Unevaluated: holdsExpression(v)})
}

// warn records a problem that does not stop a save.
func (ps *problems) warn(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...), Warning: true})
}

// sortedKeys lists a map's keys in order, so problems and results come out the same every time.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
