package triggers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// decodeObject reads a body that must be one JSON object. Numbers become int64 when they are whole
// and fit, float64 otherwise, as the pipeline model and expressions expect.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: the body is not JSON: %v", ErrBadPayload, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: the body holds more than one JSON value", ErrBadPayload)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the body is JSON but not an object", ErrBadPayload)
	}
	return normalize(m).(map[string]any), nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// text renders a payload value for a constraint as Spinnaker does: strings as they are, booleans
// true/false, numbers without a trailing .0, containers as JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		// Plain digits as far as JavaScript prints them so; beyond, an exponent keeps it short.
		if math.Abs(x) < 1e21 {
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

// field reads a value by a top-level key or, when there is none, a dotted path through objects
// (and lists, by index): "build.status", "commits.0.id". A missing or null value is not found.
func field(payload map[string]any, key string) (any, bool) {
	if v, ok := payload[key]; ok {
		return v, v != nil
	}
	var cur any = payload
	for _, part := range strings.Split(key, ".") {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// str reads a string along a path of object keys; anything else reads as "".
func str(v any, path ...string) string {
	s, _ := at(v, path...).(string)
	return s
}

// obj reads an object along a path of object keys, or nil.
func obj(v any, path ...string) map[string]any {
	m, _ := at(v, path...).(map[string]any)
	return m
}

func at(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// first gives the first non-empty string.
func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// quote shortens a payload value for a Reasons line.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// unmetConstraints checks every constraint, in key order, with check, and joins what each failed
// says; "" when all are met.
func unmetConstraints(constraints map[string]string, check func(key, pattern string) string) string {
	var failed []string
	for _, key := range slices.Sorted(maps.Keys(constraints)) {
		if why := check(key, constraints[key]); why != "" {
			failed = append(failed, why)
		}
	}
	return strings.Join(failed, "; ")
}
