package kubernetes

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/gennaker/gennaker/cloud"
)

// Names the deployment controller and kubectl use.
const (
	// AnnotationRevision numbers a Deployment's rollouts, on the Deployment and its ReplicaSets.
	AnnotationRevision = "deployment.kubernetes.io/revision"
	// AnnotationRestartedAt on a pod template is how kubectl rollout restart rolls the pods.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
	// labelPodTemplateHash tells a Deployment's ReplicaSets apart; it is not part of the template
	// the Deployment was given.
	labelPodTemplateHash = "pod-template-hash"
)

var (
	gkDeployment  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	gkStatefulSet = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	gkDaemonSet   = schema.GroupKind{Group: "apps", Kind: "DaemonSet"}
	gkReplicaSet  = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	gvrPods       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// UndoRollout rolls a Deployment back as kubectl rollout undo does: it finds the ReplicaSet of the
// revision revisionsBack before the current one (1 is the previous revision) among those the
// Deployment keeps, and puts that ReplicaSet's pod template back into the Deployment, which then
// rolls out under a new revision number. It returns the revision whose template was restored. A
// Deployment whose template already is that revision's is left alone.
func (p *Provider) UndoRollout(ctx context.Context, kind, namespace, name string, revisionsBack int) (restoredRevision int64, err error) {
	if revisionsBack < 1 {
		return 0, invalidf("undo the rollout of %s %s: go back at least 1 revision, not %d", cmp.Or(kind, "object"), name, revisionsBack)
	}
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return 0, fmt.Errorf("undo the rollout of %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	if t.mapping.GroupVersionKind.GroupKind() != gkDeployment {
		return 0, invalidf("undo the rollout of %s: only a Deployment keeps the earlier revisions that undo restores", t)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := t.client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		restoredRevision, err = p.undo(ctx, t, d, revisionsBack)
		return err
	})
	if err != nil {
		return 0, wrap(err, "undo the rollout of %s", t)
	}
	return restoredRevision, nil
}

func (p *Provider) undo(ctx context.Context, t target, d *unstructured.Unstructured, back int) (int64, error) {
	if boolAt(d.Object, "spec", "paused") {
		return 0, invalidf("the deployment is paused; resume it before undoing its rollout")
	}
	current, err := strconv.ParseInt(d.GetAnnotations()[AnnotationRevision], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the deployment has no revision yet; the deployment controller has not rolled it out")
	}
	owned, err := p.ownedBy(ctx, d, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"})
	if err != nil {
		return 0, err
	}
	byRevision := map[int64]*unstructured.Unstructured{}
	var earlier []int64
	for _, rs := range owned {
		rev, err := strconv.ParseInt(rs.GetAnnotations()[AnnotationRevision], 10, 64)
		if err != nil || rev >= current {
			continue
		}
		byRevision[rev] = rs
		earlier = append(earlier, rev)
	}
	slices.Sort(earlier)
	slices.Reverse(earlier)
	if len(earlier) < back {
		kept := "none is kept"
		if len(earlier) > 0 {
			kept = "it keeps " + joinInts(earlier)
		}
		return 0, invalidf("cannot go back %d revisions from revision %d: %s (spec.revisionHistoryLimit sets how many)", back, current, kept)
	}
	restored := earlier[back-1]
	template, _, _ := unstructured.NestedMap(byRevision[restored].Object, "spec", "template")
	if l := mapAt(template, "metadata", "labels"); l != nil {
		delete(l, labelPodTemplateHash)
	}
	if live, _, _ := unstructured.NestedMap(d.Object, "spec", "template"); reflect.DeepEqual(live, template) {
		return restored, nil
	}
	if err := unstructured.SetNestedMap(d.Object, template, "spec", "template"); err != nil {
		return 0, err
	}
	_, err = t.client.Update(ctx, d, metav1.UpdateOptions{FieldManager: FieldManager})
	return restored, err
}

func joinInts(ns []int64) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.FormatInt(n, 10)
	}
	return "revision " + strings.Join(s, ", ")
}

