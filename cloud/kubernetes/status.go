package kubernetes

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
)

// RolloutStatus judges the rollout of an object as read from the API server. Workloads are judged
// the way kubectl rollout status judges them; a PersistentVolumeClaim is done once bound; a Pod
// once ready or succeeded; anything else once it exists.
func RolloutStatus(obj *unstructured.Unstructured) cloud.Health {
	if obj == nil {
		return cloud.Health{Message: "not found"}
	}
	r := reader{obj: obj.Object, name: cloud.FullName(obj.GetKind(), obj.GetName())}
	if obj.GetDeletionTimestamp() != nil {
		return r.waiting("being deleted")
	}
	switch obj.GetKind() {
	case "Deployment":
		return r.deployment()
	case "ReplicaSet":
		return r.replicaSet()
	case "StatefulSet":
		return r.statefulSet()
	case "DaemonSet":
		return r.daemonSet()
	case "Job":
		return r.job()
	case "Pod":
		return r.pod()
	case "PersistentVolumeClaim":
		return r.persistentVolumeClaim()
	default:
		return r.done("present")
	}
}

// reader reads one object's status fields.
type reader struct {
	obj  map[string]any
	name string
}

func (r reader) done(parts ...string) cloud.Health {
	return cloud.Health{Done: true, Message: r.name + ": " + strings.Join(parts, "; ")}
}

func (r reader) waiting(parts ...string) cloud.Health {
	return cloud.Health{Message: r.name + ": " + strings.Join(parts, "; ")}
}

func (r reader) failed(parts ...string) cloud.Health {
	return cloud.Health{Failed: true, Message: r.name + ": " + strings.Join(parts, "; ")}
}

func (r reader) int(fields ...string) int64 {
	n, _ := intAt(r.obj, fields...)
	return n
}

// replicas is spec.replicas, which the API server defaults to 1.
func (r reader) replicas() int64 {
	if n, ok := intAt(r.obj, "spec", "replicas"); ok {
		return n
	}
	return 1
}

// stale reports a spec change the controller has not acted on yet, when every other status field
// still describes the previous spec.
func (r reader) stale() (string, bool) {
	generation, observed := r.int("metadata", "generation"), r.int("status", "observedGeneration")
	if observed < generation {
		return fmt.Sprintf("waiting for the controller to pick up the change (generation %d, observed %d)", generation, observed), true
	}
	return "", false
}

type condition struct{ status, reason, message string }

func (r reader) condition(kind string) (condition, bool) {
	for _, c := range mapsIn(mapAt(r.obj, "status")["conditions"]) {
		if t, _ := c["type"].(string); t == kind {
			s, _ := c["status"].(string)
			reason, _ := c["reason"].(string)
			msg, _ := c["message"].(string)
			return condition{status: s, reason: reason, message: strings.TrimSuffix(msg, ".")}, true
		}
	}
	return condition{}, false
}

// replicaFailure reports pods the controller could not create, such as over a quota. It is not a
// failure of the rollout by itself, since it clears once the cause does, but it is why it waits.
func (r reader) replicaFailure() []string {
	if c, ok := r.condition("ReplicaFailure"); ok && c.status == "True" {
		return []string{describeCondition("cannot create pods", c)}
	}
	return nil
}

func describeCondition(what string, c condition) string {
	// Kubernetes ends its messages with a period; ours join them with semicolons.
	c.message = strings.TrimSuffix(c.message, ".")
	switch {
	case c.reason != "" && c.message != "":
		return fmt.Sprintf("%s: %s: %s", what, c.reason, c.message)
	case c.message != "":
		return what + ": " + c.message
	case c.reason != "":
		return what + ": " + c.reason
	}
	return what
}

