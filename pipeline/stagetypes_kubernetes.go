package pipeline

import (
	"slices"
	"strings"
)

// Kubernetes stage types, with Spinnaker's names.
const (
	StageDeployManifest = "deployManifest"
)

func init() {
	RegisterStageType(StageTypeSpec{Name: StageDeployManifest, Validate: validateDeployManifest, KubernetesAccount: true})
}

// validateDeployManifest checks a deployManifest stage: an account, and manifests given inline.
func validateDeployManifest(s Stage, path string) []Problem {
	var ps problems
	f := newFields(s.Context, path, &ps)
	f.requiredString("account")
	if source, ok := f.optionalString("source"); ok && source != "" && source != "text" {
		ps.add(f.at("source"), "%q is not supported: give the manifests inline with source \"text\"", source)
	}
	f.optionalString("namespaceOverride")
	f.optionalBool("skipExpressionEvaluation")
	if tm, ok := f.optionalObject("trafficManagement"); ok {
		if enabled, _ := tm["enabled"].(bool); enabled {
			ps.add(f.at("trafficManagement"), "traffic management is not supported yet: deploy without it, or leave enabled false")
		}
	}
	if rb, ok := f.optionalObject("rollback"); ok {
		if onFailure, _ := rb["onFailure"].(bool); onFailure {
			ps.add(f.at("rollback")+".onFailure", "rollback on failure is not supported yet: leave it false")
		}
	}
	f.eachObject("manifests", true, func(m fields) {
		if isExprString(m.ctx) {
			return
		}
		m.requiredString("apiVersion")
		m.requiredString("kind")
		meta, ok := m.optionalObject("metadata")
		if !ok {
			if _, present := m.get("metadata"); !present {
				ps.add(m.at("metadata"), "required")
			}
			return
		}
		newFields(meta, m.at("metadata"), &ps).requiredString("name")
	})
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
