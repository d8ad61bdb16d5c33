package kubernetes

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultNamespace is where manifests that name no namespace go when the account sets none.
const DefaultNamespace = "default"

// Account is a named Kubernetes account from configuration: pipelines name the account, and its
// credentials never appear in pipelines or execution history.
type Account struct {
	// Name is how pipelines refer to the account.
	Name string `json:"name"`
	// Kubeconfig is the path of the kubeconfig file; empty uses client-go's defaults ($KUBECONFIG,
	// ~/.kube/config, then the in-cluster service account).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context to use; empty uses the file's current context.
	Context string `json:"context,omitempty"`
	// Namespaces are the only namespaces the account may touch; empty allows any. A restricted
	// account may not touch cluster-scoped resources either, apart from its own Namespace objects.
	Namespaces []string `json:"namespaces,omitempty"`
	// DefaultNamespace receives manifests that name no namespace; "default" if empty.
	DefaultNamespace string `json:"defaultNamespace,omitempty"`
}

// accountName is what an account may be called: it appears in pipelines, URLs and annotations.
var accountName = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?$`)

// Validate reports every problem with the account's configuration at once.
func (a Account) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !accountName.MatchString(a.Name) {
		add("name %q: use up to 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", a.Name)
	}
	for _, ns := range a.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			add("namespace %q: %s", ns, strings.Join(errs, "; "))
		}
	}
	if a.DefaultNamespace != "" {
		if errs := validation.IsDNS1123Label(a.DefaultNamespace); len(errs) > 0 {
			add("default namespace %q: %s", a.DefaultNamespace, strings.Join(errs, "; "))
		} else if !a.AllowsNamespace(a.DefaultNamespace) {
			add("default namespace %q is not among the account's namespaces (%s)", a.DefaultNamespace, strings.Join(a.Namespaces, ", "))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	name := a.Name
	if name == "" {
		name = "(unnamed)"
	}
	return errors.New("kubernetes account " + name + ": " + strings.Join(problems, "; "))
}

// AllowsNamespace reports whether the account may touch resources in namespace ns.
func (a Account) AllowsNamespace(ns string) bool {
	return len(a.Namespaces) == 0 || slices.Contains(a.Namespaces, ns)
}

// defaultNamespace is where a manifest without a namespace goes.
func (a Account) defaultNamespace() string { return cmp.Or(a.DefaultNamespace, DefaultNamespace) }

// restricted reports whether the account is limited to some namespaces.
func (a Account) restricted() bool { return len(a.Namespaces) > 0 }
