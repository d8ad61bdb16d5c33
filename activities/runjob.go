package activities

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
	"github.com/gennaker/gennaker/pipeline"
)

// How a job hands outputs to later stages: lines of its log. Spinnaker's two forms, and gennaker's
// own block, which needs no prefix on every line.
const (
	// JobPropertyPrefix starts a line KEY=VALUE after it: SPINNAKER_PROPERTY_VERSION=1.2 is the
	// output VERSION.
	JobPropertyPrefix = "SPINNAKER_PROPERTY_"
	// JobConfigJSONPrefix starts a line whose rest is a JSON object, every key of which is an output.
	JobConfigJSONPrefix = "SPINNAKER_CONFIG_JSON="
	// JobOutputsMarker alone on a line (trailing spaces aside) makes every later KEY=VALUE line of
	// the same container's log an output, up to the log's end. Other lines are ignored.
	JobOutputsMarker = "--- gennaker outputs ---"
)

// Application error types of the run-job activities.
const (
	// ErrTypeJobInvalid is a manifest that is not a Job the stage can run; never retried.
	ErrTypeJobInvalid = "JobInvalid"
	// ErrTypeJobExists is a Job of the same name left by another execution or stage; never retried.
	ErrTypeJobExists = "JobExists"
	// ErrTypeJobFailed is a Job that failed. Its details hold the CollectJobOutputsResult, so the
	// stage keeps the job's status and logs.
	ErrTypeJobFailed = "JobFailed"
	// ErrTypeJobGone is a Job deleted or replaced while the stage waited for it; never retried.
	ErrTypeJobGone = "JobGone"
	// ErrTypeJobOutputsTooLarge is a job that printed more outputs than a stage may keep.
	ErrTypeJobOutputsTooLarge = "JobOutputsTooLarge"
)

// Bounds on what a run-job stage keeps: everything in a result is written to workflow history.
const (
	// MaxJobOutputBytes bounds the outputs a job prints, encoded as JSON.
	MaxJobOutputBytes = 256 << 10
	// jobLogBytes is how much of the end of each container's log the stage's logs output keeps.
	jobLogBytes = 8 << 10
	// maxJobLogs is how many containers' logs the stage's logs output keeps, newest pods first.
	maxJobLogs = 5
	// jobFailureLogBytes is how much of the end of a failed pod's log the failure message carries.
	jobFailureLogBytes = 2 << 10
	// maxJobLogErrors is how many problems with reading logs or outputs are noted.
	maxJobLogErrors = 5
	// maxJobLogErrorBytes bounds each noted problem.
	maxJobLogErrorBytes = 512
)

// Names of the outputs a run-job stage sets itself; a job's outputs of these names are refused.
const (
	OutputJobStatus  = "jobStatus"
	OutputJobLogs    = "logs"
	OutputLogErrors  = "logErrors"
	OutputDeployJobs = "deploy.jobs"
)

// Job phases in the jobStatus output.
const (
	JobPhaseRunning   = "Running"
	JobPhaseSucceeded = "Succeeded"
	JobPhaseFailed    = "Failed"
)

// StartJobInput is a runJobManifest stage's Job, its expressions already evaluated.
type StartJobInput struct {
	Account string `json:"account"`
	// Manifest is one batch/v1 Job. Without metadata.name, metadata.generateName and a suffix made
	// from ExecutionID and StageRefID name it.
	Manifest          map[string]any `json:"manifest"`
	Application       string         `json:"application"`
	NamespaceOverride string         `json:"namespaceOverride,omitempty"`
	ExecutionID       string         `json:"executionId"`
	StageRefID        string         `json:"stageRefId"`
	// Artifacts are bound into the Job where they match, as a deploy binds them: the trigger's
	// images replace the images they name.
	Artifacts []pipeline.Artifact `json:"artifacts,omitempty"`
	// RequiredArtifacts must each be bound into the Job, or it is refused.
	RequiredArtifacts []pipeline.Artifact `json:"requiredArtifacts,omitempty"`
}

// StartJobResult is the Job as the API server stored it.
type StartJobResult struct {
	Job cloud.Resource `json:"job"`
}

