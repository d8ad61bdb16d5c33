package pipeline

import (
	"math"
	"regexp"
	"slices"
)

// The stages that work on one server group of a cluster in each of their regions.

// ResizeServerGroupStageType resizes a server group: to a size, or up or down by a share or a
// number of instances.
var ResizeServerGroupStageType = RegisterStageType(StageType[ResizeServerGroupStage]{
	Name: StageResizeServerGroup, CloudProvider: CloudAWS, Read: ReadResizeServerGroupStage})

// EnableServerGroupStageType puts a server group back into its load balancers' traffic.
var EnableServerGroupStageType = RegisterStageType(StageType[EnableServerGroupStage]{
	Name: StageEnableServerGroup, CloudProvider: CloudAWS, Read: ReadEnableServerGroupStage})

// DisableServerGroupStageType takes a server group out of its load balancers' traffic, or a share
// of its instances.
var DisableServerGroupStageType = RegisterStageType(StageType[DisableServerGroupStage]{
	Name: StageDisableServerGroup, CloudProvider: CloudAWS, Read: ReadDisableServerGroupStage})

// DestroyServerGroupStageType deletes a server group, its instances and its launch template.
var DestroyServerGroupStageType = RegisterStageType(StageType[DestroyServerGroupStage]{
	Name: StageDestroyServerGroup, CloudProvider: CloudAWS, Read: ReadDestroyServerGroupStage})

// Resize actions, as Deck writes them.
const (
	ResizeExact     = "scale_exact"
	ResizeUp        = "scale_up"
	ResizeDown      = "scale_down"
	ResizeToCluster = "scale_to_cluster"
	// ResizeToServerGroup takes the size of another server group (the stage's source).
	ResizeToServerGroup = "scale_to_server_group"
)

// ResizeServerGroupStage is a resizeServerGroup stage's settings.
type ResizeServerGroupStage struct {
	AWSTarget
	// Action is ResizeExact, ResizeUp, ResizeDown, ResizeToCluster or ResizeToServerGroup.
	Action string
	// Source is the server group ResizeToServerGroup copies the size of.
	Source *ServerGroupSource
	// Capacity holds the sizes given for ResizeExact; Given says which of them were.
	Capacity Capacity
	Given    struct{ Min, Desired, Max bool }
	// ScalePct or ScaleNum say by how much the other actions resize: a share of the current
	// size, or a number of instances.
	ScalePct *float64
	ScaleNum *int
	// TargetHealthyDeployPercentage is the share of desired instances that must be up before
	// the stage ends (0–100).
	TargetHealthyDeployPercentage int
}

// ReadResizeServerGroupStage reads a resizeServerGroup stage. Without action, the stage sets the
// size it gives (scale_exact), as in Spinnaker; resizeType exact means the same, pct and incr say
// whether scalePct or scaleNum applies.
func ReadResizeServerGroupStage(settings map[string]any, path string) (ResizeServerGroupStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := ResizeServerGroupStage{AWSTarget: readAWSTarget(f)}
	resizeType := f.oneOf("resizeType", "", "pct", "incr", "exact")
	s.Action = f.oneOf("action", ResizeExact, ResizeExact, ResizeUp, ResizeDown, ResizeToCluster, ResizeToServerGroup)
	if s.Action == ResizeToServerGroup && resizeType != "exact" {
		s.Source = readServerGroupSource(f, s.AWSTarget)
		if pct, ok := f.float("scalePct"); ok {
			if pct <= 0 {
				ps.add(f.at("scalePct"), "must be a percentage above 0")
			}
			s.ScalePct = &pct
		}
		return s, ps
	}
	if resizeType == "exact" {
		s.Action = ResizeExact
	}
	s.TargetHealthyDeployPercentage = int(f.count("targetHealthyDeployPercentage", 0, 100))
	if s.TargetHealthyDeployPercentage > 100 {
		ps.add(f.at("targetHealthyDeployPercentage"), "must be a percentage, 0 to 100")
	}
	if s.Action == ResizeExact {
		m, ok := f.optionalObject("capacity")
		if !ok {
			if !f.has("capacity") {
				ps.add(f.at("capacity"), "required: the size to set, such as {\"min\": 2, \"desired\": 2, \"max\": 4}")
			}
			return s, ps
		}
		cf := f.sub("capacity", m)
		s.Capacity = Capacity{Min: int(cf.count("min", 0, 0)), Desired: int(cf.count("desired", 0, 0)), Max: int(cf.count("max", 0, 0))}
		s.Given.Min, s.Given.Desired, s.Given.Max = cf.has("min"), cf.has("desired"), cf.has("max")
		if !s.Given.Min && !s.Given.Desired && !s.Given.Max {
			ps.add(f.at("capacity"), "give at least one of min, desired and max")
		}
		return s, ps
	}
	if pct, ok := f.float("scalePct"); ok && resizeType != "incr" {
		if pct < 0 {
			ps.add(f.at("scalePct"), "must be a percentage of at least 0")
		}
		s.ScalePct = &pct
	}
	if f.has("scaleNum") && (s.ScalePct == nil || resizeType == "incr") {
		n := int(f.count("scaleNum", 0, 0))
		s.ScalePct, s.ScaleNum = nil, &n
	}
	if s.ScalePct == nil && s.ScaleNum == nil {
		ps.add(f.at("scalePct"), "required: by how much to resize, scalePct (a percentage) or scaleNum (instances)")
	}
	return s, ps
}

