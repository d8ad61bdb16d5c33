package activities

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/internal/localkube"
	"github.com/gennaker/gennaker/internal/localkube/kubetest"
)

// jobManifestFor is a Job with a main container and a sidecar; podLabels go on its pod template.
func jobManifestFor(metadata map[string]any, podLabels map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": metadata,
		"spec": map[string]any{
			"backoffLimit": int64(0),
			"template": map[string]any{
				"metadata": map[string]any{"labels": podLabels},
				"spec": map[string]any{
					"restartPolicy": "Never",
					"containers": []any{
						map[string]any{"name": "main", "image": "example.com/migrate:1"},
						map[string]any{"name": "sidecar", "image": "example.com/proxy:1"},
					},
				},
			},
		},
	}
}

func startJob(t *testing.T, env *testsuite.TestActivityEnvironment, in StartJobInput) (cloud.Resource, error) {
	t.Helper()
	val, err := env.ExecuteActivity((&Kubernetes{}).StartJob, in)
	if err != nil {
		return cloud.Resource{}, err
	}
	var out StartJobResult
	if err := val.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out.Job, nil
}

func collectJobOutputs(t *testing.T, env *testsuite.TestActivityEnvironment, in CollectJobOutputsInput) (CollectJobOutputsResult, error) {
	t.Helper()
	val, err := env.ExecuteActivity((&Kubernetes{}).CollectJobOutputs, in)
	if err != nil {
		return CollectJobOutputsResult{}, err
	}
	var out CollectJobOutputsResult
	if err := val.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func TestRunJobSucceedsWithOutputs(t *testing.T) {
	ns := "runjob-ok"
	env, cs := kubeActivities(t, ns)
	// Only the main container's log is set: the sidecar's cannot be read, which must not matter.
	log := strings.Join([]string{
		"SPINNAKER_PROPERTY_VERSION=1.2.3",
		`SPINNAKER_CONFIG_JSON={"count": 3, "ready": true}`,
		"migrated 12 tables",
		JobOutputsMarker,
		"IMAGE=example.com/web:1.2.3",
		"not an output",
	}, "\n")
	if err := kubetest.Cluster(t).SetPodLogs(t.Context(), localkube.PodLogs{Namespace: ns, Containers: []string{"main"}, Text: log}); err != nil {
		t.Fatal(err)
	}
	in := StartJobInput{
		Account: "local", Application: "shop", ExecutionID: "01RUNJOB", StageRefID: "3",
		Manifest: jobManifestFor(map[string]any{"generateName": "migrate-"}, nil),
	}
	job, err := startJob(t, env, in)
	if err != nil {
		t.Fatalf("StartJob: %v", err)
	}
	if want := GeneratedJobName("migrate-", "01RUNJOB", "3"); job.Name != want || job.Namespace != ns || job.Kind != "Job" {
		t.Errorf("started %+v, want job %s in %s", job, want, ns)
	}
	// A retry, as after a worker crash, lands on the same Job.
	again, err := startJob(t, env, in)
	if err != nil || again.UID != job.UID {
		t.Errorf("StartJob again: %+v, %v; want the same job %s", again, err, job.UID)
	}
	jobs, err := cs.BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 1 {
		t.Fatalf("jobs in %s after a retried start: %d (%v), want 1", ns, len(jobs.Items), err)
	}
	if a := jobs.Items[0].Annotations; a[kubernetes.AnnotationExecutionID] != "01RUNJOB" || a[kubernetes.AnnotationApplication] != "shop" {
		t.Errorf("job annotations %v", a)
	}

	if _, err := env.ExecuteActivity((&Kubernetes{}).WaitForManifests, WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{job}}); err != nil {
		t.Fatalf("wait: %v", err)
	}
	res, err := collectJobOutputs(t, env, CollectJobOutputsInput{Account: "local", Job: job, PropertyFile: "main"})
	if err != nil {
		t.Fatalf("CollectJobOutputs: %v", err)
	}
	want := map[string]any{"VERSION": "1.2.3", "count": float64(3), "ready": true, "IMAGE": "example.com/web:1.2.3"}
	if !reflect.DeepEqual(res.Outputs, want) {
		t.Errorf("outputs %v, want %v", res.Outputs, want)
	}
	if st := res.JobStatus; st.Phase != JobPhaseSucceeded || st.Succeeded != 1 || st.Failed != 0 || st.Name != job.Name || st.Namespace != ns {
		t.Errorf("job status %+v", st)
	}
	if len(res.Logs) != 1 {
		t.Fatalf("logs %v, want the main container's", res.Logs)
	}
	for key, text := range res.Logs {
		if !strings.HasSuffix(key, "/main") || !strings.Contains(text, "migrated 12 tables") {
			t.Errorf("logs[%s] = %q", key, text)
		}
	}
	if len(res.LogErrors) != 1 || !strings.Contains(res.LogErrors[0], "container sidecar") {
		t.Errorf("log errors %q, want one about the sidecar", res.LogErrors)
	}
	out := res.StageOutputs()
	if out["VERSION"] != "1.2.3" || out[OutputJobStatus].(map[string]any)["phase"] != JobPhaseSucceeded {
		t.Errorf("stage outputs %v", out)
	}
}

