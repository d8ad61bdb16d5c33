package pipeline

import (
	"slices"
	"strings"
)

// Stage types that work on objects already in a Kubernetes account, with Spinnaker's names.
const (
	StageEnableManifest           = "enableManifest"
	StageDisableManifest          = "disableManifest"
	StageScaleManifest            = "scaleManifest"
	StagePatchManifest            = "patchManifest"
	StageUndoRolloutManifest      = "undoRolloutManifest"
	StageDeleteManifest           = "deleteManifest"
	StageRollingRestartManifest   = "rollingRestartManifest"
	StageFindArtifactFromResource = "findArtifactsFromResource"
	// stageFindArtifactFromResourceAlias is the singular spelling earlier gennaker releases wrote.
	stageFindArtifactFromResourceAlias = "findArtifactFromResource"
)

// How a manifest stage names its object, in its "mode" setting.
const (
	// ManifestModeStatic names it in manifestName, as "kind name"; the default.
	ManifestModeStatic = "static"
	// ManifestModeDynamic picks a server group of a moniker cluster by a criterion when the stage runs.
	ManifestModeDynamic = "dynamic"
	// ManifestModeLabel selects every object of the stage's kinds whose labels match its
	// labelSelectors; deleteManifest only.
	ManifestModeLabel = "label"
)

// ManifestCriteria are the criteria that pick a server group in dynamic mode.
var ManifestCriteria = []string{"newest", "second_newest", "oldest", "largest", "smallest"}

// Patch merge strategies, patchManifest's options.mergeStrategy; the first is the default.
const (
	PatchStrategic = "strategic"
	PatchJSON      = "json"
	PatchMerge     = "merge"
)

// PatchMergeStrategies are patchManifest's options.mergeStrategy values; the first is the default.
var PatchMergeStrategies = []string{PatchStrategic, PatchJSON, PatchMerge}

// Label selector kinds of a deleteManifest by label, with Spinnaker's names.
var labelSelectorKinds = []string{"ANY", "EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS", "EXISTS", "NOT_EXISTS"}

// ManifestTarget is how a manifest operation stage names the object it works on.
type ManifestTarget struct {
	Account string
	// Namespace is location; empty means the account's default namespace.
	Namespace string
	Mode      string
	// ManifestName is "kind name", such as "deployment web" (static mode).
	ManifestName string
	// Cluster, Criteria and Kind pick a server group of a moniker cluster (dynamic mode).
	Cluster  string
	Criteria string
	Kind     string
	// Labels selects objects of Kinds by label (label mode).
	Labels *LabelSelection
}

// LabelSelection is a deleteManifest's selection of objects by label.
type LabelSelection struct {
	// Kinds are the kinds of object to select, such as deployment or configMap.
	Kinds []string
	// Selector is the selection in Kubernetes' label selector syntax, such as app=web,track!=canary.
	Selector string
}

// readManifestTarget reads how a manifest stage names its object: an account, an optional
// location (namespace), and a static manifestName, a dynamic cluster and criteria, or (when
// labelsAllowed) a label selection.
func readManifestTarget(f fields, labelsAllowed bool) ManifestTarget {
	t := ManifestTarget{Account: f.requiredString("account"), Namespace: f.trimmed("location")}
	if cp := f.trimmed("cloudProvider"); cp != "" && cp != CloudKubernetes {
		f.bad(f.at("cloudProvider"), cp, "%q is not supported: gennaker's manifest stages work on Kubernetes accounts", cp)
	}
	t.Mode = f.trimmed("mode")
	if t.Mode == "" {
		t.Mode = ManifestModeStatic
		// Deck leaves mode out of a deletion by label; a selection with selectors is one.
		if labelsAllowed && hasLabelSelectors(f) {
			t.Mode = ManifestModeLabel
		}
	}
	switch t.Mode {
	case ManifestModeStatic:
		t.ManifestName = f.requiredString("manifestName")
		if t.ManifestName != "" && len(strings.Fields(t.ManifestName)) != 2 {
			f.bad(f.at("manifestName"), t.ManifestName, "must be a kind and a name, as in \"deployment web\" or \"replicaSet web-v003\"")
		}
	case ManifestModeDynamic:
		t.Cluster = f.requiredString("cluster")
		if t.Criteria = f.requiredString("criteria"); t.Criteria != "" && !slices.Contains(ManifestCriteria, t.Criteria) {
			f.bad(f.at("criteria"), t.Criteria, "must be one of %s", strings.Join(ManifestCriteria, ", "))
		}
		t.Kind = f.trimmed("kind")
	case ManifestModeLabel:
		if !labelsAllowed {
			f.ps.add(f.at("mode"), "selecting by label is offered by deleteManifest only; name the object (mode static, manifestName) or pick it from a cluster (mode dynamic)")
			break
		}
		t.Labels = readLabelSelection(f)
	default:
		modes := []string{ManifestModeStatic, ManifestModeDynamic}
		if labelsAllowed {
			modes = append(modes, ManifestModeLabel)
		}
		f.bad(f.at("mode"), t.Mode, "must be one of %s", strings.Join(modes, ", "))
	}
	return t
}

