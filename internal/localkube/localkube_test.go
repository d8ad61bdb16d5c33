package localkube_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/gennaker/gennaker/internal/localkube"
)

// waitTimeout bounds each wait for the cluster to reach a state; kwok moves pods within a second.
const waitTimeout = 45 * time.Second

func TestFindBinariesNamesWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := localkube.FindBinaries(dir)
	if !errors.Is(err, localkube.ErrMissingBinaries) {
		t.Fatalf("FindBinaries(%s) = %v, want ErrMissingBinaries", dir, err)
	}
	for _, want := range []string{"kube-apiserver", "kwok", "kwok-stages/pod-ready.yaml", "kwok-stages/kwok.x-k8s.io_clusterlogs.yaml", "make kube-tools"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "etcd,") {
		t.Errorf("error %q names etcd, which is there", err)
	}
}

func TestStartRequiresDataDir(t *testing.T) {
	if _, err := localkube.Start(t.Context(), localkube.Options{}); err == nil {
		t.Fatal("Start without DataDir succeeded")
	}
}

// TestStartFailureCarriesTheLog starts a cluster whose etcd always exits: the start is tried
// again on other ports (a program exiting at start is most often one whose port was taken in the
// meantime), then fails with the program's log.
func TestStartFailureCarriesTheLog(t *testing.T) {
	binDir := t.TempDir()
	starts := filepath.Join(t.TempDir(), "etcd-starts")
	for _, name := range localkube.Binaries {
		script := "#!/bin/sh\nsleep 60\n"
		if name == "etcd" {
			script = "#!/bin/sh\necho start >> '" + starts + "'\necho 'etcd: cannot open the data dir' >&2\nexit 3\n"
		}
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stages := filepath.Join(binDir, localkube.StagesDir)
	if err := os.Mkdir(stages, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kwok.x-k8s.io_stages.yaml", "kwok.x-k8s.io_logs.yaml", "kwok.x-k8s.io_clusterlogs.yaml",
		"node-initialize.yaml", "node-heartbeat.yaml", "pod-ready.yaml", "pod-complete.yaml", "pod-delete.yaml"} {
		if err := os.WriteFile(filepath.Join(stages, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := localkube.Start(ctx, localkube.Options{BinDir: binDir, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("Start succeeded with an etcd that exits")
	}
	for _, want := range []string{"etcd", "exit status 3", "cannot open the data dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got, _ := os.ReadFile(starts); strings.Count(string(got), "start") != 3 {
		t.Errorf("etcd started %d times, want 3 attempts", strings.Count(string(got), "start"))
	}
}

// TestCluster runs the real control plane: rollouts, chaos pods and Jobs, pod logs, kubectl, and a
// restart on the same data.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a local Kubernetes control plane; skipped with -short")
	}
	binDir := localkube.DefaultBinDir()
	if err := localkube.FindBinaries(binDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("skipping the local Kubernetes tests: %v", err)
	}
	dataDir := t.TempDir()
	cluster := startCluster(t, dataDir)
	cs := clientset(t, cluster)

	t.Run("workloads", func(t *testing.T) {
		t.Run("deployment rolls out", func(t *testing.T) {
			t.Parallel()
			createDeployment(t, cs, deployment("web", "nginx:1", nil))
			waitDeployment(t, cs, "web", rolledOut)
		})
		t.Run("never-ready deployment exceeds its progress deadline", func(t *testing.T) {
			t.Parallel()
			createDeployment(t, cs, deployment("stuck", "nginx:1", map[string]string{localkube.ChaosLabel: localkube.ChaosNeverReady}))
			d := waitDeployment(t, cs, "stuck", progressDeadlineExceeded)
			if d.Status.ReadyReplicas != 0 || d.Status.AvailableReplicas != 0 {
				t.Errorf("ready %d, available %d replicas; want none", d.Status.ReadyReplicas, d.Status.AvailableReplicas)
			}
			for _, pod := range podsOf(t, cs, "app=stuck") {
				if pod.Status.Phase != corev1.PodRunning || podReady(&pod) {
					t.Errorf("pod %s: phase %s, ready %v; want Running and not Ready", pod.Name, pod.Status.Phase, podReady(&pod))
				}
			}
		})
		t.Run("never-ready image deployment exceeds its progress deadline", func(t *testing.T) {
			t.Parallel()
			createDeployment(t, cs, deployment("stuck-image", "nginx"+localkube.ChaosNeverReadyImage, nil))
			waitDeployment(t, cs, "stuck-image", progressDeadlineExceeded)
		})
		t.Run("failing deployment crash-loops", func(t *testing.T) {
			t.Parallel()
			createDeployment(t, cs, deployment("crash", "nginx:1", map[string]string{localkube.ChaosLabel: localkube.ChaosFail}))
			waitPods(t, cs, "app=crash", 2, func(pod *corev1.Pod) bool {
				st := pod.Status.ContainerStatuses
				return pod.Status.Phase == corev1.PodRunning && !podReady(pod) && len(st) == 1 &&
					st[0].State.Waiting != nil && st[0].State.Waiting.Reason == "CrashLoopBackOff" &&
					st[0].LastTerminationState.Terminated != nil && st[0].LastTerminationState.Terminated.ExitCode == 1
			})
		})
		t.Run("job completes", func(t *testing.T) {
			t.Parallel()
			createJob(t, cs, job("ok", "busybox:1", nil))
			j := waitJob(t, cs, "ok", batchv1.JobComplete)
			if j.Status.Succeeded != 1 {
				t.Errorf("succeeded = %d, want 1", j.Status.Succeeded)
			}
		})
		t.Run("failing job fails", func(t *testing.T) {
			t.Parallel()
			createJob(t, cs, job("fails", "busybox:1", map[string]string{localkube.ChaosLabel: localkube.ChaosFail}))
			waitJob(t, cs, "fails", batchv1.JobFailed)
			for _, pod := range podsOf(t, cs, "job-name=fails") {
				st := pod.Status.ContainerStatuses
				if pod.Status.Phase != corev1.PodFailed || len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.ExitCode != 1 {
					t.Errorf("pod %s: phase %s, containers %+v; want Failed with exit code 1", pod.Name, pod.Status.Phase, st)
				}
			}
		})
		t.Run("failing image job fails", func(t *testing.T) {
			t.Parallel()
			createJob(t, cs, job("fails-image", "busybox"+localkube.ChaosFailImage, nil))
			waitJob(t, cs, "fails-image", batchv1.JobFailed)
		})
	})

	t.Run("pod logs", func(t *testing.T) {
		// Set before the Job exists: its pods are selected by namespace and container.
		if err := cluster.SetPodLogs(t.Context(), localkube.PodLogs{Namespace: logsNamespace, Containers: []string{"main"}, Text: "first\nsecond\n"}); err != nil {
			t.Fatal(err)
		}
		if err := cluster.SetPodLogs(t.Context(), localkube.PodLogs{Namespace: logsNamespace, Containers: []string{"sidecar"}, Text: "from the sidecar"}); err != nil {
			t.Fatal(err)
		}
		createNamespace(t, cs, logsNamespace)
		j := job("logs", "busybox:1", nil)
		j.Namespace = logsNamespace
		j.Spec.Template.Spec.Containers = append(j.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox:1"})
		if _, err := cs.BatchV1().Jobs(logsNamespace).Create(t.Context(), j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := jobPod(t, cs, logsNamespace, "logs")
		for container, want := range map[string]string{"main": "first\nsecond\n", "sidecar": "from the sidecar\n"} {
			if got := podLog(t, cs, logsNamespace, pod, container); got != want {
				t.Errorf("log of %s/%s = %q, want %q", pod, container, got, want)
			}
		}
		// Setting the same selection again replaces its text at once.
		if err := cluster.SetPodLogs(t.Context(), localkube.PodLogs{Namespace: logsNamespace, Containers: []string{"main"}, Text: "replaced"}); err != nil {
			t.Fatal(err)
		}
		if got := podLog(t, cs, logsNamespace, pod, "main"); got != "replaced\n" {
			t.Errorf("log after replacing = %q", got)
		}
		// A pod nobody set logs for has none; kwok says so in the body of its answer.
		if data, err := cs.CoreV1().Pods(metav1.NamespaceDefault).GetLogs(jobPod(t, cs, metav1.NamespaceDefault, "ok"), &corev1.PodLogOptions{}).DoRaw(t.Context()); err == nil ||
			!strings.Contains(string(data), "no logs found") {
			t.Errorf("log of a pod without logs: %v (%q), want an error saying none were found", err, data)
		}
		if err := cluster.SetPodLogs(t.Context(), localkube.PodLogs{Namespace: "Not A Namespace"}); err == nil {
			t.Error("SetPodLogs accepted an invalid namespace")
		}
	})

	t.Run("kubectl", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl is not installed")
		}
		out, err := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", cluster.Kubeconfig(), "get", "nodes", "-o", "name").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get nodes: %v\n%s", err, out)
		}
		for i := range localkube.DefaultNodes {
			if want := "node/" + localkube.NodeName(i); !strings.Contains(string(out), want) {
				t.Errorf("kubectl get nodes printed %q, want %s in it", out, want)
			}
		}
	})

	t.Run("restart keeps objects", func(t *testing.T) {
		cluster.Stop()
		cluster.Stop() // a second Stop does nothing
		restarted := startCluster(t, dataDir)
		cs := clientset(t, restarted)
		if _, err := cs.AppsV1().Deployments(metav1.NamespaceDefault).Get(t.Context(), "web", metav1.GetOptions{}); err != nil {
			t.Fatalf("deployment web after restart: %v", err)
		}
		waitDeployment(t, cs, "web", rolledOut)
		// The nodes advertise the new kubelet port, so logs are read as before.
		if got := podLog(t, cs, logsNamespace, jobPod(t, cs, logsNamespace, "logs"), "main"); got != "replaced\n" {
			t.Errorf("log after restart = %q", got)
		}
	})
}

// logsNamespace holds the Job whose pod logs TestCluster sets.
const logsNamespace = "logs"

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// jobPod waits for the first pod of a Job to have started its containers, and names it.
func jobPod(t *testing.T, cs kubernetes.Interface, namespace, jobName string) string {
	t.Helper()
	var name string
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + jobName})
		if err != nil || len(pods.Items) == 0 || len(pods.Items[0].Status.ContainerStatuses) == 0 {
			return false, nil
		}
		name = pods.Items[0].Name
		return true, nil
	})
	if err != nil {
		t.Fatalf("pod of job %s/%s: %v", namespace, jobName, err)
	}
	return name
}

