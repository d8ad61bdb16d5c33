package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ErrInvalid marks an error caused by what the pipeline asked for — a malformed manifest, an
// artifact that binds nowhere, a workload that cannot have its traffic managed — as opposed to a
// failure of the cluster. Retrying does not help; match it with errors.Is.
var ErrInvalid = errors.New("invalid deploy request")

// invalidError carries its own message and matches ErrInvalid, so messages stay free of a prefix.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// normalize copies an object into the shape the API machinery decodes JSON into: maps of string
// to any, []any, strings, bools, nil, int64 for whole numbers and float64 otherwise. Manifests
// arrive from YAML, JSON and expression evaluation with every other numeric type; one shape lets
// them be compared and handed to the dynamic client.
func normalize(v any) (map[string]any, error) {
	if u, ok := v.(*unstructured.Unstructured); ok {
		if u == nil {
			return nil, fmt.Errorf("expected a Kubernetes object, got nothing")
		}
		v = u.Object
	}
	switch v.(type) {
	case map[string]any:
	case nil:
		return nil, fmt.Errorf("expected a Kubernetes object, got nothing")
	default:
		return nil, fmt.Errorf("expected a Kubernetes object, got %s", describeValue(v))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be written as JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("expected a Kubernetes object, got nothing")
	}
	return fixNumbers(out).(map[string]any), nil
}

func fixNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = fixNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = fixNumbers(e)
		}
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	}
	return v
}

// describeValue names a JSON value's type the way a person writing YAML thinks of it.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the text %q", v)
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}

// deepCopy copies a normalized object.
func deepCopy(obj map[string]any) map[string]any {
	return deepCopyValue(obj).(map[string]any)
}

func deepCopyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyValue(e)
		}
		return out
	}
	return v
}

// mapAt walks fields of nested objects; nil when a field is missing or not an object.
func mapAt(obj map[string]any, fields ...string) map[string]any {
	cur := obj
	for _, f := range fields {
		next, _ := cur[f].(map[string]any)
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

// ensureMap walks fields of nested objects, creating the missing ones.
func ensureMap(obj map[string]any, fields ...string) map[string]any {
	cur := obj
	for _, f := range fields {
		next, _ := cur[f].(map[string]any)
		if next == nil {
			next = map[string]any{}
			cur[f] = next
		}
		cur = next
	}
	return cur
}

// mapsIn returns the objects in a list, skipping anything else. A list of the wrong shape is left
// for the API server to reject with its own, precise, message.
func mapsIn(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func stringAt(obj map[string]any, fields ...string) string {
	if len(fields) == 0 {
		return ""
	}
	m := mapAt(obj, fields[:len(fields)-1]...)
	if m == nil {
		return ""
	}
	s, _ := m[fields[len(fields)-1]].(string)
	return s
}

// intAt reads a whole number whatever numeric type it was decoded as.
func intAt(obj map[string]any, fields ...string) (int64, bool) {
	if len(fields) == 0 {
		return 0, false
	}
	m := mapAt(obj, fields[:len(fields)-1]...)
	if m == nil {
		return 0, false
	}
	switch n := m[fields[len(fields)-1]].(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func boolAt(obj map[string]any, fields ...string) bool {
	m := mapAt(obj, fields[:len(fields)-1]...)
	if m == nil {
		return false
	}
	b, _ := m[fields[len(fields)-1]].(bool)
	return b
}

// stringMapAt copies a map of strings such as labels, skipping values that are not strings.
func stringMapAt(obj map[string]any, fields ...string) map[string]string {
	m := mapAt(obj, fields...)
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// checkStrings refuses labels or annotations whose values are not strings: YAML turns an unquoted
// true or 3 into a boolean or number, which the API server rejects with a less helpful message.
func checkStrings(obj map[string]any, what string, fields ...string) error {
	raw, present := mapAt(obj, fields[:len(fields)-1]...)[fields[len(fields)-1]]
	if !present || raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return fmt.Errorf("%s is %s; it must be a map of names to strings", strings.Join(fields, "."), describeValue(raw))
	}
	for k, v := range m {
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s %q is %s; %s values are strings, so quote it", what, k, describeValue(v), what)
		}
	}
	return nil
}
