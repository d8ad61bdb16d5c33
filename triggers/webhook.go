package triggers

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ohler55/ojg/jp"

	"github.com/gennaker/gennaker/pipeline"
)

// MaxPayloadBytes is the largest webhook body an execution keeps as trigger.payload; a larger one
// still fires triggers, but every execution's history would carry it, so it is left out.
const MaxPayloadBytes = 64 << 10

// webhook is a webhook delivery, read once for every candidate.
type webhook struct {
	d          Delivery
	payload    map[string]any
	parameters map[string]any
	artifacts  []pipeline.Artifact
	user       string
	// notes are remarks on the payload that every match carries into Reasons.
	notes []string
}

func readWebhook(d Delivery) (*webhook, error) {
	payload, err := decodeObject(d.Body)
	if err != nil {
		return nil, err
	}
	return newWebhook(d, payload, "webhook:"+d.Source), nil
}

// newWebhook reads what a payload brings an execution: the user (the payload's "user", else
// defaultUser), parameters and artifacts.
func newWebhook(d Delivery, payload map[string]any, defaultUser string) *webhook {
	w := &webhook{d: d, payload: payload, user: defaultUser}
	if u, ok := payload["user"].(string); ok && strings.TrimSpace(u) != "" {
		w.user = u
	}
	switch p := payload["parameters"].(type) {
	case nil:
	case map[string]any:
		w.parameters = p
	default:
		w.notes = append(w.notes, "payload parameters is not an object; started without parameters")
	}
	w.readArtifacts()
	if len(d.Body) > MaxPayloadBytes {
		w.notes = append(w.notes, fmt.Sprintf("the payload is %d bytes, over the %d KiB an execution keeps; started without trigger.payload",
			len(d.Body), MaxPayloadBytes>>10))
	}
	return w
}

// readArtifacts takes the payload's artifacts list; an entry that is not an artifact is left out
// with a note rather than refusing the delivery, as Spinnaker's webhook trigger does not refuse either.
func (w *webhook) readArtifacts() {
	raw, present := w.payload["artifacts"]
	if !present || raw == nil {
		return
	}
	list, ok := raw.([]any)
	if !ok {
		w.notes = append(w.notes, "payload artifacts is not a list; started without artifacts")
		return
	}
	for i, item := range list {
		a, why := decodeArtifact(item)
		if why != "" {
			w.notes = append(w.notes, fmt.Sprintf("payload artifacts[%d] left out: %s", i, why))
			continue
		}
		w.artifacts = append(w.artifacts, a)
	}
}

func decodeArtifact(item any) (pipeline.Artifact, string) {
	if _, ok := item.(map[string]any); !ok {
		return pipeline.Artifact{}, "not an object"
	}
	raw, err := json.Marshal(item)
	if err != nil {
		return pipeline.Artifact{}, err.Error()
	}
	var a pipeline.Artifact
	if err := json.Unmarshal(raw, &a); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return pipeline.Artifact{}, fmt.Sprintf("%s must be a %s", typeErr.Field, typeErr.Type)
		}
		return pipeline.Artifact{}, err.Error()
	}
	if strings.TrimSpace(a.Type) == "" {
		return pipeline.Artifact{}, "no type"
	}
	return a, ""
}

// watches compares sources exactly: a source is a URL path segment, and paths are case-sensitive.
func (w *webhook) watches(t pipeline.Trigger) bool {
	return t.Webhook().Source == w.d.Source
}

func (w *webhook) decide(c Candidate) decision {
	settings := c.Trigger.Webhook()
	if settings.Secret != "" {
		if why := checkSignature(w.d.Header, SignatureHeader, settings.Secret, w.d.Body); why != "" {
			return decision{why: why, unsigned: true}
		}
	}
	if why := w.unmet(settings.PayloadConstraints); why != "" {
		return decision{why: why}
	}
	return decision{info: w.trigger(pipeline.TriggerWebhook), notes: w.notes}
}

// trigger is what an execution the payload fires starts with.
func (w *webhook) trigger(kind string) pipeline.TriggerInfo {
	info := pipeline.TriggerInfo{
		Type:   kind,
		User:   w.user,
		Source: w.d.Source,
	}
	if w.parameters != nil {
		info.Parameters = pipeline.DeepCopy(w.parameters).(map[string]any)
	}
	if len(w.d.Body) <= MaxPayloadBytes {
		info.Payload = pipeline.DeepCopy(w.payload).(map[string]any)
	}
	if w.artifacts != nil {
		info.Artifacts = make([]pipeline.Artifact, len(w.artifacts))
		for i, a := range w.artifacts {
			if a.Metadata != nil {
				a.Metadata = pipeline.DeepCopy(a.Metadata).(map[string]any)
			}
			info.Artifacts[i] = a
		}
	}
	return info
}

// unmet checks every payload constraint, in key order, and says which fail.
func (w *webhook) unmet(constraints map[string]string) string {
	return unmetConstraints(constraints, w.check)
}

func (w *webhook) check(key, pattern string) string {
	re, err := pipeline.FullMatchRegexp(pattern)
	if err != nil {
		return fmt.Sprintf("constraint on %q is not a regular expression: %v", key, err)
	}
	var value any
	var found bool
	if pipeline.IsJSONPathConstraint(key) {
		path, err := jp.ParseString(key)
		if err != nil {
			return fmt.Sprintf("constraint key %q is not a JSONPath: %v", key, err)
		}
		value, found = path.FirstFound(w.payload)
		found = found && value != nil
	} else {
		value, found = field(w.payload, key)
	}
	if !found {
		return fmt.Sprintf("payload has no %q for constraint %q", key, pattern)
	}
	if s := text(value); !re.MatchString(s) {
		return fmt.Sprintf("payload %q is %s, which does not match %q in full", key, quote(s), pattern)
	}
	return ""
}
