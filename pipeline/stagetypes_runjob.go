package pipeline

import (
	"regexp"
	"strings"
)

// Stage types that run one Kubernetes Job to its end and publish what it printed as outputs,
// with Spinnaker's names: runJobManifest, and runJob, the older name Spinnaker's Kubernetes
// provider ran Jobs under.
const (
	StageRunJobManifest = "runJobManifest"
	StageRunJob         = "runJob"
)

// Bounds of a run-job stage's logTailBytes: how much of the end of each container's log is read
// for outputs.
const (
	DefaultRunJobLogTailBytes = 64 << 10
	MaxRunJobLogTailBytes     = 1 << 20
)

// How a run-job stage reads the outputs a job prints, its consumeArtifactSource.
const (
	// JobOutputsFromLogs reads them from the end of the job's logs: Deck's "propertyFile", or left out.
	JobOutputsFromLogs = "propertyFile"
	// JobOutputsNone reads none.
	JobOutputsNone = "none"
)

// RunJobManifestStageType runs one Kubernetes Job to its end.
var RunJobManifestStageType = RegisterStageType(StageType[RunJobStage]{
	Name: StageRunJobManifest, CloudProvider: CloudKubernetes, Read: ReadRunJobManifestStage})

// RunJobStageType is runJob on Kubernetes: a Job given as a manifest, as runJobManifest takes it,
// or described by containers, as Spinnaker's first Kubernetes provider wrote it.
var RunJobStageType = RegisterStageType(StageType[RunJobStage]{
	Name: StageRunJob, CloudProvider: CloudKubernetes, Read: ReadRunJobStage})

// RunJobStage is a run-job stage's settings.
type RunJobStage struct {
	Account string
	// Manifest is the Job, written in the stage; nil when it is read from an artifact.
	Manifest map[string]any
	// FromArtifact is set when the Job is read from an artifact (source artifact).
	FromArtifact *ArtifactSource
	// RequiredArtifacts must be bound into the Job (requiredArtifactIds, requiredArtifacts).
	RequiredArtifacts []ArtifactSource
	// Namespace is namespaceOverride, or location.
	Namespace string
	// PropertyFile names the container whose log holds the outputs; empty means every container.
	PropertyFile string
	// Outputs is JobOutputsFromLogs or JobOutputsNone.
	Outputs      string
	LogTailBytes int64
	// SkipExpressionEvaluation leaves ${...} in a Job read from an artifact as it is.
	SkipExpressionEvaluation bool
	// BindTriggerImages binds the trigger's images into the Job, as a runJob described by
	// containers whose image comes from the trigger asks.
	BindTriggerImages bool
}

// References names the account and the expected artifacts the stage uses.
func (s RunJobStage) References(path string) []Reference {
	refs := []Reference{{Path: joinKey(path, "account"), Kind: RefAccount, Provider: CloudKubernetes, Name: s.Account}}
	return append(refs, artifactReferences(s.FromArtifact, s.RequiredArtifacts)...)
}

// A Job's name is also the value of the job-name label on its pods, so it must be a DNS label;
// a generateName is one before the suffix added to it.
var (
	jobName       = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	jobNamePrefix = regexp.MustCompile(`^[a-z0-9][-a-z0-9]*$`)
)

// ReadRunJobManifestStage reads a runJobManifest stage: an account, and one Job written in
// manifest (or, as older Spinnaker pipelines have it, alone in manifests) or read from an artifact.
func ReadRunJobManifestStage(settings map[string]any, path string) (RunJobStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	return readRunJob(f, false), ps
}

// ReadRunJobStage reads a runJob stage on Kubernetes: as runJobManifest when it has a manifest,
// else the Job its containers describe.
func ReadRunJobStage(settings map[string]any, path string) (RunJobStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	return readRunJob(f, true), ps
}

