package pipeline

import (
	"slices"
	"strconv"
	"strings"
)

// Stage types that work on one object already in a Kubernetes account, with Spinnaker's names.
const (
	StageEnableManifest           = "enableManifest"
	StageDisableManifest          = "disableManifest"
	StageScaleManifest            = "scaleManifest"
	StagePatchManifest            = "patchManifest"
	StageUndoRolloutManifest      = "undoRolloutManifest"
	StageDeleteManifest           = "deleteManifest"
	StageRollingRestartManifest   = "rollingRestartManifest"
	StageFindArtifactFromResource = "findArtifactFromResource"
)

// How a manifest stage names its object, in its "mode" setting.
const (
	// ManifestModeStatic names it in manifestName, as "kind name"; the default.
	ManifestModeStatic = "static"
	// ManifestModeDynamic picks a server group of a moniker cluster by a criterion when the stage runs.
	ManifestModeDynamic = "dynamic"
	// ManifestModeLabel is Spinnaker's deletion by label selector, which gennaker refuses.
	ManifestModeLabel = "label"
)

// ManifestCriteria are the criteria that pick a server group in dynamic mode.
var ManifestCriteria = []string{"newest", "second_newest", "oldest", "largest", "smallest"}

// PatchMergeStrategies are patchManifest's options.mergeStrategy values; the first is the default.
var PatchMergeStrategies = []string{"strategic", "json", "merge"}

func init() {
	for _, spec := range []StageTypeSpec{
		{Name: StageEnableManifest, Validate: validateManifestTargetOnly},
		{Name: StageDisableManifest, Validate: validateManifestTargetOnly},
		{Name: StageScaleManifest, Validate: validateScaleManifest},
		{Name: StagePatchManifest, Validate: validatePatchManifest},
		{Name: StageUndoRolloutManifest, Validate: validateUndoRolloutManifest},
		{Name: StageDeleteManifest, Validate: validateDeleteManifest},
		{Name: StageRollingRestartManifest, Validate: validateManifestTargetOnly},
		{Name: StageFindArtifactFromResource, Validate: validateManifestTargetOnly},
	} {
		spec.KubernetesAccount = true
		RegisterStageType(spec)
	}
}

// manifestTarget checks how a manifest stage names its object: an account, an optional location
// (namespace), and either a static manifestName or a dynamic cluster and criteria.
func manifestTarget(f fields, stageType string) {
	f.requiredString("account")
	f.optionalString("location")
	if cp, ok := f.optionalString("cloudProvider"); ok && cp != "" && cp != "kubernetes" && !hasExpression(cp) {
		f.ps.add(f.at("cloudProvider"), "%q is not supported: gennaker's manifest stages work on Kubernetes accounts", cp)
	}
	mode, _ := f.optionalString("mode")
	switch {
	case mode == "" || mode == ManifestModeStatic:
		name := f.requiredString("manifestName")
		if name != "" && !hasExpression(name) && len(strings.Fields(name)) != 2 {
			f.ps.add(f.at("manifestName"), "must be a kind and a name, as in \"deployment web\" or \"replicaSet web-v003\"")
		}
	case mode == ManifestModeDynamic:
		f.requiredString("cluster")
		if c := f.requiredString("criteria"); c != "" && !hasExpression(c) && !slices.Contains(ManifestCriteria, c) {
			f.ps.add(f.at("criteria"), "must be one of %s", strings.Join(ManifestCriteria, ", "))
		}
		f.optionalString("kind")
	case hasExpression(mode):
		// Which fields it needs is known once it is evaluated.
		f.optionalString("manifestName")
		f.optionalString("cluster")
		f.optionalString("criteria")
	case mode == ManifestModeLabel && stageType == StageDeleteManifest:
		f.ps.add(f.at("mode"), "deleting by label selector is not supported: name the manifest (mode static, manifestName) or pick it from a cluster (mode dynamic, cluster and criteria)")
	default:
		f.ps.add(f.at("mode"), "must be %s or %s", ManifestModeStatic, ManifestModeDynamic)
	}
}

