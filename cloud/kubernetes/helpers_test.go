package kubernetes

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// docs decodes YAML documents separated by --- the way a stage's manifests arrive: generic maps
// with float64 numbers.
func docs(t *testing.T, text string) []any {
	t.Helper()
	var out []any
	for _, doc := range strings.Split(text, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("bad YAML in test: %v\n%s", err, doc)
		}
		out = append(out, m)
	}
	return out
}

// object decodes one API object as the dynamic client would return it.
func object(t *testing.T, text string) *unstructured.Unstructured {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		t.Fatalf("bad YAML in test: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatalf("bad object in test: %v", err)
	}
	return u
}

// at reads a dotted path with [n] list indexes, such as spec.volumes[0].configMap.name. Keys that
// contain dots are written in brackets: metadata.annotations[moniker.spinnaker.io/cluster].
func at(obj map[string]any, path string) any {
	var cur any = obj
	for _, part := range splitPath(path) {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func splitPath(path string) []string {
	var parts []string
	for path != "" {
		switch {
		case path[0] == '.':
			path = path[1:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			parts = append(parts, path[1:end])
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			parts = append(parts, path[:end])
			path = path[end:]
		}
	}
	return parts
}

func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