// StartJob creates the stage's Job through a deploy, which stamps it with the application's
// moniker and the execution. It is idempotent: the Job's name depends only on the manifest, the
// execution and the stage, so a retry after a crash applies the same Job again instead of creating
// a second one. A Job of that name left by another execution or stage is refused: it ran already,
// and waiting on it would report its old result.
func (k *Kubernetes) StartJob(ctx context.Context, in StartJobInput) (StartJobResult, error) {
	manifest, err := jobManifest(in.Manifest, in.ExecutionID, in.StageRefID)
	if err != nil {
		return StartJobResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeJobInvalid, nil)
	}
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return StartJobResult{}, classify(err)
	}
	name := stringAt(manifest, "metadata", "name")
	namespace := in.NamespaceOverride
	if namespace == "" {
		namespace = stringAt(manifest, "metadata", "namespace")
	}
	existing, found, err := p.Job(ctx, namespace, name)
	if err != nil {
		return StartJobResult{}, classify(err)
	}
	if found && (existing.ExecutionID != in.ExecutionID || existing.StageRefID != in.StageRefID) {
		by := "was not created by gennaker"
		if existing.ExecutionID != "" {
			by = fmt.Sprintf("was created by execution %s, stage %s", existing.ExecutionID, existing.StageRefID)
		}
		return StartJobResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"job %s already exists in %s and %s; a Job runs only once: delete it, or give the manifest "+
				"metadata.generateName instead of metadata.name so that every execution gets a Job of its own",
			name, existing.Namespace, by), ErrTypeJobExists, nil)
	}
	deployed, err := k.DeployManifest(ctx, DeployManifestInput{Account: in.Account, Deploy: cloud.DeployRequest{
		Manifests:         []any{manifest},
		Application:       in.Application,
		NamespaceOverride: in.NamespaceOverride,
		ExecutionID:       in.ExecutionID,
		StageRefID:        in.StageRefID,
		Artifacts:         in.Artifacts,
		RequiredArtifacts: in.RequiredArtifacts,
	}})
	if err != nil {
		return StartJobResult{}, err
	}
	if len(deployed.Result.Applied) != 1 {
		return StartJobResult{}, fmt.Errorf("deploying job %s applied %d objects, not 1", name, len(deployed.Result.Applied))
	}
	return StartJobResult{Job: deployed.Result.Applied[0]}, nil
}

// jobManifest checks that m is a Job and gives it its name: metadata.name, or metadata.generateName
// with a suffix derived from the execution and the stage (never random, so that a retry lands on
// the same Job). m is not changed.
func jobManifest(m map[string]any, executionID, stageRefID string) (map[string]any, error) {
	if m == nil {
		return nil, errors.New("the stage has no Job manifest")
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if kind != "Job" || err != nil || gv.Group != "batch" {
		return nil, fmt.Errorf("the manifest is a %s %q, not a batch/v1 Job: runJobManifest runs one Job; deploy other kinds with deployManifest",
			cmp.Or(kind, "manifest without a kind"), apiVersion)
	}
	metadata, _ := m["metadata"].(map[string]any)
	name, _ := metadata["name"].(string)
	generateName, _ := metadata["generateName"].(string)
	if name == "" && generateName == "" {
		return nil, errors.New("the Job has neither metadata.name nor metadata.generateName")
	}
	out := maps.Clone(m)
	md := maps.Clone(metadata)
	if name == "" {
		md["name"] = GeneratedJobName(generateName, executionID, stageRefID)
	}
	// The API server would make up a name of its own for a generateName it is sent.
	delete(md, "generateName")
	out["metadata"] = md
	return out, nil
}

// jobNameSuffixLen is the length of the suffix GeneratedJobName adds, from jobNameAlphabet: the
// characters Kubernetes itself uses for generated names, without vowels so that no word is spelt.
const (
	jobNameSuffixLen = 8
	jobNameAlphabet  = "bcdfghjklmnpqrstvwxz2456789"
	// maxJobName is what a Job's name may be: it is also the value of its pods' job-name label.
	maxJobName = 63
)

// GeneratedJobName is the name a Job with metadata.generateName gets in an execution's stage: the
// prefix, shortened if need be, and a suffix that depends only on the execution and the stage.
func GeneratedJobName(generateName, executionID, stageRefID string) string {
	sum := sha256.Sum256([]byte(executionID + "\x00" + stageRefID))
	suffix := make([]byte, jobNameSuffixLen)
	for i := range suffix {
		suffix[i] = jobNameAlphabet[int(sum[i])%len(jobNameAlphabet)]
	}
	prefix := generateName
	if len(prefix) > maxJobName-jobNameSuffixLen {
		prefix = prefix[:maxJobName-jobNameSuffixLen]
	}
	return prefix + string(suffix)
}

// CollectJobOutputsInput names the finished Job whose outputs and logs are read.
type CollectJobOutputsInput struct {
	Account string         `json:"account"`
	Job     cloud.Resource `json:"job"`
	// PropertyFile names the container whose log holds the outputs; empty reads every container.
	PropertyFile string `json:"propertyFile,omitempty"`
	// LogTailBytes is how much of the end of each container's log is read; 0 means
	// pipeline.DefaultRunJobLogTailBytes. Outputs printed before it are not seen.
	LogTailBytes int64 `json:"logTailBytes,omitempty"`
	// NoOutputs reads no outputs from the logs (consumeArtifactSource "none"); the logs are kept.
	NoOutputs bool `json:"noOutputs,omitempty"`
}

// JobStatus is the jobStatus output of a run-job stage.
type JobStatus struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Phase is JobPhaseSucceeded, JobPhaseFailed or JobPhaseRunning.
	Phase     string `json:"phase"`
	Active    int64  `json:"active"`
	Succeeded int64  `json:"succeeded"`
	Failed    int64  `json:"failed"`
	Message   string `json:"message,omitempty"`
}

