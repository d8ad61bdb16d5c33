package pipeline

import (
	"slices"
	"strings"
)

// CheckPreconditionsStageType fails the pipeline, or only its stage, when a precondition is false.
var CheckPreconditionsStageType = RegisterStageType(StageType[CheckPreconditionsStage]{Name: StageCheckPreconditions, Read: ReadCheckPreconditionsStage})

// Precondition types, with Spinnaker's names.
const (
	// PreconditionExpression holds when its expression is true.
	PreconditionExpression = "expression"
	// PreconditionStageStatus holds when a stage of the execution, by name, has a given status.
	PreconditionStageStatus = "stageStatus"
	// PreconditionClusterSize holds when a cluster has as many server groups as expected in each
	// of its regions (namespaces, on Kubernetes).
	PreconditionClusterSize = "clusterSize"
)

// PreconditionTypes lists the precondition types gennaker checks.
var PreconditionTypes = []string{PreconditionClusterSize, PreconditionExpression, PreconditionStageStatus}

// ClusterSizeComparisons are the comparisons a clusterSize precondition may make.
var ClusterSizeComparisons = []string{"<", "<=", "==", ">=", ">"}

// CheckPreconditionsStage is a checkPreconditions stage's settings.
type CheckPreconditionsStage struct {
	Preconditions []Precondition
}

// Precondition is one of a checkPreconditions stage's preconditions; the field of its type is set.
type Precondition struct {
	Type string
	// FailPipeline is true unless written false: a precondition that does not hold fails the
	// pipeline, or with false only marks the stage FAILED_CONTINUE.
	FailPipeline bool
	Expression   *ExpressionPrecondition
	StageStatus  *StageStatusPrecondition
	ClusterSize  *ClusterSizePrecondition
	// index is the precondition's place in the stage's list, for paths.
	index int
}

// ExpressionPrecondition is an expression precondition's context.
type ExpressionPrecondition struct {
	// Expression is a boolean once evaluated from ${...}, or a condition written without ${}.
	Expression any
	// FailureMessage replaces the stage's error when the expression is false.
	FailureMessage string
}

// StageStatusPrecondition is a stageStatus precondition's context.
type StageStatusPrecondition struct {
	// StageName names a stage of the execution, by its name.
	StageName string
	Status    Status
}

// ClusterSizePrecondition is a clusterSize precondition's context, as Spinnaker writes it.
type ClusterSizePrecondition struct {
	// Account is Spinnaker's credentials.
	Account string
	// CloudProvider is the precondition's or the stage's cloudProvider; empty means the account's.
	CloudProvider string
	// Application is the moniker's app; empty means the pipeline's.
	Application string
	// Cluster is the moniker cluster, such as "replicaSet web".
	Cluster string
	// Regions are the regions (namespaces) each of which must hold the expected number.
	Regions []string
	// Comparison compares the number of server groups with Expected; == when not written.
	Comparison string
	Expected   int
	// OnlyEnabled counts only the server groups that take traffic (onlyEnabledServerGroups).
	OnlyEnabled bool
}

// Holds reports whether actual server groups satisfy the comparison.
func (c ClusterSizePrecondition) Holds(actual int) bool {
	switch c.Comparison {
	case "<":
		return actual < c.Expected
	case "<=":
		return actual <= c.Expected
	case ">=":
		return actual >= c.Expected
	case ">":
		return actual > c.Expected
	}
	return actual == c.Expected
}

// ReadCheckPreconditionsStage reads a checkPreconditions stage.
func ReadCheckPreconditionsStage(settings map[string]any, path string) (CheckPreconditionsStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	stageProvider := f.str("cloudProvider")
	var s CheckPreconditionsStage
	f.eachObject("preconditions", true, func(i int, pre fields) {
		p := Precondition{Type: pre.str("type"), FailPipeline: pre.boolean("failPipeline", true), index: i}
		switch p.Type {
		case "":
			ps.add(pre.at("type"), "required")
		case PreconditionExpression, PreconditionStageStatus, PreconditionClusterSize:
		default:
			// What its context needs depends on the type, so nothing more is said about it.
			pre.bad(pre.at("type"), p.Type, "unknown precondition type %q; supported types: %s", p.Type, strings.Join(PreconditionTypes, ", "))
			return
		}
		ctx, hasContext := pre.optionalObject("context")
		if !hasContext && !pre.has("context") {
			ps.add(pre.at("context"), "required")
		}
		if !hasContext || p.Type == "" {
			return
		}
		c := pre.sub("context", ctx)
		switch p.Type {
		case PreconditionExpression:
			p.Expression = &ExpressionPrecondition{Expression: readPreconditionExpression(c), FailureMessage: c.str("failureMessage")}
		case PreconditionStageStatus:
			p.StageStatus = &StageStatusPrecondition{StageName: c.requiredString("stageName")}
			if status := c.requiredString("stageStatus"); status != "" {
				p.StageStatus.Status = Status(status)
				if !slices.Contains(Statuses, p.StageStatus.Status) {
					c.bad(c.at("stageStatus"), status, "%q is not a stage status; use one of %s", status, statusList())
				}
			}
		case PreconditionClusterSize:
			p.ClusterSize = readClusterSize(c, pre.str("cloudProvider"), stageProvider)
		}
		s.Preconditions = append(s.Preconditions, p)
	})
	return s, ps
}

