// Package triggers decides which automatic triggers of saved pipelines an inbound delivery fires: a
// payload posted to a webhook source, a push reported by GitHub, GitLab or Bitbucket, a finished
// build reported by a CI server, an image pushed to a container registry, or a pubsub message. It
// holds pure functions only; package dispatch gathers the candidate triggers and starts what
// matches, for the API and the pubsub poller.
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
//
// # Registry notifications
//
// A container registry reports pushes to POST /webhooks/registry, which fires docker triggers.
// The body is the distribution registry's notification envelope (RegistryEventsMediaType):
//
//	{"events": [{
//	  "id": "9a50b351-943b-4ca0-b5c2-03b208f6967a",
//	  "action": "push",
//	  "target": {
//	    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
//	    "digest": "sha256:9688…",
//	    "repository": "acme/web",
//	    "url": "https://registry.example.com/v2/acme/web/manifests/sha256:9688…",
//	    "tag": "v1.2.3"
//	  },
//	  "request": {"host": "registry.example.com"},
//	  "source": {"addr": "registry-1:5000", "instanceID": "…"}
//	}]}
//
// Each event is a delivery of its own, identified as "registry:" and its id, so that one envelope
// may start several executions and the registry's resending of an event starts nothing new. Only
// the push of a manifest with a tag fires; blob pushes, pulls, deletes and pushes by digest are
// reasons, not errors, since a registry resends a refused envelope until it is accepted. A
// trigger watches an event when its registry is the event's request.host (the host the pusher
// named) or the host of target.url, without regard to case, and its repository is
// target.repository. It fires when the tag matches its tag pattern in full, or, without one, is
// not latest. The execution's trigger carries a docker/image artifact whose reference pins the
// digest, and the payload registry, repository, tag and digest. A trigger with a secret needs
// "Authorization: Bearer <secret>", which the registry's endpoint configuration sends as a header.
// A body that is not a JSON object with an events list is ErrBadPayload.
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
// event the provider sends, for jenkins no job or build number, for docker no events list. The
// caller answers 400.
var ErrBadPayload = errors.New("bad payload")

// ErrUnsupported marks a delivery of a kind, or from a git provider, gennaker has no triggers for.
var ErrUnsupported = errors.New("unsupported delivery")

// Delivery is one inbound request that may fire triggers.
type Delivery struct {
	// Kind is pipeline.TriggerWebhook, pipeline.TriggerGit, pipeline.TriggerJenkins,
	// pipeline.TriggerDocker or pipeline.TriggerPubsub.
	Kind string
	// Source is, for webhook, the {source} path segment; for git, github|gitlab|bitbucket; for
	// jenkins, the {master} path segment; for docker, empty: one endpoint serves every registry,
	// and each event names its own; for pubsub, the subscription's name.
	Source string
	Header http.Header
	Body   []byte
	// ID, when set, identifies the delivery instead of its headers: "sqs:" and the message ID of
	// a pubsub message.
	ID string
	// Attributes are a pubsub message's attributes.
	Attributes map[string]string
}

// Candidate is one enabled-or-not trigger of one saved pipeline.
type Candidate struct {
	// Application, Pipeline and PipelineID name the saved pipeline; ExecutionID keys on the ID,
	// or on application/pipeline when it has none.
	Application, Pipeline, PipelineID string
	Index                             int // the trigger's index in the pipeline's triggers
	Trigger                           pipeline.Trigger
	PipelineDisabled                  bool
	// ExpectedArtifacts are the pipeline's, for a trigger's expectedArtifactIds.
	ExpectedArtifacts []pipeline.ExpectedArtifact
}

// Candidates lists a saved pipeline's triggers of one kind.
func Candidates(application, pipelineID string, p pipeline.Pipeline, kind string) []Candidate {
	var out []Candidate
	expected, _ := p.ExpectedArtifacts() // a pipeline saved with unreadable ones was refused
	for i, t := range p.Triggers {
		if t.Type == kind {
			out = append(out, Candidate{Application: application, Pipeline: p.Name, PipelineID: pipelineID, Index: i,
				Trigger: t, PipelineDisabled: p.Disabled, ExpectedArtifacts: expected})
		}
	}
	return out
}

// Match is a candidate the delivery fires, with the trigger the execution starts with.
type Match struct {
	Candidate
	// Trigger is what the execution starts with; the candidate's configured trigger is
	// Candidate.Trigger.
	Trigger pipeline.TriggerInfo
	// DeliveryID is the delivery that fired it: DeliveryID of the request, or, for one event of a
	// registry's notification, "registry:" and the event's id.
	DeliveryID string
	// ExecutionID is the workflow ID to start it under: the same delivery to the same trigger
	// always gives the same ID (see ExecutionID).
	ExecutionID string
}

