package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"

	"github.com/gennaker/gennaker/internal/freeport"
	"github.com/gennaker/gennaker/internal/procout"
)

// TestDockerTrigger runs the distribution registry with its notifications pointed at gennaker,
// pushes images to it as a build would, and checks what a user sees: a tag matching the trigger
// starts one execution that deploys the pushed digest; the registry's resending of that event
// starts nothing new; each event of a notification carrying several is a delivery of its own;
// latest and dev start nothing; a notification without the secret is refused.
func TestDockerTrigger(t *testing.T) {
	skipShort(t)
	t.Parallel()
	bin := dockerRegistryBinary(t)
	api := newDevProcess(t).start()
	// The registry posts to a recorder in front of gennaker, so the test knows when each event
	// has been delivered and what gennaker answered the registry.
	notes := newNotificationRecorder(t, api.base+"/webhooks/registry")
	const secret = "registry-s3cret"
	registry := startRegistry(t, bin, notes.url, secret)

	api.savePipeline("shop", "api", map[string]any{
		"triggers": []any{map[string]any{"type": "docker", "registry": registry, "repository": "acme/api"}},
		"stages":   []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 0}},
	})
	api.savePipeline("shop", "release", map[string]any{
		"triggers": []any{map[string]any{"type": "docker", "registry": registry, "repository": "acme/web",
			"tag": `v\d+\.\d+\.\d+`, "secret": secret}},
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
			"variables": []any{
				map[string]any{"key": "image", "value": "${trigger.artifacts[0].reference}"},
				map[string]any{"key": "tag", "value": "${trigger.payload.tag}"},
			}}},
	})

	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, registry+"/acme/web:v1.2.3", img)
	first := notes.waitForPush(t, "v1.2.3")
	if first.status != http.StatusAccepted || len(first.answer.Executions) != 1 || first.answer.Executions[0].Duplicate {
		t.Fatalf("gennaker answered the registry's v1.2.3 push %d %+v", first.status, first.answer)
	}
	executionID := first.answer.Executions[0].ID
	done := api.waitUntilDone(executionID, time.Minute)
	want := registry + "/acme/web@" + digest.String()
	if got := done.mustStage(t, "1").Outputs; done.Status != "SUCCEEDED" || got["image"] != want || got["tag"] != "v1.2.3" {
		t.Errorf("the triggered execution saw %v, want image %s and tag v1.2.3 (%s)", got, want, done.describe())
	}
	var full struct {
		Trigger struct {
			Type       string           `json:"type"`
			User       string           `json:"user"`
			DeliveryID string           `json:"deliveryId"`
			Artifacts  []map[string]any `json:"artifacts"`
		} `json:"trigger"`
	}
	api.expect(http.StatusOK, http.MethodGet, "/api/v1/executions/"+executionID, nil, &full)
	tr := full.Trigger
	if tr.Type != "docker" || tr.User != "docker:"+registry || tr.DeliveryID != "registry:"+first.eventID ||
		len(tr.Artifacts) != 1 || tr.Artifacts[0]["type"] != "docker/image" || tr.Artifacts[0]["version"] != "v1.2.3" {
		t.Errorf("the execution's trigger %+v", tr)
	}

	// The registry resends an event until it is answered 2xx; the same envelope again is the same
	// event and starts nothing new.
	for range 2 {
		again := api.deliver("/webhooks/registry", first.body, http.StatusAccepted, "Authorization", "Bearer "+secret)
		if len(again.Executions) != 1 || again.Executions[0].ID != executionID || !again.Executions[0].Duplicate {
			t.Errorf("the event resent: %+v", again)
		}
	}
	api.deliver("/webhooks/registry", first.body, http.StatusUnauthorized)
	api.deliver("/webhooks/registry", first.body, http.StatusUnauthorized, "Authorization", "Bearer not-"+secret)

	// A notification may carry several events: each is a delivery of its own, in one answer.
	event := func(id, action, tag, mediaType string) map[string]any {
		return map[string]any{"id": id, "action": action, "request": map[string]any{"host": registry},
			"target": map[string]any{"mediaType": mediaType, "repository": "acme/api", "tag": tag, "digest": digest.String(),
				"url": "http://" + registry + "/v2/acme/api/manifests/" + digest.String()}}
	}
	const manifest = "application/vnd.docker.distribution.manifest.v2+json"
	several := map[string]any{"events": []any{
		event("several-1", "push", "2.0.0", manifest),
		event("several-2", "pull", "2.0.0", manifest),
		event("several-3", "push", "2.0.1", manifest),
	}}
	var apiRuns []string
	for i := range 2 {
		code, body := api.do(http.MethodPost, "/webhooks/registry", several)
		var ans struct {
			Checked    int `json:"checked"`
			Executions []struct {
				ID         string `json:"id"`
				Duplicate  bool   `json:"duplicate"`
				DeliveryID string `json:"deliveryId"`
			} `json:"executions"`
		}
		if err := json.Unmarshal(body, &ans); err != nil || code != http.StatusAccepted {
			t.Fatalf("a notification of three events: %d %s", code, body)
		}
		if len(ans.Executions) != 2 || ans.Executions[0].DeliveryID != "registry:several-1" || ans.Executions[1].DeliveryID != "registry:several-3" ||
			ans.Executions[0].ID == ans.Executions[1].ID || ans.Executions[0].Duplicate != (i > 0) || ans.Checked != 3 {
			t.Fatalf("a notification of three events, sent %d time(s): %+v", i+1, ans)
		}
		if i == 0 {
			apiRuns = []string{ans.Executions[0].ID, ans.Executions[1].ID}
		} else if ans.Executions[0].ID != apiRuns[0] || ans.Executions[1].ID != apiRuns[1] {
			t.Errorf("the notification sent again started %+v, the first time %v", ans.Executions, apiRuns)
		}
	}

	// Pushing the same image under the same tag again adds nothing to the registry, and tags the
	// trigger does not name start nothing. The registry sends events in order, so once dev's push
	// has been answered, every earlier event has been too.
	pushImage(t, registry+"/acme/web:v1.2.3", img)
	other, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, registry+"/acme/web:latest", other)
	pushImage(t, registry+"/acme/web:dev", other)
	for _, tag := range []string{"latest", "dev"} {
		if r := notes.waitForPush(t, tag); r.status != http.StatusAccepted || len(r.answer.Executions) != 0 || r.answer.Checked != 1 {
			t.Errorf("a push of %s: gennaker answered %d %+v", tag, r.status, r.answer)
		}
	}
	if n := notes.pushes("v1.2.3"); n != 1 {
		t.Errorf("the registry reported %d pushes of v1.2.3 manifests, want 1", n)
	}
	// The listing comes from Temporal's visibility store, which may lag behind the start.
	api.listed("application=shop&pipeline=release", executionID, 30*time.Second)
	var page struct {
		Executions []executionSummary `json:"executions"`
	}
	api.expect(http.StatusOK, http.MethodGet, "/api/v1/executions?application=shop&pipeline=release", nil, &page)
	if len(page.Executions) != 1 || page.Executions[0].ID != executionID || page.Executions[0].TriggerType != "docker" {
		t.Errorf("executions of shop/release: %+v, want only %s", page.Executions, executionID)
	}
	outcomes := map[string]int{}
	for _, ev := range api.triggerEvents("shop") {
		if ev.Pipeline == "release" {
			outcomes[ev.Outcome]++
		}
	}
	if outcomes["started"] != 1 || outcomes["duplicate"] != 2 || len(outcomes) != 2 {
		t.Errorf("trigger events %v, want 1 started and 2 duplicates", outcomes)
	}
}

