// Package kubernetes is gennaker's Kubernetes provider. Most of it is pure: it prepares manifests
// for a deploy the way Spinnaker's Kubernetes provider (v2) does — namespaces, monikers, versioned
// resources, artifact binding — checks red/black traffic management, and reads rollout status from
// objects as the API server returns them, without talking to a cluster. Provider is the adapter
// that does talk to one, through client-go, for one Account: it deploys, reads status, scales,
// patches, deletes, undoes and restarts rollouts, moves traffic and lists server groups.
package kubernetes

// Annotations gennaker writes on what it deploys. The moniker, artifact, strategy and traffic names
// are Spinnaker's, so tooling built for Spinnaker-managed clusters keeps working.
const (
	AnnotationApplication = "moniker.spinnaker.io/application"
	AnnotationCluster     = "moniker.spinnaker.io/cluster"
	AnnotationStack       = "moniker.spinnaker.io/stack"
	AnnotationDetail      = "moniker.spinnaker.io/detail"
	AnnotationSequence    = "moniker.spinnaker.io/sequence"

	// The artifact annotations describe the resource itself as a Spinnaker artifact, so later
	// stages and the infrastructure view can tell versions of one resource apart.
	AnnotationArtifactName     = "artifact.spinnaker.io/name"
	AnnotationArtifactType     = "artifact.spinnaker.io/type"
	AnnotationArtifactLocation = "artifact.spinnaker.io/location"
	AnnotationArtifactVersion  = "artifact.spinnaker.io/version"

	// AnnotationVersioned set to "true" or "false" on a manifest overrides whether its kind is
	// versioned.
	AnnotationVersioned = "strategy.spinnaker.io/versioned"
	// AnnotationLoadBalancers lists the Services ("service web") a workload's traffic is managed
	// through, as a JSON array.
	AnnotationLoadBalancers = "traffic.spinnaker.io/load-balancers"

	AnnotationExecutionID = "gennaker.io/execution-id"
	AnnotationStageRefID  = "gennaker.io/stage-ref-id"
	AnnotationAccount     = "gennaker.io/account"

	// AnnotationLastApplied is where kubectl keeps the manifest it last applied.
	AnnotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"
)

// Labels gennaker writes, on the resource and on its pod template.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelSequence carries a versioned resource's sequence, as Spinnaker labels it.
	LabelSequence = "moniker.spinnaker.io/sequence"
	// ManagedBy is the value of LabelManagedBy, where Spinnaker writes "spinnaker".
	ManagedBy = "gennaker"
)

// Artifact types this package binds or produces.
const (
	ArtifactTypeDockerImage = "docker/image"
	// ArtifactTypePrefix starts the type of an artifact that is a Kubernetes resource, as in
	// kubernetes/configMap.
	ArtifactTypePrefix = "kubernetes/"
)
