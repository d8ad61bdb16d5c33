package pipeline

import (
	"reflect"
	"testing"
)

func TestResolveParameters(t *testing.T) {
	envParam := Parameter{Name: "env", Required: true, HasOptions: true,
		Options: []OptionValue{{Value: "dev"}, {Value: "prod"}}}
	tests := []struct {
		name     string
		cfg      []Parameter
		given    map[string]any
		want     map[string]any
		problems []string
	}{
		{
			name:  "given value kept",
			cfg:   []Parameter{envParam},
			given: map[string]any{"env": "prod"},
			want:  map[string]any{"env": "prod"},
		},
		{
			name:  "default for missing",
			cfg:   []Parameter{{Name: "region", Default: "eu-west-1"}},
			given: nil,
			want:  map[string]any{"region": "eu-west-1"},
		},
		{
			name:  "default for empty string and null",
			cfg:   []Parameter{{Name: "a", Default: "x"}, {Name: "b", Default: "y"}},
			given: map[string]any{"a": "", "b": nil},
			want:  map[string]any{"a": "x", "b": "y"},
		},
		{
			name: "defaults become strings",
			cfg:  []Parameter{{Name: "n", Default: int64(3)}, {Name: "f", Default: true}, {Name: "r", Default: 1.5}},
			want: map[string]any{"n": "3", "f": "true", "r": "1.5"},
		},
		{
			name: "declared without default is empty",
			cfg:  []Parameter{{Name: "note"}},
			want: map[string]any{"note": ""},
		},
		{
			name:     "required missing",
			cfg:      []Parameter{envParam},
			given:    map[string]any{},
			want:     map[string]any{"env": ""},
			problems: []string{"parameters.env: required"},
		},
		{
			name:  "required satisfied by default",
			cfg:   []Parameter{{Name: "env", Required: true, Default: "dev"}},
			given: map[string]any{"env": ""},
			want:  map[string]any{"env": "dev"},
		},
		{
			name:     "not an option",
			cfg:      []Parameter{envParam},
			given:    map[string]any{"env": "qa"},
			want:     map[string]any{"env": "qa"},
			problems: []string{`parameters.env: "qa" is not one of [dev prod]`},
		},
		{
			name:  "options compared as strings",
			cfg:   []Parameter{{Name: "replicas", HasOptions: true, Options: []OptionValue{{Value: int64(1)}, {Value: "3"}}}},
			given: map[string]any{"replicas": 3},
			want:  map[string]any{"replicas": 3},
		},
		{
			name:  "options not enforced without hasOptions",
			cfg:   []Parameter{{Name: "env", Options: []OptionValue{{Value: "dev"}}}},
			given: map[string]any{"env": "qa"},
			want:  map[string]any{"env": "qa"},
		},
		{
			name:  "optional empty value is not checked against options",
			cfg:   []Parameter{{Name: "env", HasOptions: true, Options: []OptionValue{{Value: "dev"}}}},
			given: map[string]any{"env": ""},
			want:  map[string]any{"env": ""},
		},
		{
			name:  "undeclared kept",
			cfg:   []Parameter{{Name: "a", Default: "1"}},
			given: map[string]any{"extra": "x", "obj": map[string]any{"k": "v"}},
			want:  map[string]any{"a": "1", "extra": "x", "obj": map[string]any{"k": "v"}},
		},
		{
			name: "problems in declaration order",
			cfg: []Parameter{
				{Name: "z", Required: true},
				{Name: "a", Required: true},
				{Name: "", Required: true},
				{Name: "z", Default: "ignored duplicate"},
			},
			want:     map[string]any{"z": "", "a": ""},
			problems: []string{"parameters.z: required", "parameters.a: required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := ResolveParameters(tt.cfg, tt.given)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			var texts []string
			for _, p := range problems {
				texts = append(texts, p.String())
			}
			if !reflect.DeepEqual(texts, tt.problems) {
				t.Errorf("problems %q, want %q", texts, tt.problems)
			}
		})
	}
}

func TestResolveParametersLeavesInputAlone(t *testing.T) {
	given := map[string]any{"env": "", "obj": map[string]any{"k": "v"}}
	got, _ := ResolveParameters([]Parameter{{Name: "env", Default: "dev"}}, given)
	got["obj"].(map[string]any)["k"] = "changed"
	if given["env"] != "" || given["obj"].(map[string]any)["k"] != "v" {
		t.Fatalf("input changed: %v", given)
	}
}