func podLog(t *testing.T, cs kubernetes.Interface, namespace, pod, container string) string {
	t.Helper()
	data, err := cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("log of %s/%s in %s: %v", pod, container, namespace, err)
	}
	return string(data)
}

func startCluster(t *testing.T, dataDir string) *localkube.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	cluster, err := localkube.Start(ctx, localkube.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	t.Logf("cluster started in %s", time.Since(began).Round(time.Millisecond))
	return cluster
}

func clientset(t *testing.T, cluster *localkube.Cluster) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func deployment(name, image string, labels map[string]string) *appsv1.Deployment {
	podLabels := map[string]string{"app": name}
	for k, v := range labels {
		podLabels[k] = v
	}
	replicas := int32(2)
	deadline := int32(10)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas:                &replicas,
			ProgressDeadlineSeconds: &deadline,
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
			},
		},
	}
}

func job(name, image string, labels map[string]string) *batchv1.Job {
	backoff := int32(0)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: image}},
				},
			},
		},
	}
}

func createDeployment(t *testing.T, cs kubernetes.Interface, d *appsv1.Deployment) {
	t.Helper()
	if _, err := cs.AppsV1().Deployments(metav1.NamespaceDefault).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createJob(t *testing.T, cs kubernetes.Interface, j *batchv1.Job) {
	t.Helper()
	if _, err := cs.BatchV1().Jobs(metav1.NamespaceDefault).Create(t.Context(), j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// rolledOut is `kubectl rollout status`'s test: the controller saw the latest spec and every
// replica is updated and ready.
func rolledOut(d *appsv1.Deployment) bool {
	return d.Spec.Replicas != nil && d.Status.ObservedGeneration >= d.Generation &&
		d.Status.Replicas == *d.Spec.Replicas &&
		d.Status.UpdatedReplicas == *d.Spec.Replicas &&
		d.Status.ReadyReplicas == *d.Spec.Replicas
}

func progressDeadlineExceeded(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			return c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded"
		}
	}
	return false
}

func waitDeployment(t *testing.T, cs kubernetes.Interface, name string, done func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		d, err = cs.AppsV1().Deployments(metav1.NamespaceDefault).Get(ctx, name, metav1.GetOptions{})
		return err == nil && done(d), nil
	})
	if err != nil {
		t.Fatalf("deployment %s: %v; last status %+v", name, err, status(d))
	}
	return d
}

