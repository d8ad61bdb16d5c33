package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// localCluster reads the local cluster gennaker dev started.
func localCluster(t *testing.T, p *devProcess) clientset.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(p.dataDir, "kube", "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// webServerGroups lists the web ReplicaSets of a namespace, by name, and those whose pods the web
// Service selects.
func webServerGroups(t *testing.T, cs clientset.Interface, namespace string) (all, taking []string, byName map[string]appsv1.ReplicaSet) {
	t.Helper()
	list, err := cs.AppsV1().ReplicaSets(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName = map[string]appsv1.ReplicaSet{}
	for _, rs := range list.Items {
		if rs.DeletionTimestamp != nil || !strings.HasPrefix(rs.Name, "web-v") {
			continue
		}
		byName[rs.Name] = rs
		all = append(all, rs.Name)
		if rs.Spec.Template.Labels["service"] == "web" {
			taking = append(taking, rs.Name)
		}
	}
	slices.Sort(all)
	slices.Sort(taking)
	return all, taking, byName
}

func judge(t *testing.T, api *apiClient, id, refID, status string) {
	t.Helper()
	if code, body := api.do("POST", "/api/v1/executions/"+id+"/stages/"+refID+"/judgment", map[string]any{"judgmentStatus": status, "user": "ana"}); code != 202 {
		t.Fatalf("judgment on %s: %d %s", id, code, body)
	}
}

// TestRedBlackRelease follows the README's release walkthrough: examples/release-web.json deploys
// the web service red/black to staging, waits for a person, then to production; two releases
// started together take turns on each cluster; a release whose server group never gets ready is
// rolled back; and examples/rollback-web.json rolls production back in one action.
func TestRedBlackRelease(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := newDevProcess(t)
	api := p.start()
	api.savePipeline("web", "release", readExample(t, "release-web.json"))
	api.savePipeline("web", "rollback", readExample(t, "rollback-web.json"))
	cs := localCluster(t, p)

	// The first release: web-v000 takes traffic in staging, then after the judgment in production.
	first := api.startExecution("web", "release", map[string]any{"user": "ana", "parameters": map[string]any{"image": "nginx:1.27"}}).ID
	staged := api.waitForStage(first, "promote", "RUNNING", 3*time.Minute)
	if s := staged.mustStage(t, "staging"); s.Status != "SUCCEEDED" {
		t.Fatalf("staging deploy: %s", staged.describe())
	}
	if all, taking, _ := webServerGroups(t, cs, "staging"); !slices.Equal(all, []string{"web-v000"}) || !slices.Equal(taking, []string{"web-v000"}) {
		t.Fatalf("staging after the first deploy: %v, taking traffic %v", all, taking)
	}
	if _, taking, _ := webServerGroups(t, cs, "production"); len(taking) != 0 {
		t.Fatalf("production took traffic before the judgment: %v", taking)
	}
	judge(t, api, first, "promote", "continue")
	if done := api.waitUntilDone(first, 3*time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("first release: %s", done.describe())
	}
	if _, taking, _ := webServerGroups(t, cs, "production"); !slices.Equal(taking, []string{"web-v000"}) {
		t.Fatalf("production after the first release: taking traffic %v", taking)
	}

	// Two releases started together never deploy to one cluster at once: the second waits for the
	// first to finish with the cluster, then replaces it red/black.
	second := api.startExecution("web", "release", map[string]any{"parameters": map[string]any{"image": "nginx:1.28", "greeting": "bonjour"}}).ID
	third := api.startExecution("web", "release", map[string]any{"parameters": map[string]any{"image": "nginx:1.29", "greeting": "hallo"}}).ID
	a := api.waitForStage(second, "promote", "RUNNING", 3*time.Minute)
	b := api.waitForStage(third, "promote", "RUNNING", 3*time.Minute)
	type held struct {
		exec                       execution
		acquired, waited, released float64
		deployed, disabled         string
	}
	heldOf := func(e execution) held {
		s := e.mustStage(t, "staging")
		lock, _ := s.Outputs["clusterLock"].(map[string]any)
		acquired, _ := lock["acquiredAt"].(float64)
		waited, _ := lock["waitedMs"].(float64)
		released, _ := lock["releasedAt"].(float64)
		tm, _ := s.Outputs["trafficManagement"].([]any)
		var deployed, disabled string
		if len(tm) == 1 {
			m, _ := tm[0].(map[string]any)
			deployed, _ = m["serverGroup"].(string)
			disabled = strings.Join(toStrings(m["disabled"]), ",")
		}
		return held{exec: e, acquired: acquired, waited: waited, released: released, deployed: deployed, disabled: disabled}
	}
	x, y := heldOf(a), heldOf(b)
	if x.acquired > y.acquired {
		x, y = y, x
	}
	if x.acquired == 0 || x.released == 0 || y.acquired < x.released {
		t.Errorf("staging deploys interleaved: one held the cluster from %v to %v, the other from %v", x.acquired, x.released, y.acquired)
	}
	if y.waited <= 0 {
		t.Errorf("the later staging deploy did not wait for the cluster (waited %v ms)", y.waited)
	}
	if x.deployed != "replicaSet web-v001" || x.disabled != "replicaSet web-v000" || y.deployed != "replicaSet web-v002" || y.disabled != "replicaSet web-v001" {
		t.Errorf("red/black in turn: %+v then %+v", x, y)
	}
	if all, taking, _ := webServerGroups(t, cs, "staging"); !slices.Equal(all, []string{"web-v000", "web-v001", "web-v002"}) || !slices.Equal(taking, []string{"web-v002"}) {
		t.Errorf("staging after two releases: %v, taking traffic %v", all, taking)
	}
	judge(t, api, x.exec.ID, "promote", "continue")
	if done := api.waitUntilDone(x.exec.ID, 3*time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("release %s: %s", x.exec.ID, done.describe())
	}
	judge(t, api, y.exec.ID, "promote", "continue")
	if done := api.waitUntilDone(y.exec.ID, 3*time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("release %s: %s", y.exec.ID, done.describe())
	}
	if all, taking, _ := webServerGroups(t, cs, "production"); !slices.Equal(all, []string{"web-v000", "web-v001", "web-v002"}) || !slices.Equal(taking, []string{"web-v002"}) {
		t.Errorf("production after three releases: %v, taking traffic %v", all, taking)
	}

	// A server group that never gets ready never takes traffic; when the stage times out it is
	// rolled back, and staging keeps serving the server group that ran before. A fourth server
	// group also makes maxRemainingAsgs delete the oldest.
	failing := readExample(t, "release-web.json")
	failing["name"] = "release-fast"
	failing["stages"].([]any)[0].(map[string]any)["stageTimeoutMs"] = 20000
	api.savePipeline("web", "release-fast", failing)
	bad := api.startExecution("web", "release-fast", map[string]any{"parameters": map[string]any{"image": "example.com/web:never-ready"}}).ID
	done := api.waitUntilDone(bad, 3*time.Minute)
	s := done.mustStage(t, "staging")
	if done.Status != "TERMINAL" || s.Status != "TERMINAL" || !strings.Contains(s.Error, "timed out") ||
		!strings.Contains(s.Error, "rolled back from replicaSet web-v003 to replicaSet web-v002") {
		t.Fatalf("release of an image that never gets ready: %s", done.describe())
	}
	if _, taking, _ := webServerGroups(t, cs, "staging"); !slices.Equal(taking, []string{"web-v002"}) {
		t.Errorf("staging after the rollback: taking traffic %v", taking)
	}

	// Rolling production back is one action: web-v001 is back in traffic, web-v002 out of it.
	rb := api.startExecution("web", "rollback", map[string]any{"parameters": map[string]any{"namespace": "production"}}).ID
	if done := api.waitUntilDone(rb, 3*time.Minute); done.Status != "SUCCEEDED" {
		t.Fatalf("rollback: %s", done.describe())
	}
	_, taking, byName := webServerGroups(t, cs, "production")
	if !slices.Equal(taking, []string{"web-v001"}) {
		t.Errorf("production after the rollback: taking traffic %v", taking)
	}
	// The configuration comes back with the server group: each version of it stays, and the restored
	// server group still reads its own.
	greetings := map[string]string{"nginx:1.28": "bonjour", "nginx:1.29": "hallo"}
	for _, name := range []string{"web-v001", "web-v002"} {
		c := byName[name].Spec.Template.Spec.Containers[0]
		cm, err := cs.CoreV1().ConfigMaps("production").Get(context.Background(), c.EnvFrom[0].ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil || cm.Data["greeting"] != greetings[c.Image] {
			t.Errorf("%s runs %s with config %s: %v %v", name, c.Image, c.EnvFrom[0].ConfigMapRef.Name, cm.Data, err)
		}
	}
	if byName["web-v001"].Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name == byName["web-v002"].Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name {
		t.Error("web-v001 and web-v002 share a config version")
	}
}

// TestDeployKilledMidwayIsResumedWithoutDuplicates kills gennaker dev while a red/black deploy is
// under way and starts it again: the execution carries on, and the cluster holds one new server
// group and one version of its configuration, not two.
func TestDeployKilledMidwayIsResumedWithoutDuplicates(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := newDevProcess(t)
	api := p.start()
	api.savePipeline("web", "release", readExample(t, "release-web.json"))

	id := api.startExecution("web", "release", nil).ID
	// The staging deploy takes about half a second: look often, so the kill lands in it. On a
	// machine fast enough to finish it between two looks, the restart is still checked.
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := api.do(http.MethodGet, "/api/v1/executions/"+id, nil)
		var got execution
		if code == http.StatusOK && json.Unmarshal(body, &got) == nil {
			if s := got.stage("staging"); s != nil && s.Status != "NOT_STARTED" {
				if s.Status != "RUNNING" {
					t.Logf("the staging deploy ended (%s) before the kill", s.Status)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the staging deploy did not start within a minute: %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	api = p.start()
	// The local cluster keeps its data but listens on a new port.
	cs := localCluster(t, p)
	staged := api.waitForStage(id, "promote", "RUNNING", 3*time.Minute)
	if s := staged.mustStage(t, "staging"); s.Status != "SUCCEEDED" {
		t.Fatalf("staging deploy after the restart: %s", staged.describe())
	}
	if all, taking, _ := webServerGroups(t, cs, "staging"); !slices.Equal(all, []string{"web-v000"}) || !slices.Equal(taking, []string{"web-v000"}) {
		t.Errorf("staging after the restart: %v, taking traffic %v", all, taking)
	}
	cms, err := cs.CoreV1().ConfigMaps("staging").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var configs []string
	for _, cm := range cms.Items {
		if strings.HasPrefix(cm.Name, "web-config") {
			configs = append(configs, cm.Name)
		}
	}
	if !slices.Equal(configs, []string{"web-config-v000"}) {
		t.Errorf("config versions after the restart: %v", configs)
	}
	if code, body := api.do("POST", "/api/v1/executions/"+id+"/cancel", map[string]any{"user": "ana", "reason": "test over"}); code >= 300 {
		t.Errorf("cancel: %d %s", code, body)
	}
}
