package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Artifact is Spinnaker's artifact: a thing a pipeline deploys or reads, such as a container image
// (docker/image, reference "registry/name@sha256:…") or a file of manifests (embedded/base64,
// http/file). Triggers bring artifacts; stages bind and fetch them.
type Artifact struct {
	Type            string         `json:"type"`
	Name            string         `json:"name,omitempty"`
	Version         string         `json:"version,omitempty"`
	Location        string         `json:"location,omitempty"`
	Reference       string         `json:"reference,omitempty"`
	ArtifactAccount string         `json:"artifactAccount,omitempty"`
	Metadata        map[string]any `json:"metadata,omitempty"`
}

// ExpectedArtifact is a pipeline's declaration of an artifact its stages use: which of the
// trigger's artifacts it is (matchArtifact) and what to use when the trigger brings none.
type ExpectedArtifact struct {
	ID                 string    `json:"id"`
	DisplayName        string    `json:"displayName,omitempty"`
	MatchArtifact      Artifact  `json:"matchArtifact"`
	DefaultArtifact    *Artifact `json:"defaultArtifact,omitempty"`
	UseDefaultArtifact bool      `json:"useDefaultArtifact,omitempty"`
	// UsePriorArtifact is Spinnaker's "use the artifact of the previous execution"; gennaker
	// refuses it at save time rather than silently ignoring it.
	UsePriorArtifact bool `json:"usePriorArtifact,omitempty"`
	// BoundArtifact is what the expected artifact resolved to when the execution started: one of
	// the trigger's artifacts, or the default. Set only in an execution's resolvedExpectedArtifacts.
	BoundArtifact *Artifact `json:"boundArtifact,omitempty"`
}

// ExpectedArtifacts reads the pipeline's expectedArtifacts, which are kept as written.
func (p Pipeline) ExpectedArtifacts() ([]ExpectedArtifact, error) {
	raw, ok := p.Extra["expectedArtifacts"]
	if !ok {
		return nil, nil
	}
	var out []ExpectedArtifact
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("expectedArtifacts: %w", err)
	}
	return out, nil
}

// Matches reports whether an artifact is the one expected: the type is the same, and each other
// field the match artifact sets is a regular expression the artifact's field matches whole, as
// in Spinnaker.
func (e ExpectedArtifact) Matches(a Artifact) bool {
	m := e.MatchArtifact
	if m.Type != "" && m.Type != a.Type {
		return false
	}
	for _, f := range [][2]string{{m.Name, a.Name}, {m.Version, a.Version}, {m.Location, a.Location}, {m.Reference, a.Reference}} {
		if f[0] == "" {
			continue
		}
		re, err := regexp.Compile("^(?:" + f[0] + ")$")
		if err != nil {
			if f[0] != f[1] {
				return false
			}
			continue
		}
		if !re.MatchString(f[1]) {
			return false
		}
	}
	return true
}

// Name says which artifact is expected, for messages.
func (e ExpectedArtifact) Name() string {
	if e.DisplayName != "" {
		return fmt.Sprintf("%q (%s)", e.DisplayName, e.ID)
	}
	return fmt.Sprintf("%q", e.ID)
}

// ResolveExpectedArtifacts binds every expected artifact when an execution starts, as Spinnaker
// does: to the one trigger artifact it matches; else, with usePriorArtifact, to the first of the
// artifacts the pipeline's previous execution had (prior, see NeedsPriorArtifacts) that it matches;
// else to its default when useDefaultArtifact is set. It returns the bound list and the trigger's
// artifacts with the prior and default ones used added, or a problem for each expected artifact
// that matches none of them, or several different trigger artifacts (which would make a deploy's
// image a guess).
func ResolveExpectedArtifacts(expected []ExpectedArtifact, received, prior []Artifact) (resolved []ExpectedArtifact, artifacts []Artifact, problems []Problem) {
	artifacts = slices.Clone(received)
	for i, e := range expected {
		path := joinIndex("expectedArtifacts", i)
		var found []Artifact
		for _, a := range received {
			if e.Matches(a) && !slices.ContainsFunc(found, func(b Artifact) bool { return reflect.DeepEqual(a, b) }) {
				found = append(found, a)
			}
		}
		switch {
		case len(found) == 1:
			bound := found[0]
			e.BoundArtifact = &bound
		case len(found) > 1:
			refs := make([]string, len(found))
			for j, a := range found {
				refs[j] = describeArtifact(a)
			}
			problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(
				"expected artifact %s matches %d of the trigger's artifacts (%s); make its matchArtifact more specific",
				e.Name(), len(found), strings.Join(refs, ", "))})
			continue
		case e.UsePriorArtifact && slices.ContainsFunc(prior, e.Matches):
			bound := prior[slices.IndexFunc(prior, e.Matches)]
			e.BoundArtifact = &bound
			artifacts = append(artifacts, bound)
		case e.UseDefaultArtifact && e.DefaultArtifact != nil:
			bound := *e.DefaultArtifact
			e.BoundArtifact = &bound
			artifacts = append(artifacts, bound)
		default:
			where := "is not among the trigger's artifacts (" + describeArtifacts(received) + ")"
			if e.UsePriorArtifact {
				where += " nor the previous execution's"
			}
			problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(
				"expected artifact %s (type %s, name %q) %s, and it has no default to use",
				e.Name(), e.MatchArtifact.Type, e.MatchArtifact.Name, where)})
			continue
		}
		e.DefaultArtifact = nil
		resolved = append(resolved, e)
	}
	if len(problems) > 0 {
		return nil, nil, problems
	}
	return resolved, artifacts, nil
}

