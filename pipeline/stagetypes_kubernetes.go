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

// Where a manifest stage's manifests come from, its "source".
const (
	// ManifestSourceText is manifests written in the stage; the default.
	ManifestSourceText = "text"
	// ManifestSourceArtifact is manifests read from an artifact.
	ManifestSourceArtifact = "artifact"
)

// DeployManifestStageType applies manifests to a Kubernetes account and waits until they have
// rolled out, red/black when the stage manages traffic.
var DeployManifestStageType = RegisterStageType(StageType[DeployManifestStage]{
	Name: StageDeployManifest, CloudProvider: CloudKubernetes, Read: ReadDeployManifestStage})

// DeployManifestStage is a deployManifest stage's settings.
type DeployManifestStage struct {
	Account           string
	NamespaceOverride string
	// Manifests are the manifests written in the stage (source text); nil when they come from
	// an artifact.
	Manifests []any
	// FromArtifact is set when the manifests are read from an artifact (source artifact).
	FromArtifact *ArtifactSource
	// RequiredArtifacts are artifacts that must be bound into the manifests (requiredArtifactIds,
	// or Spinnaker's newer requiredArtifacts).
	RequiredArtifacts []ArtifactSource
	// SkipExpressionEvaluation leaves ${...} in manifests read from an artifact as they are.
	SkipExpressionEvaluation bool
	// Traffic is set when trafficManagement is enabled.
	Traffic *TrafficManagement
	// RollbackOnFailure is rollback.onFailure: a failed rollout restores what ran before.
	RollbackOnFailure bool
}

// ArtifactSource names an artifact a stage uses: an expected artifact by id (of the pipeline, or
// produced by an earlier stage), or the artifact itself.
type ArtifactSource struct {
	ID       string
	Artifact *Artifact
	// path locates the setting, for references.
	path string
}

// TrafficManagement is a deploy's trafficManagement, as Spinnaker writes it.
type TrafficManagement struct {
	// Services are the Services whose traffic moves, as "service NAME".
	Services      []string
	EnableTraffic bool
	// Strategy is none, redblack or highlander.
	Strategy string
	// MaxRemaining is maxRemainingAsgs: how many server groups the cluster keeps; 0 for no limit.
	MaxRemaining int
	ScaleDown    bool
}

// Traffic strategies of a deploy with traffic management, as Spinnaker names them.
const (
	StrategyNone       = "none"
	StrategyRedBlack   = "redblack"
	StrategyHighlander = "highlander"
)

var trafficStrategies = []string{StrategyRedBlack, StrategyHighlander, StrategyNone}

// ReadDeployManifestStage reads a deployManifest stage: an account; manifests written inline or
// an artifact to read them from (manifests beside source artifact are ignored, as Spinnaker does);
// traffic management on ReplicaSets only; rollback on failure.
func ReadDeployManifestStage(settings map[string]any, path string) (DeployManifestStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := DeployManifestStage{
		Account:                  f.requiredString("account"),
		NamespaceOverride:        f.trimmed("namespaceOverride"),
		SkipExpressionEvaluation: f.boolean("skipExpressionEvaluation", false),
	}
	s.RequiredArtifacts = readRequiredArtifacts(f)
	// Traffic management decides what the manifests may be, but its own problems come after theirs.
	var trafficProblems problems
	if tm, ok := f.optionalObject("trafficManagement"); ok {
		s.Traffic = readTrafficManagement(newFields(tm, f.at("trafficManagement"), &trafficProblems))
	} else if f.has("trafficManagement") {
		f.bad(f.at("trafficManagement"), f.ctx["trafficManagement"], "must be an object")
	}
	switch source := f.trimmed("source"); source {
	case "", ManifestSourceText:
		s.Manifests = readInlineManifests(f, s.Traffic)
	case ManifestSourceArtifact:
		s.FromArtifact = readArtifactSource(f, "manifestArtifactId", "manifestArtifact", true)
	default:
		f.bad(f.at("source"), source, "must be \"text\" (manifests inline) or \"artifact\" (manifests read from an artifact)")
	}
	ps = append(ps, trafficProblems...)
	if rb, ok := f.optionalObject("rollback"); ok {
		s.RollbackOnFailure = f.sub("rollback", rb).boolean("onFailure", false)
	}
	return s, ps
}

// References names the account and the expected artifacts the stage uses.
func (s DeployManifestStage) References(path string) []Reference {
	refs := []Reference{{Path: joinKey(path, "account"), Kind: RefAccount, Provider: CloudKubernetes, Name: s.Account}}
	return append(refs, artifactReferences(s.FromArtifact, s.RequiredArtifacts)...)
}