// ownedBy lists the objects of a resource that owner's selector selects and owner controls.
func (p *Provider) ownedBy(ctx context.Context, owner *unstructured.Unstructured, gvr schema.GroupVersionResource) ([]*unstructured.Unstructured, error) {
	selector, err := selectorOf(owner)
	if err != nil {
		return nil, err
	}
	list, err := listAll(ctx, p.dynamic.Resource(gvr).Namespace(owner.GetNamespace()), metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", gvr.Resource, cloud.FullName(owner.GetKind(), owner.GetName()), err)
	}
	var out []*unstructured.Unstructured
	for i := range list {
		if ref := metav1.GetControllerOf(&list[i]); ref != nil && ref.UID == owner.GetUID() {
			out = append(out, &list[i])
		}
	}
	return out, nil
}

// selectorOf reads a workload's spec.selector.
func selectorOf(obj *unstructured.Unstructured) (labels.Selector, error) {
	raw, found, err := unstructured.NestedMap(obj.Object, "spec", "selector")
	if err != nil || !found {
		return nil, invalidf("%s has no spec.selector", cloud.FullName(obj.GetKind(), obj.GetName()))
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return nil, invalidf("%s: spec.selector: %v", cloud.FullName(obj.GetKind(), obj.GetName()), err)
	}
	selector, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, invalidf("%s: spec.selector: %v", cloud.FullName(obj.GetKind(), obj.GetName()), err)
	}
	if selector.Empty() {
		return nil, invalidf("%s: spec.selector is empty", cloud.FullName(obj.GetKind(), obj.GetName()))
	}
	return selector, nil
}

// RollingRestart replaces a Deployment's, StatefulSet's or DaemonSet's pods by rolling them, as
// kubectl rollout restart does: it stamps the pod template with the time.
func (p *Provider) RollingRestart(ctx context.Context, kind, namespace, name string) error {
	t, err := p.target(kind, namespace, name)
	if err != nil {
		return fmt.Errorf("restart %s %s: %w", cmp.Or(kind, "object"), name, err)
	}
	switch t.mapping.GroupVersionKind.GroupKind() {
	case gkDeployment:
		d, err := t.client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return wrap(err, "restart %s", t)
		}
		if boolAt(d.Object, "spec", "paused") {
			return invalidf("restart %s: the deployment is paused; resume it first", t)
		}
	case gkStatefulSet, gkDaemonSet:
	default:
		return invalidf("restart %s: only Deployments, StatefulSets and DaemonSets roll their pods", t)
	}
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, AnnotationRestartedAt, time.Now().Format(time.RFC3339))
	_, err = t.client.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	return wrap(err, "restart %s", t)
}

// coordinate reads an object named as Spinnaker does, "kind name" (replicaSet web-v003), or by
// name alone, which is of defaultKind.
func coordinate(s, defaultKind string) (kind, name string) {
	if k, n, ok := strings.Cut(strings.TrimSpace(s), " "); ok {
		return k, strings.TrimSpace(n)
	}
	return defaultKind, strings.TrimSpace(s)
}

