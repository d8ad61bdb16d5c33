package triggers

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// DeliveryIDHeaders are the headers that identify a delivery, first present wins: GitHub's,
// GitLab's, Bitbucket's, gennaker's own for other senders, then a proxy's request ID.
var DeliveryIDHeaders = []string{"X-GitHub-Delivery", "X-Gitlab-Event-UUID", "X-Request-UUID", "X-Gennaker-Delivery", "X-Request-Id"}

// maxDeliveryID bounds a delivery ID used as it is (a header's value, a build's key); a longer one
// is hashed, so a sender cannot make every execution carry a long string, and two long values
// still differ.
const maxDeliveryID = 128

// executionIDLength is how many base32 characters of the digest an execution ID keeps: 130 bits.
const executionIDLength = 26

// DeliveryID identifies a delivery so that a provider's redelivery, or the same body sent again,
// starts nothing new. A delivery that carries its ID (a pubsub message, "sqs:{message id}") is
// that ID (hashed when over 128 bytes). A CI build notification that can be read is identified by its build:
// "jenkins:{master}/{job}#{number}" (hashed when over 128 bytes). A registry notification holding
// one event, as the registry sends them, is that event: "registry:{id}"; each event of a larger
// one is a delivery of its own, which Match.DeliveryID names. Any other delivery is the first of
// DeliveryIDHeaders present, else "sha256:" and the body's digest.
func DeliveryID(d Delivery) string {
	if id := strings.TrimSpace(d.ID); id != "" {
		if len(id) > maxDeliveryID {
			return hashID([]byte(id))
		}
		return id
	}
	switch d.Kind {
	case pipeline.TriggerJenkins:
		if b, err := readJenkins(d); err == nil {
			return b.deliveryID()
		}
	case pipeline.TriggerDocker:
		if n, err := readRegistry(d); err == nil && len(n.events) == 1 {
			return n.events[0].deliveryID
		}
	}
	for _, name := range DeliveryIDHeaders {
		v := strings.TrimSpace(d.Header.Get(name))
		switch {
		case v == "":
			continue
		case len(v) > maxDeliveryID:
			return hashID([]byte(v))
		}
		return v
	}
	return hashID(d.Body)
}

func hashID(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ExecutionID is the workflow ID of the execution a delivery starts from a candidate: the same
// delivery to the same trigger always gives the same ID, so Temporal refuses a second start. It is
// "trg-" and 26 lower-case base32 characters of a SHA-256 over kind, source, delivery, pipeline and
// trigger index. For a registry notification of several events, each Match carries the ID of its
// own event's execution.
func ExecutionID(d Delivery, c Candidate) string {
	return executionID(d, DeliveryID(d), c)
}

// executionID is ExecutionID for one delivery of a request, which a registry's notification
// holds several of.
func executionID(d Delivery, deliveryID string, c Candidate) string {
	source := d.Source
	if d.Kind == pipeline.TriggerGit {
		// Providers are matched without regard to case; "GitHub" and "github" are one delivery.
		source = strings.ToLower(source)
	}
	target := c.PipelineID
	if target == "" {
		target = c.Application + "/" + c.Pipeline
	}
	return DerivedID("trg-", d.Kind, source, deliveryID, target, strconv.Itoa(c.Index))
}

// DerivedID is a workflow ID derived from what caused an execution: prefix and 26 lower-case
// base32 characters of a SHA-256 over the parts. Every automatic start names its execution so,
// and Temporal then refuses to start the same one twice.
func DerivedID(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + lowerBase32.EncodeToString(sum[:])[:executionIDLength]
}