func readRunJob(f fields, containersAllowed bool) RunJobStage {
	s := RunJobStage{
		Account:                  f.requiredString("account"),
		PropertyFile:             f.trimmed("propertyFile"),
		SkipExpressionEvaluation: f.boolean("skipExpressionEvaluation", false),
		LogTailBytes:             DefaultRunJobLogTailBytes,
		RequiredArtifacts:        readRequiredArtifacts(f),
	}
	override, location := f.trimmed("namespaceOverride"), f.trimmed("location")
	if override != "" && location != "" && override != location {
		f.bad(f.at("location"), location, "%q differs from namespaceOverride %q; set only one of them", location, override)
	}
	s.Namespace = override
	if s.Namespace == "" {
		s.Namespace = location
	}
	switch source := f.trimmed("consumeArtifactSource"); source {
	case "", JobOutputsFromLogs:
		s.Outputs = JobOutputsFromLogs
	case JobOutputsNone:
		s.Outputs = JobOutputsNone
	default:
		f.bad(f.at("consumeArtifactSource"), source, "%q is not offered: outputs are read from the job's log (%q, the default; propertyFile names the container "+
			"whose log holds them) or not at all (%q)", source, JobOutputsFromLogs, JobOutputsNone)
	}
	if v, ok := f.get("logTailBytes"); ok {
		n, isNumber := readNumber(v)
		if !isNumber || n != float64(int64(n)) || n < 1 || n > MaxRunJobLogTailBytes {
			f.bad(f.at("logTailBytes"), v, "must be a whole number of bytes from 1 to %d", MaxRunJobLogTailBytes)
		} else {
			s.LogTailBytes = int64(n)
		}
	}

	if f.oneOf("source", ManifestSourceText, ManifestSourceText, ManifestSourceArtifact) == ManifestSourceArtifact {
		s.FromArtifact = readArtifactSource(f, "manifestArtifactId", "manifestArtifact", true)
		return s
	}
	manifest, hasManifest := f.get("manifest")
	manifests, hasManifests := f.get("manifests")
	switch {
	case hasManifest && hasManifests:
		f.ps.add(f.at("manifests"), "give the Job in manifest or in manifests, not both")
	case hasManifest:
		s.Manifest = checkJobManifest(f, manifest, f.at("manifest"))
	case hasManifests:
		list, isList := manifests.([]any)
		switch {
		case !isList:
			f.bad(f.at("manifests"), manifests, "must be a list holding one Job")
		case len(list) != 1:
			f.ps.add(f.at("manifests"), "must hold exactly one Job, not %d manifests; deploy the others with deployManifest", len(list))
		default:
			s.Manifest = checkJobManifest(f, list[0], joinIndex(f.at("manifests"), 0))
		}
	case containersAllowed && (f.has("containers") || f.has("container")):
		s.Manifest, s.BindTriggerImages = jobFromContainers(f)
	case containersAllowed:
		f.ps.add(f.at("manifest"), "required: the Job to run (or Spinnaker's containers)")
	default:
		f.ps.add(f.at("manifest"), "required: the Job to run")
	}
	return s
}

// checkJobManifest checks that v is a Job the stage can run and returns it.
func checkJobManifest(f fields, v any, path string) map[string]any {
	obj, ok := v.(map[string]any)
	if !ok {
		f.bad(path, v, "must be an object: the Job to run")
		return nil
	}
	m := newFields(obj, path, f.ps)
	if apiVersion := m.requiredString("apiVersion"); apiVersion != "" && !strings.HasPrefix(apiVersion, "batch/") {
		m.bad(m.at("apiVersion"), apiVersion, "%q is not the API of Jobs; use batch/v1", apiVersion)
	}
	if kind := m.requiredString("kind"); kind != "" && kind != "Job" {
		m.bad(m.at("kind"), kind, "must be Job, not %q: a run-job stage runs one Job; deploy other kinds with deployManifest", kind)
	}
	meta, ok := m.optionalObject("metadata")
	if !ok {
		if !m.has("metadata") {
			f.ps.add(m.at("metadata"), "required")
		}
		return obj
	}
	md := m.sub("metadata", meta)
	name, generateName := md.trimmed("name"), md.trimmed("generateName")
	switch {
	case name == "" && generateName == "":
		f.ps.add(md.at("name"), "required, or metadata.generateName, to which a suffix is added for each execution")
	case name != "" && !jobName.MatchString(name):
		md.bad(md.at("name"), name, "%q is not a valid Job name: use at most 63 lowercase letters, digits and '-', "+
			"starting and ending with a letter or digit", name)
	case name == "" && !jobNamePrefix.MatchString(generateName):
		md.bad(md.at("generateName"), generateName, "%q is not a valid start of a Job name: use lowercase letters, digits and '-', "+
			"starting with a letter or digit", generateName)
	}
	return obj
}

