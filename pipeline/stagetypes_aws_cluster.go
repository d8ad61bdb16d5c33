package pipeline

import (
	"cmp"
	"slices"
	"strings"
)

// AWS stage types that work on a whole cluster, roll back, or tag images.
const (
	StageShrinkCluster           = "shrinkCluster"
	StageDisableCluster          = "disableCluster"
	StageScaleDownCluster        = "scaleDownCluster"
	StageRollbackServerGroup     = "rollbackServerGroup"
	StageModifyAWSScalingProcess = "modifyAwsScalingProcess"
	StageUpsertImageTags         = "upsertImageTags"
)

// AWSRollbackClusterStageType rolls an AWS cluster back, region by region: the server group
// before the current one serves again, then the current one is disabled.
var AWSRollbackClusterStageType = RegisterStageType(StageType[AWSRollbackClusterStage]{
	Name: StageRollbackCluster, CloudProvider: CloudAWS, Read: ReadAWSRollbackClusterStage})

// RollbackServerGroupStageType rolls one server group back to another, named.
var RollbackServerGroupStageType = RegisterStageType(StageType[RollbackServerGroupStage]{
	Name: StageRollbackServerGroup, CloudProvider: CloudAWS, Read: ReadRollbackServerGroupStage})

// ShrinkClusterStageType destroys a cluster's server groups beyond a number.
var ShrinkClusterStageType = RegisterStageType(StageType[ClusterStage]{
	Name: StageShrinkCluster, CloudProvider: CloudAWS, Read: readClusterStage(StageShrinkCluster)})

// DisableClusterStageType disables a cluster's server groups but the newest (or largest) ones.
var DisableClusterStageType = RegisterStageType(StageType[ClusterStage]{
	Name: StageDisableCluster, CloudProvider: CloudAWS, Read: readClusterStage(StageDisableCluster)})

// ScaleDownClusterStageType scales a cluster's disabled server groups down to nothing.
var ScaleDownClusterStageType = RegisterStageType(StageType[ClusterStage]{
	Name: StageScaleDownCluster, CloudProvider: CloudAWS, Read: readClusterStage(StageScaleDownCluster)})

// ModifyAWSScalingProcessStageType suspends or resumes a server group's Auto Scaling processes.
var ModifyAWSScalingProcessStageType = RegisterStageType(StageType[ModifyScalingProcessStage]{
	Name: StageModifyAWSScalingProcess, CloudProvider: CloudAWS, Read: ReadModifyScalingProcessStage})

// UpsertImageTagsStageType tags the images upstream stages found or baked, or the ones named.
var UpsertImageTagsStageType = RegisterStageType(StageType[UpsertImageTagsStage]{
	Name: StageUpsertImageTags, CloudProvider: CloudAWS, Read: ReadUpsertImageTagsStage})

// claimsKubernetesCluster reports whether a stage written without cloudProvider is about a
// Kubernetes cluster: it names a namespace (location) or a cluster of the form "kind name".
// Spinnaker's default cloud provider, aws, takes the others.
func claimsKubernetesCluster(settings map[string]any) bool {
	for _, key := range []string{"location", "namespace"} {
		if s, _ := settings[key].(string); s != "" {
			return true
		}
	}
	cluster, _ := settings["cluster"].(string)
	return strings.Contains(strings.TrimSpace(cluster), " ")
}

// AWSRollbackClusterStage is a rollbackCluster stage's settings on AWS.
type AWSRollbackClusterStage struct {
	Account string
	Regions []string
	Cluster string
	// TargetHealthyRollbackPercentage is the share of the restored server group's instances
	// that must be up before the current one is disabled.
	TargetHealthyRollbackPercentage int
	// WaitTimeBetweenRegionsSec waits between one region's rollback and the next.
	WaitTimeBetweenRegionsSec int

	where awsPlace
}

// References names the account and its regions.
func (s AWSRollbackClusterStage) References(path string) []Reference {
	return s.where.references(path, s.Account, s.Regions)
}

// ReadAWSRollbackClusterStage reads a rollbackCluster stage on AWS.
func ReadAWSRollbackClusterStage(settings map[string]any, path string) (AWSRollbackClusterStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := AWSRollbackClusterStage{Cluster: readClusterName(f)}
	s.Account, s.where.accountPath = readAWSAccount(f, true)
	s.Regions, s.where.regionPaths = readRegions(f, true)
	checkAWSProvider(f)
	if s.Cluster == "" {
		ps.add(f.at("cluster"), "required: the cluster to roll back, such as web-prod")
	} else if _, _, _, err := splitClusterName(s.Cluster); err != nil && !hasExpression(s.Cluster) {
		f.bad(f.at("cluster"), s.Cluster, "%v", err)
	}
	s.TargetHealthyRollbackPercentage = readPercentage(f, "targetHealthyRollbackPercentage", 100)
	s.WaitTimeBetweenRegionsSec = int(f.count("waitTimeBetweenRegions", 0, 0))
	return s, ps
}

