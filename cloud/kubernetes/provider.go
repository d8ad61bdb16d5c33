package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gennaker/gennaker/cloud"
)

// FieldManager is the name gennaker applies and patches under, so that the managed fields of an
// object tell its changes apart from kubectl's and the controllers'.
const FieldManager = "gennaker"

// Client settings used when the configuration sets none: client-go's own (5 requests a second)
// would make a deploy of a dozen manifests wait on itself.
const (
	defaultQPS   = 50
	defaultBurst = 100
)

// Provider is gennaker's Kubernetes provider for one account: it deploys manifests and reads and
// changes what runs in the account's cluster, through the dynamic client, so custom resources are
// handled like built-in ones. It is safe for concurrent use.
//
// Every method that takes a kind accepts the kind alone ("Deployment", or a resource name such as
// "deployments"), or with its API group for a kind several groups define ("Rollout.argoproj.io").
// Errors say what was being done where; those that retrying cannot fix — a bad manifest or patch, a
// namespace the account may not touch, a kind the cluster does not serve, a missing object —
// match ErrInvalid, while an unreachable or failing API server and conflicts do not.
type Provider struct {
	account Account
	dynamic dynamic.Interface
	core    kubernetes.Interface
	// mapper turns kinds into resources from discovery, cached in memory and refreshed when a
	// kind is not found, so a custom resource defined after the provider started is still found.
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewProvider connects to the account's cluster through its kubeconfig and context. Nothing is
// requested from the cluster until the first call.
func NewProvider(a Account) (*Provider, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if a.Kubeconfig != "" {
		rules.ExplicitPath = a.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: a.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes account %s: load kubeconfig: %w", a.Name, err)
	}
	return NewProviderFromConfig(a, cfg)
}

// NewProviderFromConfig builds a provider for an account from a client configuration made
// elsewhere, such as a test cluster's; the account's Kubeconfig and Context are not read.
func NewProviderFromConfig(a Account, cfg *rest.Config) (*Provider, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("kubernetes account %s: no client configuration", a.Name)
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.Burst == 0 {
		cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "gennaker"
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes account %s: %w", a.Name, err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes account %s: %w", a.Name, err)
	}
	return &Provider{
		account: a,
		dynamic: dyn,
		core:    core,
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(core.Discovery())),
	}, nil
}

// Account is the account the provider works in.
func (p *Provider) Account() Account { return p.account }

// KindRef names a kind with its group, as the methods taking a kind accept it: Deployment.apps,
// or ConfigMap for the core group.
func KindRef(apiVersion, kind string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Group == "" {
		return kind
	}
	return kind + "." + gv.Group
}

// mapping finds the resource of a group, kind and (optionally) version. A kind the cached
// discovery does not know is looked up once more after refreshing it.
func (p *Provider) mapping(gk schema.GroupKind, version string) (*meta.RESTMapping, error) {
	var versions []string
	if version != "" {
		versions = []string{version}
	}
	m, err := p.mapper.RESTMapping(gk, versions...)
	if meta.IsNoMatchError(err) {
		p.mapper.Reset()
		m, err = p.mapper.RESTMapping(gk, versions...)
	}
	return m, err
}

// kindMapping finds the resource of a kind given as Kind, resource name, or Kind.group.
func (p *Provider) kindMapping(kind string) (*meta.RESTMapping, error) {
	if kind == "" {
		return nil, invalidf("no kind given")
	}
	if gk := schema.ParseGroupKind(kind); gk.Group != "" {
		m, err := p.mapping(gk, "")
		if err != nil {
			return nil, kindError(kind, err)
		}
		return m, nil
	}
	// Discovery registers every resource under its lower-case singular (the kind) and plural
	// names, which finds a kind without knowing its group.
	resource := schema.GroupVersionResource{Resource: strings.ToLower(kind)}
	gvk, err := p.mapper.KindFor(resource)
	if meta.IsNoMatchError(err) {
		p.mapper.Reset()
		gvk, err = p.mapper.KindFor(resource)
	}
	if err != nil {
		return nil, kindError(kind, err)
	}
	m, err := p.mapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, kindError(kind, err)
	}
	return m, nil
}