// jobFromContainers builds the Job a runJob of Spinnaker's first Kubernetes provider describes:
// its containers (or container), namespace, labels, annotations and pod settings. It reports
// whether an image comes from the trigger (imageDescription.fromTrigger), to be bound when the
// stage runs.
func jobFromContainers(f fields) (map[string]any, bool) {
	var containers []any
	fromTrigger := false
	add := func(c fields) {
		container, trigger := v1Container(c)
		containers = append(containers, container)
		fromTrigger = fromTrigger || trigger
	}
	if c, ok := f.optionalObject("container"); ok {
		add(f.sub("container", c))
	}
	f.eachObject("containers", false, func(_ int, c fields) { add(c) })
	if len(containers) == 0 {
		f.ps.add(f.at("containers"), "must describe at least one container")
		return nil, false
	}
	app := strings.ToLower(f.trimmed("application"))
	prefix := "job-"
	if app != "" && jobNamePrefix.MatchString(app) {
		prefix = app + "-"
	}
	podSpec := map[string]any{"containers": containers, "restartPolicy": "Never"}
	if dns := f.trimmed("dnsPolicy"); dns != "" {
		podSpec["dnsPolicy"] = dns
	}
	if sa := f.trimmed("serviceAccountName"); sa != "" {
		podSpec["serviceAccountName"] = sa
	}
	metadata := map[string]any{"generateName": prefix}
	if ns := f.trimmed("namespace"); ns != "" {
		metadata["namespace"] = ns
	}
	podMeta := map[string]any{}
	for _, key := range []string{"labels", "annotations"} {
		if m, ok := f.optionalObject(key); ok && len(m) > 0 {
			metadata[key] = m
			podMeta[key] = m
		}
	}
	template := map[string]any{"spec": podSpec}
	if len(podMeta) > 0 {
		template["metadata"] = podMeta
	}
	return map[string]any{
		"apiVersion": "batch/v1",
		"kind":       "Job",
		"metadata":   metadata,
		"spec":       map[string]any{"backoffLimit": int64(0), "template": template},
	}, fromTrigger
}

// v1PullPolicies are Spinnaker's spellings of Kubernetes' image pull policies.
var v1PullPolicies = map[string]string{"IFNOTPRESENT": "IfNotPresent", "ALWAYS": "Always", "NEVER": "Never"}

// v1Container translates one container of Spinnaker's first Kubernetes provider.
func v1Container(c fields) (map[string]any, bool) {
	out := map[string]any{"name": c.requiredString("name")}
	fromTrigger := false
	if img, ok := c.optionalObject("imageDescription"); ok {
		d := c.sub("imageDescription", img)
		image := d.trimmed("imageId")
		if image == "" {
			image = strings.Trim(d.trimmed("registry")+"/"+d.trimmed("repository"), "/")
			if tag := d.trimmed("tag"); tag != "" {
				image += ":" + tag
			}
		}
		if image == "" {
			c.ps.add(d.at("imageId"), "required: the image the container runs")
		}
		out["image"] = image
		fromTrigger = d.boolean("fromTrigger", false)
	} else {
		out["image"] = c.requiredString("image")
	}
	for _, key := range []string{"command", "args"} {
		if list := c.stringList(key); len(list) > 0 {
			out[key] = toAnyList(list)
		}
	}
	var env []any
	c.eachObject("envVars", false, func(_ int, e fields) {
		env = append(env, map[string]any{"name": e.requiredString("name"), "value": e.str("value")})
	})
	if len(env) > 0 {
		out["env"] = env
	}
	if list, _ := c.list("ports", false); len(list) > 0 {
		out["ports"] = list
	}
	resources := map[string]any{}
	for _, key := range []string{"limits", "requests"} {
		if m, ok := c.optionalObject(key); ok && len(m) > 0 {
			resources[key] = m
		}
	}
	if len(resources) > 0 {
		out["resources"] = resources
	}
	if policy := c.trimmed("imagePullPolicy"); policy != "" {
		if p, ok := v1PullPolicies[strings.ToUpper(policy)]; ok {
			out["imagePullPolicy"] = p
		} else {
			c.bad(c.at("imagePullPolicy"), policy, "must be IFNOTPRESENT, ALWAYS or NEVER")
		}
	}
	for _, key := range []string{"volumeMounts", "envFrom"} {
		if list, _ := c.list(key, false); len(list) > 0 {
			c.ps.add(c.at(key), "is not offered for a runJob described by containers: give the Job as a manifest (runJobManifest) to mount volumes or read environments from sources")
		}
	}
	return out, fromTrigger
}

func toAnyList(items []string) []any {
	out := make([]any, len(items))
	for i, s := range items {
		out[i] = s
	}
	return out
}