// SetTraffic sends a Service's traffic to a ReplicaSet, or stops sending it, for red/black
// deploys: enabling adds the Service's selector labels to the ReplicaSet's pod template and to its
// running pods; disabling takes them off both, leaving the pods running. The workload is a
// ReplicaSet's name or Spinnaker's "kind name" (replicaSet web-v003); the service a Service's name
// or "service web". Anything but a ReplicaSet whose own selector leaves the Service's labels alone
// is refused (see CheckTrafficManagement). Doing it twice changes nothing more.
func (p *Provider) SetTraffic(ctx context.Context, namespace, workload, service string, enabled bool) error {
	action := "disable"
	if enabled {
		action = "enable"
	}
	wkind, wname := coordinate(workload, "ReplicaSet")
	skind, sname := coordinate(service, "Service")
	if !strings.EqualFold(skind, "Service") {
		return invalidf("%s traffic to %s: traffic is managed through a Service, not %q", action, workload, service)
	}
	svc, err := p.target("Service", namespace, sname)
	if err != nil {
		return fmt.Errorf("%s traffic to %s %s: %w", action, wkind, wname, err)
	}
	w, err := p.target(wkind, namespace, wname)
	if err != nil {
		return fmt.Errorf("%s traffic to %s %s: %w", action, wkind, wname, err)
	}
	what := fmt.Sprintf("%s traffic from %s to %s", action, cloud.FullName("Service", sname), w)
	svcObj, err := svc.client.Get(ctx, sname, metav1.GetOptions{})
	if err != nil {
		return wrap(err, "%s", what)
	}
	selector, err := TrafficSelector(svcObj)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	change := DisableTrafficLabels
	if enabled {
		change = EnableTrafficLabels
	}

	var rs *unstructured.Unstructured
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := w.client.Get(ctx, wname, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := CheckTrafficManagement(live, selector); err != nil {
			return err
		}
		changed, err := change(live, selector)
		if err != nil {
			return err
		}
		rs = live
		if enabled && changed.GetAnnotations()[AnnotationServed] != "true" {
			// Remembered so that a rollback returns only to a server group that once served.
			a := changed.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			a[AnnotationServed] = "true"
			changed.SetAnnotations(a)
		}
		if maps.Equal(stringMapAt(live.Object, "spec", "template", "metadata", "labels"), stringMapAt(changed.Object, "spec", "template", "metadata", "labels")) &&
			live.GetAnnotations()[AnnotationServed] == changed.GetAnnotations()[AnnotationServed] {
			return nil
		}
		rs, err = w.client.Update(ctx, changed, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return wrap(err, "%s", what)
	}

	// Pods created from here on carry the template's labels; those running are relabelled.
	pods, err := p.ownedBy(ctx, rs, gvrPods)
	if err != nil {
		return wrap(err, "%s", what)
	}
	podClient := p.dynamic.Resource(gvrPods).Namespace(w.namespace)
	for _, pod := range pods {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			live, err := podClient.Get(ctx, pod.GetName(), metav1.GetOptions{})
			if err != nil || live.GetDeletionTimestamp() != nil {
				return err
			}
			changed, err := change(live, selector)
			if err != nil || maps.Equal(live.GetLabels(), changed.GetLabels()) {
				return err
			}
			_, err = podClient.Update(ctx, changed, metav1.UpdateOptions{FieldManager: FieldManager})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return wrap(err, "%s: relabel pod %s", what, pod.GetName())
		}
	}
	return nil
}