func kindError(kind string, err error) error {
	switch {
	case meta.IsNoMatchError(err):
		return invalidf("kind %s is not served by this cluster (is its CustomResourceDefinition installed?)", kind)
	case meta.IsAmbiguousError(err):
		return invalidf("kind %s is defined by more than one API group; name it with its group, as in %s.example.com: %v", kind, kind, err)
	}
	return fmt.Errorf("look up kind %s: %w", kind, err)
}

// target is one object an operation reaches.
type target struct {
	mapping   *meta.RESTMapping
	client    dynamic.ResourceInterface
	namespace string // empty for a cluster-scoped object
	name      string
}

func (t target) kind() string { return t.mapping.GroupVersionKind.Kind }

// String names the object for messages: deployment web in staging.
func (t target) String() string { return cloud.FullName(t.kind(), t.name) + " " + where(t.namespace) }

func where(namespace string) string {
	if namespace == "" {
		return "in the cluster"
	}
	return "in " + namespace
}

// target resolves the object an operation reaches, refusing what the account may not touch. An
// empty namespace means the account's default for a namespaced kind.
func (p *Provider) target(kind, namespace, name string) (target, error) {
	if name == "" {
		return target{}, invalidf("no name given for %s", cmp.Or(kind, "the object"))
	}
	m, err := p.kindMapping(kind)
	if err != nil {
		return target{}, err
	}
	t := target{mapping: m, name: name}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		t.namespace = cmp.Or(namespace, p.account.defaultNamespace())
		t.client = p.dynamic.Resource(m.Resource).Namespace(t.namespace)
	} else {
		t.client = p.dynamic.Resource(m.Resource)
	}
	if err := p.allowed(t.kind(), t.namespace, name); err != nil {
		return target{}, err
	}
	return t, nil
}

// allowed says why the account may not touch an object, or returns nil. An account limited to some
// namespaces may not touch cluster-scoped objects, which reach beyond them, except its own
// namespaces.
func (p *Provider) allowed(kind, namespace, name string) error {
	a := p.account
	switch {
	case namespace != "" && !a.AllowsNamespace(namespace):
		return invalidf("account %s may not use namespace %s (it is limited to %s)", a.Name, namespace, strings.Join(a.Namespaces, ", "))
	case namespace == "" && a.restricted() && !(kind == "Namespace" && a.AllowsNamespace(name)):
		return invalidf("account %s is limited to namespaces %s and may not touch the cluster-scoped %s",
			a.Name, strings.Join(a.Namespaces, ", "), cloud.FullName(kind, name))
	}
	return nil
}

// permanentError is a failure reported by the API server that retrying cannot fix; it keeps the
// API server's error for errors.As and matches ErrInvalid.
type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrInvalid }

// wrap says what failed where and classifies the failure: what the request itself got wrong is
// permanent; an unreachable or overloaded server, a timeout and a conflict are worth retrying.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if permanent(err) {
		err = &permanentError{err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func permanent(err error) bool {
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case meta.IsNoMatchError(err), meta.IsAmbiguousError(err):
		return true
	case apierrors.IsForbidden(err):
		// A namespace being deleted refuses new objects only until it is gone and can be recreated.
		return !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
	}
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsNotFound(err) ||
		apierrors.IsNotAcceptable(err) || apierrors.IsUnsupportedMediaType(err) ||
		apierrors.IsMethodNotSupported(err) || apierrors.IsRequestEntityTooLargeError(err)
}

// Status reads an object's rollout status (see RolloutStatus). An object that does not exist is
// neither done nor failed, with a message saying it was not found: its absence says nothing about
// a rollout (it may be created yet, by a controller or a deploy under way), so a caller waiting on
// it decides at its own deadline.
func (p *Provider) Status(ctx context.Context, kind, namespace, name string) (cloud.Health, error) {
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return cloud.Health{}, fmt.Errorf("read status of %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	obj, err := t.client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return cloud.Health{Message: cloud.FullName(t.kind(), name) + ": not found " + where(t.namespace)}, nil
	}
	if err != nil {
		return cloud.Health{}, wrap(err, "read status of %s", t)
	}
	return RolloutStatus(obj), nil
}

