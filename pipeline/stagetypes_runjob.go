package pipeline

import (
	"regexp"
	"strings"
)

// StageRunJobManifest runs one Kubernetes Job to its end and publishes what it printed as
// outputs, with Spinnaker's name.
const StageRunJobManifest = "runJobManifest"

// Bounds of a runJobManifest stage's logTailBytes: how much of the end of each container's log is
// read for outputs.
const (
	DefaultRunJobLogTailBytes = 64 << 10
	MaxRunJobLogTailBytes     = 1 << 20
)

func init() {
	RegisterStageType(StageTypeSpec{Name: StageRunJobManifest, Validate: validateRunJobManifest, KubernetesAccount: true})
}

// A Job's name is also the value of the job-name label on its pods, so it must be a DNS label;
// a generateName is one before the suffix added to it.
var (
	jobName       = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	jobNamePrefix = regexp.MustCompile(`^[a-z0-9][-a-z0-9]*$`)
)

// validateRunJobManifest checks a runJobManifest stage: an account, and one Job given inline in
// manifest (or, as older Spinnaker pipelines have it, alone in manifests).
func validateRunJobManifest(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	f.requiredString("account")
	if source, ok := f.optionalString("source"); ok && source != "" && source != "text" && !hasExpression(source) {
		ps.add(f.at("source"), "%q is not supported: give the Job inline in manifest, with source \"text\"", source)
	}
	override, _ := f.optionalString("namespaceOverride")
	location, _ := f.optionalString("location")
	if override != "" && location != "" && override != location {
		ps.add(f.at("location"), "%q differs from namespaceOverride %q; set only one of them", location, override)
	}
	f.optionalString("propertyFile")
	f.optionalBool("skipExpressionEvaluation")
	if v, ok := f.get("consumeArtifactSource"); ok {
		if text, isString := v.(string); !isString || text != "" {
			ps.add(f.at("consumeArtifactSource"), "%q is not supported: leave it out; outputs are read from the job's log "+
				"(propertyFile names the container whose log holds them)", stringify(v))
		}
	}
	if v, ok := f.get("logTailBytes"); ok && !isExprString(v) {
		if n, whole := wholeNumber(v); !whole || n < 1 || n > MaxRunJobLogTailBytes {
			ps.add(f.at("logTailBytes"), "must be a whole number of bytes from 1 to %d", MaxRunJobLogTailBytes)
		}
	}

	manifest, hasManifest := f.get("manifest")
	manifests, hasManifests := f.get("manifests")
	switch {
	case hasManifest && hasManifests:
		ps.add(f.at("manifests"), "give the Job in manifest or in manifests, not both")
	case hasManifest:
		checkJobManifest(manifest, f.at("manifest"), &ps)
	case hasManifests:
		list, isList := manifests.([]any)
		switch {
		case !isList && isExprString(manifests):
		case !isList:
			ps.add(f.at("manifests"), "must be a list holding one Job")
		case len(list) != 1:
			ps.add(f.at("manifests"), "must hold exactly one Job, not %d manifests; deploy the others with deployManifest", len(list))
		default:
			checkJobManifest(list[0], joinIndex(f.at("manifests"), 0), &ps)
		}
	default:
		ps.add(f.at("manifest"), "required: the Job to run")
	}
	return ps
}

// checkJobManifest checks that v is a Job the stage can run. Parts written as expressions are
// checked once evaluated, when the stage runs.
func checkJobManifest(v any, path string, ps *problems) {
	if isExprString(v) {
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		ps.add(path, "must be an object: the Job to run")
		return
	}
	m := newFields(obj, path, ps)
	if apiVersion := m.requiredString("apiVersion"); apiVersion != "" && !hasExpression(apiVersion) && !strings.HasPrefix(apiVersion, "batch/") {
		ps.add(m.at("apiVersion"), "%q is not the API of Jobs; use batch/v1", apiVersion)
	}
	if kind := m.requiredString("kind"); kind != "" && !hasExpression(kind) && kind != "Job" {
		ps.add(m.at("kind"), "must be Job, not %q: runJobManifest runs one Job; deploy other kinds with deployManifest", kind)
	}
	meta, ok := m.optionalObject("metadata")
	if !ok {
		if _, present := m.get("metadata"); !present {
			ps.add(m.at("metadata"), "required")
		}
		return
	}
	md := newFields(meta, m.at("metadata"), ps)
	name, _ := md.optionalString("name")
	generateName, _ := md.optionalString("generateName")
	switch {
	case strings.TrimSpace(name) == "" && strings.TrimSpace(generateName) == "":
		ps.add(md.at("name"), "required, or metadata.generateName, to which a suffix is added for each execution")
	case name != "" && !hasExpression(name) && !jobName.MatchString(name):
		ps.add(md.at("name"), "%q is not a valid Job name: use at most 63 lowercase letters, digits and '-', "+
			"starting and ending with a letter or digit", name)
	case name == "" && !hasExpression(generateName) && !jobNamePrefix.MatchString(generateName):
		ps.add(md.at("generateName"), "%q is not a valid start of a Job name: use lowercase letters, digits and '-', "+
			"starting with a letter or digit", generateName)
	}
}
