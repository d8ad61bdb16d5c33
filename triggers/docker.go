package triggers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// RegistryEventsMediaType is the media type of the distribution registry's notification envelope.
const RegistryEventsMediaType = "application/vnd.docker.distribution.events.v1+json"

// DockerImageArtifactType is the type of the artifact a docker trigger brings: the pushed image,
// by digest, which deploy stages bind to the containers naming it.
const DockerImageArtifactType = "docker/image"

// registryDeliveryPrefix starts the delivery ID of a registry event: "registry:" and the event's id.
const registryDeliveryPrefix = "registry:"

// bearerPrefix starts an Authorization header carrying a token.
const bearerPrefix = "Bearer "

// registryPush is the only action that fires a docker trigger; pulls, mounts and deletes do not.
const registryPush = "push"

// manifestMediaTypes are what a registry stores as an image's manifest, as opposed to a layer or
// config blob: Docker's schema 1 and 2, manifest lists, OCI images and indexes.
var manifestMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}

// manifestURL is the path a registry names a manifest by; a blob's URL has /blobs/ instead.
var manifestURL = regexp.MustCompile(`/v2/.+/manifests/[^/]+$`)

// registryNotification is a registry's notification envelope, read once for every candidate.
type registryNotification struct {
	events []*registryEvent
}

// registryEvent is one event of an envelope: its own delivery.
type registryEvent struct {
	d          Delivery
	deliveryID string
	// id is the registry's event id, for reasons.
	id                                 string
	action, mediaType, repository, tag string
	digest                             string
	// requestHost is the host the pusher used; urlHost the host of the event's URL.
	requestHost, urlHost string
	// manifest says the event is about a manifest, not a layer or config blob.
	manifest bool
	// malformed, when set, says why the event cannot fire anything.
	malformed string
}

// readRegistry reads the envelope {"events": [...]} the distribution registry posts. An entry
// that is not an event object fires nothing and says why, rather than refusing the envelope:
// the registry resends a refused envelope for ever, holding back every event after it.
func readRegistry(d Delivery) (*registryNotification, error) {
	p, err := decodeObject(d.Body)
	if err != nil {
		return nil, err
	}
	list, ok := p["events"].([]any)
	if !ok {
		return nil, fmt.Errorf(`%w: a registry notification is {"events": [...]}, as the registry sends with media type %s`, ErrBadPayload, RegistryEventsMediaType)
	}
	n := &registryNotification{}
	for i, item := range list {
		n.events = append(n.events, readRegistryEvent(d, i, item))
	}
	return n, nil
}

func readRegistryEvent(d Delivery, i int, item any) *registryEvent {
	e := &registryEvent{d: d}
	m, isObject := item.(map[string]any)
	if !isObject {
		e.id = fmt.Sprintf("events[%d]", i)
		e.deliveryID = registryDeliveryID(item)
		e.malformed = "not an event object"
		return e
	}
	e.id = strings.TrimSpace(str(m, "id"))
	e.deliveryID = registryDeliveryID(m)
	if e.id == "" {
		// Without the registry's id, the event's content identifies it; say which entry it was.
		e.id = fmt.Sprintf("events[%d]", i)
	}
	e.action = strings.ToLower(strings.TrimSpace(str(m, "action")))
	e.mediaType = strings.TrimSpace(str(m, "target", "mediaType"))
	e.repository = str(m, "target", "repository")
	e.tag = str(m, "target", "tag")
	e.digest = str(m, "target", "digest")
	e.requestHost = strings.TrimSpace(str(m, "request", "host"))
	e.manifest = slices.Contains(manifestMediaTypes, e.mediaType)
	if u, err := url.Parse(str(m, "target", "url")); err == nil {
		e.urlHost = u.Host
		// A manifest of a media type this list does not know yet is still named by its URL.
		e.manifest = e.manifest || manifestURL.MatchString(u.Path)
	}
	return e
}

// registryDeliveryID is "registry:" and the event's id, so that the registry's redelivery of an
// event (it retries until it gets a 2xx) starts nothing new, while each event of an envelope
// starts its own execution. An event without an id is identified by its content; a long id is
// hashed, as other deliveries' are.
func registryDeliveryID(event any) string {
	m, _ := event.(map[string]any)
	if id := strings.TrimSpace(str(m, "id")); id != "" {
		if len(registryDeliveryPrefix)+len(id) > maxDeliveryID {
			return registryDeliveryPrefix + hashID([]byte(id))
		}
		return registryDeliveryPrefix + id
	}
	// encoding/json writes object keys sorted, so the same event always gives the same bytes.
	raw, err := json.Marshal(event)
	if err != nil {
		raw = []byte(fmt.Sprint(event))
	}
	return registryDeliveryPrefix + hashID(raw)
}