// Scale sets how many replicas a workload asks for, through its scale subresource: Deployments,
// ReplicaSets, StatefulSets, ReplicationControllers and custom resources that have one.
func (p *Provider) Scale(ctx context.Context, kind, namespace, name string, replicas int) error {
	if replicas < 0 {
		return invalidf("scale %s %s to %d replicas: the count cannot be negative", cmp.Or(kind, "object"), name, replicas)
	}
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return fmt.Errorf("scale %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	_, err = t.client.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}, "scale")
	if apierrors.IsNotFound(err) {
		// The same answer comes for a missing object and for a kind without a scale subresource.
		if _, getErr := t.client.Get(ctx, name, metav1.GetOptions{}); getErr == nil {
			return invalidf("scale %s: a %s has no scale subresource", t, t.kind())
		}
	}
	return wrap(err, "scale %s to %d replicas", t, replicas)
}

// Patch types Patch takes.
const (
	PatchStrategic = "strategic"
	PatchMerge     = "merge"
	PatchJSON      = "json"
)

var patchTypes = map[string]types.PatchType{
	PatchStrategic: types.StrategicMergePatchType,
	PatchMerge:     types.MergePatchType,
	PatchJSON:      types.JSONPatchType,
}

// Patch changes an object with a strategic merge, JSON merge (RFC 7386) or JSON (RFC 6902) patch,
// as kubectl patch does. Strategic merge patches work only on built-in kinds.
func (p *Provider) Patch(ctx context.Context, kind, namespace, name, patchType string, patch []byte) error {
	pt, ok := patchTypes[patchType]
	if !ok {
		return invalidf("patch %s %s: patch type %q; use %s, %s or %s", cmp.Or(kind, "object"), name, patchType, PatchStrategic, PatchMerge, PatchJSON)
	}
	if len(patch) == 0 {
		return invalidf("patch %s %s: the patch is empty", cmp.Or(kind, "object"), name)
	}
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return fmt.Errorf("patch %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	_, err = t.client.Patch(ctx, name, pt, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if pt == types.StrategicMergePatchType && apierrors.IsUnsupportedMediaType(err) {
		return invalidf("patch %s: strategic merge patches work only on built-in kinds, and %s is a custom resource; use a %s or %s patch",
			t, t.mapping.GroupVersionKind.GroupKind(), PatchMerge, PatchJSON)
	}
	if pt == types.JSONPatchType && apierrors.IsInvalid(err) {
		// The API server does not say which operation failed.
		return wrap(err, "patch %s with a json patch (one of its paths is missing or one of its tests does not hold)", t)
	}
	return wrap(err, "patch %s with a %s patch", t, patchType)
}

// Delete deletes an object. An object that does not exist is deleted already, so deleting it again
// succeeds. Delete returns once the API server has accepted the deletion; the object may linger
// while finalizers and foreground deletion run.
func (p *Provider) Delete(ctx context.Context, kind, namespace, name string, opts cloud.DeleteOptions) error {
	var policy metav1.DeletionPropagation
	switch opts.Cascading {
	case "", cloud.CascadeBackground:
		policy = metav1.DeletePropagationBackground
	case cloud.CascadeForeground:
		policy = metav1.DeletePropagationForeground
	case cloud.CascadeOrphan:
		policy = metav1.DeletePropagationOrphan
	default:
		return invalidf("delete %s %s: cascading %q; use %s, %s or %s", cmp.Or(kind, "object"), name, opts.Cascading,
			cloud.CascadeBackground, cloud.CascadeForeground, cloud.CascadeOrphan)
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		return invalidf("delete %s %s: grace period %ds cannot be negative", cmp.Or(kind, "object"), name, *g)
	}
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	err = t.client.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy, GracePeriodSeconds: opts.GracePeriodSeconds})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return wrap(err, "delete %s", t)
}

// listAll lists every object matching opts, page by page.
func listAll(ctx context.Context, client dynamic.ResourceInterface, opts metav1.ListOptions) ([]unstructured.Unstructured, error) {
	opts.Limit = 500
	var out []unstructured.Unstructured
	for {
		list, err := client.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, list.Items...)
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return out, nil
		}
	}
}

// The provider does every operation cloud names.
var (
	_ cloud.ServerGroupLister = (*Provider)(nil)
	_ cloud.Deployer          = (*Provider)(nil)
	_ cloud.HealthReader      = (*Provider)(nil)
	_ cloud.Resizer           = (*Provider)(nil)
	_ cloud.TrafficManager    = (*Provider)(nil)
	_ cloud.Destroyer         = (*Provider)(nil)
	_ cloud.RollbackPlanner   = (*Provider)(nil)
)