// hasLabelSelectors reports whether a stage's labelSelectors hold at least one selector.
func hasLabelSelectors(f fields) bool {
	ls, _ := f.ctx["labelSelectors"].(map[string]any)
	list, _ := ls["selectors"].([]any)
	return len(list) > 0
}

// readLabelSelection reads Spinnaker's kinds and labelSelectors into a label selector.
func readLabelSelection(f fields) *LabelSelection {
	sel := &LabelSelection{Kinds: f.stringList("kinds")}
	if len(sel.Kinds) == 0 && !holdsExpression(f.ctx["kinds"]) {
		f.ps.add(f.at("kinds"), "required: the kinds of object to delete, such as [\"deployment\"]")
	}
	ls, ok := f.optionalObject("labelSelectors")
	if !ok {
		if !f.has("labelSelectors") {
			f.ps.add(f.at("labelSelectors"), "required: {\"selectors\": [{\"kind\": \"EQUALS\", \"key\": \"app\", \"values\": [\"web\"]}]}")
		}
		return sel
	}
	lf := f.sub("labelSelectors", ls)
	var terms []string
	lf.eachObject("selectors", true, func(_ int, s fields) {
		key := s.requiredString("key")
		kind := s.oneOf("kind", "EQUALS", labelSelectorKinds...)
		values := s.stringList("values")
		if key == "" {
			return
		}
		one := func() string {
			if len(values) != 1 {
				s.bad(s.at("values"), s.ctx["values"], "must hold exactly one value for %s", kind)
				return ""
			}
			return values[0]
		}
		some := func() string {
			if len(values) == 0 {
				s.ps.add(s.at("values"), "must hold at least one value for %s", kind)
			}
			return strings.Join(values, ",")
		}
		switch kind {
		case "ANY":
		case "EQUALS":
			terms = append(terms, key+"="+one())
		case "NOT_EQUALS":
			terms = append(terms, key+"!="+one())
		case "CONTAINS":
			terms = append(terms, key+" in ("+some()+")")
		case "NOT_CONTAINS":
			terms = append(terms, key+" notin ("+some()+")")
		case "EXISTS":
			terms = append(terms, key)
		case "NOT_EXISTS":
			terms = append(terms, "!"+key)
		}
	})
	sel.Selector = strings.Join(terms, ",")
	return sel
}

// References names the account.
func (t ManifestTarget) References(path string) []Reference {
	return []Reference{{Path: joinKey(path, "account"), Kind: RefAccount, Provider: CloudKubernetes, Name: t.Account}}
}

// manifestOp registers a manifest operation stage type on Kubernetes.
func manifestOp[T any](name string, read func(settings map[string]any, path string) (T, []Problem), aliases ...string) StageType[T] {
	return RegisterStageType(StageType[T]{Name: name, Aliases: aliases, CloudProvider: CloudKubernetes, Read: read})
}

// ManifestTargetStage is the settings of a manifest operation that needs nothing but its target:
// enableManifest, disableManifest, rollingRestartManifest, findArtifactsFromResource.
type ManifestTargetStage struct {
	ManifestTarget
}

// ReadManifestTargetStage reads a manifest operation stage that needs nothing but its target.
func ReadManifestTargetStage(settings map[string]any, path string) (ManifestTargetStage, []Problem) {
	var ps problems
	return ManifestTargetStage{readManifestTarget(newFields(settings, path, &ps), false)}, ps
}

// Manifest operation stage types.
var (
	// EnableManifestStageType puts a server group into the traffic of its Services.
	EnableManifestStageType = manifestOp(StageEnableManifest, ReadManifestTargetStage)
	// DisableManifestStageType takes a server group out of the traffic of its Services.
	DisableManifestStageType = manifestOp(StageDisableManifest, ReadManifestTargetStage)
	// RollingRestartManifestStageType replaces a workload's pods by rolling them.
	RollingRestartManifestStageType = manifestOp(StageRollingRestartManifest, ReadManifestTargetStage)
	// FindArtifactsFromResourceStageType reads an object and outputs its images and itself as artifacts.
	FindArtifactsFromResourceStageType = manifestOp(StageFindArtifactFromResource, ReadManifestTargetStage,
		stageFindArtifactFromResourceAlias)
	// ScaleManifestStageType sets a workload's replicas.
	ScaleManifestStageType = manifestOp(StageScaleManifest, ReadScaleManifestStage)
	// PatchManifestStageType patches an object as kubectl patch does.
	PatchManifestStageType = manifestOp(StagePatchManifest, ReadPatchManifestStage)
	// UndoRolloutManifestStageType puts back an earlier revision of a Deployment.
	UndoRolloutManifestStageType = manifestOp(StageUndoRolloutManifest, ReadUndoRolloutManifestStage)
	// DeleteManifestStageType deletes objects, by name, by cluster and criteria, or by label.
	DeleteManifestStageType = manifestOp(StageDeleteManifest, ReadDeleteManifestStage)
)

// ScaleManifestStage is a scaleManifest stage's settings.
type ScaleManifestStage struct {
	ManifestTarget
	Replicas int
}

