package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
)

// pipelineRecord is a saved pipeline version as the API returns it.
type pipelineRecord struct {
	ID          string          `json:"id"`
	Application string          `json:"application"`
	Name        string          `json:"name"`
	Version     int             `json:"version"`
	SavedBy     string          `json:"savedBy"`
	SavedAt     time.Time       `json:"savedAt"`
	Config      json.RawMessage `json:"config"`
	// Warnings lists what did not stop the save: things the pipeline names that are not saved yet
	// (a child pipeline, a canary config), schedules that could not be updated.
	Warnings []string `json:"warnings,omitempty"`
}

func toRecord(r store.Record) pipelineRecord {
	return pipelineRecord{ID: r.ID, Application: r.Application, Name: r.Name, Version: r.Version, SavedBy: r.SavedBy, SavedAt: r.SavedAt, Config: r.Config}
}

func (s *Server) listApplications(c *gin.Context) {
	apps, err := s.Store.Applications(c.Request.Context())
	if err != nil {
		s.internalError(c, "listing applications", err)
		return
	}
	out := make([]gin.H, len(apps))
	for i, a := range apps {
		out[i] = gin.H{"name": a}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listPipelines(c *gin.Context) {
	recs, err := s.Store.List(c.Request.Context(), c.Param("app"))
	if err != nil {
		s.internalError(c, "listing pipelines", err)
		return
	}
	out := make([]pipelineRecord, len(recs))
	for i, r := range recs {
		out[i] = toRecord(r)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getPipeline(c *gin.Context) {
	rec, err := s.Store.Get(c.Request.Context(), c.Param("app"), c.Param("name"))
	if s.storeError(c, err) {
		return
	}
	c.JSON(http.StatusOK, toRecord(rec))
}

// savePipeline validates a config (JSON or YAML) and saves it as a new version; then it brings the
// pipeline's cron schedules in line with it.
func (s *Server) savePipeline(c *gin.Context) {
	app, name := c.Param("app"), c.Param("name")
	body, ok := readBody(c)
	if !ok {
		return
	}
	p, err := pipeline.Decode(body)
	if err == nil && !isObject(body) {
		err = errors.New("it must be a JSON object or a YAML mapping")
	}
	if err != nil {
		abort(c, http.StatusBadRequest, "the body is not a pipeline config: "+err.Error())
		return
	}
	var problems []pipeline.Problem
	if p.Application != "" && p.Application != app {
		problems = append(problems, pipeline.Problem{Path: "application", Message: fmt.Sprintf("%q does not match the application in the URL, %q", p.Application, app)})
	}
	if p.Name != "" && p.Name != name {
		problems = append(problems, pipeline.Problem{Path: "name", Message: fmt.Sprintf("%q does not match the pipeline name in the URL, %q", p.Name, name)})
	}
	p.Application, p.Name = app, name
	// What the pipeline names that is not saved yet is a warning: pipelines and canary configs are
	// imported one by one, in any order.
	refused, warnings := pipeline.SplitWarnings(pipeline.Validate(p, pipeline.ValidateOptions{PipelineExists: s.pipelineExists(c),
		KubernetesAccounts: s.kubernetesAccounts(), AWSAccounts: s.awsAccounts(), NotificationTypes: s.NotificationTypes, PubsubSubscriptions: s.subscriptions(),
		CanaryConfigExists: s.canaryConfigExists(c), MetricsAccounts: s.metricsAccounts(),
		ContainerBakery: s.ContainerBakery, AWSBakeries: s.AWSBakeries}))
	problems = append(problems, refused...)
	if len(problems) > 0 {
		abort(c, http.StatusBadRequest, fmt.Sprintf("the pipeline config has %d problem(s)", len(problems)), pipeline.ProblemStrings(problems)...)
		return
	}
	cfg, err := json.Marshal(p)
	if err != nil {
		s.internalError(c, "encoding pipeline", err)
		return
	}
	var previous *pipeline.Pipeline
	if old, err := s.Store.Get(c.Request.Context(), app, name); err == nil {
		if prev, err := pipeline.Decode(old.Config); err == nil {
			previous = &prev
		}
	}
	rec, err := s.Store.Save(c.Request.Context(), cfg, app, name, userOf(c, ""))
	if errors.Is(err, store.ErrInvalidConfig) {
		abort(c, http.StatusBadRequest, err.Error())
		return
	}
	if errors.Is(err, store.ErrIDTaken) {
		abort(c, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		s.internalError(c, "saving pipeline", err)
		return
	}
	out := toRecord(rec)
	out.Warnings = append(pipeline.ProblemStrings(warnings), s.syncSchedules(c, rec, previous)...)
	c.JSON(http.StatusOK, out)
}

// syncSchedules updates cron schedules after a save; a failure is reported but does not undo the
// save, and the next save retries it.
func (s *Server) syncSchedules(c *gin.Context, rec store.Record, previous *pipeline.Pipeline) []string {
	if s.Schedules == nil {
		return nil
	}
	p, err := pipeline.Decode(rec.Config)
	if err == nil {
		err = s.Schedules.Sync(c.Request.Context(), p, previous)
	}
	if err != nil {
		s.Logger.Warn("cron schedules not updated", "application", rec.Application, "pipeline", rec.Name, "error", err)
		return []string{"saved, but its cron schedules could not be updated: " + err.Error()}
	}
	return nil
}

// kubernetesAccounts are the accounts validation accepts; never nil, so an unknown account is
// always reported.
func (s *Server) kubernetesAccounts() []string {
	if s.KubernetesAccounts == nil {
		return []string{}
	}
	return s.KubernetesAccounts
}

// awsAccounts are the AWS accounts validation accepts; never nil, so an unknown account is always
// reported.
func (s *Server) awsAccounts() map[string][]string {
	if s.AWSAccounts == nil {
		return map[string][]string{}
	}
	return s.AWSAccounts
}

func (s *Server) subscriptions() []string {
	if s.Subscriptions == nil {
		return []string{}
	}
	return s.Subscriptions
}

func (s *Server) metricsAccounts() []string {
	if s.MetricsAccounts == nil {
		return []string{}
	}
	return s.MetricsAccounts
}

// canaryConfigExists lets validation check that canary stages name a saved canary config.
func (s *Server) canaryConfigExists(c *gin.Context) func(app, name string) bool {
	return func(app, name string) bool {
		_, err := s.Store.GetCanaryConfig(c.Request.Context(), app, name)
		return err == nil
	}
}

// pipelineExists lets validation check that pipeline stages name saved pipelines.
func (s *Server) pipelineExists(c *gin.Context) func(app, idOrName string) bool {
	return func(app, idOrName string) bool {
		if rec, err := s.Store.GetByID(c.Request.Context(), idOrName); err == nil {
			return app == "" || rec.Application == app
		}
		_, err := s.Store.Get(c.Request.Context(), app, idOrName)
		return err == nil
	}
}

func (s *Server) deletePipeline(c *gin.Context) {
	app, name := c.Param("app"), c.Param("name")
	var previous *pipeline.Pipeline
	if old, err := s.Store.Get(c.Request.Context(), app, name); err == nil {
		if prev, err := pipeline.Decode(old.Config); err == nil {
			previous = &prev
		}
	}
	err := s.Store.Delete(c.Request.Context(), app, name, userOf(c, ""))
	if s.storeError(c, err) {
		return
	}
	if s.Schedules != nil {
		if err := s.Schedules.DeleteAll(c.Request.Context(), app, name, previous); err != nil {
			s.Logger.Warn("cron schedules not deleted", "application", app, "pipeline", name, "error", err)
			c.JSON(http.StatusOK, gin.H{"deleted": true, "warnings": []string{"deleted, but its cron schedules could not be removed: " + err.Error()}})
			return
		}
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) listVersions(c *gin.Context) {
	versions, err := s.Store.Versions(c.Request.Context(), c.Param("app"), c.Param("name"))
	if s.storeError(c, err) {
		return
	}
	out := make([]gin.H, len(versions))
	for i, v := range versions {
		out[i] = gin.H{"version": v.Version, "savedBy": v.SavedBy, "savedAt": v.SavedAt}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getVersion(c *gin.Context) {
	version, ok := versionParam(c)
	if !ok {
		return
	}
	rec, err := s.Store.GetVersion(c.Request.Context(), c.Param("app"), c.Param("name"), version)
	if s.storeError(c, err) {
		return
	}
	c.JSON(http.StatusOK, toRecord(rec))
}

func (s *Server) restoreVersion(c *gin.Context) {
	version, ok := versionParam(c)
	if !ok {
		return
	}
	app, name := c.Param("app"), c.Param("name")
	var previous *pipeline.Pipeline
	if old, err := s.Store.Get(c.Request.Context(), app, name); err == nil {
		if prev, err := pipeline.Decode(old.Config); err == nil {
			previous = &prev
		}
	}
	rec, err := s.Store.Restore(c.Request.Context(), app, name, version, userOf(c, ""))
	if s.storeError(c, err) {
		return
	}
	out := toRecord(rec)
	out.Warnings = s.syncSchedules(c, rec, previous)
	c.JSON(http.StatusOK, out)
}

func (s *Server) listSchedules(c *gin.Context) {
	app, name := c.Param("app"), c.Param("name")
	if _, err := s.Store.Get(c.Request.Context(), app, name); s.storeError(c, err) {
		return
	}
	if s.Schedules == nil {
		c.JSON(http.StatusOK, []any{})
		return
	}
	infos, err := s.Schedules.Describe(c.Request.Context(), app, name)
	if err != nil {
		s.unavailable(c, "reading schedules from Temporal", err)
		return
	}
	if infos == nil {
		c.JSON(http.StatusOK, []any{})
		return
	}
	c.JSON(http.StatusOK, infos)
}

func versionParam(c *gin.Context) (int, bool) {
	v, err := strconv.Atoi(c.Param("version"))
	if err != nil || v < 1 {
		abort(c, http.StatusBadRequest, fmt.Sprintf("version must be a positive whole number, got %q", c.Param("version")))
		return 0, false
	}
	return v, true
}

// storeError answers for a store error and reports whether there was one.
func (s *Server) storeError(c *gin.Context, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		abort(c, http.StatusNotFound, fmt.Sprintf("no pipeline %q in application %q", c.Param("name"), c.Param("app")))
	case errors.Is(err, store.ErrVersionNotFound):
		abort(c, http.StatusNotFound, fmt.Sprintf("pipeline %q has no version %s", c.Param("name"), c.Param("version")))
	default:
		s.internalError(c, "reading the pipeline store", err)
	}
	return true
}