func TestRunJobFailureCarriesTheEndOfTheLog(t *testing.T) {
	ns := "runjob-fails"
	env, _ := kubeActivities(t, ns)
	var log strings.Builder
	for i := range 200 {
		fmt.Fprintf(&log, "connecting to the database, attempt %d\n", i)
	}
	log.WriteString("fatal: the database refused the connection\n")
	if err := kubetest.Cluster(t).SetPodLogs(t.Context(), localkube.PodLogs{Namespace: ns, Text: log.String()}); err != nil {
		t.Fatal(err)
	}
	job, err := startJob(t, env, StartJobInput{
		Account: "local", Application: "shop", ExecutionID: "01FAILS", StageRefID: "1",
		Manifest: jobManifestFor(map[string]any{"name": "migrate"}, map[string]any{localkube.ChaosLabel: localkube.ChaosFail}),
	})
	if err != nil {
		t.Fatalf("StartJob: %v", err)
	}
	_, err = env.ExecuteActivity((&Kubernetes{}).WaitForManifests, WaitForManifestsInput{Account: "local", Objects: []cloud.Resource{job}})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("wait error %v, want a non-retryable failure", err)
	}

	_, err = collectJobOutputs(t, env, CollectJobOutputsInput{Account: "local", Job: job})
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != ErrTypeJobFailed {
		t.Fatalf("CollectJobOutputs error %v, want a non-retryable %s", err, ErrTypeJobFailed)
	}
	msg := appErr.Message()
	t.Logf("failure: %s", msg)
	for _, want := range []string{"job migrate in runjob-fails failed: BackoffLimitExceeded", "container main exited with code 1",
		"end of the log of pod migrate-", "fatal: the database refused the connection", "attempt 199"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message does not say %q", want)
		}
	}
	if strings.Contains(msg, "attempt 0\n") || len(msg) > jobFailureLogBytes+1024 {
		t.Errorf("failure message of %d bytes carries more than the end of the log", len(msg))
	}
	var res CollectJobOutputsResult
	if err := appErr.Details(&res); err != nil {
		t.Fatalf("details: %v", err)
	}
	if res.JobStatus.Phase != JobPhaseFailed || res.JobStatus.Failed != 1 || len(res.Logs) != 2 {
		t.Errorf("result in the details: status %+v, %d logs", res.JobStatus, len(res.Logs))
	}
	for key, text := range res.Logs {
		if len(text) > jobLogBytes || !strings.HasSuffix(text, "refused the connection\n") {
			t.Errorf("logs[%s] holds %d bytes ending %q", key, len(text), tailText(text, 60))
		}
	}
}

func TestStartJobRefusals(t *testing.T) {
	ns := "runjob-refused"
	env, _ := kubeActivities(t, ns)
	job := func(name string) map[string]any { return jobManifestFor(map[string]any{"name": name}, nil) }
	if _, err := startJob(t, env, StartJobInput{Account: "local", Application: "shop", ExecutionID: "01FIRST", StageRefID: "1", Manifest: job("once")}); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		in       StartJobInput
		errType  string
		contains string
	}{
		"not a job": {StartJobInput{Account: "local", Manifest: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"}}},
			ErrTypeJobInvalid, "not a batch/v1 Job"},
		"no name":         {StartJobInput{Account: "local", Manifest: jobManifestFor(map[string]any{}, nil)}, ErrTypeJobInvalid, "neither metadata.name nor metadata.generateName"},
		"unknown account": {StartJobInput{Account: "prod", Manifest: job("x")}, "InvalidKubernetesRequest", `no Kubernetes account "prod"`},
		"forbidden namespace": {StartJobInput{Account: "local", Manifest: job("x"), NamespaceOverride: "kube-system"},
			"InvalidKubernetesRequest", "may not use namespace kube-system"},
		"a job of another execution": {StartJobInput{Account: "local", Application: "shop", ExecutionID: "01SECOND", StageRefID: "1", Manifest: job("once")},
			ErrTypeJobExists, "created by execution 01FIRST, stage 1; a Job runs only once"},
	} {
		_, err := startJob(t, env, tt.in)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != tt.errType || !strings.Contains(err.Error(), tt.contains) {
			t.Errorf("%s: error %v, want a non-retryable %s saying %q", name, err, tt.errType, tt.contains)
		}
	}
}

