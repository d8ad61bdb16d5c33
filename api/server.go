// Package api is gennaker's HTTP API: a thin Gin layer that stores pipeline configs and starts,
// lists, cancels and signals executions, which run as Temporal workflows.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/gennaker/gennaker/access"
	"github.com/gennaker/gennaker/cloud/aws"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/launch"
	"github.com/gennaker/gennaker/notify"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
)

// MaxBodyBytes bounds every request body; a pipeline config is far smaller.
const MaxBodyBytes = 1 << 20

// Server holds what the handlers need.
type Server struct {
	Store     store.Store
	Temporal  client.Client
	Namespace string
	Launcher  *launch.Launcher
	Schedules *launch.Schedules
	// WorkflowURL links an execution to the Temporal Web UI; nil leaves the link out.
	WorkflowURL func(executionID string) string
	Logger      *slog.Logger
	// KubernetesAccounts are the account names deploy stages may name; validation refuses others.
	KubernetesAccounts []string
	// Kubernetes reads the accounts' clusters for the infrastructure view; nil shows no account.
	Kubernetes *kubernetes.Providers
	// AWSAccounts are the AWS accounts deploy stages may name, each with its regions;
	// validation refuses others.
	AWSAccounts map[string][]string
	// ContainerBakery describes the container bakery to validation; nil skips the check.
	ContainerBakery *pipeline.ContainerBakeryOptions
	// AWSBakeries describes the AWS accounts' bakeries to validation; nil skips the check.
	AWSBakeries map[string]pipeline.AWSBakeryOptions
	// AWS reads the AWS accounts' server groups for the infrastructure view; nil shows none.
	AWS *aws.Providers
	// NotificationTypes are the notification types this gennaker can send (slack needs a bot
	// token); validation refuses others. nil skips the check.
	NotificationTypes []string
	// Subscriptions are the pubsub subscriptions workers poll; pubsub triggers naming another are
	// refused. nil: none.
	Subscriptions []string
	// CanarySourceTypes are the metric source types (e.g. prometheus) canary configs may query;
	// saving a config that names another is refused. nil skips the check.
	CanarySourceTypes []string
	// MetricsAccounts are the metrics sources canary stages may read; nil: none.
	MetricsAccounts []string
	// Users says who holds which roles, for judgments that require one; nil: nobody has a role.
	Users *access.Directory
	// Slack enables POST /slack/interactions, the judgment buttons; nil answers 404 there.
	Slack *SlackSettings

	// replays is Slack.Replays, or the server's own guard when there is none.
	replays     *notify.ReplayGuard
	replaysOnce sync.Once
	// background counts the Slack interactions still being processed after their answer, for Drain.
	background inflight
}

func init() { gin.SetMode(gin.ReleaseMode) }

// Handler builds the router.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Handlers still give the store and Temporal c.Request.Context(), never c itself: gin reuses
	// the *gin.Context for the next request while their goroutines may still read it.
	r.ContextWithFallback = true
	r.Use(s.recoverJSON, limitBody)
	r.NoRoute(func(c *gin.Context) {
		abort(c, http.StatusNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method "+c.Request.Method+" is not allowed here")
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	// Slack posts interactions to the one URL set in the Slack app, outside the versioned API.
	if s.Slack != nil {
		s.replayGuard()
	}
	r.POST("/slack/interactions", s.slackInteractions)
	// Automatic triggers, outside the versioned API like Spinnaker's.
	r.POST("/webhooks/webhook/:source", s.webhookTrigger)
	r.POST("/webhooks/git/:provider", s.gitTrigger)
	r.POST("/webhooks/ci/:source", s.ciTrigger)
	r.POST("/webhooks/registry", s.registryTrigger)

	v1 := r.Group("/api/v1")
	v1.GET("/applications", s.listApplications)
	v1.GET("/applications/:app/pipelines", s.listPipelines)
	v1.GET("/applications/:app/pipelines/:name", s.getPipeline)
	v1.PUT("/applications/:app/pipelines/:name", s.savePipeline)
	v1.DELETE("/applications/:app/pipelines/:name", s.deletePipeline)
	v1.GET("/applications/:app/pipelines/:name/versions", s.listVersions)
	v1.GET("/applications/:app/pipelines/:name/versions/:version", s.getVersion)
	v1.POST("/applications/:app/pipelines/:name/versions/:version/restore", s.restoreVersion)
	v1.GET("/applications/:app/pipelines/:name/schedules", s.listSchedules)
	v1.POST("/applications/:app/pipelines/:name/executions", s.startExecution)
	v1.GET("/applications/:app/clusters", s.listClusters)
	v1.GET("/applications/:app/triggerEvents", s.listTriggerEvents)
	v1.GET("/applications/:app/canaryConfigs", s.listCanaryConfigs)
	v1.GET("/applications/:app/canaryConfigs/:name", s.getCanaryConfig)
	v1.PUT("/applications/:app/canaryConfigs/:name", s.saveCanaryConfig)
	v1.DELETE("/applications/:app/canaryConfigs/:name", s.deleteCanaryConfig)
	v1.GET("/executions/:id/stages/:refId/canary", s.canaryReport)

	v1.GET("/executions", s.listExecutions)
	v1.GET("/executions/:id", s.getExecution)
	v1.POST("/executions/:id/cancel", s.cancelExecution)
	v1.POST("/executions/:id/stages/:refId/judgment", s.judge)
	v1.POST("/executions/:id/stages/:refId/skip", s.skip)
	return r
}

// ready reports whether Temporal answers, since nothing works without it.
func (s *Server) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if _, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		abort(c, http.StatusServiceUnavailable, "Temporal is not reachable: "+err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// errorBody is every error response: a sentence, and the list of problems when there are several.
type errorBody struct {
	Error   string   `json:"error"`
	Details []string `json:"details,omitempty"`
}

func abort(c *gin.Context, status int, msg string, details ...string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg, Details: details})
}

// readBody reads the request body, answering 413 itself when it is over MaxBodyBytes and 400 when
// it cannot be read; ok is false then.
func readBody(c *gin.Context) (body []byte, ok bool) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			abort(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is too large (limit %d bytes)", MaxBodyBytes))
			return nil, false
		}
		abort(c, http.StatusBadRequest, "the request body could not be read: "+err.Error())
		return nil, false
	}
	return body, true
}

// internalError logs the cause and answers 500 only for failures that are not the caller's.
func (s *Server) internalError(c *gin.Context, msg string, err error) {
	s.Logger.Error(msg, "error", err, "path", c.Request.URL.Path)
	abort(c, http.StatusInternalServerError, msg+": "+err.Error())
}

// unavailable answers 503 when Temporal or the store cannot be reached, so callers retry.
func (s *Server) unavailable(c *gin.Context, msg string, err error) {
	s.Logger.Warn(msg, "error", err)
	abort(c, http.StatusServiceUnavailable, msg+": "+err.Error())
}

func (s *Server) recoverJSON(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.Logger.Error("handler panic", "panic", v, "path", c.Request.URL.Path)
			abort(c, http.StatusInternalServerError, "internal error")
		}
	}()
	c.Next()
}

func limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	}
	c.Next()
}

// userOf is who makes the request: the body's user, else the ?user= query parameter, else the
// X-Gennaker-User header, else "anonymous", which can hold no role.
func userOf(c *gin.Context, fromBody string) string {
	for _, u := range []string{fromBody, c.Query("user"), c.GetHeader("X-Gennaker-User")} {
		if u != "" {
			return u
		}
	}
	return access.Anonymous
}
