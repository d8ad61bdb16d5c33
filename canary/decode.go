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
// Query.Extra.
//
// The config returned holds everything in the document that is well typed, so that Validate can
// judge all of it at once. What DecodeStrict reports is left out: an unknown field is dropped,
// and a value of the wrong type reads as null, leaving the zero value where it was (a field
// unset, a list element or map entry zero), so that every other value keeps its place and its
// path. (A query's source-specific field that differs from a typed one only in case is kept, but
// must have that field's type: encoding/json reads it into the field too.) Validate may then
// find problems that only the left-out values cause, such as a metric whose wrongly typed name
// is "required"; WithoutLeftOut sets them aside. A problem without a path means the document is
// not a config at all; the config returned is then empty.
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
	// The document is a JSON object, which fits Config.
	ps.prune(doc, reflect.TypeFor[Config](), "")
	// What is left fits Config, so encoding/json reads all of it: a value it refused would stop
	// it, and a query's UnmarshalJSON failing would lose every field after the query.
	pruned, err := json.Marshal(doc)
	if err != nil {
		return Config{}, append(ps, pipeline.Problem{Message: fmt.Sprintf("re-encoding the config: %v", err)})
	}
	var cfg Config
	if err := json.Unmarshal(pruned, &cfg); err != nil {
		// The shape check should have left out whatever encoding/json refuses; report it anyway.
		return Config{}, append(ps, pipeline.Problem{Message: err.Error()})
	}
	return cfg, ps
}

var (
	configVersionType = reflect.TypeFor[ConfigVersion]()
	queryType         = reflect.TypeFor[Query]()
)

// prune compares a decoded JSON value with the Go type it will be read into, reports what does
// not fit and takes it out of the document, in place: an unknown field or a field of the wrong
// type is deleted, and a list element or map entry of the wrong type is replaced by null. It
// reports whether v itself fits t; when it does not, the caller takes v out.
func (ps *problems) prune(v any, t reflect.Type, path string) (fits bool) {
	if v == nil {
		// null leaves the zero value, which Validate judges.
		return true
	}
	if t == configVersionType {
		switch v.(type) {
		case string, json.Number:
			return true
		}
		ps.add(path, "expected a string, got %s", jsonKind(v))
		return false
	}
	switch t.Kind() {
	case reflect.Pointer:
		return ps.prune(v, t.Elem(), path)
	case reflect.Interface:
		return true
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "expected an object, got %s", jsonKind(v))
			return false
		}
		fields := jsonFields(t)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			f, known := fields[key]
			switch {
			case known:
				if !ps.prune(obj[key], f, joinKey(path, key)) {
					delete(obj, key)
				}
			case t == queryType:
				// A source-specific option, kept in Query.Extra. encoding/json also reads one that
				// differs from a typed field only in case into that field, so it must fit there.
				if f, ok := foldedField(key, fields); ok && !ps.prune(obj[key], f, joinKey(path, key)) {
					delete(obj, key)
				}
			default:
				ps.add(joinKey(path, key), "%s", unknownField(key, fields))
				delete(obj, key)
			}
		}
		return true
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "expected an object, got %s", jsonKind(v))
			return false
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			if !ps.prune(obj[key], t.Elem(), joinKey(path, key)) {
				obj[key] = nil
			}
		}
		return true
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			ps.add(path, "expected a list, got %s", jsonKind(v))
			return false
		}
		for i, e := range list {
			if !ps.prune(e, t.Elem(), joinIndex(path, i)) {
				list[i] = nil
			}
		}
		return true
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(path, "expected a string, got %s", jsonKind(v))
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(path, "expected true or false, got %s", jsonKind(v))
			return false
		}
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "expected a number, got %s", jsonKind(v))
			return false
		}
		if _, err := n.Float64(); err != nil {
			ps.add(path, "expected a number, got %s, which is too large", n)
			return false
		}
	case reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "expected a whole number, got %s", jsonKind(v))
			return false
		}
		if _, err := n.Int64(); err != nil {
			ps.add(path, "expected a whole number, got %s", n)
			return false
		}
	}
	return true
}

