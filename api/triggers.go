package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gennaker/gennaker/launch"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
	"github.com/gennaker/gennaker/triggers"
	"github.com/gennaker/gennaker/triggers/dispatch"
)

// triggerStartTimeout bounds the starts one delivery makes; a sender retries a delivery that
// timed out, and the retry finds what was started already.
const triggerStartTimeout = 20 * time.Second

// webhookTrigger receives POST /webhooks/webhook/{source}: Spinnaker's generic webhook trigger.
func (s *Server) webhookTrigger(c *gin.Context) {
	s.deliver(c, pipeline.TriggerWebhook, c.Param("source"))
}

// ciTrigger receives POST /webhooks/ci/{source}: a CI server's build-finished notification, for
// Spinnaker's jenkins triggers whose master is the source.
func (s *Server) ciTrigger(c *gin.Context) {
	s.deliver(c, pipeline.TriggerJenkins, c.Param("source"))
}

// gitTrigger receives POST /webhooks/git/{github|gitlab|bitbucket}: a push to a repository.
func (s *Server) gitTrigger(c *gin.Context) {
	provider := c.Param("provider")
	switch provider {
	case "github", "gitlab", "bitbucket":
	default:
		abort(c, http.StatusNotFound, fmt.Sprintf("unknown git provider %q; gennaker takes github, gitlab and bitbucket", provider))
		return
	}
	s.deliver(c, pipeline.TriggerGit, provider)
}

// registryTrigger receives POST /webhooks/registry: a container registry's notification of
// pushes, for Spinnaker's docker triggers. One endpoint serves every registry, since each event
// names the registry it happened in.
func (s *Server) registryTrigger(c *gin.Context) {
	s.deliver(c, pipeline.TriggerDocker, "")
}

// deliveryAnswer is the answer to a delivery. It names only the executions the delivery started,
// so a sender learns nothing of pipelines its delivery did not fire.
type deliveryAnswer struct {
	DeliveryID string              `json:"deliveryId"`
	Checked    int                 `json:"checked"`
	Executions []deliveryExecution `json:"executions"`
	// NotStarted counts triggers that matched but started nothing (disabled, bad parameters);
	// the application's trigger events say why.
	NotStarted int    `json:"notStarted,omitempty"`
	Message    string `json:"message"`
}

type deliveryExecution struct {
	ID          string `json:"id"`
	Application string `json:"application"`
	Pipeline    string `json:"pipeline"`
	// Duplicate says this delivery had already started the execution: a sender's retry.
	Duplicate bool `json:"duplicate,omitempty"`
	// DeliveryID names the event that started it when that is not the request's deliveryId: a
	// registry notification carrying several events.
	DeliveryID string `json:"deliveryId,omitempty"`
}

// deliver evaluates a delivery against every saved pipeline's triggers and starts what it fires,
// each under an execution ID derived from the delivery (or, in a registry's notification, from
// the event), so a repeated delivery starts nothing new.
func (s *Server) deliver(c *gin.Context, kind, source string) {
	body, ok := readBody(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	candidates, err := s.triggerCandidates(ctx, kind)
	if err != nil {
		s.unavailable(c, "reading the pipelines' triggers", err)
		return
	}
	d := triggers.Delivery{Kind: kind, Source: source, Header: c.Request.Header, Body: body}
	out, err := triggers.Evaluate(d, candidates)
	if err != nil {
		abort(c, http.StatusBadRequest, err.Error())
		return
	}
	deliveryID := triggers.DeliveryID(d)
	log := s.Logger.With("trigger", kind, "source", source, "delivery", deliveryID)
	for _, reason := range out.Reasons {
		log.Debug("trigger not fired", "reason", reason)
	}
	if len(out.Matches) == 0 && len(out.Disabled) == 0 && out.Unsigned > 0 {
		log.Warn("delivery refused: signature missing or wrong", "triggers", out.Unsigned)
		abort(c, http.StatusUnauthorized, "the delivery's signature is missing or does not match the trigger's secret")
		return
	}
	answer := deliveryAnswer{DeliveryID: deliveryID, Checked: out.Checked, Executions: []deliveryExecution{}}
	startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), triggerStartTimeout)
	defer cancel()
	fired := s.dispatcher().Fire(startCtx, kind, source, out, log)
	for _, f := range fired {
		switch f.Outcome {
		case store.TriggerStarted, store.TriggerDuplicate:
			e := deliveryExecution{ID: f.ExecutionID, Application: f.Application, Pipeline: f.Pipeline, Duplicate: f.Outcome == store.TriggerDuplicate}
			if f.DeliveryID != deliveryID {
				e.DeliveryID = f.DeliveryID
			}
			answer.Executions = append(answer.Executions, e)
		case store.TriggerDisabled, store.TriggerRejected:
			answer.NotStarted++
		default:
			// Temporal could not be reached: the sender should try again, and its retry is safe.
			s.unavailable(c, "starting the triggered executions", f.Err)
			return
		}
	}
	switch {
	case len(answer.Executions) > 0:
		answer.Message = fmt.Sprintf("started %d execution(s)", len(answer.Executions))
	case answer.NotStarted > 0:
		answer.Message = "matching triggers started nothing; the application's trigger events say why"
	case source == "":
		answer.Message = fmt.Sprintf("no trigger matched: %d %s trigger(s) checked", out.Checked, kind)
	default:
		answer.Message = fmt.Sprintf("no trigger matched: %d %s trigger(s) with source %q checked", out.Checked, kind, source)
	}
	c.JSON(http.StatusAccepted, answer)
}

// dispatcher starts what the API's deliveries fire through the launcher.
func (s *Server) dispatcher() dispatch.Dispatcher {
	return dispatch.Dispatcher{
		Start: func(ctx context.Context, m triggers.Match) (bool, error) {
			started, err := s.Launcher.Start(ctx, launch.Request{
				Application: m.Application, Pipeline: m.Pipeline, Trigger: m.Trigger, ExecutionID: m.ExecutionID,
			})
			return started.Duplicate, err
		},
		Refused: launch.Refused,
		Events:  s.Store,
	}
}

// triggerCandidates lists every saved pipeline's triggers of a kind.
func (s *Server) triggerCandidates(ctx context.Context, kind string) ([]triggers.Candidate, error) {
	return dispatch.Candidates(ctx, s.Store, kind, func(rec store.Record, err error) {
		s.Logger.Warn("a saved pipeline cannot be read; its triggers are skipped", "application", rec.Application, "pipeline", rec.Name, "error", err)
	})
}

// listTriggerEvents answers GET /api/v1/applications/{app}/triggerEvents?limit=N.
func (s *Server) listTriggerEvents(c *gin.Context) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			abort(c, http.StatusBadRequest, fmt.Sprintf("limit must be a positive whole number, got %q", v))
			return
		}
		limit = n
	}
	events, err := s.Store.TriggerEvents(c.Request.Context(), c.Param("app"), limit)
	if err != nil {
		s.unavailable(c, "reading trigger events", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"application": c.Param("app"), "triggerEvents": events})
}
