package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gennaker/gennaker/cloud"
)

// LabelJobControllerUID is the label the Job controller puts on a Job's pods with the Job's UID. It
// tells them apart from the pods of an earlier Job of the same name, which job-name does not.
const LabelJobControllerUID = "batch.kubernetes.io/controller-uid"

// JobState is a Job as a run-job stage reports it: its counts, its rollout status and its pods.
type JobState struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// ExecutionID and StageRefID name the execution and stage that last deployed the Job, from
	// gennaker's annotations; both are empty for a Job gennaker did not deploy.
	ExecutionID string `json:"executionId,omitempty"`
	StageRefID  string `json:"stageRefId,omitempty"`
	Active      int64  `json:"active"`
	Succeeded   int64  `json:"succeeded"`
	Failed      int64  `json:"failed"`
	// Status is done once the Job is complete and failed once it has failed; its message says
	// why, as the Job controller put it (BackoffLimitExceeded, DeadlineExceeded, ...).
	Status cloud.Health `json:"status"`
	// Pods are the Job's newest pods, at most MaxLogPods, oldest first.
	Pods []JobPod `json:"pods,omitempty"`
}

// JobPod is one pod of a Job.
type JobPod struct {
	Name      string    `json:"name"`
	Phase     string    `json:"phase"`
	CreatedAt time.Time `json:"createdAt"`
	// Problem says why a failed pod failed: its reason and each container that exited with an
	// error, with its exit code.
	Problem string `json:"problem,omitempty"`
}

// Job reads a Job and its pods. found is false, with no error, when no Job has that name. An
// empty namespace is the account's default.
func (p *Provider) Job(ctx context.Context, namespace, name string) (state JobState, found bool, err error) {
	t, err := p.target("Job.batch", namespace, name)
	if err != nil {
		return JobState{}, false, fmt.Errorf("read job %s: %w", name, err)
	}
	obj, err := t.client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return JobState{}, false, nil
	}
	if err != nil {
		return JobState{}, false, wrap(err, "read %s", t)
	}
	a := obj.GetAnnotations()
	r := reader{obj: obj.Object}
	state = JobState{
		Namespace:   obj.GetNamespace(),
		Name:        obj.GetName(),
		UID:         string(obj.GetUID()),
		ExecutionID: a[AnnotationExecutionID],
		StageRefID:  a[AnnotationStageRefID],
		Active:      r.int("status", "active"),
		Succeeded:   r.int("status", "succeeded"),
		Failed:      r.int("status", "failed"),
		Status:      RolloutStatus(obj),
	}
	pods, err := listAll(ctx, p.dynamic.Resource(gvrPods).Namespace(t.namespace), metav1.ListOptions{LabelSelector: LabelJobControllerUID + "=" + state.UID})
	if err != nil {
		return JobState{}, false, wrap(err, "list the pods of %s", t)
	}
	for i := range pods {
		pod := &pods[i]
		jp := JobPod{Name: pod.GetName(), Phase: stringAt(pod.Object, "status", "phase"), CreatedAt: pod.GetCreationTimestamp().UTC()}
		if st := RolloutStatus(pod); st.Failed {
			jp.Problem = st.Message
		}
		state.Pods = append(state.Pods, jp)
	}
	slices.SortFunc(state.Pods, func(a, b JobPod) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Name, b.Name))
	})
	if over := len(state.Pods) - MaxLogPods; over > 0 {
		state.Pods = state.Pods[over:]
	}
	return state, true, nil
}