// WithoutLeftOut returns found, problems of a config DecodeStrict returned (Validate's, say),
// without those that only the values DecodeStrict left out cause; decoded are DecodeStrict's
// problems, which locate those values. A problem is set aside when it is
//   - at or beneath a left-out value, which reads as missing ("required");
//   - about a list or object holding a left-out value as a whole, which cannot be judged without
//     it (classifier.groupWeights adding up to 100). A query's one such check, that it has a
//     metricName, a customInlineTemplate or a whole-query customFilterTemplate, is set aside
//     only when one of those, or the template named, was left out;
//   - about the template a query names (customFilterTemplate) when that template was left out;
//   - that a positive group weight is used by no metric, when some metric's groups were left out.
//
// Every other problem is kept, so a config is judged in full even when some of it is wrongly
// typed.
func WithoutLeftOut(cfg Config, decoded, found []pipeline.Problem) []pipeline.Problem {
	if len(decoded) == 0 || len(found) == 0 {
		return found
	}
	out := leftOut(make([]string, len(decoded)))
	for i, p := range decoded {
		out[i] = p.Path
	}
	// hidden are more paths whose problems are set aside; queries are the paths of the metrics'
	// queries, whose check of the whole is set aside only for the fields it reads.
	hidden, queries := map[string]bool{}, map[string]bool{}
	groupsLeftOut := out.covers("metrics")
	for i, m := range cfg.Metrics {
		path := joinIndex("metrics", i)
		q := path + ".query"
		queries[q] = true
		if n := m.Query.CustomFilterTemplate; n != "" && out.covers(joinKey("templates", n)) {
			hidden[q+".customFilterTemplate"] = true
			hidden[q] = true
		}
		for _, f := range []string{"metricName", "customInlineTemplate", "customFilterTemplate"} {
			if out.touches(q + "." + f) {
				hidden[q] = true
			}
		}
		if out.touches(path + ".groups") {
			groupsLeftOut = true
		}
	}
	if groupsLeftOut {
		used := map[string]bool{}
		for _, m := range cfg.Metrics {
			for _, g := range m.Groups {
				used[g] = true
			}
		}
		for g, w := range cfg.Classifier.GroupWeights {
			// The only check of a positive weight is whether a metric uses it.
			if w > 0 && !used[g] {
				hidden[joinKey("classifier.groupWeights", g)] = true
			}
		}
	}
	return slices.DeleteFunc(slices.Clone(found), func(p pipeline.Problem) bool {
		return out.covers(p.Path) || hidden[p.Path] || !queries[p.Path] && out.beneath(p.Path)
	})
}

// leftOut are the paths of the values DecodeStrict left out.
type leftOut []string

// covers reports whether path is at or beneath a left-out value.
func (l leftOut) covers(path string) bool {
	return slices.ContainsFunc(l, func(v string) bool { return within(path, v) })
}

// beneath reports whether a left-out value is strictly beneath path.
func (l leftOut) beneath(path string) bool {
	return slices.ContainsFunc(l, func(v string) bool { return v != path && within(v, path) })
}

// touches reports whether a left-out value is at, above or beneath path.
func (l leftOut) touches(path string) bool {
	return l.covers(path) || l.beneath(path)
}

// within reports whether path is root or beneath it; every path is within the root, "".
func within(path, root string) bool {
	if root == "" {
		return true
	}
	rest, ok := strings.CutPrefix(path, root)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
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

// foldedField returns the type of the field whose name differs from key only in case.
func foldedField(key string, fields map[string]reflect.Type) (reflect.Type, bool) {
	for name, t := range fields {
		if strings.EqualFold(name, key) {
			return t, true
		}
	}
	return nil, false
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
