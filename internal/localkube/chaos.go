package localkube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Failure injection: what a test puts on a pod to make it misbehave on purpose.
const (
	// ChaosLabel on a pod (or a pod template) selects a misbehaviour by its value.
	ChaosLabel = "gennaker.io/chaos"
	// ChaosFail makes the pod's containers exit with code 1.
	ChaosFail = "fail"
	// ChaosNeverReady makes the pod run but never pass its readiness check.
	ChaosNeverReady = "never-ready"
	// ChaosFailImage in a container image name (such as "app:fail") works as ChaosLabel=ChaosFail
	// does, for callers that control the image but not the labels.
	ChaosFailImage = ":" + ChaosFail
	// ChaosNeverReadyImage in a container image name (such as "app:never-ready") works as
	// ChaosLabel=ChaosNeverReady does.
	ChaosNeverReadyImage = ":" + ChaosNeverReady
)

// chaosModeExpr is the jq expression kwok evaluates on a pod to find its chaos mode: the label's
// value, else the mode named by an image, else nothing. Every stage that touches pods matches on it.
var chaosModeExpr = fmt.Sprintf(`if .metadata.labels[%[1]q] then .metadata.labels[%[1]q] `+
	`elif any(.spec.containers[].image; contains(%[2]q)) then %[3]q `+
	`elif any(.spec.containers[].image; contains(%[4]q)) then %[5]q `+
	`else null end`,
	ChaosLabel, ChaosFailImage, ChaosFail, ChaosNeverReadyImage, ChaosNeverReady)

// chaosStages are the stages that take chaos pods from Pending to where they stay:
//
//   - chaos-fail: a pod that is not restarted (restartPolicy Never or OnFailure, as in a Job)
//     ends in phase Failed with every container terminated, exit code 1;
//   - chaos-crash-loop: a pod that would be restarted (restartPolicy Always, as in a Deployment)
//     keeps running in CrashLoopBackOff, never Ready, its last termination exit code 1, which is
//     what a kubelet shows; a Failed pod there would only be replaced again and again;
//   - chaos-never-ready: the pod runs, its containers started but never Ready.
func chaosStages() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		podStage("chaos-fail", ChaosFail, map[string]any{
			"key": ".spec.restartPolicy", "operator": "NotIn", "values": []any{"Always"},
		}, failedTemplate),
		podStage("chaos-crash-loop", ChaosFail, map[string]any{
			"key": ".spec.restartPolicy", "operator": "In", "values": []any{"Always"},
		}, crashLoopTemplate),
		podStage("chaos-never-ready", ChaosNeverReady, nil, neverReadyTemplate),
	}
}

// podStage is a kwok Stage moving a pending, undeleted pod of the given chaos mode to the status
// the template renders.
func podStage(name, mode string, extra map[string]any, statusTemplate string) *unstructured.Unstructured {
	exprs := []any{
		map[string]any{"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
		map[string]any{"key": ".status.phase", "operator": "In", "values": []any{"Pending"}},
		map[string]any{"key": chaosModeExpr, "operator": "In", "values": []any{mode}},
	}
	if extra != nil {
		exprs = append(exprs, extra)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": stageGVR.GroupVersion().String(),
		"kind":       "Stage",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"resourceRef": map[string]any{"apiGroup": "v1", "kind": "Pod"},
			"selector":    map[string]any{"matchExpressions": exprs},
			"next":        map[string]any{"statusTemplate": statusTemplate},
		},
	}}
}

// The status templates use kwok's template functions (Now, Quote, NodeIPsWith, PodIPsWith).
// podAddresses gives the pod the node's and its own IPs, as kwok's pod-ready stage does.
const podAddresses = `
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
startTime: {{ Now | Quote }}
`

// notReadyConditions are the conditions of a pod whose containers are not ready.
const notReadyConditions = `
conditions:
- lastTransitionTime: {{ Now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ Now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ Now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
`

const failedTemplate = notReadyConditions + `
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 1
      reason: Error
      message: failed on purpose (gennaker.io/chaos)
      startedAt: {{ Now | Quote }}
      finishedAt: {{ Now | Quote }}
{{ end }}
phase: Failed
` + podAddresses

const crashLoopTemplate = notReadyConditions + `
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 1
  state:
    waiting:
      reason: CrashLoopBackOff
      message: failed on purpose (gennaker.io/chaos)
  lastState:
    terminated:
      exitCode: 1
      reason: Error
      message: failed on purpose (gennaker.io/chaos)
      startedAt: {{ Now | Quote }}
      finishedAt: {{ Now | Quote }}
{{ end }}
phase: Running
` + podAddresses

const neverReadyTemplate = notReadyConditions + `
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ Now | Quote }}
{{ end }}
phase: Running
` + podAddresses
