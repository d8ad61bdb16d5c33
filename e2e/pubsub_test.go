package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gennaker/gennaker/internal/mototest"
)

// TestPubsubTrigger runs gennaker with a pubsub subscription on an SQS queue served by moto and
// sends messages as a build system would: a message whose attributes, body and artifacts match
// starts one execution that sees them and the expected artifact bound at its start; an SNS
// notification delivered to the queue is unwrapped; messages that match nothing, or bring another
// image than the trigger expects, start nothing; every handled message leaves the queue.
func TestPubsubTrigger(t *testing.T) {
	skipShort(t)
	t.Parallel()
	moto := mototest.Start(t)
	ctx := t.Context()
	sender := moto.SQS()
	created, err := sender.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("builds")})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(created.QueueUrl)

	file := filepath.Join(t.TempDir(), "pubsub.yaml")
	config := fmt.Sprintf("subscriptions:\n  - name: builds\n    queueUrl: %s\n    endpoint: %s\n    waitSeconds: 1\n    visibilitySeconds: 10\n", queueURL, moto.URL)
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := newDevProcess(t)
	dev.args = append(dev.args, "--pubsub", file)
	for k, v := range moto.Environ() {
		dev.env = append(dev.env, k+"="+v)
	}
	api := dev.start()

	// A trigger naming a subscription gennaker does not poll is refused when saved.
	code, body := api.do(http.MethodPut, "/api/v1/applications/shop/pipelines/nowhere", map[string]any{
		"triggers": []any{map[string]any{"type": "pubsub", "pubsubSystem": "amazon", "subscriptionName": "releases"}},
		"stages":   []any{map[string]any{"refId": "1", "type": "wait", "waitTime": 0}},
	})
	if code != http.StatusBadRequest || !strings.Contains(string(body), `triggers[0].subscriptionName`) || !strings.Contains(string(body), "configured: builds") {
		t.Errorf("saving a trigger on an unknown subscription: %d %s", code, body)
	}

	api.savePipeline("shop", "release", map[string]any{
		"expectedArtifacts": []any{map[string]any{"id": "image", "displayName": "shop image",
			"matchArtifact": map[string]any{"type": "docker/image", "name": "registry.example.com/shop"}}},
		"triggers": []any{map[string]any{"type": "pubsub", "pubsubSystem": "amazon", "subscriptionName": "builds",
			"attributeConstraints": map[string]any{"event": `build\.finished`},
			"payloadConstraints":   map[string]any{"branch": "main"},
			"expectedArtifactIds":  []any{"image"}}},
		"stages": []any{map[string]any{"refId": "1", "type": "evaluateVariables",
			"variables": []any{
				map[string]any{"key": "image", "value": "${#triggerResolvedArtifact('registry.example.com/shop').reference}"},
				map[string]any{"key": "bound", "value": "${trigger.resolvedExpectedArtifacts[0].boundArtifact.version}"},
				map[string]any{"key": "event", "value": "${trigger.attributes.event}"},
				map[string]any{"key": "version", "value": "${parameters.version}"},
				map[string]any{"key": "message", "value": "${trigger.deliveryId}"},
			}}},
	})

	send := func(body string, attributes map[string]string) string {
		t.Helper()
		attrs := map[string]types.MessageAttributeValue{}
		for k, v := range attributes {
			attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
		out, err := sender.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body), MessageAttributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.MessageId)
	}
	build := func(branch, image, version string) string {
		b, _ := json.Marshal(map[string]any{
			"branch":     branch,
			"parameters": map[string]any{"version": version},
			"artifacts": []any{map[string]any{"type": "docker/image", "name": image, "version": version,
				"reference": image + ":" + version}},
		})
		return string(b)
	}
	finished := map[string]string{"event": "build.finished"}

	// Messages that start nothing: another branch, another event, another image.
	send(build("feature", "registry.example.com/shop", "0.9.0"), finished)
	send(build("main", "registry.example.com/shop", "0.9.1"), map[string]string{"event": "build.started"})
	send(build("main", "registry.example.com/api", "0.9.2"), finished)
	waitForEmptyQueue(t, sender, queueURL)

	id := send(build("main", "registry.example.com/shop", "1.4.0"), finished)
	started := waitForTriggerEvent(t, api, "shop", "sqs:"+id)
	if started.Outcome != "started" || started.Pipeline != "release" {
		t.Fatalf("trigger event: %+v", started)
	}
	done := api.waitUntilDone(started.ExecutionID, time.Minute)
	if done.Status != "SUCCEEDED" || done.Trigger.Type != "pubsub" {
		t.Fatalf("execution: %s", done.describe())
	}
	want := map[string]any{"image": "registry.example.com/shop:1.4.0", "bound": "1.4.0", "event": "build.finished", "version": "1.4.0", "message": "sqs:" + id}
	for k, v := range want {
		if got := done.mustStage(t, "1").Outputs[k]; got != v {
			t.Errorf("output %s: %v, want %v", k, got, v)
		}
	}
	waitForEmptyQueue(t, sender, queueURL)

	// An SNS topic delivering to the queue wraps the message; gennaker reads through the envelope.
	envelope, _ := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "6f0d-sns", "TopicArn": "arn:aws:sns:us-east-1:" + mototest.AccountID + ":builds",
		"Message":           build("main", "registry.example.com/shop", "1.5.0"),
		"MessageAttributes": map[string]any{"event": map[string]any{"Type": "String", "Value": "build.finished"}},
	})
	snsID := send(string(envelope), nil)
	viaSNS := waitForTriggerEvent(t, api, "shop", "sqs:"+snsID)
	if done := api.waitUntilDone(viaSNS.ExecutionID, time.Minute); done.Status != "SUCCEEDED" || done.mustStage(t, "1").Outputs["version"] != "1.5.0" {
		t.Errorf("execution from an SNS notification: %s", done.describe())
	}
	waitForEmptyQueue(t, sender, queueURL)

	// Only those two started anything.
	var executions int
	for _, ev := range api.triggerEvents("shop") {
		if ev.Outcome == "started" {
			executions++
		}
	}
	if executions != 2 {
		t.Errorf("%d executions started, want 2: %+v", executions, api.triggerEvents("shop"))
	}
}

// waitForTriggerEvent waits until the application's trigger events record the delivery.
func waitForTriggerEvent(t *testing.T, api *apiClient, app, deliveryID string) triggerEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range api.triggerEvents(app) {
			if ev.DeliveryID == deliveryID {
				return ev
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no trigger event for delivery %s within 30s: %+v", deliveryID, api.triggerEvents(app))
	return triggerEvent{}
}

// waitForEmptyQueue waits until every message sent has been handled and deleted.
func waitForEmptyQueue(t *testing.T, sender *awssqs.Client, queueURL string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last map[string]string
	for time.Now().Before(deadline) {
		out, err := sender.GetQueueAttributes(t.Context(), &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		last = out.Attributes
		if last[string(types.QueueAttributeNameApproximateNumberOfMessages)] == "0" && last[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("messages still on the queue after 30s: %v", last)
}
