package workflows

import (
	"context"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/gennaker/gennaker/activities"
)

// grantClusterLocks stands in for the ClusterLock workflows, which the test environment cannot run
// beside the pipeline: every request is granted at once, as by a lock nobody holds, and releases
// are accepted.
func grantClusterLocks(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivity(&activities.Locks{})
	env.OnActivity("RequestClusterLock", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RequestLockInput) (activities.RequestLockResult, error) {
			env.SignalWorkflow(activities.SignalLockGranted, activities.LockGrant{Token: in.Request.Token})
			return activities.RequestLockResult{}, nil
		})
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, activities.SignalLockRelease, mock.Anything).Return(nil)
}
