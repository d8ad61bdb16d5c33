package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Cloud providers a stage type may work on, with Spinnaker's names for them.
const (
	CloudKubernetes = "kubernetes"
	CloudAWS        = "aws"
)

// StageType is one stage type gennaker runs: its name as Spinnaker writes it, the cloud provider
// it works on, and the one reader of its settings. Validation at save time, the workflow that runs
// the stage, the activities it calls and the API all use the value Read returns; nothing else reads
// a stage's settings by key.
type StageType[T any] struct {
	// Name is the stage's "type" as Spinnaker writes it.
	Name string
	// Aliases are other names Spinnaker's Deck or Orca write for the same type.
	Aliases []string
	// CloudProvider is the provider the type works on, such as kubernetes; empty for a type that
	// works on no cloud (wait, manualJudgment, webhook). A type offered on several providers is
	// registered once per provider, and a stage chooses by its cloudProvider.
	CloudProvider string
	// Read reads a stage's settings (its whole object, typed fields included) into T and lists
	// every problem at its path under path, the stage's own path such as stages[2].
	Read func(settings map[string]any, path string) (T, []Problem)
	// Claims, for a type offered on several providers, says whether a stage that names no
	// cloudProvider is meant for this one; a stage no registration claims runs on Spinnaker's
	// default, aws.
	Claims func(settings map[string]any) bool
}

// Referrer is implemented by stage settings that name things outside the pipeline: accounts,
// other pipelines, canary configs. Validation checks each reference against what gennaker knows.
type Referrer interface {
	// References lists what the settings name; path is the stage's path.
	References(path string) []Reference
}

// Reference kinds.
const (
	// RefAccount is a cloud account of Reference.Provider; an unknown one refuses the save.
	RefAccount = "account"
	// RefPipeline is a saved pipeline, by id or name; a missing one is a warning (pipelines are
	// imported in any order) and fails the stage at run time if it is still missing.
	RefPipeline = "pipeline"
	// RefCanaryConfig is one of the application's canary configs; like RefPipeline, a warning.
	RefCanaryConfig = "canaryConfig"
	// RefMetricsAccount is a metrics source canary analyses read; an unknown one refuses the save.
	RefMetricsAccount = "metricsAccount"
	// RefRegion is a region of Reference.Account; one the account lacks refuses the save.
	RefRegion = "region"
	// RefContainerBakery is the container bakery, Name a base image it offers (baseOs) with
	// its Label (baseLabel); without a bakery, or without that base image, the save is refused.
	// An empty Name needs only the bakery.
	RefContainerBakery = "containerBakery"
	// RefAWSBakery is the bakery of AWS account Account, Name a base image it offers (baseOs)
	// with its Label; a bakery or base image the account lacks refuses the save.
	RefAWSBakery = "awsBakery"
	// RefAWSBakeTemplate is a provisioning script (Name) of the bakery of AWS account Account.
	RefAWSBakeTemplate = "awsBakeTemplate"
)

// Reference is one thing a stage's settings name outside the pipeline.
type Reference struct {
	// Path locates the setting, such as stages[1].account.
	Path string
	Kind string
	// Provider is an account's cloud provider.
	Provider string
	// Application is the application of a pipeline or canary config; empty means the pipeline's own.
	Application string
	// Name is the account's, pipeline's (or its id), canary config's or region's name.
	Name string
	// Account is the account of a region, or of a bakery.
	Account string
	// Label is a base image's label (baseLabel).
	Label string
}

// registeredStageType is a StageType with its settings' type erased, for the registry.
type registeredStageType interface {
	typeName() string
	aliases() []string
	provider() string
	read(settings map[string]any, path string) (any, []Problem)
	claims(settings map[string]any) bool
}

func (t StageType[T]) typeName() string  { return t.Name }
func (t StageType[T]) aliases() []string { return t.Aliases }
func (t StageType[T]) provider() string  { return t.CloudProvider }
func (t StageType[T]) read(settings map[string]any, path string) (any, []Problem) {
	return t.Read(settings, path)
}
func (t StageType[T]) claims(settings map[string]any) bool {
	return t.Claims != nil && t.Claims(settings)
}

var stageTypes = struct {
	sync.RWMutex
	// byName maps each name and alias to the type's registrations, one per cloud provider.
	byName map[string][]registeredStageType
}{byName: map[string][]registeredStageType{}}