// serverGroupKinds are the workloads ServerGroups reports, all in apps/v1.
var serverGroupKinds = []string{"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}

// ServerGroups lists an application's workloads in the account, as the infrastructure view shows
// them: every Deployment, ReplicaSet, StatefulSet and DaemonSet in the namespaces the account may
// use that carries the application's moniker, grouped into clusters by namespace and moniker
// cluster. A ReplicaSet a Deployment controls is not listed: the Deployment is the server group.
// A server group takes traffic when its pod template's labels match the selector of a Service in
// its namespace. Clusters are sorted by namespace and name, server groups oldest first.
func (p *Provider) ServerGroups(ctx context.Context, application string) ([]cloud.Cluster, error) {
	if application == "" {
		return nil, invalidf("list server groups: no application given")
	}
	namespaces := p.account.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	type clusterKey struct{ namespace, name string }
	clusters := map[clusterKey]*cloud.Cluster{}
	selectors := map[string][]map[string]string{} // Service selectors by namespace
	for _, kind := range serverGroupKinds {
		m, err := p.mapping(schema.GroupKind{Group: "apps", Kind: kind}, "v1")
		if err != nil {
			return nil, wrap(err, "list server groups of %s: look up %s", application, kind)
		}
		for _, ns := range namespaces {
			list, err := listAll(ctx, p.dynamic.Resource(m.Resource).Namespace(ns), metav1.ListOptions{})
			if err != nil {
				return nil, wrap(err, "list server groups of %s: list %s %s", application, m.Resource.Resource, whereAll(ns))
			}
			for i := range list {
				obj := &list[i]
				if obj.GetAnnotations()[AnnotationApplication] != application {
					continue
				}
				if ref := metav1.GetControllerOf(obj); kind == gkReplicaSet.Kind && ref != nil && ref.Kind == gkDeployment.Kind {
					continue
				}
				sg := p.serverGroup(obj)
				sels, ok := selectors[sg.Region]
				if !ok {
					if sels, err = p.serviceSelectors(ctx, sg.Region); err != nil {
						return nil, wrap(err, "list server groups of %s", application)
					}
					selectors[sg.Region] = sels
				}
				templateLabels := stringMapAt(obj.Object, "spec", "template", "metadata", "labels")
				sg.TakingTraffic = slices.ContainsFunc(sels, func(sel map[string]string) bool { return MatchesSelector(templateLabels, sel) })
				key := clusterKey{sg.Region, sg.Moniker.Cluster}
				c := clusters[key]
				if c == nil {
					c = &cloud.Cluster{Account: p.account.Name, Region: sg.Region, Name: sg.Moniker.Cluster}
					clusters[key] = c
				}
				c.ServerGroups = append(c.ServerGroups, sg)
			}
		}
	}
	out := make([]cloud.Cluster, 0, len(clusters))
	for _, c := range clusters {
		slices.SortFunc(c.ServerGroups, func(a, b cloud.ServerGroup) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Name, b.Name))
		})
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b cloud.Cluster) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

func whereAll(namespace string) string {
	if namespace == metav1.NamespaceAll {
		return "in all namespaces"
	}
	return "in " + namespace
}

// serverGroup describes a workload; TakingTraffic is left to the caller.
func (p *Provider) serverGroup(obj *unstructured.Unstructured) cloud.ServerGroup {
	a := obj.GetAnnotations()
	m := cloud.Moniker{
		App:     a[AnnotationApplication],
		Cluster: cmp.Or(a[AnnotationCluster], cloud.FullName(obj.GetKind(), obj.GetName())),
		Stack:   a[AnnotationStack],
		Detail:  a[AnnotationDetail],
	}
	if seq, err := strconv.Atoi(a[AnnotationSequence]); err == nil {
		m.Sequence = &seq
	} else if _, seq, ok := SplitVersion(obj.GetName()); ok {
		m.Sequence = &seq
	}
	sg := cloud.ServerGroup{
		Account:            p.account.Name,
		Region:             obj.GetNamespace(),
		Name:               obj.GetName(),
		Moniker:            m,
		Kind:               obj.GetKind(),
		CreatedAt:          obj.GetCreationTimestamp().UTC(),
		CreatedByExecution: a[AnnotationExecutionID],
	}
	if spec := mapAt(obj.Object, "spec", "template", "spec"); spec != nil {
		for _, list := range []string{"initContainers", "containers"} {
			for _, c := range mapsIn(spec[list]) {
				if image, _ := c["image"].(string); image != "" && !slices.Contains(sg.Images, image) {
					sg.Images = append(sg.Images, image)
				}
			}
		}
	}
	if obj.GetKind() == gkDaemonSet.Kind {
		desired, _ := intAt(obj.Object, "status", "desiredNumberScheduled")
		ready, _ := intAt(obj.Object, "status", "numberReady")
		sg.Desired, sg.Ready = int(desired), int(ready)
	} else {
		r := reader{obj: obj.Object}
		sg.Desired, sg.Ready = int(r.replicas()), int(r.int("status", "readyReplicas"))
	}
	return sg
}

