package kubernetes

import (
	"strings"
	"testing"
)

func TestAccountValidate(t *testing.T) {
	tests := []struct {
		name    string
		account Account
		want    []string // substrings of the error; none means valid
	}{
		{"minimal", Account{Name: "prod"}, nil},
		{"full", Account{Name: "prod-eu_1.k8s", Kubeconfig: "/etc/kube/prod", Context: "eu", Namespaces: []string{"web", "jobs"}, DefaultNamespace: "web"}, nil},
		{"no name", Account{}, []string{"(unnamed)", `name ""`}},
		{"bad name", Account{Name: "prod eu"}, []string{`name "prod eu"`}},
		{"bad namespace", Account{Name: "prod", Namespaces: []string{"Web"}}, []string{`namespace "Web"`}},
		{"bad default namespace", Account{Name: "prod", DefaultNamespace: "web_1"}, []string{`default namespace "web_1"`}},
		{"default namespace not allowed", Account{Name: "prod", Namespaces: []string{"web"}, DefaultNamespace: "jobs"},
			[]string{`default namespace "jobs" is not among the account's namespaces (web)`}},
		{"every problem at once", Account{Name: "-", Namespaces: []string{"A"}}, []string{`name "-"`, `namespace "A"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.account.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestAccountNamespaces(t *testing.T) {
	open := Account{Name: "a"}
	if !open.AllowsNamespace("kube-system") || open.defaultNamespace() != "default" {
		t.Errorf("unrestricted account: allows kube-system %v, default %q", open.AllowsNamespace("kube-system"), open.defaultNamespace())
	}
	limited := Account{Name: "a", Namespaces: []string{"web", "jobs"}, DefaultNamespace: "jobs"}
	for ns, want := range map[string]bool{"web": true, "jobs": true, "default": false, "": false} {
		if got := limited.AllowsNamespace(ns); got != want {
			t.Errorf("AllowsNamespace(%q) = %v, want %v", ns, got, want)
		}
	}
	if limited.defaultNamespace() != "jobs" {
		t.Errorf("default namespace %q, want jobs", limited.defaultNamespace())
	}
}
