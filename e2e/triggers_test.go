package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// triggerAnswer is the answer to a delivery.
type triggerAnswer struct {
	DeliveryID string `json:"deliveryId"`
	Checked    int    `json:"checked"`
	Executions []struct {
		ID          string `json:"id"`
		Application string `json:"application"`
		Pipeline    string `json:"pipeline"`
		Duplicate   bool   `json:"duplicate"`
	} `json:"executions"`
	NotStarted int    `json:"notStarted"`
	Message    string `json:"message"`
}

type triggerEvent struct {
	Pipeline    string `json:"pipeline"`
	Outcome     string `json:"outcome"`
	ExecutionID string `json:"executionId"`
	Reason      string `json:"reason"`
	DeliveryID  string `json:"deliveryId"`
}

// deliver posts a payload to a trigger endpoint and decodes the 202 answer.
func (a *apiClient) deliver(path string, payload any, want int, header ...string) triggerAnswer {
	a.t.Helper()
	code, body := a.do(http.MethodPost, path, payload, header...)
	if code != want {
		a.t.Fatalf("POST %s: status %d, want %d: %s", path, code, want, body)
	}
	var ans triggerAnswer
	if want == http.StatusAccepted {
		if err := json.Unmarshal(body, &ans); err != nil {
			a.t.Fatalf("POST %s: %v: %s", path, err, body)
		}
	}
	return ans
}

func (a *apiClient) triggerEvents(app string) []triggerEvent {
	a.t.Helper()
	var out struct {
		TriggerEvents []triggerEvent `json:"triggerEvents"`
	}
	a.expect(http.StatusOK, http.MethodGet, "/api/v1/applications/"+app+"/triggerEvents", nil, &out)
	return out.TriggerEvents
}

func hubSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// TestWebhookTriggers fires webhook triggers as a CI system would: constraints decide, parameters
// come from the payload, a delivery sent three times starts one execution, a disabled pipeline
// or a missing parameter starts nothing and says why in the trigger events, and a trigger with a
// secret refuses unsigned deliveries.
func TestWebhookTriggers(t *testing.T) {
	skipShort(t)
	t.Parallel()
	api := newDevProcess(t).start()

	api.savePipeline("hooks", "release", map[string]any{
		"parameterConfig": []any{map[string]any{"name": "version", "required": true}},
		"triggers": []any{map[string]any{"type": "webhook", "source": "ci-done",
			"payloadConstraints": map[string]any{"env": "prod", "$.build.result": "SUCCESS"}}},
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
			"variables": []any{map[string]any{"key": "what", "value": "${parameters.version} from ${trigger.source} (${trigger.type})"}}}},
	})
	api.savePipeline("hooks", "off", map[string]any{
		"disabled": true,
		"triggers": []any{map[string]any{"type": "webhook", "source": "ci-done"}},
		"stages":   []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 1}},
	})
	api.savePipeline("hooks", "signed", map[string]any{
		"triggers": []any{map[string]any{"type": "webhook", "source": "signed", "secret": "s3cret"}},
		"stages":   []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 0}},
	})

	payload := map[string]any{"env": "prod", "build": map[string]any{"result": "SUCCESS", "number": 42},
		"parameters": map[string]any{"version": "1.4.2"}}
	var first string
	for i := range 3 {
		ans := api.deliver("/webhooks/webhook/ci-done", payload, http.StatusAccepted, "X-Gennaker-Delivery", "build-42")
		if len(ans.Executions) != 1 || ans.Executions[0].Pipeline != "release" || ans.Executions[0].Duplicate != (i > 0) {
			t.Fatalf("delivery %d: %+v", i+1, ans)
		}
		if i == 0 {
			first = ans.Executions[0].ID
		} else if ans.Executions[0].ID != first {
			t.Errorf("delivery %d started %s, the first %s", i+1, ans.Executions[0].ID, first)
		}
		if ans.NotStarted != 1 {
			t.Errorf("delivery %d: the disabled pipeline is not counted: %+v", i+1, ans)
		}
	}
	done := api.waitUntilDone(first, time.Minute)
	if done.Status != "SUCCEEDED" || done.mustStage(t, "1").Outputs["what"] != "1.4.2 from ci-done (webhook)" || done.Trigger.Type != "webhook" {
		t.Errorf("the triggered execution: %s, outputs %v", done.describe(), done.mustStage(t, "1").Outputs)
	}
	listed := api.listed("application=hooks&pipeline=release", first, 30*time.Second)
	if listed.TriggerType != "webhook" {
		t.Errorf("listed with trigger type %q", listed.TriggerType)
	}

	// A constraint that does not match, anchored: "pro" is not "prod".
	for _, env := range []string{"staging", "pro"} {
		p := map[string]any{"env": env, "build": map[string]any{"result": "SUCCESS"}, "parameters": map[string]any{"version": "1"}}
		if ans := api.deliver("/webhooks/webhook/ci-done", p, http.StatusAccepted); len(ans.Executions) != 0 || !strings.Contains(ans.Message, "no trigger matched") && ans.NotStarted == 0 {
			t.Errorf("env %s started %+v", env, ans)
		}
	}
	// A matching delivery without the required parameter starts nothing, and says why.
	noVersion := map[string]any{"env": "prod", "build": map[string]any{"result": "SUCCESS"}}
	if ans := api.deliver("/webhooks/webhook/ci-done", noVersion, http.StatusAccepted, "X-Gennaker-Delivery", "build-43"); len(ans.Executions) != 0 || ans.NotStarted != 2 {
		t.Errorf("without a version: %+v", ans)
	}
	events := api.triggerEvents("hooks")
	outcomes := map[string]int{}
	for _, ev := range events {
		outcomes[ev.Pipeline+" "+ev.Outcome]++
		if ev.Outcome == "rejected" && !strings.Contains(ev.Reason, "parameters.version: required") {
			t.Errorf("rejection says %q", ev.Reason)
		}
		if ev.Outcome == "disabled" && ev.Reason != "the pipeline is disabled" {
			t.Errorf("disabled event says %q", ev.Reason)
		}
	}
	if outcomes["release started"] != 1 || outcomes["release duplicate"] != 2 || outcomes["release rejected"] != 1 || outcomes["off disabled"] < 4 {
		t.Errorf("trigger events %v", outcomes)
	}

	// Signed deliveries: none, wrong, right.
	body := []byte(`{"hello": "world"}`)
	api.deliver("/webhooks/webhook/signed", body, http.StatusUnauthorized)
	api.deliver("/webhooks/webhook/signed", body, http.StatusUnauthorized, "X-Hub-Signature-256", hubSignature("wrong", body))
	if ans := api.deliver("/webhooks/webhook/signed", body, http.StatusAccepted, "X-Hub-Signature-256", hubSignature("s3cret", body)); len(ans.Executions) != 1 {
		t.Errorf("a signed delivery started %+v", ans)
	}
	// A source nobody listens to is accepted and starts nothing, naming no pipeline.
	if ans := api.deliver("/webhooks/webhook/nobody", map[string]any{}, http.StatusAccepted); ans.Checked != 0 || len(ans.Executions) != 0 {
		t.Errorf("unknown source: %+v", ans)
	}
	api.deliver("/webhooks/webhook/ci-done", "not json", http.StatusBadRequest)

	// A CI server reports finished builds; each build starts one execution however often it is reported.
	api.savePipeline("hooks", "after-build", map[string]any{
		"triggers": []any{map[string]any{"type": "jenkins", "master": "jenkins-prod", "job": "web-build",
			"propertyConstraints": map[string]any{"BRANCH": "main"}}},
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
			"variables": []any{map[string]any{"key": "built", "value": "${parameters.VERSION} #${trigger.buildInfo.number}"}}}},
	})
	build := func(number int, result, branch string) map[string]any {
		return map[string]any{"job": "web-build", "buildNumber": number, "result": result, "url": "https://ci.example.com/job/web-build/",
			"properties": map[string]any{"VERSION": "2.0." + strconv.Itoa(number), "BRANCH": branch}}
	}
	var built string
	for i := range 2 {
		ans := api.deliver("/webhooks/ci/jenkins-prod", build(7, "SUCCESS", "main"), http.StatusAccepted)
		if len(ans.Executions) != 1 || ans.Executions[0].Duplicate != (i > 0) {
			t.Fatalf("build 7 report %d: %+v", i+1, ans)
		}
		built = ans.Executions[0].ID
	}
	if x := api.waitUntilDone(built, time.Minute); x.mustStage(t, "1").Outputs["built"] != "2.0.7 #7" {
		t.Errorf("the build's execution: %s %v", x.describe(), x.mustStage(t, "1").Outputs)
	}
	for _, b := range []map[string]any{build(8, "FAILURE", "main"), build(9, "SUCCESS", "feature")} {
		if ans := api.deliver("/webhooks/ci/jenkins-prod", b, http.StatusAccepted); len(ans.Executions) != 0 {
			t.Errorf("%v started %+v", b, ans)
		}
	}
	// A manual start of a disabled pipeline is refused.
	api.expect(http.StatusConflict, http.MethodPost, "/api/v1/applications/hooks/pipelines/off/executions", map[string]any{}, nil)
}

