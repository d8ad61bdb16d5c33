package triggers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// Phases of the Jenkins Notification plugin that report a finished build; QUEUED and STARTED do not.
var finishedPhases = []string{"COMPLETED", "FINALIZED"}

// build is a CI build notification, read once for every candidate.
type build struct {
	d    Delivery
	info pipeline.BuildInfo
	// unfinished, when set, says why the notification reports no finished build.
	unfinished string
	properties map[string]any
	// notes are remarks on the payload that every match carries into Reasons.
	notes []string
}

// readJenkins reads either form of build notification the package documentation describes.
func readJenkins(d Delivery) (*build, error) {
	p, err := decodeObject(d.Body)
	if err != nil {
		return nil, err
	}
	b := &build{d: d, info: pipeline.BuildInfo{Master: d.Source}}
	var number, properties any
	var numberKey, propertiesKey string
	if plugin := obj(p, "build"); plugin != nil {
		b.info.Name = first(str(p, "name"), str(p, "job"))
		number, numberKey = plugin["number"], "build.number"
		properties, propertiesKey = plugin["parameters"], "build.parameters"
		// url beside full_url is relative to Jenkins' root; it is kept only when there is nothing better.
		b.info.URL = first(str(plugin, "full_url"), str(plugin, "url"))
		phase := strings.ToUpper(strings.TrimSpace(str(plugin, "phase")))
		b.info.Result = strings.ToUpper(strings.TrimSpace(str(plugin, "status")))
		switch {
		case phase != "" && !slices.Contains(finishedPhases, phase):
			b.unfinished = fmt.Sprintf("the notification is of phase %s; a build fires triggers once it has finished", quote(phase))
		case b.info.Result == "" && phase != "":
			b.unfinished = fmt.Sprintf("the notification is of phase %s and has no build.status", quote(phase))
		case b.info.Result == "":
			b.unfinished = "the notification has no build.status: the build has not finished"
		}
	} else {
		b.info.Name = first(str(p, "job"), str(p, "name"))
		number, numberKey = p["buildNumber"], "buildNumber"
		properties, propertiesKey = p["properties"], "properties"
		b.info.URL = str(p, "url")
		b.info.Result = strings.ToUpper(strings.TrimSpace(str(p, "result")))
		if b.info.Result == "" {
			b.unfinished = "the notification has no result: the build has not finished"
		}
	}
	if strings.TrimSpace(b.info.Name) == "" {
		return nil, fmt.Errorf(`%w: a build notification names its job in "job" or "name"`, ErrBadPayload)
	}
	n, ok := buildNumber(number)
	if !ok {
		return nil, fmt.Errorf("%w: a build notification gives its build's number, a positive whole number, in %s", ErrBadPayload, numberKey)
	}
	b.info.Number = n
	switch x := properties.(type) {
	case nil:
	case map[string]any:
		b.properties = x
	default:
		b.notes = append(b.notes, fmt.Sprintf("payload %s is not an object; started without properties", propertiesKey))
	}
	return b, nil
}

// buildNumber reads a build number written as a JSON number or, from a script, as a string of digits.
func buildNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, x > 0
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil && n > 0
	}
	return 0, false
}

// deliveryID is the build's natural key: however often its notification is sent (a retry, the
// plugin's COMPLETED then FINALIZED), a build is one delivery.
func (b *build) deliveryID() string {
	key := fmt.Sprintf("jenkins:%s/%s#%d", b.info.Master, b.info.Name, b.info.Number)
	if len(key) > maxDeliveryID {
		return hashID([]byte(key))
	}
	return key
}

// watches compares masters exactly: a master is a URL path segment, and paths are case-sensitive.
func (b *build) watches(t pipeline.Trigger) bool {
	return t.Jenkins().Master == b.d.Source
}

func (b *build) decide(c Candidate) decision {
	settings := c.Trigger.Jenkins()
	// The job is checked before the signature: each job's notifier may have its own secret, so
	// another job's trigger failing to verify this delivery says nothing about it.
	if settings.Job != b.info.Name {
		return decision{why: fmt.Sprintf("the build is of job %s, the trigger watches %s", quote(b.info.Name), quote(settings.Job))}
	}
	if settings.Secret != "" {
		if why := checkSignature(b.d.Header, SignatureHeader, settings.Secret, b.d.Body); why != "" {
			return decision{why: why, unsigned: true}
		}
	}
	if b.unfinished != "" {
		return decision{why: b.unfinished}
	}
	if !slices.Contains(settings.BuildResults, b.info.Result) {
		return decision{why: fmt.Sprintf("build %d ended %s; the trigger fires on %s",
			b.info.Number, quote(b.info.Result), strings.Join(settings.BuildResults, ", "))}
	}
	if why := b.unmet(settings.PropertyConstraints); why != "" {
		return decision{why: why}
	}
	return decision{info: b.trigger(), notes: b.notes}
}

// unmet checks every property constraint, in key order, and says which fail.
func (b *build) unmet(constraints map[string]string) string {
	return unmetConstraints(constraints, b.check)
}

func (b *build) check(key, pattern string) string {
	re, err := pipeline.FullMatchRegexp(pattern)
	if err != nil {
		return fmt.Sprintf("constraint on property %q is not a regular expression: %v", key, err)
	}
	value, found := b.properties[key]
	if !found || value == nil {
		return fmt.Sprintf("the build has no property %q for constraint %q", key, pattern)
	}
	if s := text(value); !re.MatchString(s) {
		return fmt.Sprintf("property %q is %s, which does not match %q in full", key, quote(s), pattern)
	}
	return ""
}

// trigger is what a build starts an execution with. The properties are the execution's parameters
// too, as text, since a CI server passes every parameter as a string and parameterConfig compares
// them so.
func (b *build) trigger() pipeline.TriggerInfo {
	info := b.info
	t := pipeline.TriggerInfo{
		Type:      pipeline.TriggerJenkins,
		User:      "jenkins:" + b.info.Master,
		Source:    b.info.Master,
		BuildInfo: &info,
	}
	if b.properties != nil {
		t.Properties = pipeline.DeepCopy(b.properties).(map[string]any)
		t.Parameters = make(map[string]any, len(b.properties))
		for k, v := range b.properties {
			if v == nil {
				t.Parameters[k] = ""
				continue
			}
			t.Parameters[k] = text(v)
		}
	}
	return t
}