// artifactReferences are the expected artifact ids among a stage's artifact sources.
func artifactReferences(main *ArtifactSource, more []ArtifactSource) []Reference {
	var refs []Reference
	for _, a := range append([]ArtifactSource{ptrValue(main)}, more...) {
		if a.ID != "" {
			refs = append(refs, Reference{Path: a.path, Kind: RefExpectedArtifact, Name: a.ID})
		}
	}
	return refs
}

func ptrValue[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// readRequiredArtifacts reads requiredArtifactIds and Spinnaker's newer requiredArtifacts, a list
// of {id} or {artifact}.
func readRequiredArtifacts(f fields) []ArtifactSource {
	var out []ArtifactSource
	for i, id := range f.stringList("requiredArtifactIds") {
		out = append(out, ArtifactSource{ID: id, path: joinIndex(f.at("requiredArtifactIds"), i)})
	}
	f.eachObject("requiredArtifacts", false, func(i int, item fields) {
		if a := readArtifactSource(item, "id", "artifact", false); a != nil {
			if a.ID != "" {
				a.path = joinIndex(f.at("requiredArtifacts"), i) + ".id"
			}
			out = append(out, *a)
		}
	})
	return out
}

// readArtifactSource reads an artifact named by id (idKey) or given whole (artifactKey).
func readArtifactSource(f fields, idKey, artifactKey string, required bool) *ArtifactSource {
	if raw, ok := f.optionalObject(artifactKey); ok {
		a := readArtifact(f.sub(artifactKey, raw))
		return &ArtifactSource{Artifact: &a}
	}
	if id := f.trimmed(idKey); id != "" {
		return &ArtifactSource{ID: id, path: f.at(idKey)}
	}
	if required {
		f.ps.add(f.at(idKey), "required when source is \"artifact\": the id of one of the pipeline's expectedArtifacts or of an artifact an earlier stage produces (or give %s)", artifactKey)
	}
	return nil
}

// readArtifact reads an artifact written in a stage.
func readArtifact(f fields) Artifact {
	a := Artifact{
		Type:            f.requiredString("type"),
		Name:            f.str("name"),
		Version:         f.str("version"),
		Location:        f.str("location"),
		Reference:       f.str("reference"),
		ArtifactAccount: f.str("artifactAccount"),
	}
	a.Metadata, _ = f.optionalObject("metadata")
	return a
}

// readInlineManifests reads manifests written in the stage; with traffic management, the
// workloads must be ReplicaSets whose own selector leaves the Services' labels alone.
func readInlineManifests(f fields, traffic *TrafficManagement) []any {
	list, _ := f.list("manifests", true)
	services := inlineServiceSelectors(list, traffic)
	for i, item := range list {
		m, isMap := item.(map[string]any)
		if !isMap {
			f.bad(joinIndex(f.at("manifests"), i), item, "must be an object")
			continue
		}
		mf := newFields(m, joinIndex(f.at("manifests"), i), f.ps)
		mf.requiredString("apiVersion")
		kind := mf.requiredString("kind")
		if meta, ok := mf.optionalObject("metadata"); ok {
			mf.sub("metadata", meta).requiredString("name")
		} else if !mf.has("metadata") {
			f.ps.add(mf.at("metadata"), "required")
		}
		if traffic == nil {
			continue
		}
		switch kind {
		case "Deployment", "StatefulSet", "DaemonSet":
			f.ps.add(mf.at("kind"), "traffic management works only on ReplicaSets: a %s replaces its own pods and cannot keep an old version ready without traffic; deploy a ReplicaSet, or turn trafficManagement off", kind)
		case "ReplicaSet":
			checkSelectorAgainstServices(mf, m, services)
		}
	}
	return list
}

// inlineServiceSelectors finds, among the stage's manifests, the selectors of the Services whose
// traffic it manages, by Service name.
func inlineServiceSelectors(manifests []any, traffic *TrafficManagement) map[string]map[string]any {
	if traffic == nil {
		return nil
	}
	out := map[string]map[string]any{}
	for _, item := range manifests {
		m, _ := item.(map[string]any)
		if m["kind"] != "Service" {
			continue
		}
		meta, _ := m["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		spec, _ := m["spec"].(map[string]any)
		selector, _ := spec["selector"].(map[string]any)
		for _, svc := range traffic.Services {
			if fields := strings.Fields(svc); len(fields) > 0 && fields[len(fields)-1] == name && len(selector) > 0 {
				out[name] = selector
			}
		}
	}
	return out
}

// checkSelectorAgainstServices refuses a ReplicaSet that selects its own pods by a label one of
// its Services selects by: disabling its traffic takes that label off the pods, which would leave
// the ReplicaSet's selector and be replaced by new pods.
func checkSelectorAgainstServices(mf fields, m map[string]any, services map[string]map[string]any) {
	spec, _ := m["spec"].(map[string]any)
	selector, _ := spec["selector"].(map[string]any)
	labels, _ := selector["matchLabels"].(map[string]any)
	for _, name := range sortedKeys(services) {
		var shared []string
		for key := range labels {
			if _, ok := services[name][key]; ok {
				shared = append(shared, key)
			}
		}
		if len(shared) == 0 {
			continue
		}
		slices.Sort(shared)
		mf.ps.add(mf.at("spec")+".selector.matchLabels", "uses %s, which Service %s also selects by: disabling traffic takes the Service's labels off the pods, "+
			"which would take them out of the ReplicaSet. Select the ReplicaSet's pods by labels the Service does not use (such as app), "+
			"and keep the Service's labels on the pod template", quoteList(shared), name)
	}
}

func quoteList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = "\"" + s + "\""
	}
	return strings.Join(quoted, ", ")
}

