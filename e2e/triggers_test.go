package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
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
		Execution struct {
			Trigger struct {
				ScmInfo   map[string]any   `json:"scmInfo"`
				Artifacts []map[string]any `json:"artifacts"`
			} `json:"trigger"`
		} `json:"execution"`
	}
	api.expect(http.StatusOK, http.MethodGet, "/api/v1/executions/"+done.ID, nil, &full)
	if full.Execution.Trigger.ScmInfo["project"] != "acme" || full.Execution.Trigger.ScmInfo["repoUrl"] != "https://github.com/acme/web" {
		t.Errorf("scmInfo %v", full.Execution.Trigger.ScmInfo)
	}
	if len(full.Execution.Trigger.Artifacts) != 1 || full.Execution.Trigger.Artifacts[0]["type"] != "git/repo" || full.Execution.Trigger.Artifacts[0]["version"] != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("artifacts %v", full.Execution.Trigger.Artifacts)
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