// Outcome is what a delivery did to the candidates.
type Outcome struct {
	Matches []Match
	// Checked counts the candidates of the delivery's kind and source that were looked at, once
	// for each event of a registry's notification.
	Checked int
	// Unsigned counts the candidates refused because their secret's signature (or GitLab token)
	// was missing or wrong.
	Unsigned int
	// Disabled are matches whose trigger or pipeline is disabled: nothing starts, the caller
	// records them.
	Disabled []Match
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

// kind is one delivery, already read.
type kind interface {
	// watches reports whether the candidate's trigger listens to the delivery's source.
	watches(t pipeline.Trigger) bool
	decide(c Candidate) decision
}

// delivered is one delivery read from a request: the request itself or, for a registry's
// notification, one of its events.
type delivered struct {
	// id is the delivery's ID, which keys the executions it starts.
	id string
	kind
}

// Evaluate matches a delivery against candidate triggers. It fails, wrapping ErrBadPayload or
// ErrUnsupported, only when the delivery itself cannot be read; a candidate that does not match is
// a line in Reasons. A registry's notification is evaluated event by event, so one candidate may
// match more than once, each time under another DeliveryID and ExecutionID.
func Evaluate(d Delivery, candidates []Candidate) (Outcome, error) {
	deliveries, err := read(d)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	for _, dv := range deliveries {
		for _, c := range candidates {
			if c.Trigger.Type != d.Kind || !dv.watches(c.Trigger) {
				continue
			}
			out.Checked++
			dec := dv.decide(c)
			if dec.why != "" {
				if dec.unsigned {
					out.Unsigned++
				}
				out.Reasons = append(out.Reasons, reason(c, dec.why))
				continue
			}
			if why := unmetArtifacts(c, dec.info.Artifacts); why != "" {
				out.Reasons = append(out.Reasons, reason(c, why))
				continue
			}
			dec.info.DeliveryID = dv.id
			m := Match{Candidate: c, Trigger: dec.info, DeliveryID: dv.id, ExecutionID: executionID(d, dv.id, c)}
			switch {
			case c.PipelineDisabled:
				out.Disabled = append(out.Disabled, m)
				out.Reasons = append(out.Reasons, reason(c, "matches, but the pipeline is disabled"))
			case !c.Trigger.IsEnabled():
				out.Disabled = append(out.Disabled, m)
				out.Reasons = append(out.Reasons, reason(c, "matches, but the trigger is disabled"))
			default:
				out.Matches = append(out.Matches, m)
				for _, n := range dec.notes {
					out.Reasons = append(out.Reasons, reason(c, n))
				}
			}
		}
	}
	return out, nil
}

// read parses the delivery once for all candidates, into the deliveries it holds: itself, or a
// registry notification's events.
func read(d Delivery) ([]delivered, error) {
	var k kind
	switch d.Kind {
	case pipeline.TriggerWebhook:
		if d.Source == "" {
			return nil, fmt.Errorf("%w: a webhook delivery names its source", ErrUnsupported)
		}
		w, err := readWebhook(d)
		if err != nil {
			return nil, err
		}
		k = w
	case pipeline.TriggerGit:
		provider := strings.ToLower(d.Source)
		if !slices.Contains(pipeline.GitSources, provider) {
			return nil, fmt.Errorf("%w: unknown git provider %q; supported: %s", ErrUnsupported, d.Source, strings.Join(pipeline.GitSources, ", "))
		}
		e, err := readGit(provider, d)
		if err != nil {
			return nil, err
		}
		k = e
	case pipeline.TriggerJenkins:
		if d.Source == "" {
			return nil, fmt.Errorf("%w: a CI build delivery names its master", ErrUnsupported)
		}
		b, err := readJenkins(d)
		if err != nil {
			return nil, err
		}
		k = b
	case pipeline.TriggerDocker:
		n, err := readRegistry(d)
		if err != nil {
			return nil, err
		}
		return n.deliveries(), nil
	case pipeline.TriggerPubsub:
		if d.Source == "" || d.ID == "" {
			return nil, fmt.Errorf("%w: a pubsub message names its subscription and its message ID", ErrUnsupported)
		}
		k = readPubsub(d)
	default:
		return nil, fmt.Errorf("%w: kind %q fires no triggers; supported: %s, %s, %s, %s, %s", ErrUnsupported, d.Kind,
			pipeline.TriggerDocker, pipeline.TriggerGit, pipeline.TriggerJenkins, pipeline.TriggerPubsub, pipeline.TriggerWebhook)
	}
	return []delivered{{id: DeliveryID(d), kind: k}}, nil
}

// reason names the candidate in a Reasons line.
func reason(c Candidate, why string) string {
	return fmt.Sprintf("%s/%s triggers[%d]: %s", c.Application, c.Pipeline, c.Index, why)
}

// unmetArtifacts checks a trigger's expectedArtifactIds against the artifacts a delivery brings.
// As in Spinnaker, the trigger fires only when the delivery brings at least one of them; and so
// that it never starts an execution doomed to fail, each of the others must be brought too, or
// have a default.
func unmetArtifacts(c Candidate, brought []pipeline.Artifact) string {
	ids := c.Trigger.ExpectedArtifactIDs()
	if len(ids) == 0 {
		return ""
	}
	var matchedAny bool
	var missing, names []string
	for _, e := range c.ExpectedArtifacts {
		if !slices.Contains(ids, e.ID) {
			continue
		}
		names = append(names, e.Name())
		matched := slices.ContainsFunc(brought, e.Matches)
		matchedAny = matchedAny || matched
		if !matched && (!e.UseDefaultArtifact || e.DefaultArtifact == nil) {
			missing = append(missing, e.Name())
		}
	}
	switch {
	case !matchedAny:
		return fmt.Sprintf("the delivery brings none of the artifacts the trigger expects (%s)", strings.Join(names, ", "))
	case len(missing) > 0:
		return fmt.Sprintf("the delivery does not bring expected artifact %s, which has no default", strings.Join(missing, ", "))
	}
	return ""
}
