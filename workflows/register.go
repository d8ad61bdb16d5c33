package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/gennaker/gennaker/activities"
)

// Registry is what workflows are registered with: a worker, a test environment or a replayer.
type Registry interface {
	RegisterWorkflow(w any)
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register adds every workflow under the name it runs by. The worker and the replay tests both
// use it, so that a recorded history of every kind of workflow finds its code.
func Register(r Registry) {
	r.RegisterWorkflow(Pipeline)
	r.RegisterWorkflow(CronTrigger)
	r.RegisterWorkflowWithOptions(ClusterLock, workflow.RegisterOptions{Name: activities.ClusterLockWorkflow})
	r.RegisterWorkflow(EventStream)
	r.RegisterWorkflowWithOptions(PipelineQueue, workflow.RegisterOptions{Name: activities.PipelineQueueWorkflow})
	r.RegisterWorkflow(PubsubSubscription)
}