func (r reader) deployment() cloud.Health {
	if msg, stale := r.stale(); stale {
		return r.waiting(msg)
	}
	desired := r.replicas()
	updated, current, available := r.int("status", "updatedReplicas"), r.int("status", "replicas"), r.int("status", "availableReplicas")
	summary := fmt.Sprintf("%d of %d replicas available", available, desired)
	if c, ok := r.condition("Progressing"); ok && c.status == "False" && c.reason == "ProgressDeadlineExceeded" {
		return r.failed(summary, "progress deadline exceeded: "+c.message)
	}
	if boolAt(r.obj, "spec", "paused") {
		return r.waiting(summary, "the rollout is paused; resume it to continue")
	}
	var why string
	switch {
	case updated < desired:
		why = fmt.Sprintf("%d of %d replicas updated", updated, desired)
	case current > updated:
		why = fmt.Sprintf("%d old replicas still terminating", current-updated)
	case available < updated:
		why = fmt.Sprintf("waiting for %d updated replicas to become available", updated-available)
	default:
		return r.done(summary)
	}
	return r.waiting(append([]string{summary, why}, r.replicaFailure()...)...)
}

func (r reader) replicaSet() cloud.Health {
	if msg, stale := r.stale(); stale {
		return r.waiting(msg)
	}
	desired := r.replicas()
	current, ready, available := r.int("status", "replicas"), r.int("status", "readyReplicas"), r.int("status", "availableReplicas")
	summary := fmt.Sprintf("%d of %d replicas available", available, desired)
	var why string
	switch {
	case ready < desired:
		why = fmt.Sprintf("%d of %d replicas ready", ready, desired)
	case available < desired:
		why = fmt.Sprintf("waiting for %d ready replicas to become available", desired-available)
	case current > desired:
		why = fmt.Sprintf("%d extra replicas still terminating", current-desired)
	default:
		return r.done(summary)
	}
	return r.waiting(append([]string{summary, why}, r.replicaFailure()...)...)
}

func (r reader) statefulSet() cloud.Health {
	if msg, stale := r.stale(); stale {
		return r.waiting(msg)
	}
	desired := r.replicas()
	ready, updated := r.int("status", "readyReplicas"), r.int("status", "updatedReplicas")
	summary := fmt.Sprintf("%d of %d replicas ready", ready, desired)
	if ready < desired {
		return r.waiting(summary)
	}
	if stringAt(r.obj, "spec", "updateStrategy", "type") == "OnDelete" {
		// Pods change only when someone deletes them, so there is no rollout to wait for.
		return r.done(summary, "update strategy OnDelete: pods are updated only when deleted")
	}
	if partition, ok := intAt(r.obj, "spec", "updateStrategy", "rollingUpdate", "partition"); ok && partition > 0 {
		target := max(desired-partition, 0)
		if updated < target {
			return r.waiting(summary, fmt.Sprintf("%d of %d replicas above partition %d updated", updated, target, partition))
		}
		return r.done(summary, fmt.Sprintf("%d replicas above partition %d updated", updated, partition))
	}
	currentRevision, updateRevision := stringAt(r.obj, "status", "currentRevision"), stringAt(r.obj, "status", "updateRevision")
	if updateRevision != "" && currentRevision != updateRevision {
		return r.waiting(summary, fmt.Sprintf("%d of %d replicas updated to revision %s", updated, desired, updateRevision))
	}
	return r.done(summary)
}

func (r reader) daemonSet() cloud.Health {
	if msg, stale := r.stale(); stale {
		return r.waiting(msg)
	}
	desired := r.int("status", "desiredNumberScheduled")
	updated, available := r.int("status", "updatedNumberScheduled"), r.int("status", "numberAvailable")
	summary := fmt.Sprintf("available on %d of %d nodes", available, desired)
	if stringAt(r.obj, "spec", "updateStrategy", "type") != "OnDelete" && updated < desired {
		return r.waiting(summary, fmt.Sprintf("updated on %d of %d nodes", updated, desired))
	}
	if available < desired {
		return r.waiting(summary)
	}
	return r.done(summary)
}