// CollectJobOutputsResult is what a finished job leaves for its stage.
type CollectJobOutputsResult struct {
	// Outputs are what the job printed as outputs (see JobPropertyPrefix, JobConfigJSONPrefix and
	// JobOutputsMarker).
	Outputs   map[string]any `json:"outputs,omitempty"`
	JobStatus JobStatus      `json:"jobStatus"`
	// Logs are the ends of a few containers' logs, by "pod/container".
	Logs map[string]string `json:"logs,omitempty"`
	// LogErrors say which logs could not be read and which outputs were refused; logs are read
	// on a best-effort basis, so these never fail the stage.
	LogErrors []string `json:"logErrors,omitempty"`
}

// StageOutputs are the outputs of a run-job stage: the job's outputs at the top level, so that
// later stages read them by name (${VERSION}), then the stage's own.
func (r CollectJobOutputsResult) StageOutputs() map[string]any {
	out := make(map[string]any, len(r.Outputs)+4)
	maps.Copy(out, r.Outputs)
	out[OutputJobStatus] = map[string]any{
		"name": r.JobStatus.Name, "namespace": r.JobStatus.Namespace, "phase": r.JobStatus.Phase,
		"active": r.JobStatus.Active, "succeeded": r.JobStatus.Succeeded, "failed": r.JobStatus.Failed,
		"message": r.JobStatus.Message,
	}
	out[OutputDeployJobs] = map[string]any{r.JobStatus.Namespace: []any{r.JobStatus.Name}}
	if len(r.Logs) > 0 {
		logs := make(map[string]any, len(r.Logs))
		for k, v := range r.Logs {
			logs[k] = v
		}
		out[OutputJobLogs] = logs
	}
	if len(r.LogErrors) > 0 {
		errs := make([]any, len(r.LogErrors))
		for i, e := range r.LogErrors {
			errs[i] = e
		}
		out[OutputLogErrors] = errs
	}
	return out
}

