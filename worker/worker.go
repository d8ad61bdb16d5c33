// Package worker wires gennaker's workflows and activities to a Temporal worker.
package worker

import (
	"context"
	"fmt"
	"net/http"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/gennaker/gennaker/activities"
	"github.com/gennaker/gennaker/bake"
	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/launch"
	"github.com/gennaker/gennaker/pubsub/sqs"
	"github.com/gennaker/gennaker/workflows"
)

// Dependencies are what the activities talk to.
type Dependencies struct {
	// Pipelines reads saved pipelines for pipeline stages.
	Pipelines activities.PipelineSource
	// Starter starts executions for cron triggers.
	Starter activities.ExecutionStarter
	// HTTPClient calls webhooks; nil means a default client.
	HTTPClient *http.Client
	// Kubernetes finds the configured Kubernetes accounts.
	Kubernetes activities.KubernetesAccounts
	// AWS finds the configured AWS accounts; nil means none.
	AWS activities.AWSAccounts
	// Temporal is the client cluster locks are asked for through; New sets it to the worker's.
	Temporal client.Client
	// Downstream finds the pipelines an ended execution's pipeline triggers start; nil: none.
	Downstream activities.DownstreamSource
	// Notifications sends Slack messages and publishes events; nil sends nothing.
	Notifications *activities.Notifications
	// Pubsub polls pubsub subscriptions; nil polls none.
	Pubsub *activities.Pubsub
	// Canary runs canary analyses; nil refuses them.
	Canary *activities.Canary
	// ContainerBakery is where container bakes push; nil refuses them.
	ContainerBakery *bake.ContainerBakery
}

// Register adds every workflow and activity to a worker or a test environment.
func Register(r worker.Registry, deps Dependencies) {
	workflows.Register(r)
	r.RegisterActivity(&activities.Webhooks{Client: deps.HTTPClient})
	r.RegisterActivity(&activities.Pipelines{Source: deps.Pipelines})
	r.RegisterActivity(&activities.Executions{Starter: deps.Starter, Downstream: deps.Downstream})
	r.RegisterActivity(&activities.Kubernetes{Accounts: deps.Kubernetes})
	awsAccounts := deps.AWS
	if awsAccounts == nil {
		awsAccounts = aws.NewProviders(nil)
	}
	r.RegisterActivity(&activities.AWS{Accounts: awsAccounts})
	r.RegisterActivity(&activities.Artifacts{HTTPClient: deps.HTTPClient})
	r.RegisterActivity(&activities.Bakery{Docker: deps.ContainerBakery, Artifacts: &activities.Artifacts{HTTPClient: deps.HTTPClient}})
	r.RegisterActivity(&activities.Locks{Client: deps.Temporal})
	r.RegisterActivity(&activities.PastExecutions{Executions: launch.Executions{Client: deps.Temporal}, Pipelines: deps.Pipelines})
	notifications := deps.Notifications
	if notifications == nil {
		notifications = &activities.Notifications{}
	}
	r.RegisterActivity(notifications)
	pubsub := deps.Pubsub
	if pubsub == nil {
		pubsub = &activities.Pubsub{Queue: func(_ context.Context, name string) (activities.MessageQueue, error) {
			return nil, fmt.Errorf("%w: %q (no subscription is configured)", sqs.ErrUnknownSubscription, name)
		}}
	}
	r.RegisterActivity(pubsub)
	canary := deps.Canary
	if canary == nil {
		canary = &activities.Canary{}
	}
	r.RegisterActivity(canary)
}

// New builds a worker for the task queue with everything registered; the caller starts and stops it.
func New(c client.Client, taskQueue string, deps Dependencies) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{})
	if deps.Temporal == nil {
		deps.Temporal = c
	}
	Register(w, deps)
	return w
}