// NewCapacity is the size the stage sets on a server group of size current. basis is what
// scale_to_cluster starts from, the largest min, desired and max among the cluster's server groups
// in the region, or for scale_to_server_group the source server group's size. Spinnaker's rules:
// scale_exact keeps the sizes not given, raising max to min or lowering min to max as needed and
// keeping desired between them; scale_up and scale_down move each size by scaleNum, or by scalePct
// of itself rounded up, never below 0; scale_to_cluster takes the cluster's largest sizes and adds
// to them; scale_to_server_group takes the source's sizes, or scalePct of each, rounded up.
func (s ResizeServerGroupStage) NewCapacity(current, basis Capacity) Capacity {
	switch s.Action {
	case ResizeToServerGroup:
		if s.ScalePct == nil {
			return basis
		}
		scale := func(n int) int { return int(math.Ceil(float64(n) * *s.ScalePct / 100)) }
		return Capacity{Min: scale(basis.Min), Desired: scale(basis.Desired), Max: scale(basis.Max)}
	case ResizeExact:
		c := current
		if s.Given.Min {
			c.Min = s.Capacity.Min
		}
		if s.Given.Max {
			c.Max = s.Capacity.Max
			c.Min = min(c.Min, c.Max)
		} else {
			c.Max = max(c.Min, c.Max)
		}
		if s.Given.Desired {
			c.Desired = s.Capacity.Desired
		}
		c.Desired = max(c.Min, min(c.Desired, c.Max))
		return c
	case ResizeToCluster:
		c := basis
		c.Desired += s.change(c.Desired)
		c.Max = max(c.Max, c.Desired)
		return c
	}
	sign := 1
	if s.Action == ResizeDown {
		sign = -1
	}
	move := func(n int) int { return max(0, n+sign*s.change(n)) }
	return Capacity{Min: move(current.Min), Desired: move(current.Desired), Max: move(current.Max)}
}

// References names the account and regions, and the source's when it has its own.
func (s ResizeServerGroupStage) References(path string) []Reference {
	refs := s.AWSTarget.References(path)
	if src := s.Source; src != nil {
		// The ones the source takes from the stage are named once.
		for _, r := range src.where.references(joinKey(path, "source"), src.Account, []string{src.Region}) {
			if !slices.Contains(refs, r) {
				refs = append(refs, r)
			}
		}
	}
	return refs
}

// ServerGroupSource names a server group another stage reads: Spinnaker's source
// {credentials, region, serverGroupName}.
type ServerGroupSource struct {
	Account     string `json:"account"`
	Region      string `json:"region"`
	ServerGroup string `json:"serverGroup"`

	where awsPlace
}

