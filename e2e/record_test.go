package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/gennaker/gennaker/internal/app"
	"github.com/gennaker/gennaker/internal/awsfault"
	"github.com/gennaker/gennaker/internal/config"
	"github.com/gennaker/gennaker/internal/mototest"
	"github.com/gennaker/gennaker/internal/procout"
	"github.com/gennaker/gennaker/internal/promtest"
	"github.com/gennaker/gennaker/launch"
	"github.com/gennaker/gennaker/workflows"
)

var record = flag.Bool("record", false, "record workflow histories into workflows/testdata/histories (TestRecordHistories)")

// recordApp is the application every recorded pipeline is saved in.
const recordApp = "replay"

// scenario is one recorded execution: a pipeline, how a person drives it, and how it must end.
type scenario struct {
	name string
	// config is the pipeline; {{hooks}} stands for the local webhook server's URL.
	config string
	// before are pipelines saved first, by name, such as the child a pipeline stage runs.
	before map[string]string
	start  string
	// drive acts on the running execution as a person would: judgments, skips, cancels.
	drive func(t *testing.T, a *apiClient, id string)
	want  string
	check func(t *testing.T, e execution)
	// alsoRecord names other workflows the execution started, such as a child pipeline.
	alsoRecord func(e execution) map[string]string
}

