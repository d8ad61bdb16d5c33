// Package sqs receives the messages of an Amazon SQS queue for pubsub triggers: long polls,
// message attributes as text, and deletion once a message has been handled.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Defaults of a subscription's polling.
const (
	// DefaultWaitSeconds is the long poll: SQS answers as soon as a message arrives, or after this.
	DefaultWaitSeconds = 20
	// DefaultVisibilitySeconds hides a received message from other receivers while it is handled;
	// a message not deleted by then (the worker died, Temporal was unreachable) is received again.
	DefaultVisibilitySeconds = 120
)

// Subscription is one queue gennaker polls, named for pubsub triggers' subscriptionName.
type Subscription struct {
	// Name is what pubsub triggers name as subscriptionName.
	Name string `json:"name"`
	// System is "amazon", the only pubsub system gennaker polls; empty means amazon.
	System string `json:"system,omitempty"`
	// QueueURL is the queue's URL; or give QueueARN.
	QueueURL string `json:"queueUrl,omitempty"`
	// QueueARN is the queue's ARN (arn:aws:sqs:region:account:name), as Spinnaker's echo takes it;
	// its region is used when Region is empty.
	QueueARN string `json:"queueArn,omitempty"`
	// Region is the queue's AWS region; default from the ARN, the URL, or the AWS environment.
	Region string `json:"region,omitempty"`
	// Endpoint replaces AWS's SQS endpoint, for moto or LocalStack.
	Endpoint string `json:"endpoint,omitempty"`
	// WaitSeconds is the long poll's length, 1–20; default 20.
	WaitSeconds int `json:"waitSeconds,omitempty"`
	// VisibilitySeconds is how long a received message stays hidden while it is handled; default 120.
	VisibilitySeconds int `json:"visibilitySeconds,omitempty"`
}

