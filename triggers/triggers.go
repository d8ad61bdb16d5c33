// Package triggers decides which automatic triggers of saved pipelines an inbound delivery fires: a
// payload posted to a webhook source, a push reported by GitHub, GitLab or Bitbucket, or a finished
// build reported by a CI server. It holds pure functions only; the API receives the request, gathers
// the candidate triggers and starts what matches.
//
// # CI build notifications
//
// A CI server reports a build to POST /webhooks/ci/{master}, which fires the jenkins triggers whose
// master is {master}. The body is gennaker's own JSON object, close to what Jenkins' Notification
// plugin sends, in either of two forms. The flat form:
//
//	{
//	  "job": "web-build",
//	  "buildNumber": 42,
//	  "result": "SUCCESS",
//	  "url": "https://ci.example.com/job/web-build/42/",
//	  "properties": {"VERSION": "1.2.3"}
//	}
//
// job is the job's full name ("name" is read when there is no "job"); buildNumber a positive whole
// number, or a string of digits; result SUCCESS, UNSTABLE, FAILURE or ABORTED, and a notification
// without one reports a build that has not finished. The Notification plugin's form, told apart by
// its "build" object:
//
//	{
//	  "name": "web-build",
//	  "build": {
//	    "number": 42,
//	    "phase": "FINALIZED",
//	    "status": "SUCCESS",
//	    "full_url": "https://ci.example.com/job/web-build/42/",
//	    "parameters": {"VERSION": "1.2.3"}
//	  }
//	}
//
// Only phases COMPLETED and FINALIZED, with a status, report a finished build; QUEUED or STARTED
// fire nothing. The build's parameters are its properties. A body that is not a JSON object, or
// names no job or build number, is ErrBadPayload. A trigger fires when the job is its job exactly,
// the result is one of its buildResults (SUCCESS unless set), and every propertyConstraints pattern
// matches its property, as text, in full; the execution's trigger carries buildInfo and properties,
// and the properties as text are its parameters. A build is one delivery however often it is
// reported (see DeliveryID). A trigger with a secret needs SignatureHeader, as a webhook does.
package triggers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// ErrBadPayload marks a delivery whose body cannot be read: not a JSON object, for git not an
// event the provider sends, for jenkins no job or build number. The caller answers 400.
var ErrBadPayload = errors.New("bad payload")

// ErrUnsupported marks a delivery of a kind, or from a git provider, gennaker has no triggers for.
var ErrUnsupported = errors.New("unsupported delivery")

// Delivery is one inbound request that may fire triggers.
type Delivery struct {
	// Kind is pipeline.TriggerWebhook, pipeline.TriggerGit or pipeline.TriggerJenkins.
	Kind string
	// Source is, for webhook, the {source} path segment; for git, github|gitlab|bitbucket; for
	// jenkins, the {master} path segment.
	Source string
	Header http.Header
	Body   []byte
}

// Candidate is one enabled-or-not trigger of one saved pipeline.
type Candidate struct {
	// Application, Pipeline and PipelineID name the saved pipeline; ExecutionID keys on the ID,
	// or on application/pipeline when it has none.
	Application, Pipeline, PipelineID string
	Index                             int // the trigger's index in the pipeline's triggers
	Trigger                           pipeline.Trigger
	PipelineDisabled                  bool
}

// Match is a candidate the delivery fires, with the trigger the execution starts with.
type Match struct {
	Candidate
	// Trigger is what the execution starts with; the candidate's configured trigger is
	// Candidate.Trigger.
	Trigger pipeline.TriggerInfo
}

// Outcome is what a delivery did to the candidates.
type Outcome struct {
	Matches []Match
	// Checked counts the candidates of the delivery's kind and source that were looked at.
	Checked int
	// Unsigned counts the candidates refused because their secret's signature (or GitLab token)
	// was missing or wrong.
	Unsigned int
	// Disabled are candidates that match but whose trigger or pipeline is disabled: nothing starts,
	// the caller records them.
	Disabled []Candidate
	// Reasons has one line per candidate that did not match, naming application/pipeline and the
	// trigger's index, and notes on matches (a payload too large to keep, artifacts ignored). They
	// are for logs and records and may quote the payload: never send them back to the sender.
	Reasons []string
}

// decision is what one kind of delivery makes of one candidate.
type decision struct {
	// why, when set, says why the candidate does not match.
	why string
	// unsigned marks a refusal for a missing or wrong signature.
	unsigned bool
	// info is the trigger an execution starts with, for a match.
	info pipeline.TriggerInfo
	// notes are remarks on a match, for Reasons.
	notes []string
}

// kind is one kind of delivery, already read.
type kind interface {
	// watches reports whether the candidate's trigger listens to the delivery's source.
	watches(t pipeline.Trigger) bool
	decide(c Candidate) decision
}

// Evaluate matches a delivery against candidate triggers. It fails, wrapping ErrBadPayload or
// ErrUnsupported, only when the delivery itself cannot be read; a candidate that does not match is
// a line in Reasons.
func Evaluate(d Delivery, candidates []Candidate) (Outcome, error) {
	k, err := read(d)
	if err != nil {
		return Outcome{}, err
	}
	deliveryID := DeliveryID(d)
	var out Outcome
	for _, c := range candidates {
		if c.Trigger.Type != d.Kind || !k.watches(c.Trigger) {
			continue
		}
		out.Checked++
		dec := k.decide(c)
		switch {
		case dec.why != "":
			if dec.unsigned {
				out.Unsigned++
			}
			out.Reasons = append(out.Reasons, reason(c, dec.why))
		case c.PipelineDisabled:
			out.Disabled = append(out.Disabled, c)
			out.Reasons = append(out.Reasons, reason(c, "matches, but the pipeline is disabled"))
		case !c.Trigger.IsEnabled():
			out.Disabled = append(out.Disabled, c)
			out.Reasons = append(out.Reasons, reason(c, "matches, but the trigger is disabled"))
		default:
			dec.info.DeliveryID = deliveryID
			out.Matches = append(out.Matches, Match{Candidate: c, Trigger: dec.info})
			for _, n := range dec.notes {
				out.Reasons = append(out.Reasons, reason(c, n))
			}
		}
	}
	return out, nil
}

// read parses the delivery once for all candidates.
func read(d Delivery) (kind, error) {
	switch d.Kind {
	case pipeline.TriggerWebhook:
		if d.Source == "" {
			return nil, fmt.Errorf("%w: a webhook delivery names its source", ErrUnsupported)
		}
		w, err := readWebhook(d)
		if err != nil {
			return nil, err
		}
		return w, nil
	case pipeline.TriggerGit:
		provider := strings.ToLower(d.Source)
		if !slices.Contains(pipeline.GitSources, provider) {
			return nil, fmt.Errorf("%w: unknown git provider %q; supported: %s", ErrUnsupported, d.Source, strings.Join(pipeline.GitSources, ", "))
		}
		e, err := readGit(provider, d)
		if err != nil {
			return nil, err
		}
		return e, nil
	case pipeline.TriggerJenkins:
		if d.Source == "" {
			return nil, fmt.Errorf("%w: a CI build delivery names its master", ErrUnsupported)
		}
		b, err := readJenkins(d)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: kind %q fires no triggers; supported: %s, %s, %s", ErrUnsupported, d.Kind,
		pipeline.TriggerGit, pipeline.TriggerJenkins, pipeline.TriggerWebhook)
}

// reason names the candidate in a Reasons line.
func reason(c Candidate, why string) string {
	return fmt.Sprintf("%s/%s triggers[%d]: %s", c.Application, c.Pipeline, c.Index, why)
}
