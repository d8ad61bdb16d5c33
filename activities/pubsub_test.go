package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/internal/mototest"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/pubsub/sqs"
	"github.com/gennaker/gennaker/store"
)

// recordingStarter stands in for the launcher (which needs Temporal): it remembers the
// executions started by ID, answers a repeat as a duplicate, and fails while failing is set, as
// the launcher does when Temporal cannot be reached.
type recordingStarter struct {
	mu      sync.Mutex
	started map[string]pipeline.TriggerInfo
	failing int
	refuse  string // a pipeline whose starts are refused for good
}

func (s *recordingStarter) StartDelivery(_ context.Context, id, app, name string, trig pipeline.TriggerInfo) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == s.refuse {
		return false, activities.ErrNotStartable
	}
	if s.failing > 0 {
		s.failing--
		return false, errors.New("temporal unavailable")
	}
	if _, ok := s.started[id]; ok {
		return true, nil
	}
	s.started[id] = trig
	return false, nil
}

func TestPollSubscriptionOnMoto(t *testing.T) {
	moto := mototest.Start(t)
	moto.Env(t)
	ctx := t.Context()
	sender := moto.SQS()
	created, err := sender.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("builds")})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(created.QueueUrl)

	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	save := func(name, trigger string) {
		cfg := `{"application": "shop", "name": "` + name + `", "stages": [], "triggers": [` + trigger + `]}`
		if _, err := st.Save(ctx, json.RawMessage(cfg), "shop", name, "test"); err != nil {
			t.Fatal(err)
		}
	}
	save("deploy", `{"type": "pubsub", "pubsubSystem": "amazon", "subscriptionName": "builds", "attributeConstraints": {"event": "build\\.finished"}}`)
	save("refused", `{"type": "pubsub", "pubsubSystem": "amazon", "subscriptionName": "builds", "payloadConstraints": {"refuse": "yes"}}`)
	save("elsewhere", `{"type": "pubsub", "pubsubSystem": "amazon", "subscriptionName": "releases"}`)

	queues := sqs.NewQueues([]sqs.Subscription{{Name: "builds", QueueURL: url, Endpoint: moto.URL, WaitSeconds: 1, VisibilitySeconds: 1}})
	starter := &recordingStarter{started: map[string]pipeline.TriggerInfo{}, refuse: "refused"}
	p := &activities.Pubsub{
		Queue: func(ctx context.Context, name string) (activities.MessageQueue, error) {
			q, err := queues.Open(ctx, name)
			if err != nil {
				return nil, err
			}
			return q, nil
		},
		Pipelines: st,
		Starter:   starter,
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	guard, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	env.SetWorkerOptions(worker.Options{BackgroundActivityContext: guard})
	env.RegisterActivity(p)
	poll := func() activities.PollSubscriptionResult {
		t.Helper()
		res, err := execute[activities.PollSubscriptionResult](t, env, p.PollSubscription, activities.PollSubscriptionInput{Subscription: "builds", For: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	send := func(body, event string) string {
		out, err := sender.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{"event": {DataType: aws.String("String"), StringValue: aws.String(event)}}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.MessageId)
	}
	waiting := func() int {
		out, err := sender.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for _, v := range out.Attributes {
			var k int
			_ = json.Unmarshal([]byte(v), &k)
			n += k
		}
		return n
	}

	// Temporal is down for the first attempt: the message stays on the queue, comes back after
	// its visibility timeout, and starts its execution once, under the same ID.
	starter.failing = 1
	id := send(`{"version": "1.2.3", "parameters": {"tag": "1.2.3"}}`, "build.finished")
	res := poll()
	if res.Received < 2 || res.Started != 1 || res.Kept != 1 || res.Deleted != 1 {
		t.Errorf("first poll: %+v", res)
	}
	if len(starter.started) != 1 {
		t.Fatalf("executions: %v", starter.started)
	}
	for _, trig := range starter.started {
		if trig.Type != "pubsub" || trig.DeliveryID != "sqs:"+id || trig.Source != "builds" || trig.Attributes["event"] != "build.finished" ||
			trig.Parameters["tag"] != "1.2.3" || trig.Payload["version"] != "1.2.3" {
			t.Errorf("trigger: %+v", trig)
		}
	}
	if n := waiting(); n != 0 {
		t.Errorf("%d message(s) left on the queue", n)
	}

	// A message no trigger wants, and one whose pipeline refuses to start, are deleted too.
	send(`{"version": "1.2.4"}`, "build.started")
	send(`{"refuse": "yes"}`, "build.started")
	res = poll()
	if res.Received != 2 || res.Started != 0 || res.Deleted != 2 || res.Kept != 0 {
		t.Errorf("second poll: %+v", res)
	}
	if n := waiting(); n != 0 {
		t.Errorf("%d message(s) left on the queue", n)
	}
	events, err := st.TriggerEvents(ctx, "shop", 10)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, ev := range events {
		outcomes[ev.Pipeline+":"+ev.Outcome]++
		if ev.Kind != "pubsub" || ev.Source != "builds" {
			t.Errorf("event: %+v", ev)
		}
	}
	if outcomes["deploy:started"] != 1 || outcomes["refused:rejected"] != 1 || len(events) != 2 {
		t.Errorf("trigger events: %v", outcomes)
	}

	// A subscription no longer configured ends its poller.
	_, err = env.ExecuteActivity(p.PollSubscription, activities.PollSubscriptionInput{Subscription: "releases"})
	requireAppError(t, err, "UnknownSubscription", true)
}