// RegisterStageType adds a stage type to the registry and returns it, for a package-level
// variable that names it. It is meant for package initialization and panics on a name (or alias)
// registered twice for one cloud provider, or on a type without a reader: a stage type is complete
// or absent.
func RegisterStageType[T any](t StageType[T]) StageType[T] {
	if t.Name == "" || t.Read == nil {
		panic("pipeline: RegisterStageType needs a name and a reader")
	}
	stageTypes.Lock()
	defer stageTypes.Unlock()
	for _, name := range append([]string{t.Name}, t.Aliases...) {
		for _, other := range stageTypes.byName[name] {
			if other.provider() == t.CloudProvider {
				panic("pipeline: stage type " + name + " registered twice")
			}
		}
		stageTypes.byName[name] = append(stageTypes.byName[name], t)
	}
	return t
}

// StageTypes lists the names (aliases included) of the stage types gennaker runs, sorted.
func StageTypes() []string {
	stageTypes.RLock()
	defer stageTypes.RUnlock()
	names := make([]string, 0, len(stageTypes.byName))
	for n := range stageTypes.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StageTypeInfo describes a registered stage type for listings and tests.
type StageTypeInfo struct {
	Name          string
	Aliases       []string
	CloudProvider string
}

// RegisteredStageTypes lists every registration, by name and then provider, aliases folded in.
func RegisteredStageTypes() []StageTypeInfo {
	stageTypes.RLock()
	defer stageTypes.RUnlock()
	var out []StageTypeInfo
	for name, regs := range stageTypes.byName {
		for _, t := range regs {
			if t.typeName() == name {
				out = append(out, StageTypeInfo{Name: name, Aliases: t.aliases(), CloudProvider: t.provider()})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].CloudProvider < out[j].CloudProvider
	})
	return out
}

// stageTypeOf finds the registration a stage runs as: by its type, and for a type offered on
// several providers, by its cloudProvider. The message says why there is none.
func stageTypeOf(stageType string, settings map[string]any) (registeredStageType, string) {
	stageTypes.RLock()
	regs := stageTypes.byName[stageType]
	stageTypes.RUnlock()
	if len(regs) == 0 {
		return nil, ""
	}
	cp, _ := settings["cloudProvider"].(string)
	if len(regs) == 1 && (cp == "" || hasExpression(cp) || regs[0].provider() == "" || regs[0].provider() == cp) {
		return regs[0], ""
	}
	if cp == "" {
		for _, t := range regs {
			if t.claims(settings) {
				return t, ""
			}
		}
		for _, t := range regs {
			if t.provider() == CloudAWS {
				return t, ""
			}
		}
	}
	if cp == "" || hasExpression(cp) {
		return nil, fmt.Sprintf("%s runs on %s: say which in cloudProvider", stageType, providerList(regs))
	}
	for _, t := range regs {
		if t.provider() == cp {
			return t, ""
		}
	}
	return nil, fmt.Sprintf("%s on cloud provider %q is not offered; gennaker runs %s on %s", stageType, cp, stageType, providerList(regs))
}

func providerList(regs []registeredStageType) string {
	var names []string
	for _, t := range regs {
		if p := t.provider(); p != "" && !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ResolveStageType names the registration a stage runs as (its canonical name, aliases resolved,
// and its cloud provider), or says in words why the stage cannot run.
func ResolveStageType(stageType string, settings map[string]any) (StageTypeInfo, error) {
	t, why := stageTypeOf(stageType, settings)
	switch {
	case t != nil:
		return StageTypeInfo{Name: t.typeName(), Aliases: t.aliases(), CloudProvider: t.provider()}, nil
	case why != "":
		return StageTypeInfo{}, errors.New(why)
	}
	return StageTypeInfo{}, fmt.Errorf("unknown stage type %q", stageType)
}

// CanonicalStageType is the registered name of a stage type written under an alias (such as
// findArtifactsFromResource), or the type itself.
func CanonicalStageType(stageType string) string {
	stageTypes.RLock()
	defer stageTypes.RUnlock()
	if regs := stageTypes.byName[stageType]; len(regs) > 0 {
		return regs[0].typeName()
	}
	return stageType
}