// readPercentage reads a percentage from 0 to 100.
func readPercentage(f fields, key string, def int64) int {
	n := int(f.count(key, 0, def))
	if n > 100 {
		f.ps.add(f.at(key), "must be a percentage, 0 to 100")
	}
	return n
}

// Rollback types of rollbackServerGroup.
const (
	RollbackExplicit      = "EXPLICIT"
	RollbackPreviousImage = "PREVIOUS_IMAGE"
)

// RollbackServerGroupStage is a rollbackServerGroup stage's settings: roll one server group back
// to another (EXPLICIT), or to a copy of it with the image it replaced (PREVIOUS_IMAGE).
type RollbackServerGroupStage struct {
	Account string
	Region  string
	// Type is RollbackExplicit or RollbackPreviousImage.
	Type string
	// From is rollbackContext.rollbackServerGroupName, the server group rolled back; To is
	// restoreServerGroupName, the one that serves again (EXPLICIT).
	From, To string
	// Image is the image a PREVIOUS_IMAGE rollback launches (imageId or imageName); empty means
	// the one recorded on From when it was deployed.
	Image                           string
	TargetHealthyRollbackPercentage int
	// DelayBeforeDisableSec waits between To being up and From being disabled.
	DelayBeforeDisableSec int

	where awsPlace
}

// References names the account and the region.
func (s RollbackServerGroupStage) References(path string) []Reference {
	return s.where.references(path, s.Account, []string{s.Region})
}

// ReadRollbackServerGroupStage reads a rollbackServerGroup stage.
func ReadRollbackServerGroupStage(settings map[string]any, path string) (RollbackServerGroupStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	var s RollbackServerGroupStage
	s.Account, s.where.accountPath = readAWSAccount(f, true)
	regions, paths := readRegions(f, true)
	switch {
	case len(regions) == 1:
		s.Region, s.where.regionPaths = regions[0], paths
	case len(regions) > 1:
		ps.add(f.at("regions"), "rolls back one region at a time: give one region")
	}
	checkAWSProvider(f)
	s.Type = f.trimmed("rollbackType")
	switch s.Type {
	case RollbackExplicit, RollbackPreviousImage:
	case "":
		ps.add(f.at("rollbackType"), "required: EXPLICIT or PREVIOUS_IMAGE")
	default:
		f.bad(f.at("rollbackType"), s.Type, "must be EXPLICIT or PREVIOUS_IMAGE, not %q", s.Type)
	}
	rc, ok := f.optionalObject("rollbackContext")
	if !ok {
		if !f.has("rollbackContext") {
			ps.add(f.at("rollbackContext"), "required: {\"rollbackServerGroupName\": …, \"restoreServerGroupName\": …}")
		}
		return s, ps
	}
	cf := f.sub("rollbackContext", rc)
	s.From = cf.requiredString("rollbackServerGroupName")
	if s.Type == RollbackPreviousImage {
		s.Image = cmp.Or(cf.trimmed("imageId"), cf.trimmed("imageName"))
	} else {
		s.To = cf.requiredString("restoreServerGroupName")
	}
	s.TargetHealthyRollbackPercentage = readPercentage(cf, "targetHealthyRollbackPercentage", 100)
	s.DelayBeforeDisableSec = int(cf.count("delayBeforeDisableSeconds", 0, 0))
	if s.From != "" && s.From == s.To {
		ps.add(cf.at("restoreServerGroupName"), "is the server group rolled back; name the one to restore")
	}
	return s, ps
}

// ClusterStage is the settings of shrinkCluster, disableCluster and scaleDownCluster: which of a
// cluster's server groups stay as they are, in each region.
type ClusterStage struct {
	Type    string
	Account string
	Regions []string
	Cluster string
	// Remaining is how many server groups stay: shrinkToSize, remainingEnabledServerGroups or
	// remainingFullSizeServerGroups.
	Remaining int
	// PreferLarger keeps the largest server groups rather than the newest
	// (retainLargerOverNewer, preferLargerOverNewer).
	PreferLarger bool
	// AllowActive lets shrinkCluster destroy (allowDeleteActive) and scaleDownCluster scale
	// down (allowScaleDownActive) server groups that serve.
	AllowActive bool

	where awsPlace
}

// References names the account and its regions.
func (s ClusterStage) References(path string) []Reference {
	return s.where.references(path, s.Account, s.Regions)
}