// TestGitHubPushTrigger sends GitHub push deliveries, signed with the trigger's secret as GitHub
// signs them: a push to a matching branch starts the pipeline with the commit as scmInfo and a
// git artifact; a wrong or missing signature is refused; another branch starts nothing.
func TestGitHubPushTrigger(t *testing.T) {
	skipShort(t)
	t.Parallel()
	api := newDevProcess(t).start()
	api.savePipeline("web", "build", map[string]any{
		"triggers": []any{map[string]any{"type": "git", "source": "github", "project": "acme", "slug": "web",
			"branch": "main|release-.*", "secret": "gh-secret"}},
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
			"variables": []any{map[string]any{"key": "commit", "value": "${trigger.scmInfo.sha1} on ${trigger.scmInfo.branch} by ${trigger.user}"}}}},
	})
	push := func(branch, delivery string) []byte {
		body, _ := json.Marshal(map[string]any{
			"ref": "refs/heads/" + branch, "after": "0123456789abcdef0123456789abcdef01234567",
			"repository": map[string]any{"name": "web", "full_name": "acme/web", "html_url": "https://github.com/acme/web",
				"owner": map[string]any{"login": "acme", "name": "acme"}},
			"pusher":      map[string]any{"name": "dora"},
			"head_commit": map[string]any{"id": "0123456789abcdef0123456789abcdef01234567", "message": "Fix the cart", "author": map[string]any{"name": "Dora", "username": "dora"}},
		})
		return body
	}
	headers := func(body []byte, secret, delivery string) []string {
		h := []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", delivery}
		if secret != "" {
			h = append(h, "X-Hub-Signature-256", hubSignature(secret, body))
		}
		return h
	}
	main := push("main", "d1")
	ans := api.deliver("/webhooks/git/github", main, http.StatusAccepted, headers(main, "gh-secret", "d1")...)
	if len(ans.Executions) != 1 {
		t.Fatalf("a signed push to main started %+v", ans)
	}
	done := api.waitUntilDone(ans.Executions[0].ID, time.Minute)
	if got := done.mustStage(t, "1").Outputs["commit"]; got != "0123456789abcdef0123456789abcdef01234567 on main by dora" {
		t.Errorf("the execution saw %v (%s)", got, done.describe())
	}
	var full struct {
		Trigger struct {
			ScmInfo   map[string]any   `json:"scmInfo"`
			Artifacts []map[string]any `json:"artifacts"`
		} `json:"trigger"`
	}
	api.expect(http.StatusOK, http.MethodGet, "/api/v1/executions/"+done.ID, nil, &full)
	if full.Trigger.ScmInfo["project"] != "acme" || full.Trigger.ScmInfo["repoUrl"] != "https://github.com/acme/web" {
		t.Errorf("scmInfo %v", full.Trigger.ScmInfo)
	}
	if len(full.Trigger.Artifacts) != 1 || full.Trigger.Artifacts[0]["type"] != "git/repo" || full.Trigger.Artifacts[0]["version"] != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("artifacts %v", full.Trigger.Artifacts)
	}
	// GitHub redelivers with the same delivery ID: nothing new.
	if again := api.deliver("/webhooks/git/github", main, http.StatusAccepted, headers(main, "gh-secret", "d1")...); len(again.Executions) != 1 || !again.Executions[0].Duplicate {
		t.Errorf("a redelivery: %+v", again)
	}
	api.deliver("/webhooks/git/github", main, http.StatusUnauthorized, headers(main, "not-the-secret", "d2")...)
	api.deliver("/webhooks/git/github", main, http.StatusUnauthorized, headers(main, "", "d3")...)
	feature := push("feature/x", "d4")
	if ans := api.deliver("/webhooks/git/github", feature, http.StatusAccepted, headers(feature, "gh-secret", "d4")...); len(ans.Executions) != 0 {
		t.Errorf("a push to another branch started %+v", ans)
	}
	release := push("release-2.1", "d5")
	if ans := api.deliver("/webhooks/git/github", release, http.StatusAccepted, headers(release, "gh-secret", "d5")...); len(ans.Executions) != 1 || ans.Executions[0].Duplicate {
		t.Errorf("a push to release-2.1 started %+v", ans)
	}
	api.deliver("/webhooks/git/svn", main, http.StatusNotFound)
}