func waitJob(t *testing.T, cs kubernetes.Interface, name string, want batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		if j, err = cs.BatchV1().Jobs(metav1.NamespaceDefault).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, nil
		}
		for _, c := range j.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			if c.Type == want {
				return true, nil
			}
			if c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed {
				return false, fmt.Errorf("job ended %s (%s), want %s", c.Type, c.Reason, want)
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("job %s: %v; last status %+v", name, err, status(j))
	}
	return j
}

func waitPods(t *testing.T, cs kubernetes.Interface, selector string, n int, ok func(*corev1.Pod) bool) {
	t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		pods = podsOf(t, cs, selector)
		matching := 0
		for i := range pods {
			if ok(&pods[i]) {
				matching++
			}
		}
		return matching == n, nil
	})
	if err != nil {
		t.Fatalf("pods %s: %v; last %+v", selector, err, pods)
	}
}

func podsOf(t *testing.T, cs kubernetes.Interface, selector string) []corev1.Pod {
	t.Helper()
	pods, err := cs.CoreV1().Pods(metav1.NamespaceDefault).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// status is an object's status for a failure message, or nil.
func status(obj any) any {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		if o != nil {
			return o.Status
		}
	case *batchv1.Job:
		if o != nil {
			return o.Status
		}
	}
	return nil
}