func TestParseJobOutputs(t *testing.T) {
	tests := []struct {
		name     string
		log      string
		want     map[string]any
		problems []string
	}{
		{name: "nothing", log: "hello\nworld\n", want: map[string]any{}},
		{
			name: "Spinnaker's properties",
			log:  "SPINNAKER_PROPERTY_VERSION=1.2\r\nSPINNAKER_PROPERTY_URL=https://x/?a=b\nSPINNAKER_PROPERTY_EMPTY=\n",
			want: map[string]any{"VERSION": "1.2", "URL": "https://x/?a=b", "EMPTY": ""},
		},
		{
			name: "JSON object, later values win",
			log:  "SPINNAKER_PROPERTY_n=one\nSPINNAKER_CONFIG_JSON={\"n\": 2, \"tags\": [\"a\"]}\n",
			want: map[string]any{"n": float64(2), "tags": []any{"a"}},
		},
		{
			name: "gennaker's block",
			log:  "KEY=before the marker\n" + JobOutputsMarker + "  \nKEY=value=with=equals\nnot a pair\n  INDENTED=no\n1BAD=no\nnext.version=2\n",
			want: map[string]any{"KEY": "value=with=equals", "next.version": "2"},
		},
		{
			name:     "problems are said and skipped",
			log:      "SPINNAKER_PROPERTY_=x\nSPINNAKER_PROPERTY_NOVALUE\nSPINNAKER_CONFIG_JSON=[1]\nSPINNAKER_PROPERTY_jobStatus=mine\nSPINNAKER_PROPERTY_OK=yes",
			want:     map[string]any{"OK": "yes"},
			problems: []string{"line 1: SPINNAKER_PROPERTY_ must be followed", "line 2: SPINNAKER_PROPERTY_ must be followed", "line 3: SPINNAKER_CONFIG_JSON= must be followed by a JSON object", `line 4: output "jobStatus" is refused`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := parseJobOutputs(tt.log)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("outputs %v, want %v", got, tt.want)
			}
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems %q, want %q", problems, tt.problems)
			}
			for i := range problems {
				if !strings.HasPrefix(problems[i], tt.problems[i]) {
					t.Errorf("problem %d: %q, want prefix %q", i, problems[i], tt.problems[i])
				}
			}
		})
	}
}

func TestGeneratedJobName(t *testing.T) {
	a := GeneratedJobName("migrate-", "01EXEC", "1")
	if a != GeneratedJobName("migrate-", "01EXEC", "1") {
		t.Error("the same execution and stage give different names")
	}
	if !strings.HasPrefix(a, "migrate-") || len(a) != len("migrate-")+jobNameSuffixLen {
		t.Errorf("name %q", a)
	}
	for _, other := range []string{GeneratedJobName("migrate-", "01EXEC", "2"), GeneratedJobName("migrate-", "01OTHER", "1")} {
		if other == a {
			t.Errorf("another execution or stage gets the same name %q", a)
		}
	}
	if long := GeneratedJobName(strings.Repeat("x", 80), "01EXEC", "1"); len(long) != maxJobName {
		t.Errorf("a long generateName gives %q (%d characters), want %d", long, len(long), maxJobName)
	}
}

func TestJobManifestLeavesTheStageContextAlone(t *testing.T) {
	in := jobManifestFor(map[string]any{"generateName": "migrate-", "labels": map[string]any{"a": "b"}}, nil)
	out, err := jobManifest(in, "01EXEC", "1")
	if err != nil {
		t.Fatal(err)
	}
	md := out["metadata"].(map[string]any)
	if md["name"] != GeneratedJobName("migrate-", "01EXEC", "1") || md["generateName"] != nil || md["labels"] == nil {
		t.Errorf("metadata %v", md)
	}
	if in["metadata"].(map[string]any)["name"] != nil {
		t.Error("jobManifest changed the manifest it was given")
	}
}