// TestPipelineTriggers chains pipelines: a successful deploy starts its smoke test, a failed one
// starts its rollback pipeline, each with the parent execution readable by expressions, and a
// disabled downstream pipeline starts nothing and says so.
func TestPipelineTriggers(t *testing.T) {
	skipShort(t)
	t.Parallel()
	api := newDevProcess(t).start()
	deploy := api.savePipeline("chain", "deploy", map[string]any{
		"parameterConfig": []any{map[string]any{"name": "fail", "default": "no"}},
		"stages": []any{map[string]any{"refId": "1", "type": "checkPreconditions", "name": "Deploy",
			"preconditions": []any{map[string]any{"type": "expression", "context": map[string]any{"expression": "${parameters.fail == 'no'}", "failureMessage": "asked to fail"}}}}},
	})
	downstream := func(name string, status []any, extra map[string]any) {
		cfg := map[string]any{
			"triggers": []any{map[string]any{"type": "pipeline", "application": "chain", "pipeline": deploy.ID, "status": status}},
			"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
				"variables": []any{map[string]any{"key": "parent", "value": "${trigger.parentExecution.name} ${trigger.parentExecution.status} ${trigger.parentExecution.id}"}}}},
		}
		for k, v := range extra {
			cfg[k] = v
		}
		api.savePipeline("chain", name, cfg)
	}
	downstream("smoke", []any{"successful"}, nil)
	downstream("rollback", []any{"failed", "canceled"}, nil)
	downstream("off", []any{"successful", "failed"}, map[string]any{"disabled": true})
	// A pipeline cannot wait for its own end: that would start it for ever.
	code, body := api.do(http.MethodPut, "/api/v1/applications/chain/pipelines/deploy", map[string]any{
		"triggers": []any{map[string]any{"type": "pipeline", "application": "chain", "pipeline": "deploy", "status": []any{"failed"}}},
		"stages":   []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 0}},
	})
	if code != http.StatusBadRequest || !strings.Contains(string(body), "itself") {
		t.Errorf("a self-trigger: %d %s", code, body)
	}

	child := func(pipelineName, parentID string) execution {
		t.Helper()
		var found execution
		deadline := time.Now().Add(time.Minute)
		for {
			var page struct {
				Executions []executionSummary `json:"executions"`
			}
			api.expect(http.StatusOK, http.MethodGet, "/api/v1/executions?application=chain&pipeline="+pipelineName, nil, &page)
			for _, e := range page.Executions {
				x := api.execution(e.ID)
				if x.stage("1") != nil && strings.HasSuffix(fmt.Sprint(x.mustStage(t, "1").Outputs["parent"]), parentID) {
					found = x
				}
			}
			if found.ID != "" {
				return api.waitUntilDone(found.ID, time.Minute)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s execution started by %s", pipelineName, parentID)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	ok := api.startExecution("chain", "deploy", map[string]any{})
	if x := api.waitUntilDone(ok.ID, time.Minute); x.Status != "SUCCEEDED" {
		t.Fatalf("deploy: %s", x.describe())
	}
	smoke := child("smoke", ok.ID)
	if got := smoke.mustStage(t, "1").Outputs["parent"]; got != "deploy SUCCEEDED "+ok.ID || smoke.Trigger.Type != "pipeline" {
		t.Errorf("smoke saw %v, trigger %+v", got, smoke.Trigger)
	}

	bad := api.startExecution("chain", "deploy", map[string]any{"parameters": map[string]any{"fail": "yes"}})
	if x := api.waitUntilDone(bad.ID, time.Minute); x.Status != "TERMINAL" {
		t.Fatalf("failing deploy: %s", x.describe())
	}
	rollback := child("rollback", bad.ID)
	if got := rollback.mustStage(t, "1").Outputs["parent"]; got != "deploy TERMINAL "+bad.ID {
		t.Errorf("rollback saw %v", got)
	}

	var startedSmoke, disabled int
	for _, ev := range api.triggerEvents("chain") {
		switch {
		case ev.Pipeline == "smoke" && ev.Outcome == "started":
			startedSmoke++
		case ev.Pipeline == "off" && ev.Outcome == "disabled":
			disabled++
		}
	}
	if startedSmoke != 1 || disabled != 2 {
		t.Errorf("trigger events: %d smoke starts, %d disabled", startedSmoke, disabled)
	}
}
