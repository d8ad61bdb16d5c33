package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gennaker/gennaker/canary"
	"github.com/gennaker/gennaker/pipeline"
	"github.com/gennaker/gennaker/store"
)

// canaryConfigRecord is a saved canary config version as the API returns it, with PureJSON: c.JSON
// would escape the <, > and & of the config's queries again.
type canaryConfigRecord struct {
	Application string          `json:"application"`
	Name        string          `json:"name"`
	Version     int             `json:"version"`
	SavedBy     string          `json:"savedBy"`
	SavedAt     time.Time       `json:"savedAt"`
	Config      json.RawMessage `json:"config"`
}

// canaryConfigSummary is one entry of an application's canary config list: enough to choose a
// config without fetching every one.
type canaryConfigSummary struct {
	Application string    `json:"application"`
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	SavedBy     string    `json:"savedBy"`
	SavedAt     time.Time `json:"savedAt"`
	Description string    `json:"description"`
	MetricCount int       `json:"metricCount"`
}

func toCanaryRecord(r store.CanaryConfigRecord) canaryConfigRecord {
	return canaryConfigRecord{Application: r.Application, Name: r.Name, Version: r.Version, SavedBy: r.SavedBy, SavedAt: r.SavedAt, Config: r.Config}
}

func (s *Server) listCanaryConfigs(c *gin.Context) {
	recs, err := s.Store.ListCanaryConfigs(c.Request.Context(), c.Param("app"))
	if err != nil {
		s.unavailable(c, "listing canary configs", err)
		return
	}
	out := make([]canaryConfigSummary, len(recs))
	for i, r := range recs {
		// Only the two fields are read, so a stored config this binary could no longer decode in
		// full still lists.
		var head struct {
			Description string            `json:"description"`
			Metrics     []json.RawMessage `json:"metrics"`
		}
		_ = json.Unmarshal(r.Config, &head)
		out[i] = canaryConfigSummary{Application: r.Application, Name: r.Name, Version: r.Version, SavedBy: r.SavedBy, SavedAt: r.SavedAt,
			Description: head.Description, MetricCount: len(head.Metrics)}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getCanaryConfig(c *gin.Context) {
	rec, err := s.Store.GetCanaryConfig(c.Request.Context(), c.Param("app"), c.Param("name"))
	if s.canaryStoreError(c, err, "reading the canary config") {
		return
	}
	c.PureJSON(http.StatusOK, toCanaryRecord(rec))
}

// saveCanaryConfig validates a Kayenta canary config and saves it as the next version, answering
// every problem at once, each by its JSON path, as a pipeline save does.
func (s *Server) saveCanaryConfig(c *gin.Context) {
	app, name := c.Param("app"), c.Param("name")
	body, ok := readBody(c)
	if !ok {
		return
	}
	// DecodeStrict leaves out what it reports and returns the rest, so the config is judged in
	// full even when some of it has the wrong type.
	cfg, problems := canary.DecodeStrict(body)
	// A problem without a path means there was no config to look into at all.
	if i := slices.IndexFunc(problems, func(p pipeline.Problem) bool { return p.Path == "" }); i >= 0 {
		abort(c, http.StatusBadRequest, "the body is not a canary config: "+problems[i].Message)
		return
	}
	var found []pipeline.Problem
	if cfg.Name != "" && cfg.Name != name {
		found = append(found, pipeline.Problem{Path: "name", Message: fmt.Sprintf("%q does not match the canary config name in the URL, %q", cfg.Name, name)})
	}
	// Validation then checks the URL's name, which must be usable as a path segment and an ID.
	cfg.Name = name
	switch {
	case len(cfg.Applications) == 0:
		cfg.Applications = []string{app}
	case !slices.Contains(cfg.Applications, app):
		found = append(found, pipeline.Problem{Path: "applications", Message: fmt.Sprintf("must include the application in the URL, %q; it lists %s", app, strings.Join(cfg.Applications, ", "))})
	}
	found = append(found, canary.Validate(cfg, s.CanarySourceTypes)...)
	// Whatever only the left-out values cause (a wrongly typed field being "required") would
	// report them twice, the second time wrongly.
	problems = append(problems, canary.WithoutLeftOut(cfg, problems, found)...)
	if len(problems) > 0 {
		abort(c, http.StatusBadRequest, fmt.Sprintf("the canary config has %d problem(s)", len(problems)), pipeline.ProblemStrings(problems)...)
		return
	}

	data, err := json.Marshal(cfg)
	if err != nil {
		s.internalError(c, "encoding canary config", err)
		return
	}
	rec, err := s.Store.SaveCanaryConfig(c.Request.Context(), app, name, unescapeHTML(data), userOf(c, ""))
	if err != nil {
		s.unavailable(c, "saving the canary config", err)
		return
	}
	c.PureJSON(http.StatusOK, toCanaryRecord(rec))
}

// htmlEscapes are the escapes encoding/json writes for <, > and &, even inside a custom
// MarshalJSON such as canary.Query's, where no encoder setting reaches.
var htmlEscapes = map[string]byte{`\u003c`: '<', `\u003e`: '>', `\u0026`: '&'}

// unescapeHTML restores <, > and & in JSON text, so that stored queries (x > 0, a && b) read as
// written. Each backslash is taken with the character it escapes, so an escaped backslash
// followed by "u003c" is left alone.
func unescapeHTML(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' || i+1 == len(data) {
			out = append(out, data[i])
			continue
		}
		if r, ok := htmlEscapes[string(data[i:min(i+6, len(data))])]; ok {
			out = append(out, r)
			i += 5
			continue
		}
		out = append(out, data[i], data[i+1])
		i++
	}
	return out
}

