package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"

	"github.com/gennaker/gennaker/api"
	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/internal/localkube/kubetest"
)

// clustersAnswer is the infrastructure view as the API returns it.
type clustersAnswer struct {
	Application string `json:"application"`
	Accounts    []struct {
		Account  string          `json:"account"`
		Clusters []cloud.Cluster `json:"clusters"`
		Errors   []string        `json:"errors"`
	} `json:"accounts"`
}

func TestClusters(t *testing.T) {
	kc := kubetest.Cluster(t)
	cs, err := clientset.NewForConfig(kc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	id := strings.ToLower(ulid.Make().String())
	app := "infra" + id[len(id)-8:]
	nsA, nsB := "clusters-a-"+id, "clusters-b-"+id
	for _, ns := range []string{nsA, nsB} {
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Two versions of one cluster in nsA, the newer behind a Service; a Deployment in nsB; and a
	// workload of another application that must not show.
	created := time.Now()
	createReplicaSet(t, cs, nsA, app, "main", 0, "registry.test/web:1.0", 2, "EXEC-OLD")
	createReplicaSet(t, cs, nsA, app, "main", 1, "registry.test/web:1.1", 1, "EXEC-NEW")
	createReplicaSet(t, cs, nsA, "other"+id[len(id)-8:], "main", 0, "registry.test/other:1", 1, "")
	if _, err := cs.CoreV1().Services(nsA).Create(t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app, "version": "v001"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := int32(1)
	labels := map[string]string{"app": app, "track": "canary"}
	if _, err := cs.AppsV1().Deployments(nsB).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app + "-canary", Annotations: map[string]string{
			kubernetes.AnnotationApplication: app,
			kubernetes.AnnotationCluster:     app + "-canary",
			kubernetes.AnnotationStack:       "canary",
		}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "registry.test/web:2.0"),
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	accounts := []kubernetes.Account{
		{Name: "everything", Kubeconfig: kc.Kubeconfig()},
		{Name: "only-b", Kubeconfig: kc.Kubeconfig(), Namespaces: []string{nsB}},
		{Name: "unreachable", Kubeconfig: deadKubeconfig(t)},
	}
	srv := &api.Server{Kubernetes: kubernetes.NewProviders(accounts), Logger: slog.New(slog.DiscardHandler)}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	e := &testEnv{baseURL: hs.URL}
	path := "/api/v1/applications/" + app + "/clusters"

	// The view waits for no rollout; the pods kwok makes ready show up as they come.
	var all clustersAnswer
	eventually(t, 60*time.Second, "every server group ready", func() (bool, string) {
		r := e.get(t, path)
		r.expect(t, http.StatusOK, &all)
		return allReady(all) && countServerGroups(all) == 3, string(r.body)
	})
	if all.Application != app || len(all.Accounts) != 3 {
		t.Fatalf("answer for %s over 3 accounts = %+v", app, all)
	}

	everything := all.Accounts[0]
	if everything.Account != "everything" || len(everything.Errors) > 0 {
		t.Fatalf("first account = %+v, want everything without errors", everything)
	}
	if len(everything.Clusters) != 2 {
		t.Fatalf("everything has clusters %+v, want %s-main in %s and %s-canary in %s", everything.Clusters, app, nsA, app, nsB)
	}
	main, canary := everything.Clusters[0], everything.Clusters[1]
	if main.Account != "everything" || main.Region != nsA || main.Name != app+"-main" || len(main.ServerGroups) != 2 {
		t.Fatalf("first cluster = %+v", main)
	}
	for i, want := range []struct {
		image, execution string
		desired          int
		traffic          bool
	}{
		{"registry.test/web:1.0", "EXEC-OLD", 2, false},
		{"registry.test/web:1.1", "EXEC-NEW", 1, true},
	} {
		sg := main.ServerGroups[i]
		name := fmt.Sprintf("%s-main-v%03d", app, i)
		if sg.Name != name || sg.Kind != "ReplicaSet" || sg.Region != nsA || sg.Account != "everything" {
			t.Errorf("server group %d = %s %s in %s of %s, want ReplicaSet %s in %s of everything", i, sg.Kind, sg.Name, sg.Region, sg.Account, name, nsA)
		}
		if sg.Moniker.App != app || sg.Moniker.Cluster != app+"-main" || sg.Moniker.Stack != "main" || sg.Moniker.Sequence == nil || *sg.Moniker.Sequence != i {
			t.Errorf("%s: moniker = %+v", name, sg.Moniker)
		}
		if len(sg.Images) != 1 || sg.Images[0] != want.image {
			t.Errorf("%s: images = %v, want [%s]", name, sg.Images, want.image)
		}
		if sg.Desired != want.desired || sg.Ready != want.desired {
			t.Errorf("%s: ready/desired = %d/%d, want %d/%d", name, sg.Ready, sg.Desired, want.desired, want.desired)
		}
		if sg.TakingTraffic != want.traffic {
			t.Errorf("%s: takingTraffic = %v, want %v", name, sg.TakingTraffic, want.traffic)
		}
		if sg.CreatedByExecution != want.execution {
			t.Errorf("%s: createdByExecution = %q, want %q", name, sg.CreatedByExecution, want.execution)
		}
		if sg.CreatedAt.Before(created.Add(-time.Minute)) || sg.CreatedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s: createdAt = %s, want about %s", name, sg.CreatedAt, created)
		}
	}
	if canary.Region != nsB || canary.Name != app+"-canary" || len(canary.ServerGroups) != 1 {
		t.Fatalf("second cluster = %+v, want the Deployment alone (not its ReplicaSet)", canary)
	}
	if sg := canary.ServerGroups[0]; sg.Kind != "Deployment" || sg.Name != app+"-canary" || sg.TakingTraffic || sg.Moniker.Sequence != nil {
		t.Errorf("canary server group = %+v", sg)
	}

	onlyB := all.Accounts[1]
	if onlyB.Account != "only-b" || len(onlyB.Errors) > 0 || len(onlyB.Clusters) != 1 || onlyB.Clusters[0].Region != nsB {
		t.Errorf("second account = %+v, want only-b with the canary cluster of %s", onlyB, nsB)
	}
	dead := all.Accounts[2]
	if dead.Account != "unreachable" || len(dead.Errors) == 0 || len(dead.Clusters) != 0 {
		t.Errorf("third account = %+v, want unreachable with errors and no clusters", dead)
	}
	// A client iterating the accounts' clusters needs a list, even an empty one.
	var raw struct {
		Accounts []map[string]json.RawMessage `json:"accounts"`
	}
	if err := json.Unmarshal(e.get(t, path+"?account=unreachable").body, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Accounts) != 1 || string(raw.Accounts[0]["clusters"]) != "[]" {
		t.Errorf("answer for an unreachable account = %+v, want its clusters as []", raw)
	}
	if _, ok := raw.Accounts[0]["errors"]; !ok {
		t.Errorf("answer for an unreachable account has no errors: %+v", raw)
	}

	t.Run("filters", func(t *testing.T) {
		// A fresh value each time: decoding into a used one would keep fields the answer leaves out.
		answer := func(path string) clustersAnswer {
			var got clustersAnswer
			e.get(t, path).expect(t, http.StatusOK, &got)
			return got
		}
		got := answer(path + "?account=everything&namespace=" + nsA)
		if len(got.Accounts) != 1 || got.Accounts[0].Account != "everything" || len(got.Accounts[0].Clusters) != 1 || got.Accounts[0].Clusters[0].Region != nsA {
			t.Errorf("everything in %s = %+v", nsA, got)
		}

		// Unnamed accounts that may not use the namespace are left out.
		if names := accountNames(answer(path + "?namespace=" + nsA)); names != "everything unreachable" {
			t.Errorf("accounts answering for %s = %s, want everything and unreachable", nsA, names)
		}

		if names := accountNames(answer(path + "?account=only-b&account=everything&account=only-b")); names != "only-b everything" {
			t.Errorf("accounts asked for twice = %s, want only-b everything", names)
		}

		got = answer("/api/v1/applications/nothing" + id + "/clusters?account=everything")
		if len(got.Accounts) != 1 || len(got.Accounts[0].Clusters) != 0 || len(got.Accounts[0].Errors) != 0 {
			t.Errorf("an application with nothing deployed = %+v", got)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		got := e.get(t, path+"?account=nope").expectError(t, http.StatusBadRequest)
		if !strings.Contains(got.Error, `"nope"`) || !strings.Contains(got.Error, "everything") {
			t.Errorf("unknown account error = %q, want it named and the accounts listed", got.Error)
		}
		e.get(t, path+"?namespace=Not_A_Namespace").expectError(t, http.StatusBadRequest)
		got = e.get(t, path+"?account=only-b&namespace="+nsA).expectError(t, http.StatusBadRequest)
		if !strings.Contains(got.Error, "only-b") {
			t.Errorf("refused namespace error = %q, want the account named", got.Error)
		}
		e.do(t, request{method: http.MethodPost, path: path}).expectError(t, http.StatusMethodNotAllowed)
	})

	t.Run("no accounts", func(t *testing.T) {
		hs := httptest.NewServer((&api.Server{Logger: slog.New(slog.DiscardHandler)}).Handler())
		defer hs.Close()
		none := &testEnv{baseURL: hs.URL}
		var got clustersAnswer
		none.get(t, path).expect(t, http.StatusOK, &got)
		if got.Accounts == nil || len(got.Accounts) != 0 {
			t.Errorf("with no account = %+v, want an empty list", got)
		}
		none.get(t, path+"?account=everything").expectError(t, http.StatusBadRequest)
	})
}

// createReplicaSet makes server group seq of the app-stack cluster, as a deploy stage would leave it.
func createReplicaSet(t *testing.T, cs clientset.Interface, ns, app, stack string, seq int, image string, replicas int32, execution string) {
	t.Helper()
	cluster := cloud.ClusterName(app, stack, "")
	version := cloud.VersionSuffix(seq)
	annotations := map[string]string{
		kubernetes.AnnotationApplication: app,
		kubernetes.AnnotationCluster:     cluster,
		kubernetes.AnnotationStack:       stack,
		kubernetes.AnnotationSequence:    fmt.Sprint(seq),
	}
	if execution != "" {
		annotations[kubernetes.AnnotationExecutionID] = execution
	}
	labels := map[string]string{"app": app, "version": version}
	if _, err := cs.AppsV1().ReplicaSets(ns).Create(t.Context(), &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: cluster + "-" + version, Annotations: annotations},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, image),
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podTemplate(labels map[string]string, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

// deadKubeconfig writes a kubeconfig for an API server that is not there: a loopback port nothing
// listens on, reserved until the test ends so that nothing can (see freeport).
func deadKubeconfig(t *testing.T) string {
	t.Helper()
	port, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(port.Release)
	addr := port.Addr()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	text := `apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster:
    server: https://` + addr + `
    insecure-skip-tls-verify: true
users:
- name: dead
  user:
    token: nothing
contexts:
- name: dead
  context:
    cluster: dead
    user: dead
current-context: dead
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func allReady(a clustersAnswer) bool {
	for _, acc := range a.Accounts {
		for _, c := range acc.Clusters {
			for _, sg := range c.ServerGroups {
				if sg.Ready != sg.Desired {
					return false
				}
			}
		}
	}
	return true
}

// countServerGroups counts the first account's server groups, the one that sees every namespace.
func countServerGroups(a clustersAnswer) int {
	n := 0
	if len(a.Accounts) > 0 {
		for _, c := range a.Accounts[0].Clusters {
			n += len(c.ServerGroups)
		}
	}
	return n
}

func accountNames(a clustersAnswer) string {
	var names []string
	for _, acc := range a.Accounts {
		names = append(names, acc.Account)
	}
	return strings.Join(names, " ")
}