func validateManifestTargetOnly(s Stage, path string) []Problem {
	var ps problems
	manifestTarget(newFields(s.Context, path, &ps), s.Type)
	return ps
}

func validateScaleManifest(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	manifestTarget(f, s.Type)
	f.wholeCount("replicas", 0, true)
	return ps
}

func validateUndoRolloutManifest(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	manifestTarget(f, s.Type)
	f.wholeCount("numRevisionsBack", 1, false)
	return ps
}

func validateDeleteManifest(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	manifestTarget(f, s.Type)
	if opts, ok := f.optionalObject("options"); ok {
		o := newFields(opts, f.at("options"), &ps)
		if v, ok := o.get("cascading"); ok {
			switch x := v.(type) {
			case bool:
			case string:
				if !hasExpression(x) && !slices.Contains([]string{"background", "foreground", "orphan"}, x) {
					ps.add(o.at("cascading"), "must be true, false, or one of background, foreground, orphan")
				}
			default:
				ps.add(o.at("cascading"), "must be true, false, or one of background, foreground, orphan")
			}
		}
		o.wholeCount("gracePeriodSeconds", 0, false)
	}
	return ps
}

func validatePatchManifest(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	manifestTarget(f, s.Type)
	if source, ok := f.optionalString("source"); ok && source != "" && source != "text" && !hasExpression(source) {
		ps.add(f.at("source"), "%q is not supported: give the patch inline in patchBody with source \"text\"", source)
	}
	strategy := PatchMergeStrategies[0]
	if opts, ok := f.optionalObject("options"); ok {
		o := newFields(opts, f.at("options"), &ps)
		if m, ok := o.optionalString("mergeStrategy"); ok && m != "" {
			strategy = m
			if !hasExpression(m) && !slices.Contains(PatchMergeStrategies, m) {
				ps.add(o.at("mergeStrategy"), "must be one of %s", strings.Join(PatchMergeStrategies, ", "))
			}
		}
		o.optionalBool("record")
	}
	body, _ := f.get("patchBody")
	switch b := body.(type) {
	case nil:
		ps.add(f.at("patchBody"), "required")
	case string:
		if !hasExpression(b) {
			ps.add(f.at("patchBody"), "must be an object or a list (a JSON patch's operations)")
		}
	case map[string]any:
		if strategy == "json" {
			ps.add(f.at("patchBody"), "a json patch is a list of operations, such as [{\"op\": \"replace\", \"path\": \"/spec/replicas\", \"value\": 2}]")
		}
	case []any:
		switch {
		case strategy == "json":
			f.eachObject("patchBody", true, func(op fields) {
				op.requiredString("op")
				op.requiredString("path")
			})
		case hasExpression(strategy):
		case len(b) != 1:
			// Spinnaker keeps a strategic or merge patch as a list of one object.
			ps.add(f.at("patchBody"), "a %s patch is one object; give it as an object or a list of exactly one", strategy)
		default:
			if _, ok := b[0].(map[string]any); !ok && !isExprString(b[0]) {
				ps.add(joinIndex(f.at("patchBody"), 0), "must be an object")
			}
		}
	default:
		ps.add(f.at("patchBody"), "must be an object or a list (a JSON patch's operations)")
	}
	return ps
}

// wholeCount checks a whole number setting of at least min, written as a number, a string holding one,
// or an expression.
func (f fields) wholeCount(key string, min int64, required bool) {
	v, ok := f.get(key)
	if !ok {
		if required {
			f.ps.add(f.at(key), "required")
		}
		return
	}
	if s, isString := v.(string); isString {
		if hasExpression(s) {
			return
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			f.ps.add(f.at(key), "must be a whole number of at least %d", min)
			return
		}
		v = n
	}
	if n, isWhole := wholeNumber(v); !isWhole || n < min {
		f.ps.add(f.at(key), "must be a whole number of at least %d", min)
	}
}
