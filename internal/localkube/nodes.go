package localkube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kwok manages the nodes that carry this annotation, and no other.
const (
	kwokNodeAnnotation      = "kwok.x-k8s.io/node"
	kwokNodeAnnotationValue = "fake"
)

// nodeIP is every fake node's InternalIP: kwok's kubelet server listens on loopback.
const nodeIP = "127.0.0.1"

// NodeName is the name of the i-th fake node (from 0).
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

// nodeResources is what each fake node offers the scheduler: plenty for tests, nothing real.
var nodeResources = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("16"),
	corev1.ResourceMemory: resource.MustParse("64Gi"),
	corev1.ResourcePods:   resource.MustParse("110"),
}

// Taints the node lifecycle controller puts on a node it does not consider healthy.
var unhealthyTaints = map[string]bool{
	corev1.TaintNodeNotReady:    true,
	corev1.TaintNodeUnreachable: true,
}

// ensureNodes points the fake nodes of an earlier start at this start's kubelet port and creates
// those that do not exist yet; a node's status is accepted on creation, so allocatable resources
// and the kubelet endpoint are set from the start. kwok writes the endpoint only on a node that is
// not Ready, and a node from an earlier start may still be, with the port of that start.
func ensureNodes(ctx context.Context, cs kubernetes.Interface, n, kubeletPort int) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("localkube: list nodes: %w", err)
	}
	for _, node := range nodes.Items {
		if node.Annotations[kwokNodeAnnotation] != kwokNodeAnnotationValue || reachable(&node, kubeletPort) {
			continue
		}
		// Only these two fields: a whole NodeStatus would blank nodeInfo, which kwok filled in.
		st := kubeletEndpoint(node.Name, kubeletPort)
		patch, err := json.Marshal(map[string]any{"status": map[string]any{
			"addresses": st.Addresses, "daemonEndpoints": st.DaemonEndpoints,
		}})
		if err != nil {
			return fmt.Errorf("localkube: node %s: %w", node.Name, err)
		}
		if _, err := cs.CoreV1().Nodes().PatchStatus(ctx, node.Name, patch); err != nil {
			return fmt.Errorf("localkube: point node %s at the kubelet port: %w", node.Name, err)
		}
	}
	for i := range n {
		name := NodeName(i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{kwokNodeAnnotation: kwokNodeAnnotationValue},
				Labels: map[string]string{
					corev1.LabelHostname:   name,
					corev1.LabelOSStable:   "linux",
					corev1.LabelArchStable: "amd64",
					"type":                 "kwok",
				},
			},
			Status: kubeletEndpoint(name, kubeletPort),
		}
		node.Status.Allocatable = nodeResources.DeepCopy()
		node.Status.Capacity = nodeResources.DeepCopy()
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("localkube: create node %s: %w", name, err)
		}
	}
	return nil
}

// kubeletEndpoint is the part of a node's status that tells the API server where its kubelet is.
func kubeletEndpoint(name string, port int) corev1.NodeStatus {
	return corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: nodeIP},
			{Type: corev1.NodeHostName, Address: name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
	}
}

// reachable reports whether a node already advertises the kubelet at nodeIP and port.
func reachable(node *corev1.Node, port int) bool {
	if node.Status.DaemonEndpoints.KubeletEndpoint.Port != int32(port) {
		return false
	}
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address == nodeIP
		}
	}
	return false
}

// releaseNodeLeases deletes the leases of kwok nodes left by an earlier start. Every kwok process
// has its own identity and waits for another holder's lease to expire (40s) before it manages the
// node; with the lease gone it takes the node at once.
func releaseNodeLeases(ctx context.Context, cs kubernetes.Interface) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("localkube: list nodes: %w", err)
	}
	for _, node := range nodes.Items {
		if node.Annotations[kwokNodeAnnotation] != kwokNodeAnnotationValue {
			continue
		}
		err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, node.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("localkube: release lease of node %s: %w", node.Name, err)
		}
	}
	return nil
}

// waitNodesReady waits until every kwok node is Ready, untainted by the node lifecycle controller,
// and has had its lease renewed since kwok started: a node left from an earlier start still says
// Ready until the controller notices that nobody renews its lease.
func waitNodesReady(ctx context.Context, cs kubernetes.Interface, kwokStarted time.Time, kwokAlive func() error) error {
	var waiting string
	for {
		// Nodes become Ready only while kwok runs; once it has exited, waiting is in vain.
		if err := kwokAlive(); err != nil {
			return err
		}
		var err error
		if waiting, err = unreadyNode(ctx, cs, kwokStarted); err == nil && waiting == "" {
			return nil
		} else if err != nil {
			waiting = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localkube: nodes not ready: %w (%s)", ctx.Err(), waiting)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// unreadyNode describes the first kwok node that is not ready yet, or returns "".
func unreadyNode(ctx context.Context, cs kubernetes.Interface, kwokStarted time.Time) (string, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, node := range nodes.Items {
		if node.Annotations[kwokNodeAnnotation] != kwokNodeAnnotationValue {
			continue
		}
		if !nodeReady(&node) {
			return fmt.Sprintf("node %s is not Ready", node.Name), nil
		}
		for _, t := range node.Spec.Taints {
			if unhealthyTaints[t.Key] {
				return fmt.Sprintf("node %s has taint %s", node.Name, t.Key), nil
			}
		}
		lease, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("node %s lease: %v", node.Name, err), nil
		}
		if lease.Spec.RenewTime == nil || lease.Spec.RenewTime.Time.Before(kwokStarted) {
			return fmt.Sprintf("node %s lease not renewed yet", node.Name), nil
		}
	}
	return "", nil
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitDefaultServiceAccount waits for the controller manager to create the default namespace's
// service account: until then the API server rejects every pod created there.
func waitDefaultServiceAccount(ctx context.Context, cs kubernetes.Interface) error {
	for {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localkube: service account default/default not created: %w (last: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
