package kubernetes

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/internal/localkube"
)

// The local cluster's nodes serve pod logs through kwok, from text a test sets with
// localkube's SetPodLogs; a pod nobody set logs for has none.

// createPod creates a bare pod with one container named app, and waits until it runs.
func (e *env) createPod(name string, labels map[string]string) {
	e.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(e.t.Context(), pod, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.waitStatus("Pod", name, false, 30*time.Second)
}

func TestPodLogsReadsWhatThePodsPrint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "logs")
	ctx := t.Context()
	text := "starting\nworking\nSPINNAKER_PROPERTY_ANSWER=42\ndone\n"
	if err := cluster(t).SetPodLogs(ctx, localkube.PodLogs{Namespace: e.ns, Pods: []string{"talker"}, Text: text}); err != nil {
		t.Fatal(err)
	}
	e.createPod("talker", map[string]string{"role": "worker"})
	e.createPod("quiet", map[string]string{"role": "worker"})

	t.Run("whole log", func(t *testing.T) {
		logs, err := e.p.PodLogs(ctx, e.ns, "role=worker", 0)
		if logs["talker/app"] != text {
			t.Errorf("log of talker = %q, want %q (all logs %v)", logs["talker/app"], text, logs)
		}
		// The pod without logs is left out, and the error says which container of which pod.
		if _, ok := logs["quiet/app"]; ok || len(logs) != 1 {
			t.Errorf("logs %v, want talker's only", logs)
		}
		if err == nil || !strings.Contains(err.Error(), "read the log of container app of pod quiet") {
			t.Errorf("PodLogs error %v, want one naming the container and pod without logs", err)
		}
	})
	t.Run("tail", func(t *testing.T) {
		logs, err := e.p.PodLogs(ctx, e.ns, "role=worker", 20)
		if err == nil {
			t.Error("PodLogs did not report the pod without logs")
		}
		// The last 20 bytes, from the first whole line within them.
		if got, want := logs["talker/app"], "done\n"; got != want {
			t.Errorf("tail of talker = %q, want %q", got, want)
		}
		logs, _ = e.p.PodLogs(ctx, e.ns, "role=worker", 40)
		if got, want := logs["talker/app"], "SPINNAKER_PROPERTY_ANSWER=42\ndone\n"; got != want {
			t.Errorf("tail of talker = %q, want %q", got, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, err := e.p.PodLogs(ctx, e.ns, "app in (", 1024)
		wantInvalid(t, err, "selector")
		_, err = e.p.PodLogs(ctx, e.ns, "", 1024)
		wantInvalid(t, err, "a selector is required")
		_, err = e.p.PodLogs(ctx, "kube-system", "role=worker", 1024)
		wantInvalid(t, err, "may not use namespace kube-system")
	})
}

func TestJobStateAndLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "job-logs")
	ctx := t.Context()
	// A Job's pods are named when the Job controller creates them: their logs are set for every
	// pod of the namespace, before the Job exists.
	if err := cluster(t).SetPodLogs(ctx, localkube.PodLogs{Namespace: e.ns, Containers: []string{"main"}, Text: "migrating\nerror: the table is locked\n"}); err != nil {
		t.Fatal(err)
	}
	e.deploy(cloud.DeployRequest{Application: "shop", ExecutionID: "01EXEC", StageRefID: "2", Manifests: docs(t, `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {`+localkube.ChaosLabel+`: `+localkube.ChaosFail+`}
    spec:
      restartPolicy: Never
      containers: [{name: main, image: example.com/migrate:1}]`)})
	e.waitStatus("Job", "migrate", true, 45*time.Second)

	// The controller marks the Job failed (FailureTarget) before it counts the failed pod.
	var job JobState
	eventually(t, 30*time.Second, "the failed pod is counted", func() string {
		var found bool
		var err error
		if job, found, err = e.p.Job(ctx, e.ns, "migrate"); err != nil || !found {
			t.Fatalf("Job: %+v, %v, %v", job, found, err)
		}
		if job.Failed == 0 {
			return job.Status.Message
		}
		return ""
	})
	if job.ExecutionID != "01EXEC" || job.StageRefID != "2" || job.Failed != 1 || job.Succeeded != 0 || job.UID == "" {
		t.Errorf("job %+v", job)
	}
	if !job.Status.Failed || !strings.Contains(job.Status.Message, "BackoffLimitExceeded") {
		t.Errorf("job status %+v, want failed with the controller's reason", job.Status)
	}
	if len(job.Pods) != 1 || job.Pods[0].Phase != "Failed" || !strings.Contains(job.Pods[0].Problem, "container main exited with code 1") {
		t.Fatalf("job pods %+v, want one failed pod saying which container exited how", job.Pods)
	}

	logs, err := e.p.PodLogs(ctx, e.ns, LabelJobControllerUID+"="+job.UID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := logs[job.Pods[0].Name+"/main"]; got != "migrating\nerror: the table is locked\n" {
		t.Errorf("logs of the failed job's pod: %v", logs)
	}

	if _, found, err := e.p.Job(ctx, e.ns, "missing"); found || err != nil {
		t.Errorf("Job of a missing job: found %v, %v", found, err)
	}
	_, _, err = e.p.Job(ctx, "kube-system", "migrate")
	wantInvalid(t, err, "may not use namespace kube-system")
}
