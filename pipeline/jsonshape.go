package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// maxShapeDepth bounds how deep toJSONShape follows nested values, so a value that refers to
// itself fails instead of recursing forever.
const maxShapeDepth = 10000

// toJSONShape converts v to the values encoding/json would produce when reading v's JSON:
// map[string]any, []any, string, bool, nil, int64 for whole numbers that were integers and float64
// otherwise. Containers are always copied, so the result shares nothing mutable with v.
func toJSONShape(v any) (any, error) {
	return shape(v, 0)
}

func shape(v any, depth int) (any, error) {
	if depth > maxShapeDepth {
		return nil, errors.New("value is nested too deeply")
	}
	switch x := v.(type) {
	case nil, bool, string, int64:
		return x, nil
	case float64:
		return finite(x)
	case int:
		return int64(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("invalid number %q", x.String())
		}
		return finite(f)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case time.Duration:
		return x.String(), nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, err := shape(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := shape(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	return shapeReflect(reflect.ValueOf(v), depth)
}

// shapeReflect handles the typed values Go code builds (map[string]string, []int, pointers);
// anything else goes through encoding/json so its MarshalJSON is honoured.
func shapeReflect(rv reflect.Value, depth int) (any, error) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return float64(u), nil
	case reflect.Float32, reflect.Float64:
		return finite(rv.Float())
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		if _, ok := rv.Interface().(json.Marshaler); ok {
			break
		}
		return shape(rv.Elem().Interface(), depth+1)
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			s, err := shape(iter.Value().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[iter.Key().String()] = s
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		out := make([]any, rv.Len())
		for i := range out {
			s, err := shape(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case reflect.Invalid:
		return nil, nil
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return nil, fmt.Errorf("a %s cannot be written as JSON", rv.Kind())
	}
	return viaJSON(rv.Interface())
}

// viaJSON converts a value by writing and reading its JSON.
func viaJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be written as JSON: %w", err)
	}
	var out any
	if err := unmarshalNumbers(raw, &out); err != nil {
		return nil, err
	}
	return normalizeNumbers(out), nil
}

// finite rejects NaN and infinities, which JSON cannot carry (a division by zero gives one).
func finite(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v is not a number JSON can hold", f)
	}
	return f, nil
}

// DeepCopy copies the JSON containers of v so the copy can be changed without touching v. Values of
// other types are shared, as they are not changed in place by this package.
func DeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = DeepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = DeepCopy(e)
		}
		return out
	case []string:
		return append([]string(nil), x...)
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	}
	return v
}

// stringify renders a value as text the way an expression result is spliced into a string:
// strings as they are, null as nothing, numbers and booleans as JSON does, containers as JSON.
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

// joinKey extends a path such as "payload" with a map key: "payload.items", or
// `payload["odd key"]` when the key is not a plain name.
func joinKey(path, key string) string {
	if !isPlainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinIndex extends a path with a list index: "items[0]".
func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// isPlainKey reports whether a key reads unambiguously after a dot.
func isPlainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r == '_' || r == '-' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return !strings.HasPrefix(key, "-")
}