// ReadScaleManifestStage reads a scaleManifest stage.
func ReadScaleManifestStage(settings map[string]any, path string) (ScaleManifestStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	return ScaleManifestStage{readManifestTarget(f, false), int(f.requiredCount("replicas", 0))}, ps
}

// UndoRolloutManifestStage is an undoRolloutManifest stage's settings.
type UndoRolloutManifestStage struct {
	ManifestTarget
	// RevisionsBack is numRevisionsBack, 1 when not written.
	RevisionsBack int
}

// ReadUndoRolloutManifestStage reads an undoRolloutManifest stage.
func ReadUndoRolloutManifestStage(settings map[string]any, path string) (UndoRolloutManifestStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	return UndoRolloutManifestStage{readManifestTarget(f, false), int(f.count("numRevisionsBack", 1, 1))}, ps
}

// Cascading deletion policies of deleteManifest's options.cascading.
const (
	CascadeBackground = "background"
	CascadeForeground = "foreground"
	CascadeOrphan     = "orphan"
)

// DeleteManifestStage is a deleteManifest stage's settings.
type DeleteManifestStage struct {
	ManifestTarget
	// Cascading is background (Spinnaker's cascading true, the default), foreground or orphan
	// (cascading false).
	Cascading string
	// GracePeriodSeconds overrides the pods' grace period when set.
	GracePeriodSeconds *int64
}

// ReadDeleteManifestStage reads a deleteManifest stage.
func ReadDeleteManifestStage(settings map[string]any, path string) (DeleteManifestStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := DeleteManifestStage{ManifestTarget: readManifestTarget(f, true), Cascading: CascadeBackground}
	opts, ok := f.optionalObject("options")
	if !ok {
		return s, ps
	}
	o := f.sub("options", opts)
	if v, ok := o.get("cascading"); ok {
		if b, isBool := readBool(v); isBool {
			if !b {
				s.Cascading = CascadeOrphan
			}
		} else if text, _ := v.(string); slices.Contains([]string{CascadeBackground, CascadeForeground, CascadeOrphan}, strings.ToLower(strings.TrimSpace(text))) {
			s.Cascading = strings.ToLower(strings.TrimSpace(text))
		} else {
			o.bad(o.at("cascading"), v, "must be true, false, or one of background, foreground, orphan")
		}
	}
	if o.has("gracePeriodSeconds") {
		grace := o.count("gracePeriodSeconds", 0, 0)
		s.GracePeriodSeconds = &grace
	}
	return s, ps
}

// PatchManifestStage is a patchManifest stage's settings.
type PatchManifestStage struct {
	ManifestTarget
	// MergeStrategy is one of PatchMergeStrategies.
	MergeStrategy string
	// Patch is the patch: an object, or for a json patch the list of operations.
	Patch any
}

// ReadPatchManifestStage reads a patchManifest stage. Spinnaker keeps a strategic or merge patch as
// a list of one object; an expression may give the patch as JSON text.
func ReadPatchManifestStage(settings map[string]any, path string) (PatchManifestStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := PatchManifestStage{ManifestTarget: readManifestTarget(f, false), MergeStrategy: PatchStrategic}
	if source := f.trimmed("source"); source != "" && source != ManifestSourceText {
		f.bad(f.at("source"), source, "%q is not supported: give the patch inline in patchBody with source \"text\"", source)
	}
	if opts, ok := f.optionalObject("options"); ok {
		o := f.sub("options", opts)
		s.MergeStrategy = o.oneOf("mergeStrategy", PatchStrategic, PatchMergeStrategies...)
		o.optionalBool("record")
	}
	body, present := f.get("patchBody")
	if text, isString := body.(string); isString && !hasExpression(text) {
		// Text is the JSON an expression evaluated to.
		var parsed any
		if err := unmarshalNumbers([]byte(text), &parsed); err == nil {
			body = normalizeNumbers(parsed)
		}
	}
	switch b := body.(type) {
	case nil:
		if !present {
			ps.add(f.at("patchBody"), "required")
		}
	case map[string]any:
		if s.MergeStrategy == PatchJSON {
			ps.add(f.at("patchBody"), "a json patch is a list of operations, such as [{\"op\": \"replace\", \"path\": \"/spec/replicas\", \"value\": 2}]")
		}
		s.Patch = b
	case []any:
		switch {
		case s.MergeStrategy == PatchJSON:
			f.eachObject("patchBody", true, func(_ int, op fields) {
				op.requiredString("op")
				op.requiredString("path")
			})
			s.Patch = b
		case len(b) != 1:
			ps.add(f.at("patchBody"), "a %s patch is one object; give it as an object or a list of exactly one", s.MergeStrategy)
		default:
			if m, ok := b[0].(map[string]any); ok {
				s.Patch = m
			} else {
				f.bad(joinIndex(f.at("patchBody"), 0), b[0], "must be an object")
			}
		}
	default:
		f.bad(f.at("patchBody"), body, "must be an object or a list (a JSON patch's operations)")
	}
	return s, ps
}