// readClusterStage reads the settings of one of the cluster-wide stages.
func readClusterStage(stageType string) func(settings map[string]any, path string) (ClusterStage, []Problem) {
	return func(settings map[string]any, path string) (ClusterStage, []Problem) {
		var ps problems
		f := newFields(settings, path, &ps)
		s := ClusterStage{Type: stageType, Cluster: readClusterName(f)}
		s.Account, s.where.accountPath = readAWSAccount(f, true)
		s.Regions, s.where.regionPaths = readRegions(f, true)
		checkAWSProvider(f)
		if s.Cluster == "" {
			ps.add(f.at("cluster"), "required: the cluster, such as web-prod")
		} else if _, _, _, err := splitClusterName(s.Cluster); err != nil && !hasExpression(s.Cluster) {
			f.bad(f.at("cluster"), s.Cluster, "%v", err)
		}
		switch stageType {
		case StageShrinkCluster:
			s.Remaining = int(f.count("shrinkToSize", 0, 1))
			s.PreferLarger = f.boolean("retainLargerOverNewer", false)
			s.AllowActive = f.boolean("allowDeleteActive", false)
		case StageDisableCluster:
			s.Remaining = int(f.count("remainingEnabledServerGroups", 0, 1))
			s.PreferLarger = f.boolean("preferLargerOverNewer", false)
		case StageScaleDownCluster:
			s.Remaining = int(f.count("remainingFullSizeServerGroups", 0, 1))
			s.PreferLarger = f.boolean("preferLargerOverNewer", false)
			s.AllowActive = f.boolean("allowScaleDownActive", false)
		}
		return s, ps
	}
}

// ModifyScalingProcessStage is a modifyAwsScalingProcess stage's settings.
type ModifyScalingProcessStage struct {
	AWSTarget
	// Suspend suspends the processes (action suspend, the default); false resumes them.
	Suspend   bool
	Processes []string
}

// ReadModifyScalingProcessStage reads a modifyAwsScalingProcess stage.
func ReadModifyScalingProcessStage(settings map[string]any, path string) (ModifyScalingProcessStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := ModifyScalingProcessStage{AWSTarget: readAWSTarget(f)}
	s.Suspend = f.oneOf("action", "suspend", "suspend", "resume") == "suspend"
	s.Processes = f.stringsOrCommaList("processes")
	if len(s.Processes) == 0 && !holdsExpression(settings["processes"]) {
		ps.add(f.at("processes"), "required: the Auto Scaling processes, such as [\"Launch\", \"Terminate\"]")
	}
	for i, p := range s.Processes {
		if !hasExpression(p) && !slices.Contains(scalingProcesses, p) {
			f.bad(joinIndex(f.at("processes"), i), p, "is not an Auto Scaling process; they are %s", strings.Join(scalingProcesses, ", "))
		}
	}
	return s, ps
}

// ReservedImageTags are the tags a bake sets that upsertImageTags never overwrites, as in Spinnaker.
var ReservedImageTags = []string{"appversion", "base_ami_version", "build_host", "creation_time", "creator"}

// UpsertImageTagsStage is an upsertImageTags stage's settings.
type UpsertImageTagsStage struct {
	// Account is where the images are; empty: every AWS account with the regions.
	Account string
	Tags    map[string]string
	// ImageNames names the images to tag; empty tags the images upstream stages found or baked
	// (those of ConsideredStages, by refId, when it is set).
	ImageNames       []string
	Regions          []string
	ConsideredStages []string

	where awsPlace
}

// References names the account, when the stage names one, and its regions.
func (s UpsertImageTagsStage) References(path string) []Reference {
	if s.Account == "" {
		return nil
	}
	return s.where.references(path, s.Account, s.Regions)
}

// ReadUpsertImageTagsStage reads an upsertImageTags stage.
func ReadUpsertImageTagsStage(settings map[string]any, path string) (UpsertImageTagsStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := UpsertImageTagsStage{ImageNames: f.stringsOrCommaList("imageNames"), ConsideredStages: f.stringsOrCommaList("consideredStages")}
	s.Account, s.where.accountPath = readAWSAccount(f, false)
	s.Regions, s.where.regionPaths = readRegions(f, false)
	checkAWSProvider(f)
	if tags, ok := f.optionalObject("tags"); ok {
		s.Tags = map[string]string{}
		tf := f.sub("tags", tags)
		for _, k := range sortedKeys(tags) {
			if slices.Contains(ReservedImageTags, strings.ToLower(k)) {
				tf.ps.add(tf.at(k), "is set by the bake and never overwritten (reserved: %s)", strings.Join(ReservedImageTags, ", "))
				continue
			}
			v, isText := tags[k].(string)
			if !isText {
				tf.bad(tf.at(k), tags[k], "must be a string")
			}
			s.Tags[k] = v
		}
	}
	if len(s.Tags) == 0 && !f.has("tags") {
		ps.add(f.at("tags"), "required: the tags to set, such as {\"release\": \"stable\"}")
	}
	if len(s.ImageNames) > 0 && len(s.Regions) == 0 {
		ps.add(f.at("regions"), "required with imageNames: the regions the images are in")
	}
	return s, ps
}
