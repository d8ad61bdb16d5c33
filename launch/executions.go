package launch

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/workflows"
)

// Executions reads earlier executions of saved pipelines from Temporal, for the artifacts a new
// execution takes from them: an expected artifact with usePriorArtifact, a findArtifactFromExecution
// stage.
type Executions struct {
	Client client.Client
}

// maxScanned bounds how many executions Latest compares to find the one that started last:
// Temporal's visibility store lists running executions first, then closed ones by close time.
const maxScanned = 100

// attrValue admits names in any script; what Temporal's query language reads differently is refused.
var attrValue = regexp.MustCompile(`^[^\x00-\x1f\x7f"\\]{1,200}$`)

// Latest returns the execution of a pipeline that started last, among those whose status is one
// of statuses (any when there are none), other than the execution except; ok is false when there
// is none. RUNNING includes executions waiting for a judgment.
func (e Executions) Latest(ctx context.Context, application, pipelineName string, statuses []string, except string) (pipeline.Execution, bool, error) {
	if !attrValue.MatchString(application) || !attrValue.MatchString(pipelineName) {
		return pipeline.Execution{}, false, fmt.Errorf("application %q and pipeline %q cannot be looked up", application, pipelineName)
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	clauses := []string{"WorkflowType = 'Pipeline'",
		workflows.AttrApplication.GetName() + " = " + quote(application),
		workflows.AttrPipeline.GetName() + " = " + quote(pipelineName)}
	if len(statuses) > 0 {
		var values []string
		for _, s := range statuses {
			values = append(values, quote(s))
			if s == string(pipeline.StatusRunning) {
				values = append(values, quote(pipeline.StatusAwaitingJudgment))
			}
		}
		clauses = append(clauses, workflows.AttrStatus.GetName()+" IN ("+strings.Join(values, ", ")+")")
	}
	resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: maxScanned,
		Query:    strings.Join(clauses, " AND "),
	})
	if err != nil {
		return pipeline.Execution{}, false, fmt.Errorf("listing the executions of %s/%s: %w", application, pipelineName, err)
	}
	var latest string
	var latestStart int64
	for _, x := range resp.GetExecutions() {
		id := x.GetExecution().GetWorkflowId()
		start := x.GetStartTime().AsTime().UnixNano()
		if id == except || latest != "" && (start < latestStart || start == latestStart && id < latest) {
			continue
		}
		latest, latestStart = id, start
	}
	if latest == "" {
		return pipeline.Execution{}, false, nil
	}
	v, err := e.Client.QueryWorkflow(ctx, latest, "", workflows.QueryExecution)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return pipeline.Execution{}, false, nil
	}
	if err != nil {
		return pipeline.Execution{}, false, fmt.Errorf("reading execution %s of %s/%s: %w", latest, application, pipelineName, err)
	}
	var exec pipeline.Execution
	if err := v.Get(&exec); err != nil {
		return pipeline.Execution{}, false, fmt.Errorf("reading execution %s of %s/%s: %w", latest, application, pipelineName, err)
	}
	return exec, true, nil
}
