package pipeline

import "strings"

// ResolveParameters gives the parameters an execution starts with. Every given parameter is kept,
// declared or not. A declared parameter that is missing, null or "" takes its default (as a
// string, since Spinnaker passes every parameter as one), or "" when it has none, so expressions
// can read it. A required parameter that is still empty is a problem, as is a value outside the
// options of a parameter with hasOptions (compared as strings). The given map is not modified.
func ResolveParameters(cfg []Parameter, given map[string]any) (map[string]any, []Problem) {
	out := make(map[string]any, len(given)+len(cfg))
	for k, v := range given {
		out[k] = DeepCopy(v)
	}
	var ps problems
	done := map[string]bool{}
	for _, param := range cfg {
		name := strings.TrimSpace(param.Name)
		if name == "" || done[name] {
			continue
		}
		done[name] = true
		path := joinKey("parameters", name)
		value := out[name]
		if isEmptyValue(value) {
			value = defaultValue(param.Default)
			out[name] = value
		}
		if isEmptyValue(value) {
			if param.Required {
				ps.add(path, "required")
			}
			continue
		}
		if param.HasOptions && len(param.Options) > 0 && !isOption(value, param.Options) {
			ps.add(path, "%q is not one of %s", stringify(value), optionList(param.Options))
		}
	}
	return out, ps
}

// defaultValue is a parameter's default as Spinnaker passes it: scalars as text, "" for none.
func defaultValue(v any) any {
	switch v.(type) {
	case nil:
		return ""
	case map[string]any, []any:
		return DeepCopy(v)
	}
	return stringify(v)
}