var queueARN = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:sqs:([a-z0-9-]+):([0-9]{12}):([A-Za-z0-9_.-]+)$`)

// Problems lists what is wrong with the subscription, each naming the field.
func (s Subscription) Problems() []string {
	var out []string
	if strings.TrimSpace(s.Name) == "" {
		out = append(out, "name: required")
	}
	if s.System != "" && s.System != "amazon" {
		out = append(out, fmt.Sprintf("system: %q is not a pubsub system gennaker polls; use amazon (SQS)", s.System))
	}
	switch {
	case s.QueueURL == "" && s.QueueARN == "":
		out = append(out, "queueUrl or queueArn: one is required")
	case s.QueueURL != "" && s.QueueARN != "":
		out = append(out, "queueUrl and queueArn: give one, not both")
	case s.QueueURL != "":
		if u, err := url.Parse(s.QueueURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			out = append(out, fmt.Sprintf("queueUrl: %q is not an http(s) URL", s.QueueURL))
		}
	default:
		if !queueARN.MatchString(s.QueueARN) {
			out = append(out, fmt.Sprintf("queueArn: %q is not an SQS queue ARN (arn:aws:sqs:region:account:name)", s.QueueARN))
		}
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			out = append(out, fmt.Sprintf("endpoint: %q is not an http(s) URL", s.Endpoint))
		}
	}
	if s.WaitSeconds < 0 || s.WaitSeconds > 20 {
		out = append(out, "waitSeconds: must be between 1 and 20 (SQS's longest poll)")
	}
	if s.VisibilitySeconds < 0 || s.VisibilitySeconds > 12*60*60 {
		out = append(out, "visibilitySeconds: must be between 1 and 43200 (12 hours)")
	}
	return out
}

func (s Subscription) wait() int32 {
	if s.WaitSeconds > 0 {
		return int32(s.WaitSeconds)
	}
	return DefaultWaitSeconds
}

func (s Subscription) visibility() int32 {
	if s.VisibilitySeconds > 0 {
		return int32(s.VisibilitySeconds)
	}
	return DefaultVisibilitySeconds
}

// Message is one received message.
type Message struct {
	// ID is SQS's message ID: the same message received again has the same ID.
	ID string
	// Receipt deletes the message; it changes with every receive.
	Receipt string
	Body    string
	// Attributes are the message attributes of type String and Number, as text.
	Attributes map[string]string
	// ReceiveCount is how many times SQS has handed the message out, this time included.
	ReceiveCount int
}

// Queue is an opened subscription.
type Queue struct {
	sub    Subscription
	client *sqs.Client
	url    string
}

// Open builds the subscription's client with AWS's default credential chain (environment,
// shared files, instance or task role) and finds the queue's URL when the ARN is given.
func Open(ctx context.Context, sub Subscription) (*Queue, error) {
	if problems := sub.Problems(); len(problems) > 0 {
		return nil, fmt.Errorf("subscription %q: %s", sub.Name, strings.Join(problems, "; "))
	}
	region := sub.Region
	var arn []string
	if sub.QueueARN != "" {
		arn = queueARN.FindStringSubmatch(sub.QueueARN)
		if region == "" {
			region = arn[1]
		}
	}
	if region == "" {
		region = regionOfURL(sub.QueueURL)
	}
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("subscription %q: AWS configuration: %w", sub.Name, err)
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if sub.Endpoint != "" {
			o.BaseEndpoint = aws.String(sub.Endpoint)
		}
	})
	q := &Queue{sub: sub, client: client, url: sub.QueueURL}
	if q.url == "" {
		out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(arn[3]), QueueOwnerAWSAccountId: aws.String(arn[2])})
		if err != nil {
			return nil, fmt.Errorf("subscription %q: finding the URL of %s: %w", sub.Name, sub.QueueARN, err)
		}
		q.url = aws.ToString(out.QueueUrl)
	}
	return q, nil
}

// regionOfURL reads the region from an AWS queue URL (https://sqs.us-east-1.amazonaws.com/…).
func regionOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" && strings.HasPrefix(strings.Join(parts[2:], "."), "amazonaws.com") {
		return parts[1]
	}
	return ""
}

// URL is the queue's URL.
func (q *Queue) URL() string { return q.url }

// Wait is the subscription's long poll.
func (q *Queue) Wait() time.Duration { return time.Duration(q.sub.wait()) * time.Second }

// Receive long-polls for up to 10 messages; it returns none when the poll ends empty.
func (q *Queue) Receive(ctx context.Context) ([]Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             q.sub.wait(),
		VisibilityTimeout:           q.sub.visibility(),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receiving from %s: %w", q.url, err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), Receipt: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Attributes: map[string]string{}}
		for name, a := range m.MessageAttributes {
			if a.StringValue != nil && !strings.HasPrefix(aws.ToString(a.DataType), "Binary") {
				msg.Attributes[name] = aws.ToString(a.StringValue)
			}
		}
		msg.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete removes a handled message. A receipt that expired (the message was received again
// since) is not an error: whoever received it last handles it, and its execution ID is the same.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(receipt)})
	var invalid *types.ReceiptHandleIsInvalid
	if errors.As(err, &invalid) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting a message from %s: %w", q.url, err)
	}
	return nil
}

// ErrUnknownSubscription means no subscription of that name is configured.
var ErrUnknownSubscription = errors.New("no such pubsub subscription")

// Queues opens configured subscriptions by name, each once.
type Queues struct {
	subs   map[string]Subscription
	mu     sync.Mutex
	opened map[string]*Queue
}

// NewQueues keeps the configured subscriptions; they are opened when first polled.
func NewQueues(subs []Subscription) *Queues {
	q := &Queues{subs: map[string]Subscription{}, opened: map[string]*Queue{}}
	for _, s := range subs {
		q.subs[s.Name] = s
	}
	return q
}

// Names lists the configured subscriptions, sorted.
func (q *Queues) Names() []string {
	names := make([]string, 0, len(q.subs))
	for n := range q.subs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open returns the named subscription's queue, wrapping ErrUnknownSubscription when none is configured.
func (q *Queues) Open(ctx context.Context, name string) (*Queue, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if opened, ok := q.opened[name]; ok {
		return opened, nil
	}
	sub, ok := q.subs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not configured (configured: %s)", ErrUnknownSubscription, name, strings.Join(q.Names(), ", "))
	}
	opened, err := Open(ctx, sub)
	if err != nil {
		return nil, err
	}
	q.opened[name] = opened
	return opened, nil
}
