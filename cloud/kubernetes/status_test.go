package kubernetes

import (
	"testing"

	"github.com/gennaker/gennaker/cloud"
)

func TestRolloutStatus(t *testing.T) {
	tests := []struct {
		name   string
		object string
		want   cloud.Health
	}{
		// Deployments.
		{"deployment rolled out", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, generation: 2}
spec: {replicas: 3}
status:
  observedGeneration: 2
  replicas: 3
  updatedReplicas: 3
  readyReplicas: 3
  availableReplicas: 3
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable, message: Deployment has minimum availability.}
  - {type: Progressing, status: "True", reason: NewReplicaSetAvailable, message: ReplicaSet "web-7d4f9c" has successfully progressed.}`,
			cloud.Health{Done: true, Message: "deployment web: 3 of 3 replicas available"}},
		{"deployment just created", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 3}`,
			cloud.Health{Message: "deployment web: waiting for the controller to pick up the change (generation 1, observed 0)"}},
		{"deployment change not yet observed", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3}`,
			cloud.Health{Message: "deployment web: waiting for the controller to pick up the change (generation 3, observed 2)"}},
		{"deployment updating", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 3}
status: {observedGeneration: 3, replicas: 4, updatedReplicas: 1, readyReplicas: 3, availableReplicas: 2}`,
			cloud.Health{Message: "deployment web: 2 of 3 replicas available; 1 of 3 replicas updated"}},
		{"deployment old replicas terminating", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 3}
status: {observedGeneration: 3, replicas: 4, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3}`,
			cloud.Health{Message: "deployment web: 3 of 3 replicas available; 1 old replicas still terminating"}},
		{"deployment updated but not available", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 3}
status: {observedGeneration: 3, replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 1}`,
			cloud.Health{Message: "deployment web: 1 of 3 replicas available; waiting for 2 updated replicas to become available"}},
		{"deployment progress deadline exceeded", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 3, progressDeadlineSeconds: 600}
status:
  observedGeneration: 3
  replicas: 3
  updatedReplicas: 3
  readyReplicas: 1
  availableReplicas: 1
  unavailableReplicas: 2
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable, message: Deployment does not have minimum availability.}
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: ReplicaSet "web-7d4" has timed out progressing.}`,
			cloud.Health{Failed: true, Message: `deployment web: 1 of 3 replicas available; progress deadline exceeded: ReplicaSet "web-7d4" has timed out progressing`}},
		{"deployment paused", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 4}
spec: {replicas: 2, paused: true}
status:
  observedGeneration: 4
  replicas: 2
  updatedReplicas: 0
  availableReplicas: 2
  conditions:
  - {type: Progressing, status: Unknown, reason: DeploymentPaused, message: Deployment is paused}`,
			cloud.Health{Message: "deployment web: 2 of 2 replicas available; the rollout is paused; resume it to continue"}},
		{"deployment over quota", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 2}
status:
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  availableReplicas: 1
  conditions:
  - {type: ReplicaFailure, status: "True", reason: FailedCreate, message: 'pods "web-7d4-x2x" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=3, limited: cpu=4'}`,
			cloud.Health{Message: `deployment web: 1 of 2 replicas available; 1 of 2 replicas updated; cannot create pods: FailedCreate: pods "web-7d4-x2x" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=3, limited: cpu=4`}},
		{"deployment scaled to zero", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 5}
spec: {replicas: 0}
status: {observedGeneration: 5}`,
			cloud.Health{Done: true, Message: "deployment web: 0 of 0 replicas available"}},
		{"deployment being deleted", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 5, deletionTimestamp: "2025-03-01T10:00:00Z"}
spec: {replicas: 1}
status: {observedGeneration: 5, replicas: 1, updatedReplicas: 1, availableReplicas: 1}`,
			cloud.Health{Message: "deployment web: being deleted"}},

		// ReplicaSets.
		{"replica set ready", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003, generation: 1}
spec: {replicas: 3}
status: {observedGeneration: 1, replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 3}`,
			cloud.Health{Done: true, Message: "replicaSet web-v003: 3 of 3 replicas available"}},
		{"replica set starting", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003, generation: 1}
spec: {replicas: 3}
status: {observedGeneration: 1, replicas: 3, readyReplicas: 1, availableReplicas: 1}`,
			cloud.Health{Message: "replicaSet web-v003: 1 of 3 replicas available; 1 of 3 replicas ready"}},
		{"replica set ready but within minReadySeconds", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003, generation: 1}
spec: {replicas: 3, minReadySeconds: 30}
status: {observedGeneration: 1, replicas: 3, readyReplicas: 3, availableReplicas: 1}`,
			cloud.Health{Message: "replicaSet web-v003: 1 of 3 replicas available; waiting for 2 ready replicas to become available"}},
		{"replica set scaling down", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003, generation: 2}
