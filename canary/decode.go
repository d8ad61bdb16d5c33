package canary

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gennaker/gennaker/pipeline"
)

// DecodeStrict reads a canary config from JSON (or YAML) and reports, by JSON path, everything
// that does not fit Kayenta's format: a malformed document, unknown fields (encoding/json would
// silently drop a misspelt "mustHavedata", or match "NanStrategy" regardless of case), and
// values of the wrong type. A query's source-specific fields are not unknown: they are kept in
// Query.Extra. When there are problems the returned config may be incomplete; Validate checks
// the config's content.
func DecodeStrict(data []byte) (Config, []pipeline.Problem) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Config{}, []pipeline.Problem{{Message: "the document is empty: a canary config is a JSON object"}}
	}
	if trimmed[0] != '{' {
		converted, err := yaml.YAMLToJSON(trimmed)
		if err != nil {
			return Config{}, []pipeline.Problem{{Message: fmt.Sprintf("not valid JSON or YAML: %v", err)}}
		}
		trimmed = converted
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Config{}, []pipeline.Problem{{Message: fmt.Sprintf("not valid JSON: %v", err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, []pipeline.Problem{{Message: "not valid JSON: more than one value in the document"}}
	}
	if _, ok := doc.(map[string]any); !ok {
		return Config{}, []pipeline.Problem{{Message: fmt.Sprintf("a canary config is a JSON object, not %s", jsonKind(doc))}}
	}
	var ps problems
	ps.checkShape(doc, reflect.TypeFor[Config](), "")
	var cfg Config
	if err := json.Unmarshal(trimmed, &cfg); err != nil && len(ps) == 0 {
		// The shape check should have caught whatever encoding/json refuses; report it anyway.
		ps.add("", "%v", err)
	}
	return cfg, ps
}

var (
	configVersionType = reflect.TypeFor[ConfigVersion]()
	queryType         = reflect.TypeFor[Query]()
)

// checkShape compares a decoded JSON value with the Go type it will be read into.
func (ps *problems) checkShape(v any, t reflect.Type, path string) {
	if v == nil {
		// null leaves the zero value, which Validate judges.
		return
	}
	if t == configVersionType {
		switch v.(type) {
		case string, json.Number:
		default:
			ps.add(path, "expected a string, got %s", jsonKind(v))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		ps.checkShape(v, t.Elem(), path)
	case reflect.Interface:
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "expected an object, got %s", jsonKind(v))
			return
		}
		fields := jsonFields(t)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			f, known := fields[key]
			switch {
			case known:
				ps.checkShape(obj[key], f, joinKey(path, key))
			case t == queryType:
				// A source-specific option, kept in Query.Extra.
			default:
				ps.add(joinKey(path, key), "%s", unknownField(key, fields))
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "expected an object, got %s", jsonKind(v))
			return
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			ps.checkShape(obj[key], t.Elem(), joinKey(path, key))
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			ps.add(path, "expected a list, got %s", jsonKind(v))
			return
		}
		for i, e := range list {
			ps.checkShape(e, t.Elem(), joinIndex(path, i))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(path, "expected a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(path, "expected true or false, got %s", jsonKind(v))
		}
	case reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			ps.add(path, "expected a number, got %s", jsonKind(v))
		}
	case reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "expected a whole number, got %s", jsonKind(v))
			return
		}
		if _, err := n.Int64(); err != nil {
			ps.add(path, "expected a whole number, got %s", n)
		}
	}
}

// jsonFields maps the JSON names of a struct's exported fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// unknownField words the problem, pointing at the field meant when only the case differs.
func unknownField(key string, fields map[string]reflect.Type) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf("unknown field (did you mean %q?)", name)
		}
	}
	return "unknown field"
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