// readServerGroupSource reads the source; its account and region default to the stage's.
func readServerGroupSource(f fields, t AWSTarget) *ServerGroupSource {
	m, ok := f.optionalObject("source")
	if !ok {
		if !f.has("source") {
			f.ps.add(f.at("source"), "required: the server group to take the size of, {\"serverGroupName\": …, \"region\": …}")
		}
		return nil
	}
	sf := f.sub("source", m)
	src := &ServerGroupSource{Account: t.Account, ServerGroup: sf.trimmed("serverGroupName")}
	src.where.accountPath = t.where.accountPath
	if src.ServerGroup == "" {
		src.ServerGroup = sf.requiredString("asgName")
	}
	for _, key := range []string{"credentials", "account"} {
		if a := sf.trimmed(key); a != "" {
			src.Account, src.where.accountPath = a, sf.at(key)
			break
		}
	}
	switch r := sf.trimmed("region"); {
	case r != "":
		src.Region, src.where.regionPaths = r, []string{sf.at("region")}
	case len(t.Regions) == 1:
		src.Region = t.Regions[0]
		src.where.regionPaths = t.where.regionPaths
	default:
		f.ps.add(sf.at("region"), "required: the source's region (the stage names several)")
	}
	return src
}

// change is how many instances a size of n moves by.
func (s ResizeServerGroupStage) change(n int) int {
	switch {
	case s.ScaleNum != nil:
		return *s.ScaleNum
	case s.ScalePct != nil:
		return int(math.Ceil(float64(n) * *s.ScalePct / 100))
	}
	return 0
}

// HealthyTarget is how many instances must be up for a server group of desired instances to
// count as healthy at percent: rounded, and at least one when there are any.
func HealthyTarget(desired, percent int) int {
	if desired <= 0 || percent <= 0 {
		return 0
	}
	return max(1, int(math.Round(float64(desired)*float64(percent)/100)))
}

// EnableServerGroupStage is an enableServerGroup stage's settings.
type EnableServerGroupStage struct{ AWSTarget }

// ReadEnableServerGroupStage reads an enableServerGroup stage.
func ReadEnableServerGroupStage(settings map[string]any, path string) (EnableServerGroupStage, []Problem) {
	var ps problems
	s := EnableServerGroupStage{readAWSTarget(newFields(settings, path, &ps))}
	return s, ps
}

// DisableServerGroupStage is a disableServerGroup stage's settings.
type DisableServerGroupStage struct {
	AWSTarget
	// DesiredPercentage, below 100, takes only that share of the server group's instances out of
	// its load balancers, leaving the group enabled.
	DesiredPercentage int
}

// ReadDisableServerGroupStage reads a disableServerGroup stage.
func ReadDisableServerGroupStage(settings map[string]any, path string) (DisableServerGroupStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := DisableServerGroupStage{AWSTarget: readAWSTarget(f), DesiredPercentage: int(f.count("desiredPercentage", 1, 100))}
	if s.DesiredPercentage > 100 {
		ps.add(f.at("desiredPercentage"), "must be a percentage, 1 to 100")
	}
	return s, ps
}

// DestroyServerGroupStage is a destroyServerGroup stage's settings.
type DestroyServerGroupStage struct {
	AWSTarget
	// SkipDisable destroys the server group without first taking it out of traffic.
	SkipDisable bool
}

// ReadDestroyServerGroupStage reads a destroyServerGroup stage.
func ReadDestroyServerGroupStage(settings map[string]any, path string) (DestroyServerGroupStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := DestroyServerGroupStage{AWSTarget: readAWSTarget(f), SkipDisable: f.boolean("skipDisableBeforeDestroy", false)}
	return s, ps
}

// Image stages.

// FindImageStageType finds the image a cluster's server group runs, per region (Deck's "Find
// Image from Cluster", which Orca also calls findAmi).
var FindImageStageType = RegisterStageType(StageType[FindImageStage]{
	Name: StageFindImage, Aliases: []string{"findAmi"}, CloudProvider: CloudAWS, Read: ReadFindImageStage})