spec: {replicas: 1}
status: {observedGeneration: 2, replicas: 3, readyReplicas: 3, availableReplicas: 3}`,
			cloud.Health{Message: "replicaSet web-v003: 3 of 1 replicas available; 2 extra replicas still terminating"}},
		{"replica set with the default of one replica", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003, generation: 1}
status: {observedGeneration: 1, replicas: 1, readyReplicas: 1, availableReplicas: 1}`,
			cloud.Health{Done: true, Message: "replicaSet web-v003: 1 of 1 replicas available"}},
		{"replica set not yet observed", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-v003, generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 1, replicas: 3, readyReplicas: 3, availableReplicas: 3}`,
			cloud.Health{Message: "replicaSet web-v003: waiting for the controller to pick up the change (generation 2, observed 1)"}},

		// StatefulSets.
		{"stateful set rolled out", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 2}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate}}
status: {observedGeneration: 2, replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, currentRevision: db-7c9d, updateRevision: db-7c9d}`,
			cloud.Health{Done: true, Message: "statefulSet db: 3 of 3 replicas ready"}},
		{"stateful set rolling", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, currentReplicas: 2, updatedReplicas: 1, currentRevision: db-7c9d, updateRevision: db-5f6b}`,
			cloud.Health{Message: "statefulSet db: 3 of 3 replicas ready; 1 of 3 replicas updated to revision db-5f6b"}},
		{"stateful set not ready", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 1}
spec: {replicas: 3}
status: {observedGeneration: 1, replicas: 2, readyReplicas: 1, currentRevision: db-7c9d, updateRevision: db-7c9d}`,
			cloud.Health{Message: "statefulSet db: 1 of 3 replicas ready"}},
		{"stateful set on delete", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: OnDelete}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 0, currentRevision: db-7c9d, updateRevision: db-5f6b}`,
			cloud.Health{Done: true, Message: "statefulSet db: 3 of 3 replicas ready; update strategy OnDelete: pods are updated only when deleted"}},
		{"stateful set partition reached", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 1, currentRevision: db-7c9d, updateRevision: db-5f6b}`,
			cloud.Health{Done: true, Message: "statefulSet db: 3 of 3 replicas ready; 1 replicas above partition 2 updated"}},
		{"stateful set partition pending", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 1, currentRevision: db-7c9d, updateRevision: db-5f6b}`,
			cloud.Health{Message: "statefulSet db: 3 of 3 replicas ready; 1 of 2 replicas above partition 1 updated"}},

		// DaemonSets.
		{"daemon set rolled out", `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 2}
status: {observedGeneration: 2, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 3, numberAvailable: 3}`,
			cloud.Health{Done: true, Message: "daemonSet agent: available on 3 of 3 nodes"}},
		{"daemon set updating", `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 3}
status: {observedGeneration: 3, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberReady: 3, numberAvailable: 3}`,
			cloud.Health{Message: "daemonSet agent: available on 3 of 3 nodes; updated on 1 of 3 nodes"}},
		{"daemon set unavailable", `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 3}
status: {observedGeneration: 3, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 2, numberAvailable: 2, numberUnavailable: 1}`,
			cloud.Health{Message: "daemonSet agent: available on 2 of 3 nodes"}},
		{"daemon set on delete", `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 3}
spec: {updateStrategy: {type: OnDelete}}
status: {observedGeneration: 3, desiredNumberScheduled: 3, updatedNumberScheduled: 0, numberAvailable: 3}`,
			cloud.Health{Done: true, Message: "daemonSet agent: available on 3 of 3 nodes"}},

		// Jobs.
		{"job complete", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, backoffLimit: 6}
status:
  succeeded: 1
  conditions:
  - {type: SuccessCriteriaMet, status: "True", reason: CompletionsReached}
  - {type: Complete, status: "True", reason: CompletionsReached}`,
			cloud.Health{Done: true, Message: "job migrate: 1 of 1 completions"}},
		{"job out of retries", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, backoffLimit: 6}
status:
  failed: 7
  conditions:
  - {type: FailureTarget, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}
  - {type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}`,
			cloud.Health{Failed: true, Message: "job migrate: failed: BackoffLimitExceeded: Job has reached the specified backoff limit; 0 of 1 completions, 0 active, 7 failed (backoff limit 6)"}},
		{"job past its deadline", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {activeDeadlineSeconds: 60}
status:
  failed: 1
  conditions:
  - {type: Failed, status: "True", reason: DeadlineExceeded, message: Job was active longer than specified deadline}`,
			cloud.Health{Failed: true, Message: "job migrate: failed: DeadlineExceeded: Job was active longer than specified deadline; 0 succeeded, 0 active, 1 failed (backoff limit 6)"}},
		{"job failing, pods terminating", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, backoffLimit: 0}
status:
  failed: 1
  conditions:
  - {type: FailureTarget, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}`,
			cloud.Health{Failed: true, Message: "job migrate: failed: BackoffLimitExceeded: Job has reached the specified backoff limit; 0 of 1 completions, 0 active, 1 failed (backoff limit 0)"}},
		{"job running with retries", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, backoffLimit: 3}
status: {active: 1, failed: 2}`,
			cloud.Health{Message: "job migrate: 0 of 1 completions, 1 active, 2 failed (backoff limit 3)"}},
		{"job over its backoff limit before the condition", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, backoffLimit: 1}
