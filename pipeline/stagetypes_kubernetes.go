package pipeline

import (
	"slices"
	"strings"
)

// Kubernetes stage types, with Spinnaker's names.
const (
	StageDeployManifest  = "deployManifest"
	StageRollbackCluster = "rollbackCluster"
)

func init() {
	RegisterStageType(StageTypeSpec{Name: StageDeployManifest, Validate: validateDeployManifest, KubernetesAccount: true})
	RegisterStageType(StageTypeSpec{Name: StageRollbackCluster, Validate: validateRollbackCluster, KubernetesAccount: true})
}

// Traffic strategies of a deploy with traffic management, as Spinnaker names them.
var trafficStrategies = []string{"redblack", "highlander", "none"}

// validateDeployManifest checks a deployManifest stage: an account; manifests given inline or an
// artifact to read them from; traffic management on ReplicaSets only; rollback on failure.
func validateDeployManifest(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	f.requiredString("account")
	f.optionalString("namespaceOverride")
	f.optionalBool("skipExpressionEvaluation")
	f.stringList("requiredArtifactIds")
	source, _ := f.optionalString("source")
	switch source {
	case "", "text":
		validateInlineManifests(f, trafficManaged(s.Context), &ps)
	case "artifact":
		id, hasID := f.optionalString("manifestArtifactId")
		art, hasArt := f.optionalObject("manifestArtifact")
		switch {
		case hasArt:
			newFields(art, f.at("manifestArtifact"), &ps).requiredString("type")
		case !hasID || strings.TrimSpace(id) == "":
			ps.add(f.at("manifestArtifactId"), "required when source is \"artifact\": the id of one of the pipeline's expectedArtifacts (or give manifestArtifact)")
		}
		if _, inline := f.get("manifests"); inline {
			ps.add(f.at("manifests"), "source is \"artifact\", so these manifests would be ignored; remove them or set source to \"text\"")
		}
	default:
		ps.add(f.at("source"), "must be \"text\" (manifests inline) or \"artifact\" (manifests read from an artifact)")
	}
	if tm, ok := f.optionalObject("trafficManagement"); ok {
		validateTrafficManagement(newFields(tm, f.at("trafficManagement"), &ps), &ps)
	}
	if rb, ok := f.optionalObject("rollback"); ok {
		newFields(rb, f.at("rollback"), &ps).optionalBool("onFailure")
	}
	return ps
}

// trafficManaged reports whether a deploy stage turns traffic management on.
func trafficManaged(ctx map[string]any) bool {
	tm, _ := ctx["trafficManagement"].(map[string]any)
	enabled, _ := tm["enabled"].(bool)
	return enabled
}

// validateInlineManifests checks manifests written in the stage; with traffic management, the
// workloads must be ReplicaSets.
func validateInlineManifests(f fields, trafficManaged bool, ps *problems) {
	f.eachObject("manifests", true, func(m fields) {
		if isExprString(m.ctx) {
			return
		}
		m.requiredString("apiVersion")
		kind := m.requiredString("kind")
		if trafficManaged && slices.Contains([]string{"Deployment", "StatefulSet", "DaemonSet"}, kind) {
			ps.add(m.at("kind"), "traffic management works only on ReplicaSets: a %s replaces its own pods and cannot keep an old version ready without traffic; deploy a ReplicaSet, or turn trafficManagement off", kind)
		}
		meta, ok := m.optionalObject("metadata")
		if !ok {
			if _, present := m.get("metadata"); !present {
				ps.add(m.at("metadata"), "required")
			}
			return
		}
		newFields(meta, m.at("metadata"), ps).requiredString("name")
	})
}

// validateTrafficManagement checks Spinnaker's trafficManagement block.
func validateTrafficManagement(tm fields, ps *problems) {
	enabled, _ := tm.optionalBool("enabled")
	opts, ok := tm.optionalObject("options")
	if !enabled {
		return
	}
	if !ok {
		ps.add(tm.at("options"), "required when traffic management is enabled: the services, and the strategy")
		return
	}
	o := newFields(opts, tm.at("options"), ps)
	services, _ := o.list("services", true)
	for i, svc := range services {
		name, isString := svc.(string)
		if !isString || strings.TrimSpace(name) == "" {
			ps.add(joinIndex(o.at("services"), i), "must name a Service, as \"service web\"")
			continue
		}
		if kind, _, found := strings.Cut(strings.TrimSpace(name), " "); found && !strings.EqualFold(kind, "service") && !hasExpression(name) {
			ps.add(joinIndex(o.at("services"), i), "%q: traffic is managed through Services; write \"service NAME\"", name)
		}
	}
	enableTraffic, literal := o.optionalBool("enableTraffic")
	strategy, _ := o.optionalString("strategy")
	switch {
	case strategy == "" || hasExpression(strategy):
	case !slices.Contains(trafficStrategies, strategy):
		ps.add(o.at("strategy"), "must be one of %s", strings.Join(trafficStrategies, ", "))
	case strategy != "none" && literal && !enableTraffic:
		ps.add(o.at("enableTraffic"), "must be true for the %s strategy, which moves traffic to the new server group", strategy)
	case strategy != "none" && !literal:
		if _, set := o.get("enableTraffic"); !set {
			ps.add(o.at("enableTraffic"), "must be true for the %s strategy, which moves traffic to the new server group", strategy)
		}
	}
	o.wholeCount("maxRemainingAsgs", 1, false)
	o.optionalBool("scaleDown")
}

// validateRollbackCluster checks a rollbackCluster stage: the account and the cluster to roll back.
func validateRollbackCluster(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	f.requiredString("account")
	f.requiredString("cluster")
	f.optionalString("location")
	f.optionalString("application")
	return ps
}

// checkAccount reports a Kubernetes stage naming an account the worker does not know.
func checkAccount(s Stage, path string, known []string, ps *problems) {
	if known == nil {
		return
	}
	if spec, ok := lookupStageType(s.Type); !ok || !spec.KubernetesAccount {
		return
	}
	account, _ := s.Context["account"].(string)
	if account == "" || hasExpression(account) || slices.Contains(known, account) {
		return
	}
	if len(known) == 0 {
		ps.add(path+".account", "unknown account %q: no Kubernetes accounts are configured", account)
		return
	}
	ps.add(path+".account", "unknown account %q; known Kubernetes accounts: %s", account, strings.Join(known, ", "))
}