// deleteCanaryConfig deletes every version of a canary config unless a pipeline of the
// application still uses it: its canary stages would fail at run time instead.
func (s *Server) deleteCanaryConfig(c *gin.Context) {
	app, name := c.Param("app"), c.Param("name")
	if _, err := s.Store.GetCanaryConfig(c.Request.Context(), app, name); s.canaryStoreError(c, err, "reading the canary config") {
		return
	}
	users, err := s.canaryConfigUsers(c, app, name)
	if err != nil {
		s.unavailable(c, "reading the pipelines that may use the canary config", err)
		return
	}
	if len(users) > 0 {
		abort(c, http.StatusConflict, fmt.Sprintf("canary config %q is used by pipelines %s; change them first", name, strings.Join(users, ", ")))
		return
	}
	if s.canaryStoreError(c, s.Store.DeleteCanaryConfig(c.Request.Context(), app, name), "deleting the canary config") {
		return
	}
	c.Status(http.StatusNoContent)
}

// canaryConfigUsers names, in order, the pipelines of app with a canary stage that uses the
// config. A pipeline whose saved config no longer decodes is logged and passed over, so that it
// cannot block every delete.
func (s *Server) canaryConfigUsers(c *gin.Context, app, name string) ([]string, error) {
	recs, err := s.Store.List(c.Request.Context(), app)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, rec := range recs {
		p, err := pipeline.Decode(rec.Config)
		if err != nil {
			s.Logger.Warn("saved pipeline does not decode; not checked for canary config use", "application", app, "pipeline", rec.Name, "error", err)
			continue
		}
		if slices.ContainsFunc(p.Stages, func(st pipeline.Stage) bool { return usesCanaryConfig(st, name) }) {
			users = append(users, rec.Name)
		}
	}
	return users, nil
}

// usesCanaryConfig reports whether a stage is a canary stage naming the config.
func usesCanaryConfig(st pipeline.Stage, name string) bool {
	if st.Type != pipeline.StageKayentaCanary {
		return false
	}
	settings, _ := pipeline.ReadCanaryStage(st.Context, "")
	return settings.ConfigName == name
}

// canaryStoreError answers for a canary config store error and reports whether there was one.
func (s *Server) canaryStoreError(c *gin.Context, err error, doing string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrCanaryConfigNotFound):
		abort(c, http.StatusNotFound, fmt.Sprintf("no canary config %q in application %q", c.Param("name"), c.Param("app")))
	default:
		s.unavailable(c, doing, err)
	}
	return true
}

// canaryReport answers GET /api/v1/executions/{id}/stages/{refId}/canary: the report of a
// kayentaCanary stage, as far as it has got.
func (s *Server) canaryReport(c *gin.Context) {
	exec, ok := s.queryExecution(c)
	if !ok {
		return
	}
	st := exec.Stage(c.Param("refId"))
	switch {
	case st == nil:
		abort(c, http.StatusNotFound, fmt.Sprintf("execution %s has no stage %q", exec.ID, c.Param("refId")))
	case st.Type != pipeline.StageKayentaCanary:
		abort(c, http.StatusNotFound, fmt.Sprintf("stage %q is a %s stage, not a canary analysis", st.RefID, st.Type))
	case st.Outputs["canary"] == nil:
		abort(c, http.StatusNotFound, fmt.Sprintf("stage %q has no canary report yet (it is %s)", st.RefID, st.Status))
	default:
		c.JSON(http.StatusOK, st.Outputs["canary"])
	}
}