// NeedsPriorArtifacts reports whether binding the expected artifacts needs the artifacts of the
// pipeline's previous execution: one with usePriorArtifact matches none of the trigger's.
func NeedsPriorArtifacts(expected []ExpectedArtifact, received []Artifact) bool {
	return slices.ContainsFunc(expected, func(e ExpectedArtifact) bool {
		return e.UsePriorArtifact && !slices.ContainsFunc(received, e.Matches)
	})
}

// AllArtifacts lists the artifacts an execution has, as Spinnaker gathers them for a later one:
// what its stages output, later stages first, then what its trigger brought. The stage whose
// refId is skip, if any, is left out, so that a stage never finds what it found itself before.
func (e Execution) AllArtifacts(skip string) []Artifact {
	var out []Artifact
	stages := topologicalOrder(e.Stages)
	for i := len(stages) - 1; i >= 0; i-- {
		if skip == "" || stages[i].RefID != skip {
			out = append(out, ArtifactsIn(stages[i].Outputs["artifacts"])...)
		}
	}
	return append(out, e.Trigger.Artifacts...)
}

// topologicalOrder sorts an execution's stages so that each comes after those it requires,
// keeping their order otherwise.
func topologicalOrder(stages []StageExecution) []StageExecution {
	done := map[string]bool{}
	placed := make([]bool, len(stages))
	out := make([]StageExecution, 0, len(stages))
	for len(out) < len(stages) {
		progress := false
		for i, s := range stages {
			if placed[i] || slices.ContainsFunc(s.RequisiteStageRefIDs, func(ref string) bool { return !done[ref] }) {
				continue
			}
			placed[i], done[s.RefID], progress = true, true, true
			out = append(out, s)
		}
		if progress {
			continue
		}
		// A cycle, which validation refuses: the rest keep their order.
		for i, s := range stages {
			if !placed[i] {
				placed[i] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// BoundExpectedArtifact finds an expected artifact bound when the execution started.
func BoundExpectedArtifact(resolved []ExpectedArtifact, id string) (Artifact, bool) {
	for _, e := range resolved {
		if e.ID == id && e.BoundArtifact != nil {
			return *e.BoundArtifact, true
		}
	}
	return Artifact{}, false
}

// describeArtifact names an artifact in messages: type, name and reference.
func describeArtifact(a Artifact) string {
	text := a.Type
	if a.Name != "" {
		text += " " + a.Name
	}
	if a.Reference != "" && a.Reference != a.Name && len(a.Reference) <= 120 {
		text += " (" + a.Reference + ")"
	}
	return text
}

func describeArtifacts(list []Artifact) string {
	if len(list) == 0 {
		return "it brought none"
	}
	names := make([]string, len(list))
	for i, a := range list {
		names[i] = describeArtifact(a)
	}
	return "it brought " + strings.Join(names, ", ")
}

// ResolveExpectedArtifact finds the artifact an expected artifact stands for among the trigger's,
// or its default. Executions started before expected artifacts were bound at start use it.
func ResolveExpectedArtifact(expected []ExpectedArtifact, id string, trigger []Artifact) (Artifact, error) {
	for _, e := range expected {
		if e.ID != id {
			continue
		}
		for _, a := range trigger {
			if e.Matches(a) {
				return a, nil
			}
		}
		if e.UseDefaultArtifact && e.DefaultArtifact != nil {
			return *e.DefaultArtifact, nil
		}
		return Artifact{}, fmt.Errorf("expected artifact %s (type %s, name %q) is not among the trigger's artifacts, and it has no default to use",
			e.Name(), e.MatchArtifact.Type, e.MatchArtifact.Name)
	}
	return Artifact{}, fmt.Errorf("no expected artifact has id %q; declare it in the pipeline's expectedArtifacts", id)
}

// validateExpectedArtifacts checks the pipeline's expectedArtifacts and what refers to them:
// triggers' expectedArtifactIds and stages' manifestArtifactId and requiredArtifactIds.
func validateExpectedArtifacts(p Pipeline) []Problem {
	var ps problems
	expected, err := p.ExpectedArtifacts()
	if err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			ps.add("expectedArtifacts."+typeErr.Field, "must be a %s", typeErr.Type)
		} else {
			ps.add("expectedArtifacts", "must be a list of expected artifacts: %v", errors.Unwrap(err))
		}
		return ps
	}
	ids := map[string]bool{}
	for i, e := range expected {
		path := joinIndex("expectedArtifacts", i)
		switch {
		case strings.TrimSpace(e.ID) == "":
			ps.add(path+".id", "required")
		case ids[e.ID]:
			ps.add(path+".id", "duplicate id %q", e.ID)
		}
		ids[e.ID] = true
		if strings.TrimSpace(e.MatchArtifact.Type) == "" {
			ps.add(path+".matchArtifact.type", "required: the type of artifact expected, such as docker/image")
		}
		for _, f := range [][2]string{{"name", e.MatchArtifact.Name}, {"version", e.MatchArtifact.Version},
			{"location", e.MatchArtifact.Location}, {"reference", e.MatchArtifact.Reference}} {
			if _, err := regexp.Compile(f[1]); f[1] != "" && err != nil {
				ps.add(path+".matchArtifact."+f[0], "invalid regular expression: %v", err)
			}
		}
		if e.UseDefaultArtifact && (e.DefaultArtifact == nil || strings.TrimSpace(e.DefaultArtifact.Type) == "") {
			ps.add(path+".defaultArtifact", "required with a type when useDefaultArtifact is set")
		}
	}
	for i, t := range p.Triggers {
		v, ok := t.shapedContext()["expectedArtifactIds"]
		if !ok || v == nil {
			continue
		}
		path := joinIndex("triggers", i) + ".expectedArtifactIds"
		list, isList := v.([]any)
		if !isList {
			ps.add(path, "must be a list of the pipeline's expectedArtifacts ids")
			continue
		}
		for j, item := range list {
			id, isString := item.(string)
			if !isString || !ids[id] {
				ps.add(joinIndex(path, j), "%q is not the id of one of the pipeline's expectedArtifacts", stringify(item))
			}
		}
	}
	return ps
}

// RefExpectedArtifact is a stage's use of an expected artifact by id (requiredArtifactIds,
// manifestArtifactId): one of the pipeline's expectedArtifacts, or one a stage that runs before
// it produces (that stage's own expectedArtifacts, bound to what it outputs).
const RefExpectedArtifact = "expectedArtifact"

// ProducedArtifacts are the artifacts a stage declares it produces, in its own expectedArtifacts
// (or expectedArtifact, which findArtifactFromExecution stages of older Spinnaker releases write):
// when it succeeds, each is bound to one of the artifacts it outputs, and later stages use it by id.
func (s Stage) ProducedArtifacts() ([]ExpectedArtifact, error) {
	raw, ok := s.Context["expectedArtifacts"]
	if one, single := s.Context["expectedArtifact"]; (!ok || raw == nil) && single && one != nil {
		raw, ok = []any{one}, true
	}
	if !ok || raw == nil {
		return nil, nil
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var out []ExpectedArtifact
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("expectedArtifacts: %w", err)
	}
	return out, nil
}

// artifactScope knows which expected artifact ids each stage of a pipeline may use.
type artifactScope struct {
	pipelineIDs map[string]bool
	// producedBy lists, for each id a stage produces, the indexes of the stages producing it.
	producedBy map[string][]int
	stages     []Stage
	refIndex   map[string]int
}

func newArtifactScope(p Pipeline) artifactScope {
	a := artifactScope{pipelineIDs: map[string]bool{}, producedBy: map[string][]int{}, stages: p.Stages, refIndex: map[string]int{}}
	if expected, err := p.ExpectedArtifacts(); err == nil {
		for _, e := range expected {
			a.pipelineIDs[e.ID] = true
		}
	}
	for i, s := range p.Stages {
		if _, dup := a.refIndex[s.RefID]; !dup {
			a.refIndex[s.RefID] = i
		}
		if produced, err := s.ProducedArtifacts(); err == nil {
			for _, e := range produced {
				if e.ID != "" {
					a.producedBy[e.ID] = append(a.producedBy[e.ID], i)
				}
			}
		}
	}
	return a
}

// upstream reports whether stage up runs before stage i: it is among i's requisites, directly or not.
func (a artifactScope) upstream(up, i int) bool {
	seen := map[int]bool{}
	queue := []int{i}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, ref := range a.stages[cur].RequisiteStageRefIDs {
			j, ok := a.refIndex[ref]
			if !ok || seen[j] {
				continue
			}
			if j == up {
				return true
			}
			seen[j] = true
			queue = append(queue, j)
		}
	}
	return false
}

// checkUse checks that an expected artifact id a stage uses is bound by the time the stage runs.
func (a artifactScope) checkUse(ref Reference, stage int, ps *problems) {
	id := ref.Name
	if a.pipelineIDs[id] {
		return
	}
	producers := a.producedBy[id]
	for _, j := range producers {
		if a.upstream(j, stage) {
			return
		}
	}
	if len(producers) > 0 {
		ps.add(ref.Path, "%q is produced by stage %q, which does not run before this one: add its refId to requisiteStageRefIds",
			id, a.stages[producers[0]].DisplayName())
		return
	}
	ps.add(ref.Path, "%q is not the id of one of the pipeline's expectedArtifacts, nor of an artifact a stage before this one produces", id)
}

// checkProduced checks the expected artifacts a stage declares it produces.
func (a artifactScope) checkProduced(s Stage, path string) []Problem {
	var ps problems
	produced, err := s.ProducedArtifacts()
	if err != nil {
		ps.add(path+".expectedArtifacts", "must be a list of expected artifacts: %v", errors.Unwrap(err))
		return ps
	}
	for i, e := range produced {
		p := joinIndex(path+".expectedArtifacts", i)
		switch {
		case strings.TrimSpace(e.ID) == "":
			ps.add(p+".id", "required")
		case slices.ContainsFunc(produced[:i], func(o ExpectedArtifact) bool { return o.ID == e.ID }):
			// Two stages may produce one id, as parallel branches each feeding their own deploy
			// do: a stage uses the nearest upstream. One stage cannot produce it twice.
			ps.add(p+".id", "duplicate id %q", e.ID)
		}
		if strings.TrimSpace(e.MatchArtifact.Type) == "" {
			ps.add(p+".matchArtifact.type", "required: the type of artifact the stage produces, such as kubernetes/configMap")
		}
	}
	return ps
}

// BindProducedArtifacts binds the artifacts a stage declares it produces to what it output, as
// Orca does once such a stage succeeds: each to the first output artifact it matches, else to its
// default when useDefaultArtifact is set. A problem names each that matches none.
func BindProducedArtifacts(expected []ExpectedArtifact, outputs []Artifact) ([]ExpectedArtifact, []Problem) {
	var bound []ExpectedArtifact
	var ps problems
	for i, e := range expected {
		var found *Artifact
		for _, a := range outputs {
			if e.Matches(a) {
				found = &a
				break
			}
		}
		if found == nil && e.UseDefaultArtifact && e.DefaultArtifact != nil {
			found = e.DefaultArtifact
		}
		if found == nil {
			ps.add(joinIndex("expectedArtifacts", i), "the stage produces no artifact that matches expected artifact %s (type %s, name %q); it output %s",
				e.Name(), e.MatchArtifact.Type, e.MatchArtifact.Name, describeArtifacts(outputs))
			continue
		}
		a := *found
		e.BoundArtifact, e.DefaultArtifact = &a, nil
		bound = append(bound, e)
	}
	return bound, ps
}

// ArtifactsIn reads a list of artifacts held in a stage's outputs, as typed values or as the
// JSON objects expressions and older executions give; items that are not artifacts are left out.
func ArtifactsIn(v any) []Artifact {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(data, &items) != nil {
		return nil
	}
	var out []Artifact
	for _, raw := range items {
		var a Artifact
		if json.Unmarshal(raw, &a) == nil && a.Type != "" {
			out = append(out, a)
		}
	}
	return out
}

// ExpectedArtifactsIn reads bound expected artifacts held in a stage's outputs.
func ExpectedArtifactsIn(v any) []ExpectedArtifact {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out []ExpectedArtifact
	if json.Unmarshal(data, &out) != nil {
		return nil
	}
	return out
}