// dockerRegistryBinary finds Debian's distribution registry; without it the test is skipped,
// except in CI, which installs it (.ci/run).
func dockerRegistryBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("docker-registry is not installed (CI installs it with apt-get install docker-registry): %v", err)
	}
	t.Skip("docker-registry is not installed; to run this test: sudo apt-get install docker-registry")
	return ""
}

// startRegistry runs the registry on a free loopback port, with one notification endpoint that
// sends the secret as a bearer token, and returns its host:port once /v2/ answers.
func startRegistry(t *testing.T, bin, notifyURL, secret string) string {
	t.Helper()
	dir := t.TempDir()
	// The registry names the port it got only in an info message, which its config keeps quiet:
	// it is told a port, reserved until it answers so that no other process is handed the port
	// before the registry binds it.
	port, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Release()
	addr := port.Addr()
	config, err := yaml.Marshal(map[string]any{
		"version": "0.1",
		"log":     map[string]any{"level": "warn", "accesslog": map[string]any{"disabled": true}},
		"storage": map[string]any{"filesystem": map[string]any{"rootdirectory": filepath.Join(dir, "data")}},
		// A fixed HTTP secret spares the warning about generating one.
		"http": map[string]any{"addr": addr, "secret": "e2e"},
		"notifications": map[string]any{"endpoints": []any{map[string]any{
			"name":      "gennaker",
			"url":       notifyURL,
			"headers":   map[string]any{"Authorization": []any{"Bearer " + secret}},
			"timeout":   "5s",
			"threshold": 5,
			"backoff":   "1s",
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, config, 0o600); err != nil {
		t.Fatal(err)
	}
	var out procout.Buffer
	cmd := exec.Command(bin, "serve", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", out.String())
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("docker-registry exited before it answered:\n%s", out.String())
		default:
		}
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer GET /v2/ within 30s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pushImage pushes an image as a build does, over plain HTTP as a loopback registry serves.
func pushImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// notification is one envelope the registry sent and what gennaker answered it.
type notification struct {
	body   []byte
	status int
	answer triggerAnswer
	// tag and eventID describe the envelope's push of a tagged manifest, if it holds one.
	tag, eventID string
}

// notificationRecorder passes the registry's notifications on to gennaker and keeps them.
type notificationRecorder struct {
	url  string
	mu   sync.Mutex
	seen []notification
}

func newNotificationRecorder(t *testing.T, target string) *notificationRecorder {
	t.Helper()
	rec := &notificationRecorder{}
	client := &http.Client{Timeout: 30 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		n := notification{body: body, status: resp.StatusCode}
		_ = json.Unmarshal(answer, &n.answer)
		n.tag, n.eventID = taggedPush(body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, n)
		rec.mu.Unlock()
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	rec.url = srv.URL
	return rec
}

// taggedPush reads the tag and event id of an envelope's push of a tagged manifest.
func taggedPush(body []byte) (tag, id string) {
	var env struct {
		Events []struct {
			ID     string `json:"id"`
			Action string `json:"action"`
			Target struct {
				Tag string `json:"tag"`
				URL string `json:"url"`
			} `json:"target"`
		} `json:"events"`
	}
	if json.Unmarshal(body, &env) != nil {
		return "", ""
	}
	for _, e := range env.Events {
		if e.Action == "push" && e.Target.Tag != "" && bytes.Contains([]byte(e.Target.URL), []byte("/manifests/")) {
			return e.Target.Tag, e.ID
		}
	}
	return "", ""
}

// waitForPush waits until the registry has reported the push of the tag and gennaker has answered.
func (r *notificationRecorder) waitForPush(t *testing.T, tag string) notification {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		for _, n := range r.seen {
			if n.tag == tag {
				r.mu.Unlock()
				return n
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the registry did not report the push of %s within 30s", tag)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pushes counts the reported pushes of a tag.
func (r *notificationRecorder) pushes(tag string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.seen {
		if s.tag == tag {
			n++
		}
	}
	return n
}