func (r reader) job() cloud.Health {
	succeeded, active, failedPods := r.int("status", "succeeded"), r.int("status", "active"), r.int("status", "failed")
	backoffLimit := int64(6) // the API server's default
	if n, ok := intAt(r.obj, "spec", "backoffLimit"); ok {
		backoffLimit = n
	}
	progress := fmt.Sprintf("%d succeeded", succeeded)
	if completions, ok := intAt(r.obj, "spec", "completions"); ok {
		progress = fmt.Sprintf("%d of %d completions", succeeded, completions)
	}
	counts := fmt.Sprintf("%s, %d active, %d failed (backoff limit %d)", progress, active, failedPods, backoffLimit)

	for _, kind := range []string{"Failed", "FailureTarget"} {
		if c, ok := r.condition(kind); ok && c.status == "True" {
			return r.failed(describeCondition("failed", c), counts)
		}
	}
	for _, kind := range []string{"Complete", "SuccessCriteriaMet"} {
		if c, ok := r.condition(kind); ok && c.status == "True" {
			return r.done(progress)
		}
	}
	if failedPods > backoffLimit {
		return r.failed(fmt.Sprintf("failed: %d pods failed, more than the backoff limit of %d", failedPods, backoffLimit), counts)
	}
	if c, ok := r.condition("Suspended"); (ok && c.status == "True") || boolAt(r.obj, "spec", "suspend") {
		return r.waiting(counts, "the job is suspended; unsuspend it to continue")
	}
	return r.waiting(counts)
}

func (r reader) pod() cloud.Health {
	phase := stringAt(r.obj, "status", "phase")
	switch phase {
	case "Failed":
		why := describeCondition("failed", condition{reason: stringAt(r.obj, "status", "reason"), message: stringAt(r.obj, "status", "message")})
		return r.failed(append([]string{why}, r.containerProblems()...)...)
	case "Succeeded":
		return r.done("completed")
	}
	if c, ok := r.condition("Ready"); ok && c.status == "True" {
		return r.done("ready")
	}
	parts := []string{"not ready (phase " + phaseOr(phase) + ")"}
	if c, ok := r.condition("PodScheduled"); ok && c.status == "False" {
		parts = append(parts, describeCondition("not scheduled", c))
	}
	return r.waiting(append(parts, r.containerProblems()...)...)
}

// containerProblems names the containers that are waiting or have stopped, with why: an image that
// cannot be pulled or a crash loop is what a person needs to see.
func (r reader) containerProblems() []string {
	var out []string
	for _, list := range []string{"initContainerStatuses", "containerStatuses"} {
		for _, c := range mapsIn(mapAt(r.obj, "status")[list]) {
			name, _ := c["name"].(string)
			if w := mapAt(c, "state", "waiting"); w != nil {
				reason, _ := w["reason"].(string)
				msg, _ := w["message"].(string)
				if reason != "" && reason != "ContainerCreating" && reason != "PodInitializing" {
					out = append(out, describeCondition("container "+name, condition{reason: reason, message: msg}))
				}
			}
			if t := mapAt(c, "state", "terminated"); t != nil {
				if code, _ := intAt(t, "exitCode"); code != 0 {
					reason, _ := t["reason"].(string)
					msg, _ := t["message"].(string)
					out = append(out, describeCondition(fmt.Sprintf("container %s exited with code %d", name, code), condition{reason: reason, message: msg}))
				}
			}
		}
	}
	return out
}

func phaseOr(phase string) string {
	if phase == "" {
		return "unknown"
	}
	return phase
}

func (r reader) persistentVolumeClaim() cloud.Health {
	volume := stringAt(r.obj, "spec", "volumeName")
	switch phase := stringAt(r.obj, "status", "phase"); phase {
	case "Bound":
		return r.done("bound to volume " + volume)
	case "Lost":
		return r.failed(fmt.Sprintf("lost its volume %s; the claim must be recreated", volume))
	default:
		return r.waiting(fmt.Sprintf("not bound yet (phase %s); a claim whose storage class binds on first use waits for a pod to mount it", phaseOr(phase)))
	}
}