status: {failed: 2}`,
			cloud.Health{Failed: true, Message: "job migrate: failed: 2 pods failed, more than the backoff limit of 1; 0 of 1 completions, 0 active, 2 failed (backoff limit 1)"}},
		{"job suspended", `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 2, suspend: true}
status:
  conditions:
  - {type: Suspended, status: "True", reason: JobSuspended, message: Job suspended}`,
			cloud.Health{Message: "job migrate: 0 of 2 completions, 0 active, 0 failed (backoff limit 6); the job is suspended; unsuspend it to continue"}},

		// Pods.
		{"pod ready", `apiVersion: v1
kind: Pod
metadata: {name: debug-v000}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "True"}`,
			cloud.Health{Done: true, Message: "pod debug-v000: ready"}},
		{"pod completed", `apiVersion: v1
kind: Pod
metadata: {name: once-v000}
status: {phase: Succeeded}`,
			cloud.Health{Done: true, Message: "pod once-v000: completed"}},
		{"pod evicted", `apiVersion: v1
kind: Pod
metadata: {name: debug-v000}
status: {phase: Failed, reason: Evicted, message: "The node was low on resource: memory."}`,
			cloud.Health{Failed: true, Message: "pod debug-v000: failed: Evicted: The node was low on resource: memory"}},
		{"pod exited with an error", `apiVersion: v1
kind: Pod
metadata: {name: once-v000}
status:
  phase: Failed
  containerStatuses:
  - name: main
    state: {terminated: {exitCode: 1, reason: Error}}`,
			cloud.Health{Failed: true, Message: "pod once-v000: failed; container main exited with code 1: Error"}},
		{"pod cannot pull its image", `apiVersion: v1
kind: Pod
metadata: {name: debug-v000}
status:
  phase: Pending
  conditions:
  - {type: PodScheduled, status: "True"}
  - {type: Ready, status: "False", reason: ContainersNotReady}
  containerStatuses:
  - name: web
    ready: false
    state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image "gcr.io/x/web:nope"'}}`,
			cloud.Health{Message: `pod debug-v000: not ready (phase Pending); container web: ImagePullBackOff: Back-off pulling image "gcr.io/x/web:nope"`}},
		{"pod unschedulable", `apiVersion: v1
kind: Pod
metadata: {name: debug-v000}
status:
  phase: Pending
  conditions:
  - {type: PodScheduled, status: "False", reason: Unschedulable, message: "0/3 nodes are available: 3 Insufficient cpu."}`,
			cloud.Health{Message: "pod debug-v000: not ready (phase Pending); not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu"}},
		{"pod crash looping", `apiVersion: v1
kind: Pod
metadata: {name: debug-v000}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "False"}
  containerStatuses:
  - name: web
    restartCount: 4
    state: {waiting: {reason: CrashLoopBackOff, message: back-off 1m20s restarting failed container=web}}
    lastState: {terminated: {exitCode: 2, reason: Error}}`,
			cloud.Health{Message: "pod debug-v000: not ready (phase Running); container web: CrashLoopBackOff: back-off 1m20s restarting failed container=web"}},
		{"pod creating", `apiVersion: v1
kind: Pod
metadata: {name: debug-v000}
status:
  phase: Pending
  containerStatuses:
  - {name: web, state: {waiting: {reason: ContainerCreating}}}`,
			cloud.Health{Message: "pod debug-v000: not ready (phase Pending)"}},

		// Claims.
		{"claim bound", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {volumeName: pvc-0a1b2c}
status: {phase: Bound}`,
			cloud.Health{Done: true, Message: "persistentVolumeClaim data: bound to volume pvc-0a1b2c"}},
		{"claim pending", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Pending}`,
			cloud.Health{Message: "persistentVolumeClaim data: not bound yet (phase Pending); a claim whose storage class binds on first use waits for a pod to mount it"}},
		{"claim lost", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {volumeName: pvc-0a1b2c}
status: {phase: Lost}`,
			cloud.Health{Failed: true, Message: "persistentVolumeClaim data: lost its volume pvc-0a1b2c; the claim must be recreated"}},

		// Everything else is done once it exists.
		{"service", serviceYAML, cloud.Health{Done: true, Message: "service web: present"}},
		{"config map", configMapYAML, cloud.Health{Done: true, Message: "configMap web-config: present"}},
		{"secret", secretYAML, cloud.Health{Done: true, Message: "secret web-secret: present"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RolloutStatus(object(t, tt.object)); got != tt.want {
				t.Errorf("RolloutStatus =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
	if got := RolloutStatus(nil); got.Done || got.Failed {
		t.Errorf("RolloutStatus(nil) = %+v", got)
	}
}
