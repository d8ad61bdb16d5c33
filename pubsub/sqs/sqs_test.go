package sqs_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gennaker/gennaker/internal/mototest"
	"github.com/gennaker/gennaker/pubsub/sqs"
)

// newQueue creates a queue on moto and returns a client to send to it and the queue's URL.
func newQueue(t *testing.T, moto *mototest.Server, name string) (*awssqs.Client, string) {
	t.Helper()
	client := moto.SQS()
	out, err := client.CreateQueue(t.Context(), &awssqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return client, aws.ToString(out.QueueUrl)
}

func TestQueueOnMoto(t *testing.T) {
	moto := mototest.Start(t)
	moto.Env(t)
	sender, url := newQueue(t, moto, "builds")
	ctx := t.Context()

	q, err := sqs.Open(ctx, sqs.Subscription{Name: "builds", QueueURL: url, Endpoint: moto.URL, WaitSeconds: 1, VisibilitySeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := q.Receive(ctx); err != nil || len(msgs) != 0 {
		t.Fatalf("an empty queue: %v %v", msgs, err)
	}
	if _, err := sender.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"branch": "main"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"event": {DataType: aws.String("String"), StringValue: aws.String("build.finished")},
			"build": {DataType: aws.String("Number"), StringValue: aws.String("42")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1}},
		}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.ID == "" || m.Receipt == "" || m.Body != `{"branch": "main"}` || m.ReceiveCount != 1 {
		t.Errorf("message: %+v", m)
	}
	if len(m.Attributes) != 2 || m.Attributes["event"] != "build.finished" || m.Attributes["build"] != "42" {
		t.Errorf("attributes (String and Number as text, no Binary): %v", m.Attributes)
	}

	// Not deleted, the message comes back after its visibility timeout, with the same ID.
	var again []sqs.Message
	for deadline := time.Now().Add(10 * time.Second); len(again) == 0 && time.Now().Before(deadline); {
		if again, err = q.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(again) != 1 || again[0].ID != m.ID || again[0].ReceiveCount != 2 {
		t.Fatalf("received again: %+v", again)
	}
	if err := q.Delete(ctx, again[0].Receipt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if msgs, err := q.Receive(ctx); err != nil || len(msgs) != 0 {
		t.Errorf("after delete: %v %v", msgs, err)
	}

	// A queue named by its ARN, as Spinnaker's configuration names it.
	byARN, err := sqs.Open(ctx, sqs.Subscription{Name: "arn", QueueARN: "arn:aws:sqs:us-east-1:" + mototest.AccountID + ":builds", Endpoint: moto.URL, WaitSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if byARN.URL() != url {
		t.Errorf("URL from the ARN: %s, want %s", byARN.URL(), url)
	}
	if _, err := sqs.Open(ctx, sqs.Subscription{Name: "gone", QueueARN: "arn:aws:sqs:us-east-1:" + mototest.AccountID + ":nope", Endpoint: moto.URL}); err == nil ||
		!strings.Contains(err.Error(), "finding the URL of arn:aws:sqs:us-east-1:123456789012:nope") {
		t.Errorf("a missing queue: %v", err)
	}

	queues := sqs.NewQueues([]sqs.Subscription{{Name: "builds", QueueURL: url, Endpoint: moto.URL}})
	first, err := queues.Open(ctx, "builds")
	if err != nil {
		t.Fatal(err)
	}
	if second, _ := queues.Open(ctx, "builds"); second != first {
		t.Error("a subscription is opened once")
	}
	if _, err := queues.Open(ctx, "releases"); !errors.Is(err, sqs.ErrUnknownSubscription) || !strings.Contains(err.Error(), "configured: builds") {
		t.Errorf("an unknown subscription: %v", err)
	}
}

func TestSubscriptionProblems(t *testing.T) {
	tests := []struct {
		sub  sqs.Subscription
		want []string
	}{
		{sub: sqs.Subscription{Name: "a", QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/a"}},
		{sub: sqs.Subscription{Name: "a", System: "amazon", QueueARN: "arn:aws:sqs:eu-west-1:123456789012:a", WaitSeconds: 5}},
		{sub: sqs.Subscription{}, want: []string{"name: required", "queueUrl or queueArn: one is required"}},
		{
			sub:  sqs.Subscription{Name: "a", System: "google", QueueURL: "sqs://x", QueueARN: "arn:x"},
			want: []string{`system: "google" is not a pubsub system gennaker polls; use amazon (SQS)`, "queueUrl and queueArn: give one, not both"},
		},
		{
			sub:  sqs.Subscription{Name: "a", QueueARN: "arn:aws:sns:us-east-1:123456789012:a", Endpoint: "localhost:5005", WaitSeconds: 21, VisibilitySeconds: -1},
			want: []string{`queueArn: "arn:aws:sns:us-east-1:123456789012:a" is not an SQS queue ARN`, `endpoint: "localhost:5005" is not an http(s) URL`, "waitSeconds: must be between 1 and 20", "visibilitySeconds: must be between 1 and 43200"},
		},
	}
	for _, tt := range tests {
		got := tt.sub.Problems()
		if len(got) != len(tt.want) {
			t.Errorf("%+v: got %q, want %q", tt.sub, got, tt.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tt.want[i]) {
				t.Errorf("%+v: problem %d: got %q, want %q", tt.sub, i, got[i], tt.want[i])
			}
		}
	}
	if !slices.Equal(sqs.NewQueues([]sqs.Subscription{{Name: "b"}, {Name: "a"}}).Names(), []string{"a", "b"}) {
		t.Error("names are sorted")
	}
}