// TestRecordHistories runs a set of executions covering every path of the Pipeline and CronTrigger
// workflows against the in-process stack (embedded Temporal, worker, API) and writes each
// workflow's history to workflows/testdata/histories, where the replay test reads them. It runs
// only with -record: recorded histories are test data kept in the repository, renewed on purpose.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records workflow histories only with -record")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(root, "workflows", "testdata", "histories")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}

	// Executions notify a Slack workspace and publish their events, so that their histories
	// hold the notification activities and the event stream.
	ws := newWorkspace(t)
	sink := newEventSink(t)
	notificationsFile := filepath.Join(t.TempDir(), "notifications.yaml")
	settings := fmt.Sprintf("eventEndpoints: [{name: audit, url: %q, secret: %q}]\n", sink.srv.URL, eventSecret)
	if err := os.WriteFile(notificationsFile, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	// A canary execution reads Prometheus scraping a baseline and a canary that behave alike.
	healthy := promtest.AppConfig{ErrorRate: 0.05, LatencyMean: 50 * time.Millisecond, LatencyJitter: 10 * time.Millisecond, RequestRate: 1000}
	baseline, canaryApp := healthy, healthy
	baseline.Seed, canaryApp.Seed = 1, 2
	prom := promtest.StartPrometheus(t,
		promtest.NewApp(t, baseline).Target(map[string]string{"case": "replay", "track": "baseline"}),
		promtest.NewApp(t, canaryApp).Target(map[string]string{"case": "replay", "track": "canary"}))
	// A pubsub subscription on an SQS queue of moto's.
	moto := mototest.Start(t)
	moto.Env(t)
	queue, err := moto.SQS().CreateQueue(t.Context(), &awssqs.CreateQueueInput{QueueName: aws.String("replay-builds")})
	if err != nil {
		t.Fatal(err)
	}
	pubsubFile := filepath.Join(t.TempDir(), "pubsub.yaml")
	subscriptions := fmt.Sprintf("subscriptions:\n  - name: %s\n    queueUrl: %s\n    endpoint: %s\n    waitSeconds: 1\n", recordSubscription, aws.ToString(queue.QueueUrl), moto.URL)
	if err := os.WriteFile(pubsubFile, []byte(subscriptions), 0o600); err != nil {
		t.Fatal(err)
	}

	// AWS deploys go to moto through the fault proxy, which reports the targets of target group
	// replay-broken as failing their health checks, so that a deploy can fail and roll back.
	accountsFile := recordAWSAccount(t, moto)

	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	cfg, err := config.Load(fs, []string{"--data-dir", t.TempDir(), "--http-address", "127.0.0.1:0", "--dev-temporal-port", "0", "--dev-ui-port", "-1",
		"--slack-bot-token", slackToken, "--slack-api-url", ws.srv.GetAPIURL(), "--notifications", notificationsFile,
		"--prometheus-url", prom.URL(), "--pubsub", pubsubFile, "--accounts", accountsFile})
	if err != nil {
		t.Fatal(err)
	}
	var logs procout.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := app.Start(context.Background(), cfg, app.Parts{EmbeddedTemporal: true, Worker: true, API: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Stop()
		if t.Failed() {
			t.Logf("gennaker logs:\n%s", logs.String())
		}
	})
	hooks := webhookServer(t)
	rec := &recorder{client: rt.Client, dir: outDir}
	base := "http://" + rt.APIAddress

	setup := &apiClient{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
	setup.expect(http.StatusOK, http.MethodPut, "/api/v1/applications/"+recordApp+"/canaryConfigs/web-canary",
		json.RawMessage(exampleFile(t, "web-canary-config.json")), nil)
	prom.WaitForScrapes(t, 4)

	t.Run("executions", func(t *testing.T) {
		for _, sc := range scenarios(time.Now()) {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				a := &apiClient{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
				runScenario(t, a, rec, sc, hooks.URL)
			})
		}
		t.Run("cron-trigger", func(t *testing.T) {
			t.Parallel()
			a := &apiClient{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
			recordCron(t, a, rec)
		})
		t.Run("pubsub", func(t *testing.T) {
			t.Parallel()
			a := &apiClient{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
			recordPubsub(t, a, rec, moto, aws.ToString(queue.QueueUrl))
		})
	})
}

// recordAWSAccount seeds moto, adds target group replay-broken, whose targets the fault proxy in
// front of moto reports unhealthy, and writes an accounts file with that proxy as AWS account
// aws-replay.
func recordAWSAccount(t *testing.T, moto *mototest.Server) string {
	fixture := moto.Seed(t, "us-east-1")
	lb := elasticloadbalancingv2.NewFromConfig(moto.Config("us-east-1"))
	if _, err := lb.CreateTargetGroup(t.Context(), &elasticloadbalancingv2.CreateTargetGroupInput{Name: aws.String("replay-broken"),
		Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(fixture.VPC)}); err != nil {
		t.Fatal(err)
	}
	proxy := awsfault.New(moto.URL, 11)
	t.Cleanup(proxy.Close)
	proxy.SetTargetHealth(func(tg, instance string, poll int, state string) (string, string, string, bool) {
		if strings.Contains(tg, ":targetgroup/replay-broken/") && state == "healthy" {
			return "unhealthy", "Target.FailedHealthChecks", "Health checks failed", true
		}
		return "", "", "", false
	})
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	accounts := fmt.Sprintf("aws:\n- name: aws-replay\n  endpoint: %s\n  regions:\n  - name: us-east-1\n  - name: us-west-2\n", proxy.URL) +
		"  bakery:\n    instanceType: t3.micro\n    baseImages:\n    - {baseOs: debian, baseLabel: release, regions: {us-east-1: debian-12}}\n"
	if err := os.WriteFile(file, []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// awsReplayCluster is a deploy cluster of application replay on account aws-replay.
func awsReplayCluster(stack, extra string) string {
	return `{"account": "aws-replay", "application": "replay", "stack": "` + stack + `", "availabilityZones": {"us-east-1": ["us-east-1a"]},
		"subnetType": "internal", "instanceType": "t3.micro", "securityGroups": ["web"], "capacity": {"min": 1, "desired": 2, "max": 3}` + extra + `}`
}

// runScenario saves, starts and drives one scenario's execution, checks how it ended and records it.
func runScenario(t *testing.T, a *apiClient, rec *recorder, sc scenario, hooks string) {
	for _, name := range slices.Sorted(maps.Keys(sc.before)) {
		a.savePipeline(recordApp, name, strings.ReplaceAll(sc.before[name], "{{hooks}}", hooks))
	}
	a.savePipeline(recordApp, sc.name, strings.ReplaceAll(sc.config, "{{hooks}}", hooks))
	var body any
	if sc.start != "" {
		body = sc.start
	}
	id := a.startExecution(recordApp, sc.name, body).ID
	if sc.drive != nil {
		sc.drive(t, a, id)
	}
	done := a.waitUntilDone(id, 2*time.Minute)
	if done.Status != sc.want {
		t.Fatalf("ended %s, want %s: %s", done.Status, sc.want, done.describe())
	}
	if sc.check != nil {
		sc.check(t, done)
	}
	if t.Failed() {
		return // a history of the wrong behaviour is no reference
	}
	rec.save(t, sc.name, id)
	if sc.alsoRecord != nil {
		for name, wfID := range sc.alsoRecord(done) {
			rec.save(t, name, wfID)
		}
	}
}

// recordCron saves a pipeline with a cron trigger, fires its schedule now instead of waiting for
// the cron time, and records both the CronTrigger workflow and the execution it started.
func recordCron(t *testing.T, a *apiClient, rec *recorder) {
	const name = "cron-trigger"
	saved := a.savePipeline(recordApp, name, `{
		"triggers": [{"type": "cron", "id": "nightly", "cronExpression": "0 0 3 * * ?", "timeZone": "UTC"}],
		"parameterConfig": [{"name": "env", "default": "staging"}],
		"stages": [{"refId": "1", "type": "evaluateVariables", "name": "Who",
			"variables": [{"key": "startedBy", "value": "${trigger.type} for ${parameters.env}"}]}]
	}`)
	if len(saved.Warnings) > 0 {
		t.Fatalf("saving the cron pipeline: %v", saved.Warnings)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	handle := rec.client.ScheduleClient().GetHandle(ctx, launch.ScheduleID(recordApp, name, "nightly"))
	if err := handle.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatalf("triggering the schedule: %v", err)
	}
	var action *client.ScheduleWorkflowExecution
	for action == nil {
		desc, err := handle.Describe(ctx)
		if err != nil {
			t.Fatalf("describing the schedule: %v", err)
		}
		if n := len(desc.Info.RecentActions); n > 0 && desc.Info.RecentActions[n-1].StartWorkflowResult != nil {
			action = desc.Info.RecentActions[n-1].StartWorkflowResult
			continue
		}
		select {
		case <-ctx.Done():
			t.Fatal("the schedule started no workflow")
		case <-time.After(200 * time.Millisecond):
		}
	}
	var result workflows.CronTriggerResult
	if err := rec.client.GetWorkflow(ctx, action.WorkflowID, action.FirstExecutionRunID).Get(ctx, &result); err != nil {
		t.Fatalf("the CronTrigger workflow failed: %v", err)
	}
	done := a.waitUntilDone(result.ExecutionID, time.Minute)
	if done.Status != "SUCCEEDED" || done.Trigger.Type != "cron" || done.mustStage(t, "1").Outputs["startedBy"] != "cron for staging" {
		t.Fatalf("the cron execution: %s, trigger %+v, outputs %v", done.describe(), done.Trigger, done.mustStage(t, "1").Outputs)
	}
	rec.save(t, "cron-trigger", action.WorkflowID)
	rec.save(t, "cron-execution", result.ExecutionID)
}

// recordSubscription is the pubsub subscription the recorder's gennaker polls.
const recordSubscription = "replay-builds"

// recordPubsub saves a pipeline with a pubsub trigger, sends a message that starts it, and records
// the execution and the subscription's polling workflow, which it then terminates: that workflow
// runs as long as the subscription is configured, and a recorded history must end.
func recordPubsub(t *testing.T, a *apiClient, rec *recorder, moto *mototest.Server, queueURL string) {
	a.savePipeline(recordApp, "pubsub-execution", `{
		"triggers": [{"type": "pubsub", "pubsubSystem": "amazon", "subscriptionName": "`+recordSubscription+`",
			"attributeConstraints": {"event": "build\\.finished"}}],
		"stages": [{"refId": "1", "type": "evaluateVariables", "name": "Built",
			"variables": [{"key": "version", "value": "${parameters.version}"}]}]
	}`)
	sent, err := moto.SQS().SendMessage(t.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(queueURL),
		MessageBody: aws.String(`{"parameters": {"version": "1.4.0"}}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"event": {DataType: aws.String("String"), StringValue: aws.String("build.finished")}}})
	if err != nil {
		t.Fatal(err)
	}
	started := waitForTriggerEvent(t, a, recordApp, "sqs:"+aws.ToString(sent.MessageId))
	done := a.waitUntilDone(started.ExecutionID, time.Minute)
	if done.Status != "SUCCEEDED" || done.mustStage(t, "1").Outputs["version"] != "1.4.0" {
		t.Fatalf("the execution the message started: %s", done.describe())
	}
	rec.save(t, "pubsub-execution", started.ExecutionID)
	poller := workflows.PubsubSubscriptionID(recordSubscription)
	if err := rec.client.TerminateWorkflow(t.Context(), poller, "", "recorded"); err != nil {
		t.Fatalf("ending the subscription's workflow: %v", err)
	}
	rec.save(t, "pubsub-subscription", poller)
}

// scenarios are the recorded executions; now places the execution windows.
func scenarios(now time.Time) []scenario {
	hour := now.UTC().Hour()
	waitThenSkip := func(ref string) func(*testing.T, *apiClient, string) {
		return func(t *testing.T, a *apiClient, id string) {
			a.waitForStage(id, ref, "RUNNING", time.Minute)
			a.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+id+"/stages/"+ref+"/skip", `{"user": "bo"}`, nil)
		}
	}
	judge := func(ref, body string) func(*testing.T, *apiClient, string) {
		return func(t *testing.T, a *apiClient, id string) {
			a.waitForStage(id, ref, "RUNNING", time.Minute)
			a.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+id+"/stages/"+ref+"/judgment", body, nil)
		}
	}
	wantStages := func(want map[string]string) func(*testing.T, execution) {
		return func(t *testing.T, e execution) {
			for ref, status := range want {
				if got := e.mustStage(t, ref).Status; got != status {
					t.Errorf("stage %s is %s, want %s: %s", ref, got, status, e.describe())
				}
			}
		}
	}

	return []scenario{
		{
			name: "serial-parallel-join",
			config: `{"parameterConfig": [{"name": "version", "default": "1.0.0"}],
			"stages": [
				{"refId": "1", "type": "evaluateVariables", "name": "Prepare", "variables": [{"key": "image", "value": "web:${parameters.version}"}]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "wait", "name": "Left", "waitTime": 1},
				{"refId": "3", "requisiteStageRefIds": ["1"], "type": "wait", "name": "Right", "waitTime": 2},
				{"refId": "4", "requisiteStageRefIds": ["2", "3"], "type": "checkPreconditions", "name": "Join",
					"preconditions": [{"type": "expression", "context": {"expression": "image == 'web:1.0.0'"}}]}
			]}`,
			want:  "SUCCEEDED",
			check: wantStages(map[string]string{"1": "SUCCEEDED", "2": "SUCCEEDED", "3": "SUCCEEDED", "4": "SUCCEEDED"}),
		},
		{
			name: "judgment-continue",
			config: `{"stages": [
				{"refId": "1", "type": "manualJudgment", "name": "Approve", "instructions": "Ship ${trigger.user}'s build?",
					"judgmentInputs": [{"value": "ship"}, {"value": "hold"}]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "Announce",
					"variables": [{"key": "message", "value": "${#judgment('Approve')} by ${#stage('Approve').outputs.lastModifiedBy}"}]}
			]}`,
			start: `{"user": "ana"}`,
			drive: judge("1", `{"judgmentStatus": "continue", "judgmentInput": "ship", "user": "bo"}`),
			want:  "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := e.mustStage(t, "2").Outputs["message"]; got != "ship by bo" {
					t.Errorf("message = %v", got)
				}
			},
		},
		{
			name: "slack-judgment",
			config: `{"notifications": [{"type": "slack", "address": "#deploys", "when": ["pipeline.starting", "pipeline.complete"]}],
				"stages": [
				{"refId": "1", "type": "manualJudgment", "name": "Approve", "judgmentInputs": [{"value": "ship"}],
					"notifications": [{"type": "slack", "address": "#approvals", "when": ["manualJudgment", "manualJudgmentContinue"], "notifyEveryMs": 1000}]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "wait", "name": "Soak", "waitTime": 1,
					"notifications": [{"type": "slack", "address": "#deploys", "when": ["stage.starting", "stage.complete"]}]}
			]}`,
			drive: func(t *testing.T, a *apiClient, id string) {
				a.waitForStage(id, "1", "RUNNING", time.Minute)
				time.Sleep(2500 * time.Millisecond) // a reminder or two
				a.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+id+"/stages/1/judgment", `{"judgmentStatus": "continue", "judgmentInput": "ship", "user": "bo"}`, nil)
			},
			want:  "SUCCEEDED",
			check: wantStages(map[string]string{"1": "SUCCEEDED", "2": "SUCCEEDED"}),
			alsoRecord: func(e execution) map[string]string {
				return map[string]string{"slack-judgment-events": workflows.EventStreamID(e.ID)}
			},
		},
		{
			name:   "limit-concurrent",
			config: `{"limitConcurrent": true, "stages": [{"refId": "1", "type": "wait", "name": "Soak", "waitTime": 1}]}`,
			want:   "SUCCEEDED",
			check:  wantStages(map[string]string{"1": "SUCCEEDED"}),
		},
		{
			name: "judgment-stop",
			config: `{"stages": [
				{"refId": "1", "type": "manualJudgment", "name": "Approve", "judgmentInputs": [{"value": "ship"}, {"value": "hold"}]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "wait", "name": "Never", "waitTime": 1}
			]}`,
			drive: judge("1", `{"judgmentStatus": "stop", "judgmentInput": "hold", "user": "bo"}`),
			want:  "TERMINAL",
			check: wantStages(map[string]string{"1": "TERMINAL", "2": "NOT_STARTED"}),
		},
		{
			name: "wait-skip",
			config: `{"stages": [
				{"refId": "1", "type": "wait", "name": "Long wait", "waitTime": 3600},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "After",
					"variables": [{"key": "skipped", "value": "${#stage('Long wait').outputs.skipRemainingWait}"}]}
			]}`,
			drive: waitThenSkip("1"),
			want:  "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := e.mustStage(t, "1").Outputs["skippedBy"]; got != "bo" {
					t.Errorf("skippedBy = %v", got)
				}
			},
		},
		{
			name: "cancel",
			config: `{"stages": [
				{"refId": "1", "type": "wait", "name": "Long wait", "waitTime": 3600, "stageTimeoutMs": 7200000},
				{"refId": "2", "type": "manualJudgment", "name": "Approve"},
				{"refId": "3", "requisiteStageRefIds": ["1", "2"], "type": "evaluateVariables", "name": "Never",
					"variables": [{"key": "x", "value": "y"}]}
			]}`,
			drive: func(t *testing.T, a *apiClient, id string) {
				a.waitForStage(id, "2", "RUNNING", time.Minute)
				a.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+id+"/cancel", `{"user": "ana", "reason": "wrong build"}`, nil)
			},
			want: "CANCELED",
			check: func(t *testing.T, e execution) {
				if !e.Canceled || e.CanceledBy != "ana" || e.CancellationReason != "wrong build" {
					t.Errorf("canceled %v by %q: %q", e.Canceled, e.CanceledBy, e.CancellationReason)
				}
				wantStages(map[string]string{"1": "CANCELED", "2": "CANCELED", "3": "NOT_STARTED"})(t, e)
			},
		},
		{
			name: "terminal-halts-branch",
			config: `{"stages": [
				{"refId": "1", "type": "wait", "name": "Short wait", "waitTime": 1},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "checkPreconditions", "name": "Gate",
					"preconditions": [{"type": "expression", "context": {"expression": "1 == 2", "failureMessage": "the gate is closed"}}]},
				{"refId": "3", "type": "wait", "name": "Other branch", "waitTime": 3600},
				{"refId": "4", "requisiteStageRefIds": ["2"], "type": "wait", "name": "Never", "waitTime": 1},
				{"refId": "5", "type": "manualJudgment", "name": "Third branch"}
			]}`,
			want:  "TERMINAL",
			check: wantStages(map[string]string{"1": "SUCCEEDED", "2": "TERMINAL", "3": "CANCELED", "4": "NOT_STARTED", "5": "CANCELED"}),
		},
		{
			name: "fail-pipeline-false",
			config: `{"stages": [
				{"refId": "1", "type": "checkPreconditions", "name": "Optional gate", "failPipeline": false,
					"preconditions": [{"type": "expression", "context": {"expression": "false"}}]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "wait", "name": "Behind the gate", "waitTime": 1},
				{"refId": "3", "type": "wait", "name": "Other branch", "waitTime": 1}
			]}`,
			want:  "SUCCEEDED",
			check: wantStages(map[string]string{"1": "STOPPED", "2": "NOT_STARTED", "3": "SUCCEEDED"}),
		},
		{
			name: "continue-pipeline",
			config: `{"stages": [
				{"refId": "1", "type": "checkPreconditions", "name": "Soft gate", "continuePipeline": true,
					"preconditions": [{"type": "expression", "context": {"expression": "false"}}]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "checkPreconditions", "name": "Soft precondition",
					"preconditions": [{"type": "expression", "failPipeline": false, "context": {"expression": "false", "failureMessage": "only a warning"}}]},
				{"refId": "3", "requisiteStageRefIds": ["2"], "type": "evaluateVariables", "name": "Carry on",
					"variables": [{"key": "first", "value": "${#stage('Soft gate').status}"}]}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				wantStages(map[string]string{"1": "FAILED_CONTINUE", "2": "FAILED_CONTINUE", "3": "SUCCEEDED"})(t, e)
				if got := e.mustStage(t, "3").Outputs["first"]; got != "FAILED_CONTINUE" {
					t.Errorf("first = %v", got)
				}
			},
		},
		{
			name: "stage-enabled-false",
			config: `{"parameterConfig": [{"name": "env", "default": "staging"}],
			"stages": [
				{"refId": "1", "type": "wait", "name": "Prod only", "waitTime": 3600,
					"stageEnabled": {"type": "expression", "expression": "parameters.env == 'prod'"}},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "After",
					"variables": [{"key": "skipped", "value": "${#stage('Prod only').status}"}]}
			]}`,
			want:  "SUCCEEDED",
			check: wantStages(map[string]string{"1": "SKIPPED", "2": "SUCCEEDED"}),
		},
		{
			name: "expressions",
			config: `{"parameterConfig": [{"name": "tag", "default": "1.2.3"}, {"name": "replicas", "default": "3"}],
			"stages": [
				{"refId": "1", "type": "evaluateVariables", "name": "Compute", "variables": [
					{"key": "image", "value": "web:${parameters.tag}"},
					{"key": "replicas", "value": "${#toInt(parameters.replicas) * 2}"},
					{"key": "who", "value": "${trigger.user.toUpperCase()}"},
					{"key": "broken", "value": "${parameters.missing}"}
				]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "wait", "name": "Computed wait", "waitTime": "${replicas - 5}"},
				{"refId": "3", "requisiteStageRefIds": ["2"], "type": "checkPreconditions", "name": "Check",
					"preconditions": [{"type": "expression", "context": {"expression": "${image == 'web:1.2.3' && who == 'ANA' && #stage('Compute').status == 'SUCCEEDED'}"}}]},
				{"refId": "4", "requisiteStageRefIds": ["3"], "type": "evaluateVariables", "name": "Strict", "failOnFailedExpressions": true,
					"continuePipeline": true, "variables": [{"key": "nope", "value": "${parameters.missing}"}]}
			]}`,
			start: `{"user": "ana"}`,
			want:  "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				wantStages(map[string]string{"1": "SUCCEEDED", "2": "SUCCEEDED", "3": "SUCCEEDED", "4": "FAILED_CONTINUE"})(t, e)
				if got := e.mustStage(t, "1").Outputs["replicas"]; got != float64(6) {
					t.Errorf("replicas = %v", got)
				}
			},
		},
		{
			name: "stage-timeout",
			config: `{"stages": [
				{"refId": "1", "type": "wait", "name": "Too long", "waitTime": 3600, "stageTimeoutMs": 1500}
			]}`,
			want:  "TERMINAL",
			check: wantStages(map[string]string{"1": "TERMINAL"}),
		},
		{
			name: "webhook",
			config: `{"parameterConfig": [{"name": "version", "default": "2.0.0"}],
			"stages": [
				{"refId": "1", "type": "webhook", "name": "Notify", "url": "{{hooks}}/deploy",
					"customHeaders": {"X-Release": "${parameters.version}"},
					"payload": {"version": "${parameters.version}"}, "expectedStatusCodes": [200]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "Read the answer",
					"variables": [{"key": "accepted", "value": "${#stage('Notify').outputs.webhook.body.accepted}"}]}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := e.mustStage(t, "2").Outputs["accepted"]; got != "2.0.0" {
					t.Errorf("accepted = %v", got)
				}
			},
		},
		{
			name: "webhook-monitor",
			config: `{"stages": [
				{"refId": "1", "type": "webhook", "name": "Run job", "url": "{{hooks}}/jobs", "method": "POST", "payload": {"job": "migrate"},
					"waitForCompletion": true, "statusUrlResolution": "locationHeader",
					"statusJsonPath": "$.status", "progressJsonPath": "$.progress",
					"successStatuses": "SUCCEEDED", "terminalStatuses": "FAILED", "monitorIntervalSeconds": 1}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				hook, _ := e.mustStage(t, "1").Outputs["webhook"].(map[string]any)
				monitor, _ := hook["monitor"].(map[string]any)
				if monitor["status"] != "SUCCEEDED" || monitor["polls"] != float64(2) {
					t.Errorf("webhook outputs %v", hook)
				}
			},
		},
		{
			name: "pipeline-stage-parent",
			before: map[string]string{"pipeline-stage-child": `{
				"parameterConfig": [{"name": "env", "required": true}],
				"stages": [
					{"refId": "1", "type": "wait", "name": "Child wait", "waitTime": 1},
					{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "Deployed",
						"variables": [{"key": "deployedTo", "value": "${parameters.env}"}]}
				]}`},
			config: `{"parameterConfig": [{"name": "env", "default": "prod"}],
			"stages": [
				{"refId": "1", "type": "pipeline", "name": "Run child", "application": "replay", "pipeline": "pipeline-stage-child",
					"pipelineParameters": {"env": "${parameters.env}"}},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "After child",
					"variables": [{"key": "child", "value": "${#stage('Run child').outputs.status}"}]}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := e.mustStage(t, "2").Outputs["child"]; got != "SUCCEEDED" {
					t.Errorf("child status = %v", got)
				}
			},
			alsoRecord: func(e execution) map[string]string {
				child, _ := e.stage("1").Outputs["executionId"].(string)
				return map[string]string{"pipeline-stage-child": child}
			},
		},
		{
			name: "deploy-redblack",
			config: redBlackScenario("replay-redblack", `{"refId": "3", "requisiteStageRefIds": ["2"], "type": "rollbackCluster", "name": "Roll back",
					"account": "local", "location": "replay-redblack", "cluster": "replicaSet web"}`),
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				rb, _ := e.mustStage(t, "3").Outputs["rollback"].(map[string]any)
				if rb["from"] != "replicaSet web-v001" || rb["to"] != "replicaSet web-v000" {
					t.Errorf("rollback outputs %v", rb)
				}
			},
			alsoRecord: func(execution) map[string]string {
				return map[string]string{"cluster-lock": "gennaker-lock/local/replay-redblack/replicaSet web"}
			},
		},
		{
			name:   "deploy-rollback-on-failure",
			config: redBlackScenario("replay-rollback", ""),
			start:  `{"parameters": {"second": "example.com/web:never-ready"}}`,
			want:   "TERMINAL",
			check: func(t *testing.T, e execution) {
				if s := e.mustStage(t, "2"); !strings.Contains(s.Error, "rolled back from replicaSet web-v001 to replicaSet web-v000") {
					t.Errorf("stage 2 error %q", s.Error)
				}
			},
		},
		{
			// Every AWS stage on one cluster: an image found by its tags, a first deploy, a
			// red/black one (which scales the first down), a resize, and a rollback by hand (the
			// previous group sized and enabled, the current one disabled), then the current destroyed.
			name: "aws-redblack",
			config: `{"stages": [
				{"refId": "1", "type": "findImageFromTags", "name": "Find", "packageName": "web", "tags": {"release": "stable"}, "regions": ["us-east-1"]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "deploy", "name": "First", "clusters": [` + awsReplayCluster("rb", `, "targetGroups": ["web"]`) + `]},
				{"refId": "3", "requisiteStageRefIds": ["2"], "type": "deploy", "name": "Red/black", "clusters": [` +
				awsReplayCluster("rb", `, "targetGroups": ["web"], "strategy": "redblack", "maxRemainingAsgs": 2, "scaleDown": true`) + `]},
				{"refId": "4", "requisiteStageRefIds": ["3"], "type": "resizeServerGroup", "name": "Grow", "credentials": "aws-replay",
					"cluster": "replay-rb", "regions": ["us-east-1"], "action": "scale_up", "scaleNum": 1},
				{"refId": "5", "requisiteStageRefIds": ["4"], "type": "resizeServerGroup", "name": "Size previous", "credentials": "aws-replay",
					"cluster": "replay-rb", "regions": ["us-east-1"], "target": "ancestor_asg_dynamic", "capacity": {"min": 1, "desired": 2, "max": 3}},
				{"refId": "6", "requisiteStageRefIds": ["5"], "type": "enableServerGroup", "name": "Enable previous", "credentials": "aws-replay",
					"cluster": "replay-rb", "regions": ["us-east-1"], "target": "ancestor_asg_dynamic"},
				{"refId": "7", "requisiteStageRefIds": ["6"], "type": "disableServerGroup", "name": "Disable current", "credentials": "aws-replay",
					"cluster": "replay-rb", "regions": ["us-east-1"]},
				{"refId": "8", "requisiteStageRefIds": ["7"], "type": "destroyServerGroup", "name": "Destroy current", "credentials": "aws-replay",
					"cluster": "replay-rb", "regions": ["us-east-1"]}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := deployedIn(t, e, "3"); got != "replay-rb-v001" {
					t.Errorf("red/black deployed %s", got)
				}
				if d := e.mustStage(t, "3").Outputs["deployments"].([]any)[0].(map[string]any); fmt.Sprint(d["disabled"]) != "[replay-rb-v000]" {
					t.Errorf("red/black report %v", d)
				}
			},
			alsoRecord: func(execution) map[string]string {
				return map[string]string{"aws-cluster-lock": "gennaker-lock/aws-replay/us-east-1/replay-rb"}
			},
		},
		{
			// Rolling red/black in two steps with a pipeline before each cleanup, a clone of the
			// result into another cluster, and a rollback of the rolling deploy to its previous
			// image.
			name:   "aws-rolling-clone",
			before: map[string]string{"aws-smoke": `{"stages": [{"refId": "1", "type": "wait", "name": "Smoke", "waitTime": 0}]}`},
			config: `{"stages": [
				{"refId": "1", "type": "deploy", "name": "First", "clusters": [` + awsReplayCluster("roll", `, "amiName": "web-1.0.0", "targetGroups": ["web"]`) + `]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "deploy", "name": "Rolling", "clusters": [` +
				awsReplayCluster("roll", `, "amiName": "web-1.1.0", "targetGroups": ["web"], "strategy": "rollingredblack", "targetPercentages": [50],
					"pipelineBeforeCleanup": {"application": "replay", "pipelineId": "aws-smoke"}`) + `]},
				{"refId": "3", "requisiteStageRefIds": ["2"], "type": "cloneServerGroup", "name": "Clone", "credentials": "aws-replay", "region": "us-east-1",
					"targetCluster": "replay-roll", "stack": "rollcanary", "capacity": {"min": 1, "desired": 1, "max": 1}},
				{"refId": "4", "requisiteStageRefIds": ["3"], "type": "rollbackServerGroup", "name": "Previous image", "credentials": "aws-replay",
					"regions": ["us-east-1"], "rollbackType": "PREVIOUS_IMAGE", "rollbackContext": {"rollbackServerGroupName": "replay-roll-v001"}}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := deployedIn(t, e, "3"); got != "replay-rollcanary-v000" {
					t.Errorf("the clone deployed %s", got)
				}
				if got := deployedIn(t, e, "4"); got != "replay-roll-v002" {
					t.Errorf("the rollback deployed %s", got)
				}
			},
		},
		{
			// A container bake on gennaker dev's registry, its image read by a later stage.
			name: "bake-container",
			config: `{"expectedArtifacts": [{"id": "site", "useDefaultArtifact": true, "matchArtifact": {"type": "http/file", "name": "site.tar.gz"},
					"defaultArtifact": {"type": "embedded/base64", "name": "/usr/share/web/index.html", "reference": "PGgxPndlYjwvaDE+Cg=="}}],
				"stages": [
				{"refId": "1", "type": "bake", "name": "Bake", "cloudProviderType": "docker", "package": "replay", "baseOs": "scratch",
					"packageArtifactIds": ["site"], "extendedAttributes": {"docker_target_image_tag": "1.0.0"},
					"expectedArtifacts": [{"id": "baked", "matchArtifact": {"type": "docker/image", "name": ".*/replay"}}]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "After",
					"variables": [{"key": "image", "value": "${#stage('Bake').outputs.imageId}"}]}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got, _ := e.mustStage(t, "2").Outputs["image"].(string); !strings.Contains(got, "/replay@sha256:") {
					t.Errorf("image = %q", got)
				}
			},
		},
		{
			// A machine image bake copied to a second region, its image read by a later stage.
			name: "aws-bake",
			config: `{"stages": [
				{"refId": "1", "type": "bake", "name": "Bake", "account": "aws-replay", "regions": ["us-east-1"], "package": "replay=1.0.0",
					"baseOs": "debian", "baseLabel": "release", "extendedAttributes": {"copy_to": "us-west-2"}, "rebake": true},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "After",
					"variables": [{"key": "image", "value": "${#stage('Bake').outputs.deploymentDetails[1].imageId}"}]}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got, _ := e.mustStage(t, "2").Outputs["image"].(string); !strings.HasPrefix(got, "ami-") {
					t.Errorf("image = %q", got)
				}
			},
		},
		{
			// A red/black deploy whose instances never pass their health checks, rolled back.
			name: "aws-rollback-on-failure",
			config: `{"stages": [
				{"refId": "1", "type": "deploy", "name": "First", "clusters": [` + awsReplayCluster("broken", `, "amiName": "web-1.0.0", "targetGroups": ["web"]`) + `]},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "deploy", "name": "Red/black", "stageTimeoutMs": 20000, "clusters": [` +
				awsReplayCluster("broken", `, "amiName": "web-1.1.0", "targetGroups": ["replay-broken"], "strategy": "redblack",
					"rollback": {"onFailure": true, "destroyLatest": true}`) + `]}
			]}`,
			want: "TERMINAL",
			check: func(t *testing.T, e execution) {
				if s := e.mustStage(t, "2"); !strings.Contains(s.Error, "rolled back: disabled replay-broken-v001, destroyed replay-broken-v001") {
					t.Errorf("stage 2 error %q", s.Error)
				}
			},
		},
		{
			name: "kayenta-canary",
			config: `{"stages": [
				{"refId": "1", "type": "kayentaCanary", "name": "Canary",
					"canaryConfig": {"canaryConfigName": "web-canary", "metricsAccountName": "prometheus",
						"scoreThresholds": {"pass": 75, "marginal": 40}, "lifetimeDuration": "PT10S", "canaryAnalysisIntervalMins": "0.08",
						"scopes": [{"scopeName": "default", "step": 1,
							"controlScope": "case=\"replay\",track=\"baseline\"", "experimentScope": "case=\"replay\",track=\"canary\""}]},
					"deployments": {"account": "local", "namespace": "default", "delayBeforeCleanupMins": 0.02,
						"baseline": [` + canaryReplicaSetJSON("replay-baseline", "nginx:1.27") + `],
						"canary": [` + canaryReplicaSetJSON("replay-canary", "nginx:1.28") + `]}},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "wait", "name": "Promote", "waitTime": 0}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				report, _ := e.mustStage(t, "1").Outputs["canary"].(map[string]any)
				if report["result"] != "Pass" || report["deployments"] == nil {
					t.Errorf("canary report %v", report)
				}
			},
		},
		{
			// A Job run to its end: the local cluster runs no container, so it prints nothing.
			name: "run-job",
			config: `{"stages": [
				{"refId": "0", "type": "deployManifest", "name": "Namespace", "account": "local",
					"manifests": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "replay-jobs"}}]},
				{"refId": "1", "requisiteStageRefIds": ["0"], "type": "runJobManifest", "name": "Migrate", "account": "local", "namespaceOverride": "replay-jobs",
					"manifest": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"},
						"spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
							"containers": [{"name": "main", "image": "example.com/migrate:1"}]}}}}},
				{"refId": "2", "requisiteStageRefIds": ["1"], "type": "evaluateVariables", "name": "After",
					"variables": [{"key": "phase", "value": "${#stage('Migrate').outputs.jobStatus.phase}"}]}
			]}`,
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := e.mustStage(t, "2").Outputs["phase"]; got != "Succeeded" {
					t.Errorf("phase = %v", got)
				}
			},
		},
		{
			// Every manifest operation on a Deployment and a ReplicaSet server group of one namespace.
			name:   "manifest-operations",
			config: manifestOperationsScenario("replay-ops"),
			want:   "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				for _, s := range e.Stages {
					if s.Status != "SUCCEEDED" {
						t.Errorf("stage %s (%s) is %s: %s", s.RefID, s.Type, s.Status, s.Error)
					}
				}
			},
		},
		{
			name: "execution-window-open",
			config: fmt.Sprintf(`{"stages": [
				{"refId": "1", "type": "evaluateVariables", "name": "In the window", "restrictExecutionDuringTimeWindow": true,
					"restrictedExecutionWindow": {"whitelist": [{"startHour": %d, "startMin": 0, "endHour": %d, "endMin": 0}], "timeZone": "UTC"},
					"variables": [{"key": "ran", "value": true}]}
			]}`, hour, (hour+2)%24),
			want:  "SUCCEEDED",
			check: wantStages(map[string]string{"1": "SUCCEEDED"}),
		},
		{
			name: "execution-window-skip",
			config: fmt.Sprintf(`{"stages": [
				{"refId": "1", "type": "evaluateVariables", "name": "Later", "restrictExecutionDuringTimeWindow": true,
					"restrictedExecutionWindow": {"whitelist": [{"startHour": %d, "startMin": 0, "endHour": %d, "endMin": 0}], "timeZone": "UTC"},
					"variables": [{"key": "ran", "value": true}]}
			]}`, (hour+3)%24, (hour+4)%24),
			drive: func(t *testing.T, a *apiClient, id string) {
				a.waitForExecution(id, time.Minute, "the window wait", func(e execution) bool {
					s := e.stage("1")
					return s != nil && s.WaitingForWindowUntil != 0
				})
				a.expect(http.StatusAccepted, http.MethodPost, "/api/v1/executions/"+id+"/stages/1/skip", `{"user": "bo"}`, nil)
			},
			want: "SUCCEEDED",
			check: func(t *testing.T, e execution) {
				if got := e.mustStage(t, "1").Context["skipRemainingWindowBy"]; got != "bo" {
					t.Errorf("skipRemainingWindowBy = %v", got)
				}
			},
		},
	}
}

// webhookServer answers the webhook scenarios: /deploy at once, /jobs with a job whose status URL
// reports RUNNING, then SUCCEEDED.
func webhookServer(t *testing.T) *httptest.Server {
	var polls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /deploy", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Version string `json:"version"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("X-Release") != body.Version {
			http.Error(w, "want a version matching X-Release", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"accepted": %q}`, body.Version)
	})
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/jobs/7")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"job": 7}`)
	})
	mux.HandleFunc("GET /jobs/7", func(w http.ResponseWriter, r *http.Request) {
		n := polls.Add(1)
		status := "RUNNING"
		if n >= 2 {
			status = "SUCCEEDED"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status": %q, "progress": "%d/2"}`, status, n)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// recorder writes workflow histories where the replay test reads them.
type recorder struct {
	client client.Client
	dir    string
}

// save waits for the workflow to close, writes its history as <name>.json in Temporal's protobuf
// JSON form (payloads stay base64: the SDK's history reader does not take the shorthand form), and
// checks that the current code replays it.
func (r *recorder) save(t *testing.T, name, workflowID string) {
	t.Helper()
	if workflowID == "" {
		t.Fatalf("%s: no workflow id to record", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := r.client.GetWorkflow(ctx, workflowID, "")
	_ = run.Get(ctx, nil) // failed and canceled executions are recorded too
	iter := r.client.GetWorkflowHistory(ctx, workflowID, run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatalf("%s: reading the history of %s: %v", name, workflowID, err)
		}
		hist.Events = append(hist.Events, ev)
	}
	if n := len(hist.Events); n == 0 || !isCloseEvent(hist.Events[n-1].GetEventType()) {
		t.Fatalf("%s: the history of %s does not end with the workflow closing", name, workflowID)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatalf("%s: encoding the history: %v", name, err)
	}
	file := filepath.Join(r.dir, name+".json")
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}

	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	if err := replayer.ReplayWorkflowHistoryFromJSONFile(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), file); err != nil {
		t.Fatalf("%s: the recorded history does not replay: %v", name, err)
	}
	t.Logf("recorded %s: %d events, %d bytes", file, len(hist.Events), len(data))
}

func isCloseEvent(t enums.EventType) bool {
	switch t {
	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enums.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
		enums.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enums.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
		enums.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enums.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return true
	}
	return false
}

// redBlackScenario is a pipeline deploying the web ReplicaSet red/black twice to a namespace of
// the local cluster, the second time with rollback on failure and a short timeout, then extra.
func redBlackScenario(namespace, extra string) string {
	deploy := func(ref, requires, name, image, more string) string {
		return fmt.Sprintf(`{"refId": %q, "requisiteStageRefIds": [%s], "type": "deployManifest", "name": %q, "account": "local",
			"namespaceOverride": %q, %s
			"trafficManagement": {"enabled": true, "options": {"enableTraffic": true, "services": ["service web"], "strategy": "redblack"}},
			"manifests": [
				{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": %q}},
				{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"service": "web"}, "ports": [{"port": 80}]}},
				{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"}, "spec": {"replicas": 1,
					"selector": {"matchLabels": {"app": "web"}},
					"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": %q}]}}}}
			]}`, ref, requires, name, namespace, more, namespace, image)
	}
	stages := []string{
		deploy("1", "", "First", "nginx:1.27", ""),
		deploy("2", `"1"`, "Second", "${parameters.second}", `"stageTimeoutMs": 15000, "rollback": {"onFailure": true},`),
	}
	if extra != "" {
		stages = append(stages, extra)
	}
	return `{"parameterConfig": [{"name": "second", "default": "nginx:1.28"}], "stages": [` + strings.Join(stages, ",\n") + `]}`
}

// canaryReplicaSetJSON is canaryReplicaSet as JSON text.
func canaryReplicaSetJSON(name, image string) string {
	b, err := json.Marshal(canaryReplicaSet(name, image))
	if err != nil {
		panic(err)
	}
	return string(b)
}

// manifestOperationsScenario deploys a Deployment and a ReplicaSet server group taking a Service's
// traffic into a namespace of the local cluster, then runs every manifest operation on them, one
// after the other, ending with their deletion (one by name, the rest by label).
func manifestOperationsScenario(namespace string) string {
	op := func(ref, requires, typ, fields string) string {
		return fmt.Sprintf(`{"refId": %q, "requisiteStageRefIds": [%q], "type": %q, "name": %q, "account": "local", "location": %q, %s}`,
			ref, requires, typ, typ+" "+ref, namespace, fields)
	}
	stages := []string{
		fmt.Sprintf(`{"refId": "0", "type": "deployManifest", "name": "Worker", "account": "local",
			"manifests": [
				{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": %[1]q}},
				{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "worker", "namespace": %[1]q, "labels": {"team": "ops"}}, "spec": {"replicas": 1,
					"selector": {"matchLabels": {"app": "worker"}},
					"template": {"metadata": {"labels": {"app": "worker"}}, "spec": {"containers": [{"name": "worker", "image": "example.com/worker:1"}]}}}}
			]}`, namespace),
		fmt.Sprintf(`{"refId": "1", "requisiteStageRefIds": ["0"], "type": "deployManifest", "name": "Web", "account": "local",
			"trafficManagement": {"enabled": true, "options": {"enableTraffic": true, "services": ["service web"], "strategy": "redblack"}},
			"manifests": [
				{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": %[1]q}, "spec": {"selector": {"service": "web"}, "ports": [{"port": 80}]}},
				{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": %[1]q}, "spec": {"replicas": 1,
					"selector": {"matchLabels": {"app": "web"}},
					"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
			]}`, namespace),
		op("2", "1", "scaleManifest", `"manifestName": "deployment worker", "replicas": 2`),
		op("3", "2", "patchManifest", `"manifestName": "deployment worker", "options": {"mergeStrategy": "strategic"},
			"patchBody": {"spec": {"template": {"spec": {"containers": [{"name": "worker", "image": "example.com/worker:2"}]}}}}`),
		op("4", "3", "rollingRestartManifest", `"manifestName": "deployment worker"`),
		op("5", "4", "undoRolloutManifest", `"manifestName": "deployment worker", "numRevisionsBack": 1`),
		op("6", "5", "findArtifactsFromResource", `"mode": "dynamic", "cluster": "replicaSet web", "criteria": "newest"`),
		// A second server group beside the first, so that the first may leave traffic without the
		// traffic guard refusing.
		fmt.Sprintf(`{"refId": "7", "requisiteStageRefIds": ["6"], "type": "deployManifest", "name": "Second web", "account": "local",
			"trafficManagement": {"enabled": true, "options": {"enableTraffic": true, "services": ["service web"], "strategy": "none"}},
			"manifests": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": %[1]q}, "spec": {"replicas": 1,
				"selector": {"matchLabels": {"app": "web"}},
				"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}]}`, namespace),
		op("8", "7", "disableManifest", `"manifestName": "replicaSet web-v000"`),
		op("9", "8", "enableManifest", `"manifestName": "replicaSet web-v000"`),
		op("10", "9", "deleteManifest", `"manifestName": "replicaSet web-v001", "options": {"cascading": true}`),
		op("11", "10", "deleteManifest", `"kinds": ["deployment"], "labelSelectors": {"selectors": [{"key": "team", "kind": "EQUALS", "values": ["ops"]}]}`),
	}
	return `{"stages": [` + strings.Join(stages, ",\n") + `]}`
}