// readTrafficManagement reads Spinnaker's trafficManagement block; nil when it is off.
func readTrafficManagement(tm fields) *TrafficManagement {
	if !tm.boolean("enabled", false) {
		return nil
	}
	opts, ok := tm.optionalObject("options")
	if !ok {
		if !tm.has("options") {
			tm.ps.add(tm.at("options"), "required when traffic management is enabled: the services, and the strategy")
		}
		return nil
	}
	o := tm.sub("options", opts)
	t := &TrafficManagement{}
	services, _ := o.list("services", true)
	for i, svc := range services {
		name, isString := svc.(string)
		name = strings.TrimSpace(name)
		if !isString || name == "" {
			o.bad(joinIndex(o.at("services"), i), svc, "must name a Service, as \"service web\"")
			continue
		}
		if kind, _, found := strings.Cut(name, " "); found && !strings.EqualFold(kind, "service") {
			o.bad(joinIndex(o.at("services"), i), name, "%q: traffic is managed through Services; write \"service NAME\"", name)
			continue
		}
		t.Services = append(t.Services, name)
	}
	t.EnableTraffic = o.boolean("enableTraffic", false)
	t.Strategy = o.oneOf("strategy", StrategyNone, trafficStrategies...)
	if t.Strategy != StrategyNone && !t.EnableTraffic {
		v := o.ctx["enableTraffic"]
		if _, present := o.get("enableTraffic"); !present || !holdsExpression(v) {
			o.ps.add(o.at("enableTraffic"), "must be true for the %s strategy, which moves traffic to the new server group", t.Strategy)
		}
	}
	t.MaxRemaining = int(o.count("maxRemainingAsgs", 1, 0))
	t.ScaleDown = o.boolean("scaleDown", false)
	return t
}

// RollbackClusterStageType puts a cluster's previous server group back in service.
var RollbackClusterStageType = RegisterStageType(StageType[RollbackClusterStage]{
	Name: StageRollbackCluster, CloudProvider: CloudKubernetes, Read: ReadRollbackClusterStage, Claims: claimsKubernetesCluster})

// RollbackClusterStage is a rollbackCluster stage's settings.
type RollbackClusterStage struct {
	Account string
	// Cluster is the moniker cluster, such as "replicaSet web".
	Cluster string
	// Location is the namespace; empty means the account's default.
	Location string
	// Application is the moniker's application; empty means the pipeline's.
	Application string
}

// ReadRollbackClusterStage reads a rollbackCluster stage.
func ReadRollbackClusterStage(settings map[string]any, path string) (RollbackClusterStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := RollbackClusterStage{
		Account:     f.requiredString("account"),
		Cluster:     f.requiredString("cluster"),
		Location:    f.trimmed("location"),
		Application: f.trimmed("application"),
	}
	if s.Location == "" {
		// Deck writes the region list of a cluster stage; on Kubernetes a region is a namespace.
		if regions := f.stringList("regions"); len(regions) == 1 {
			s.Location = regions[0]
		} else if len(regions) > 1 {
			f.ps.add(f.at("regions"), "rolls back one namespace at a time: give one region, or set location")
		}
	}
	if m, ok := f.optionalObject("moniker"); ok && s.Application == "" {
		s.Application = f.sub("moniker", m).str("app")
	}
	return s, ps
}

// References names the account.
func (s RollbackClusterStage) References(path string) []Reference {
	return []Reference{{Path: joinKey(path, "account"), Kind: RefAccount, Provider: CloudKubernetes, Name: s.Account}}
}