// FindImageFromTagsStageType finds the newest image of a package with the given tags, per region.
var FindImageFromTagsStageType = RegisterStageType(StageType[FindImageFromTagsStage]{
	Name: StageFindImageFromTags, CloudProvider: CloudAWS, Read: ReadFindImageFromTagsStage})

// Image selection strategies of findImage.
const (
	SelectNewest  = "NEWEST"
	SelectOldest  = "OLDEST"
	SelectLargest = "LARGEST"
	SelectFail    = "FAIL"
)

// FindImageStage is a findImage stage's settings.
type FindImageStage struct {
	Account string
	Regions []string
	Cluster string
	// OnlyEnabled looks at enabled server groups only; the default.
	OnlyEnabled bool
	// SelectionStrategy picks among several server groups: NEWEST (the default), OLDEST,
	// LARGEST, or FAIL when they run different images.
	SelectionStrategy string
	// ImageNamePattern, when set, must match the image's name.
	ImageNamePattern string

	where awsPlace
}

// References names the account and its regions.
func (s FindImageStage) References(path string) []Reference {
	return s.where.references(path, s.Account, s.Regions)
}

// ReadFindImageStage reads a findImage stage.
func ReadFindImageStage(settings map[string]any, path string) (FindImageStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := FindImageStage{Cluster: readClusterName(f)}
	s.Account, s.where.accountPath = readAWSAccount(f, true)
	s.Regions, s.where.regionPaths = readRegions(f, true)
	checkAWSProvider(f)
	if s.Cluster == "" {
		ps.add(f.at("cluster"), "required: the cluster whose image to find, such as web-prod")
	} else if _, _, _, err := splitClusterName(s.Cluster); err != nil && !hasExpression(s.Cluster) {
		f.bad(f.at("cluster"), s.Cluster, "%v", err)
	}
	s.OnlyEnabled = f.boolean("onlyEnabled", true)
	s.SelectionStrategy = f.oneOf("selectionStrategy", SelectNewest, SelectNewest, SelectOldest, SelectLargest, SelectFail)
	s.ImageNamePattern = f.str("imageNamePattern")
	if s.ImageNamePattern != "" && !hasExpression(s.ImageNamePattern) {
		if _, err := regexp.Compile(s.ImageNamePattern); err != nil {
			f.bad(f.at("imageNamePattern"), s.ImageNamePattern, "is not a regular expression: %v", err)
		}
	}
	return s, ps
}

// FindImageFromTagsStage is a findImageFromTags stage's settings.
type FindImageFromTagsStage struct {
	// Account is where to look; empty looks in every AWS account that has the regions.
	Account string
	// PackageName must be part of the image's name.
	PackageName string
	Tags        map[string]string
	Regions     []string
	// ImageOwnerAccount, when set, is the AWS account id that must own the image.
	ImageOwnerAccount string

	where awsPlace
}

// References names the account, when the stage names one, and the regions.
func (s FindImageFromTagsStage) References(path string) []Reference {
	if s.Account == "" {
		return nil
	}
	return s.where.references(path, s.Account, s.Regions)
}

// ReadFindImageFromTagsStage reads a findImageFromTags stage.
func ReadFindImageFromTagsStage(settings map[string]any, path string) (FindImageFromTagsStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	s := FindImageFromTagsStage{PackageName: f.trimmed("packageName"), ImageOwnerAccount: f.trimmed("imageOwnerAccount")}
	s.Account, s.where.accountPath = readAWSAccount(f, false)
	s.Regions, s.where.regionPaths = readRegions(f, true)
	checkAWSProvider(f)
	if s.PackageName == "" {
		ps.add(f.at("packageName"), "required: the package the image was baked from, part of its name")
	}
	if tags, ok := f.optionalObject("tags"); ok {
		s.Tags = map[string]string{}
		tf := f.sub("tags", tags)
		for _, k := range sortedKeys(tags) {
			v, isText := tags[k].(string)
			if !isText {
				tf.bad(tf.at(k), tags[k], "must be a string")
			}
			s.Tags[k] = v
		}
	}
	if len(s.Tags) == 0 {
		ps.add(f.at("tags"), "required: the tags the image must have, such as {\"stack\": \"test\"}")
	}
	return s, ps
}