// CollectJobOutputs reads a finished Job's status and the ends of its pods' logs, and parses the
// outputs the job printed: from its succeeded pods when it succeeded, else from all. Logs that
// cannot be read are noted, not fatal. A Job that failed fails the activity for good, with the
// controller's reason and the end of the failed pod's log in the message and the result in the
// error's details.
func (k *Kubernetes) CollectJobOutputs(ctx context.Context, in CollectJobOutputsInput) (CollectJobOutputsResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return CollectJobOutputsResult{}, classify(err)
	}
	job, found, err := p.Job(ctx, in.Job.Namespace, in.Job.Name)
	if err != nil {
		return CollectJobOutputsResult{}, classify(err)
	}
	if !found || job.UID != in.Job.UID {
		what := "was deleted"
		if found {
			what = "was replaced by another Job of the same name"
		}
		return CollectJobOutputsResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"job %s in %s %s while the stage waited for it; its outputs are lost", in.Job.Name, in.Job.Namespace, what), ErrTypeJobGone, nil)
	}
	var failedPods, succeededPods int64
	res := CollectJobOutputsResult{JobStatus: JobStatus{
		Name: job.Name, Namespace: job.Namespace, Phase: JobPhaseRunning,
		Active: job.Active, Succeeded: job.Succeeded, Failed: job.Failed, Message: job.Status.Message,
	}}
	switch {
	case job.Status.Failed:
		res.JobStatus.Phase = JobPhaseFailed
	case job.Status.Done:
		res.JobStatus.Phase = JobPhaseSucceeded
	}
	// A Job is failed as soon as the controller decides it is (FailureTarget), before it counts
	// the pods; the pods themselves already say how they ended.
	for _, pod := range job.Pods {
		switch corev1.PodPhase(pod.Phase) {
		case corev1.PodFailed:
			failedPods++
		case corev1.PodSucceeded:
			succeededPods++
		}
	}
	res.JobStatus.Failed = max(res.JobStatus.Failed, failedPods)
	res.JobStatus.Succeeded = max(res.JobStatus.Succeeded, succeededPods)

	tailBytes := in.LogTailBytes
	if tailBytes <= 0 {
		tailBytes = pipeline.DefaultRunJobLogTailBytes
	}
	tailBytes = min(tailBytes, pipeline.MaxRunJobLogTailBytes)
	logs, logErr := p.PodLogs(ctx, job.Namespace, kubernetes.LabelJobControllerUID+"="+job.UID, tailBytes)
	var notes []string
	for _, e := range splitErrors(logErr) {
		notes = append(notes, e.Error())
	}

	outputPods := job.Pods
	if in.NoOutputs {
		outputPods = nil
	}
	if res.JobStatus.Phase == JobPhaseSucceeded && !in.NoOutputs {
		succeeded := slices.DeleteFunc(slices.Clone(job.Pods), func(pod kubernetes.JobPod) bool { return pod.Phase != string(corev1.PodSucceeded) })
		if len(succeeded) > 0 {
			outputPods = succeeded
		}
	}
	read := false
	res.Outputs = map[string]any{}
	for _, pod := range outputPods {
		for _, key := range containerKeys(logs, pod.Name) {
			if in.PropertyFile != "" && key != pod.Name+"/"+in.PropertyFile {
				continue
			}
			read = true
			outputs, problems := parseJobOutputs(logs[key])
			for _, problem := range problems {
				notes = append(notes, key+": "+problem)
			}
			maps.Copy(res.Outputs, outputs)
		}
	}
	if in.PropertyFile != "" && !read && len(outputPods) > 0 {
		notes = append(notes, fmt.Sprintf("no log of container %s was read: check propertyFile names a container of the job", in.PropertyFile))
	}
	if len(res.Outputs) == 0 {
		res.Outputs = nil
	}
	if data, err := json.Marshal(res.Outputs); err == nil && len(data) > MaxJobOutputBytes {
		return CollectJobOutputsResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"job %s in %s printed %d bytes of outputs, more than the %d a stage may keep; print fewer or smaller outputs, "+
				"and keep large data elsewhere (an object store, a ConfigMap) with its address as the output",
			job.Name, job.Namespace, len(data), MaxJobOutputBytes), ErrTypeJobOutputsTooLarge, nil)
	}

	// Newest pods first: on a retried job, the last attempt is what a person wants to see.
	newestFirst := slices.Clone(job.Pods)
	slices.Reverse(newestFirst)
	for _, pod := range newestFirst {
		for _, key := range containerKeys(logs, pod.Name) {
			if len(res.Logs) == maxJobLogs {
				break
			}
			if res.Logs == nil {
				res.Logs = map[string]string{}
			}
			res.Logs[key] = tailText(logs[key], jobLogBytes)
		}
	}
	res.LogErrors = boundNotes(notes)

	if res.JobStatus.Phase == JobPhaseFailed {
		return res, temporal.NewNonRetryableApplicationError(failureMessage(job, logs, logErr), ErrTypeJobFailed, nil, res)
	}
	return res, nil
}