// deliveries makes each event a delivery of its own.
func (n *registryNotification) deliveries() []delivered {
	out := make([]delivered, len(n.events))
	for i, e := range n.events {
		out[i] = delivered{id: e.deliveryID, kind: e}
	}
	return out
}

// watches matches the trigger's registry with the host the pusher used or, behind a proxy that
// rewrites it, the host of the event's URL; and its repository exactly, as registries name
// repositories in lower case only. A malformed event is looked at by every trigger, so that the
// reasons say what became of it.
func (e *registryEvent) watches(t pipeline.Trigger) bool {
	if e.malformed != "" {
		return true
	}
	s := t.Docker()
	if s.Registry == "" || s.Repository != e.repository {
		return false
	}
	return strings.EqualFold(s.Registry, e.requestHost) || strings.EqualFold(s.Registry, e.urlHost)
}

func (e *registryEvent) decide(c Candidate) decision {
	settings := c.Trigger.Docker()
	// The secret is checked first, so a sender without it learns nothing of what would match.
	if settings.Secret != "" {
		if why := checkBearer(e.d.Header, settings.Secret); why != "" {
			return decision{why: e.say(why), unsigned: true}
		}
	}
	switch {
	case e.malformed != "":
		return decision{why: e.say(e.malformed)}
	case e.action != registryPush:
		return decision{why: e.say(fmt.Sprintf("a %s, not a push", quote(e.action)))}
	case !e.manifest:
		return decision{why: e.say(fmt.Sprintf("a push of a blob (%s), not of an image's manifest", quote(e.mediaType)))}
	case e.tag == "":
		return decision{why: e.say("a push of a manifest by digest, without a tag")}
	case e.digest == "":
		return decision{why: e.say("a push without target.digest: the image cannot be named by digest")}
	}
	if why := e.unmatchedTag(settings.Tag); why != "" {
		return decision{why: e.say(why)}
	}
	return decision{info: e.trigger(settings.Registry)}
}

// unmatchedTag applies the trigger's tag rule: its pattern in full, or any tag but latest.
func (e *registryEvent) unmatchedTag(pattern string) string {
	if pattern == "" {
		if e.tag == pipeline.DockerLatestTag {
			return "tag latest fires only a trigger whose tag pattern names it"
		}
		return ""
	}
	re, err := pipeline.FullMatchRegexp(pattern)
	if err != nil {
		return fmt.Sprintf("the trigger's tag %q is not a regular expression: %v", pattern, err)
	}
	if !re.MatchString(e.tag) {
		return fmt.Sprintf("tag %s does not match %q in full", quote(e.tag), pattern)
	}
	return ""
}

// say names the event in a reason, since one envelope may carry several.
func (e *registryEvent) say(why string) string {
	return fmt.Sprintf("registry event %s: %s", e.id, why)
}

// trigger is what a push starts an execution with. The registry is the trigger's own spelling,
// since that is how the pipeline's manifests name the image; the artifact's reference pins the
// digest, so a deploy runs exactly the image pushed even if the tag moves on.
func (e *registryEvent) trigger(registry string) pipeline.TriggerInfo {
	image := registry + "/" + e.repository
	return pipeline.TriggerInfo{
		Type:   pipeline.TriggerDocker,
		User:   "docker:" + registry,
		Source: registry,
		Payload: map[string]any{
			"registry":   registry,
			"repository": e.repository,
			"tag":        e.tag,
			"digest":     e.digest,
		},
		Artifacts: []pipeline.Artifact{{
			Type:      DockerImageArtifactType,
			Name:      image,
			Version:   e.tag,
			Reference: image + "@" + e.digest,
		}},
	}
}

// checkBearer compares an "Authorization: Bearer <token>" header with the secret in constant
// time; a non-empty result says why it fails.
func checkBearer(h http.Header, secret string) string {
	got := strings.TrimSpace(h.Get("Authorization"))
	if got == "" {
		return "the trigger has a secret and the notification has no Authorization header"
	}
	if len(got) < len(bearerPrefix) || !strings.EqualFold(got[:len(bearerPrefix)], bearerPrefix) {
		return "the Authorization header is not Bearer <secret>"
	}
	// Comparing digests keeps the comparison's time independent of the secret's length too.
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got[len(bearerPrefix):]))), sha256.Sum256([]byte(secret))
	if !hmac.Equal(a[:], b[:]) {
		return "the Authorization header does not carry the trigger's secret"
	}
	return ""
}