// serviceSelectors lists the selectors of a namespace's Services that select pods by label.
func (p *Provider) serviceSelectors(ctx context.Context, namespace string) ([]map[string]string, error) {
	list, err := listAll(ctx, p.dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).Namespace(namespace), metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services in %s: %w", namespace, err)
	}
	var out []map[string]string
	for i := range list {
		if sel := stringMapAt(list[i].Object, "spec", "selector"); len(sel) > 0 {
			out = append(out, sel)
		}
	}
	return out, nil
}

// Bounds of PodLogs.
const (
	// DefaultLogBytes is how much of each container's log PodLogs keeps when not told.
	DefaultLogBytes = 64 << 10
	// MaxLogPods is how many pods PodLogs reads at most.
	MaxLogPods = 20
)

// PodLogs reads the end of the logs of the pods a label selector picks in a namespace — at most
// MaxLogPods pods, and the last tailBytes bytes (DefaultLogBytes if 0 or less) of each container
// — keyed by "pod/container". Only containers that have started are read; a pod still pending
// has no entry. Logs that cannot be read (the node is gone, or, on a simulated node, there is no
// kubelet to serve them) are left out, and the error, which joins why for each, comes back
// alongside the logs that could be read.
func (p *Provider) PodLogs(ctx context.Context, namespace, selector string, tailBytes int64) (map[string]string, error) {
	namespace = cmp.Or(namespace, p.account.defaultNamespace())
	if err := p.allowed("Pod", namespace, ""); err != nil {
		return nil, fmt.Errorf("read pod logs: %w", err)
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, invalidf("read pod logs in %s: selector %q: %v", namespace, selector, err)
	}
	if sel.Empty() {
		return nil, invalidf("read pod logs in %s: a selector is required, so as not to read every pod's", namespace)
	}
	if tailBytes <= 0 {
		tailBytes = DefaultLogBytes
	}
	pods, err := p.core.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String(), Limit: MaxLogPods})
	if err != nil {
		return nil, wrap(err, "read pod logs in %s: list pods %s", namespace, sel)
	}
	out := map[string]string{}
	var errs []error
	for _, pod := range pods.Items {
		for _, st := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
			if st.State.Running == nil && st.State.Terminated == nil && st.LastTerminationState.Terminated == nil {
				continue
			}
			text, err := p.containerLog(ctx, namespace, pod.Name, st.Name, tailBytes)
			if err != nil {
				errs = append(errs, wrap(err, "read the log of container %s of pod %s in %s", st.Name, pod.Name, namespace))
				continue
			}
			out[pod.Name+"/"+st.Name] = text
		}
	}
	return out, errors.Join(errs...)
}

// containerLog reads the last tailBytes of a container's log. Asking for as many lines as bytes
// bounds what the kubelet sends without cutting the tail short, since every line takes a byte.
func (p *Provider) containerLog(ctx context.Context, namespace, pod, container string, tailBytes int64) (string, error) {
	stream, err := p.core.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: &tailBytes}).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer stream.Close()
	return tail(stream, tailBytes)
}

// tail reads r to its end and returns its last n bytes, from the start of a line when one begins
// within them.
func tail(r io.Reader, n int64) (string, error) {
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	truncated := false
	for {
		read, err := r.Read(chunk)
		buf.Write(chunk[:read])
		// Trimmed only once twice the tail has piled up, so the copying stays linear.
		if over := int64(buf.Len()) - n; over > n {
			buf.Next(int(over))
			truncated = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	data := buf.Bytes()
	if over := int64(len(data)) - n; over > 0 {
		data, truncated = data[over:], true
	}
	if truncated {
		if i := bytes.IndexByte(data, '\n'); i >= 0 && i+1 < len(data) {
			data = data[i+1:]
		}
	}
	return string(data), nil
}
