package metrics

import (
	"errors"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	scope := Scope{
		Scope:    `app="web",track="canary"`,
		Location: "eu-west-1",
		Extended: map[string]string{"namespace": "shop", "empty": ""},
	}
	tests := []struct {
		name, template string
		scope          Scope
		want           string
	}{
		{"no placeholders", `sum(rate(x[1m]))`, scope, `sum(rate(x[1m]))`},
		{"scope and location", `rate(x{${scope},region="${location}"}[1m])`, scope,
			`rate(x{app="web",track="canary",region="eu-west-1"}[1m])`},
		{"extended", `x{namespace="${namespace}"}`, scope, `x{namespace="shop"}`},
		{"repeated", `${namespace}/${namespace}`, scope, `shop/shop`},
		{"extended wins over scope", `x{${scope}}`,
			Scope{Scope: `a="1"`, Extended: map[string]string{"scope": `b="2"`}}, `x{b="2"}`},
		{"fallback when unbound", `x{zone=~"${zone:-.*}"}`, scope, `x{zone=~".*"}`},
		{"fallback when empty", `x{${empty:-a="b"}}`, scope, `x{a="b"}`},
		{"fallback unused when bound", `${location:-nowhere}`, scope, `eu-west-1`},
		{"bound to empty on purpose", `x${empty}y`, scope, `xy`},
		{"escape", `$${scope} is ${location}`, scope, `${scope} is eu-west-1`},
		{"lone dollar", `x{a=~"b$"}`, scope, `x{a=~"b$"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.template, tt.scope)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tt.template, err)
			}
			if got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.template, got, tt.want)
			}
		})
	}
}

func TestExpandRejects(t *testing.T) {
	tests := []struct {
		name, template string
		scope          Scope
		wantInMessage  []string
	}{
		{"unbound", `x{region="${region}"}`, Scope{Scope: `a="b"`},
			[]string{"${region}", "bound: scope"}},
		{"empty location is unbound", `x{region="${location}"}`, Scope{Scope: `a="b"`},
			[]string{"${location}"}},
		{"every unbound once", `${a}${b}${a}`, Scope{}, []string{"${a}, ${b}", "bound: none"}},
		{"unterminated", `x{${scope`, Scope{Scope: `a="b"`}, []string{"unterminated", `"${scope"`}},
		{"empty name", `x{${}}`, Scope{}, []string{"empty placeholder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.template, tt.scope)
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("Expand(%q) = %q, %v; want an ErrBadQuery", tt.template, got, err)
			}
			for _, s := range tt.wantInMessage {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}