// failureMessage says why a job failed, in the controller's words, with its newest failed pod's
// problem and the end of that pod's log.
func failureMessage(job kubernetes.JobState, logs map[string]string, logErr error) string {
	var b strings.Builder
	reason := strings.TrimPrefix(job.Status.Message, cloud.FullName("Job", job.Name)+": ")
	reason = strings.TrimPrefix(reason, "failed: ")
	fmt.Fprintf(&b, "job %s in %s failed: %s", job.Name, job.Namespace, reason)
	var failed *kubernetes.JobPod
	for i := len(job.Pods) - 1; i >= 0; i-- {
		if job.Pods[i].Phase == string(corev1.PodFailed) {
			failed = &job.Pods[i]
			break
		}
	}
	if failed == nil {
		return b.String()
	}
	if failed.Problem != "" {
		b.WriteString("; " + failed.Problem)
	}
	// Each container gets its share of the bound, so every one is seen with its name.
	keys := containerKeys(logs, failed.Name)
	var tail strings.Builder
	for _, key := range keys {
		fmt.Fprintf(&tail, "\n==> %s <==\n%s", key, strings.TrimRight(tailText(logs[key], jobFailureLogBytes/len(keys)), "\n"))
	}
	switch {
	case tail.Len() > 0:
		fmt.Fprintf(&b, "\nend of the log of pod %s:%s", failed.Name, tail.String())
	case logErr != nil:
		fmt.Fprintf(&b, "\nits log could not be read: %s", truncateNote(splitErrors(logErr)[0].Error()))
	}
	return b.String()
}

// containerKeys are the "pod/container" keys of one pod's logs, sorted.
func containerKeys(logs map[string]string, pod string) []string {
	var keys []string
	for key := range logs {
		if strings.HasPrefix(key, pod+"/") {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// outputKey is what a key of gennaker's outputs block may be: a name an expression can read.
var outputKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

var reservedOutputs = []string{OutputJobStatus, OutputJobLogs, OutputLogErrors, OutputDeployJobs}

// parseJobOutputs reads the outputs a container printed, in the order printed, later values
// winning: SPINNAKER_PROPERTY_KEY=VALUE lines, SPINNAKER_CONFIG_JSON={...} lines, and every
// KEY=VALUE line after a JobOutputsMarker line. Values are strings, except those of a JSON object,
// which keep their JSON types. Problems are said per line, and the line is skipped.
func parseJobOutputs(log string) (map[string]any, []string) {
	out := map[string]any{}
	var problems []string
	set := func(n int, key string, value any) {
		if slices.Contains(reservedOutputs, key) {
			problems = append(problems, fmt.Sprintf("line %d: output %q is refused: the stage sets it itself", n, key))
			return
		}
		out[key] = value
	}
	inBlock := false
	for i, line := range strings.Split(log, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		switch {
		case strings.HasPrefix(line, JobPropertyPrefix):
			key, value, ok := strings.Cut(strings.TrimPrefix(line, JobPropertyPrefix), "=")
			if !ok || key == "" {
				problems = append(problems, fmt.Sprintf("line %d: %s must be followed by KEY=VALUE", n, JobPropertyPrefix))
				continue
			}
			set(n, key, value)
		case strings.HasPrefix(line, JobConfigJSONPrefix):
			var obj map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, JobConfigJSONPrefix)), &obj); err != nil || obj == nil {
				problems = append(problems, fmt.Sprintf("line %d: %s must be followed by a JSON object on the same line", n, JobConfigJSONPrefix))
				continue
			}
			for _, key := range slices.Sorted(maps.Keys(obj)) {
				set(n, key, obj[key])
			}
		case strings.TrimRight(line, " \t") == JobOutputsMarker:
			inBlock = true
		case inBlock:
			if key, value, ok := strings.Cut(line, "="); ok && outputKey.MatchString(key) {
				set(n, key, value)
			}
		}
	}
	return out, problems
}

// tailText is the end of s within n bytes, from the start of a line when one begins within them.
func tailText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i+1 < len(s) {
		return s[i+1:]
	}
	// A single long line is cut, perhaps within a character.
	return strings.ToValidUTF8(s, "")
}

// splitErrors undoes errors.Join.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

// boundNotes keeps the first few notes, each bounded, and says how many more there were.
func boundNotes(notes []string) []string {
	if len(notes) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(notes), maxJobLogErrors)+1)
	for _, note := range notes[:min(len(notes), maxJobLogErrors)] {
		out = append(out, truncateNote(note))
	}
	if more := len(notes) - maxJobLogErrors; more > 0 {
		out = append(out, fmt.Sprintf("and %d more", more))
	}
	return out
}

func truncateNote(s string) string {
	if len(s) <= maxJobLogErrorBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxJobLogErrorBytes], "") + "…"
}

func stringAt(m map[string]any, keys ...string) string {
	for _, key := range keys[:len(keys)-1] {
		m, _ = m[key].(map[string]any)
	}
	s, _ := m[keys[len(keys)-1]].(string)
	return s
}
