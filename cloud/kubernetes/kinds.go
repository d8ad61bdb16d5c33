package kubernetes

import (
	"fmt"
	"strings"
)

// versionedKinds are the kinds Spinnaker deploys as a new, numbered copy each time rather than in
// place: a ReplicaSet is a red/black server group, and a ConfigMap or Secret changed under running
// pods would reach old and new pods alike.
var versionedKinds = map[string]bool{
	"ReplicaSet": true,
	"ConfigMap":  true,
	"Secret":     true,
	"Pod":        true,
}

// VersionedByDefault reports whether a kind is deployed as name-vNNN unless its manifest says
// otherwise: ReplicaSet, ConfigMap, Secret and Pod, as in Spinnaker.
func VersionedByDefault(kind string) bool { return versionedKinds[kind] }

// Versioned reports whether a manifest of this kind with these annotations is deployed as a new
// numbered version. AnnotationVersioned overrides the kind's default; any value other than "true"
// or "false" is an error, because a typo silently falling back to the default would surprise.
func Versioned(kind string, annotations map[string]string) (bool, error) {
	switch v, ok := annotations[AnnotationVersioned]; {
	case !ok:
		return VersionedByDefault(kind), nil
	case v == "true":
		return true, nil
	case v == "false":
		return false, nil
	default:
		return false, fmt.Errorf("annotation %s is %q; it takes \"true\" or \"false\"", AnnotationVersioned, v)
	}
}

// clusterScopedKinds are the built-in kinds that live outside namespaces. A custom resource's scope
// is known only to the cluster, so PrepareInput.ClusterScopedKinds adds those.
var clusterScopedKinds = map[string]bool{
	"APIService":                       true,
	"CSIDriver":                        true,
	"CSINode":                          true,
	"CertificateSigningRequest":        true,
	"ClusterRole":                      true,
	"ClusterRoleBinding":               true,
	"ComponentStatus":                  true,
	"CustomResourceDefinition":         true,
	"FlowSchema":                       true,
	"IngressClass":                     true,
	"MutatingAdmissionPolicy":          true,
	"MutatingAdmissionPolicyBinding":   true,
	"MutatingWebhookConfiguration":     true,
	"Namespace":                        true,
	"Node":                             true,
	"PersistentVolume":                 true,
	"PriorityClass":                    true,
	"PriorityLevelConfiguration":       true,
	"RuntimeClass":                     true,
	"StorageClass":                     true,
	"ValidatingAdmissionPolicy":        true,
	"ValidatingAdmissionPolicyBinding": true,
	"ValidatingWebhookConfiguration":   true,
	"VolumeAttachment":                 true,
}

// ClusterScoped reports whether a built-in kind lives outside namespaces.
func ClusterScoped(kind string) bool { return clusterScopedKinds[kind] }

// deployPriority orders a deploy so that what others depend on is applied first: namespaces and
// definitions, then storage and the data pods mount, then the workloads, then what points at the
// workloads. It follows the order of Spinnaker's handlers. Within a priority, manifests keep the
// order they were written in.
func deployPriority(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "CustomResourceDefinition":
		return 1
	case "StorageClass", "PriorityClass", "RuntimeClass", "IngressClass":
		return 2
	case "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
		"ResourceQuota", "LimitRange":
		return 3
	case "PersistentVolume":
		return 4
	case "PersistentVolumeClaim":
		return 5
	case "ConfigMap", "Secret":
		return 6
	case "Service":
		return 7
	case "Ingress", "NetworkPolicy":
		return 8
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod",
		"ReplicationController":
		return 9
	case "HorizontalPodAutoscaler", "PodDisruptionBudget":
		return 10
	default:
		return 100
	}
}

// kindName is how Spinnaker writes a kind in cluster names, artifact types and messages: the kind
// with its first letter lowered, as in replicaSet or configMap.
func kindName(kind string) string {
	if kind == "" {
		return ""
	}
	return strings.ToLower(kind[:1]) + kind[1:]
}