// readPreconditionExpression reads an expression precondition's expression: a boolean, or a
// condition written with or without ${}. Syntax inside ${} is reported by the stage's expression
// check, so it is not reported twice here.
func readPreconditionExpression(c fields) any {
	v, ok := c.get("expression")
	if b, isBool := v.(bool); isBool {
		return b
	}
	text, isString := v.(string)
	switch {
	case !ok || isString && strings.TrimSpace(text) == "":
		c.ps.add(c.at("expression"), "required")
	case !isString:
		c.ps.add(c.at("expression"), "must be a string")
	case hasExpression(text):
		if _, single := singleExpression(strings.TrimSpace(text)); !single {
			c.ps.add(c.at("expression"), "must be one expression, written with or without ${}")
		}
	default:
		if err := checkCondition(text); err != nil {
			c.ps.add(c.at("expression"), "invalid expression %q: %v", text, err)
		}
	}
	return v
}

func readClusterSize(c fields, preProvider, stageProvider string) *ClusterSizePrecondition {
	cs := &ClusterSizePrecondition{
		Account:       c.requiredString("credentials"),
		CloudProvider: preProvider,
		Cluster:       c.requiredString("cluster"),
		Comparison:    c.oneOf("comparison", "==", ClusterSizeComparisons...),
		Expected:      int(c.count("expected", 0, 1)),
		OnlyEnabled:   c.boolean("onlyEnabledServerGroups", false),
		Regions:       c.stringList("regions"),
	}
	if cs.CloudProvider == "" {
		cs.CloudProvider = stageProvider
	}
	if cs.CloudProvider == "" && !hasExpression(cs.Cluster) {
		// Spinnaker's default is aws; a Kubernetes cluster is named "kind name".
		cs.CloudProvider = CloudAWS
		if claimsKubernetesCluster(c.ctx) {
			cs.CloudProvider = CloudKubernetes
		}
	}
	if cs.CloudProvider != "" && cs.CloudProvider != CloudKubernetes && cs.CloudProvider != CloudAWS && !hasExpression(cs.CloudProvider) {
		c.bad(c.at("cloudProvider"), cs.CloudProvider, "clusterSize on cloud provider %q is not offered; gennaker checks the size of kubernetes and aws clusters", cs.CloudProvider)
	}
	if len(cs.Regions) == 0 && !holdsExpression(c.ctx["regions"]) {
		c.ps.add(c.at("regions"), "required: the regions (namespaces) to count the cluster's server groups in")
	}
	if m, ok := c.optionalObject("moniker"); ok {
		cs.Application = c.sub("moniker", m).str("app")
	}
	return cs
}

// References names the accounts of clusterSize preconditions.
func (s CheckPreconditionsStage) References(path string) []Reference {
	var refs []Reference
	for _, p := range s.Preconditions {
		if p.ClusterSize != nil {
			at := joinIndex(joinKey(path, "preconditions"), p.index) + ".context"
			provider := CloudKubernetes
			if p.ClusterSize.CloudProvider == CloudAWS {
				provider = CloudAWS
			}
			refs = append(refs, Reference{Path: at + ".credentials", Kind: RefAccount, Provider: provider, Name: p.ClusterSize.Account})
			for i, r := range p.ClusterSize.Regions {
				if provider == CloudAWS {
					refs = append(refs, Reference{Path: joinIndex(at+".regions", i), Kind: RefRegion, Provider: CloudAWS, Account: p.ClusterSize.Account, Name: r})
				}
			}
		}
	}
	return refs
}

func statusList() string {
	names := make([]string, len(Statuses))
	for i, s := range Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
