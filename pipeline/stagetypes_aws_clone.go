package pipeline

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// StageCloneServerGroup copies a server group into a new one, with changes.
const StageCloneServerGroup = "cloneServerGroup"

// CloneServerGroupStageType deploys a copy of a server group: its launch template and group
// settings read back from AWS, changed where the stage says, then moved into traffic as the
// stage's strategy says; Spinnaker's cloneServerGroup.
var CloneServerGroupStageType = RegisterStageType(StageType[CloneServerGroupStage]{
	Name: StageCloneServerGroup, CloudProvider: CloudAWS, Read: ReadCloneServerGroupStage})

// CloneServerGroupStage is a cloneServerGroup stage's settings.
type CloneServerGroupStage struct {
	// Source picks the server group copied: the one Target picks in the cluster targetCluster
	// names, or the one source names, in the stage's region.
	Source AWSTarget
	// Changes are the settings the stage gives; only those of Given (Deck's keys) replace the
	// source's. Its strategy always applies.
	Changes AWSCluster
	Given   []string
}

// References names the account and the region.
func (s CloneServerGroupStage) References(path string) []Reference {
	return s.Source.References(path)
}

// ReadCloneServerGroupStage reads a cloneServerGroup stage as Deck writes it: credentials, region
// (or availabilityZones), targetCluster and target (or source {asgName, region}), and any setting
// of a deploy's cluster to change.
func ReadCloneServerGroupStage(settings map[string]any, path string) (CloneServerGroupStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	checkAWSProvider(f)
	s := CloneServerGroupStage{Changes: readClusterSettings(f, false)}
	c := s.Changes
	s.Source = AWSTarget{Account: c.Account, Cluster: f.trimmed("targetCluster"), Target: TargetCurrent, where: c.where}
	if c.Region != "" {
		s.Source.Regions = []string{c.Region}
	}
	if m, ok := f.optionalObject("source"); ok {
		sf := f.sub("source", m)
		s.Source.ServerGroupName = cmp.Or(sf.trimmed("asgName"), sf.trimmed("serverGroupName"))
		if r := sf.trimmed("region"); r != "" && c.Region != "" && r != c.Region {
			sf.bad(sf.at("region"), r, "is not the stage's region %s: a clone is made in the region of its source", c.Region)
		}
		if a := cmp.Or(sf.trimmed("account"), sf.trimmed("credentials")); a != "" && a != c.Account {
			sf.bad(sf.at("account"), a, "is not the stage's account %s: a clone is made in the account of its source", c.Account)
		}
	}
	if t := f.trimmed("target"); t != "" && s.Source.ServerGroupName == "" {
		if alias, ok := targetAliases[t]; ok {
			t = alias
		}
		switch t {
		case TargetCurrent, TargetPrevious, TargetOldest:
		default:
			if !hasExpression(t) {
				f.bad(f.at("target"), t, "must be one of %s, %s or %s, not %q", TargetCurrent, TargetPrevious, TargetOldest, t)
			}
		}
		s.Source.Target = t
	}
	switch {
	case s.Source.ServerGroupName != "":
		s.Source.Target = ""
	case s.Source.Cluster == "":
		ps.add(f.at("targetCluster"), "required: the cluster (such as web-prod) whose server group to clone, or source.asgName")
	case !hasExpression(s.Source.Cluster):
		if _, _, _, err := splitClusterName(s.Source.Cluster); err != nil {
			f.bad(f.at("targetCluster"), s.Source.Cluster, "%v", err)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(settings)) {
		// Deck writes the settings it leaves alone as empty strings, but the name's parts as
		// the new cluster's: an empty stack or detail is none.
		str, isString := settings[key].(string)
		blank := isString && strings.TrimSpace(str) == "" && !slices.Contains([]string{"stack", "freeFormDetails", "details"}, key)
		if cloneChanges[key] != nil && !blank {
			s.Given = append(s.Given, key)
		}
	}
	return s, ps
}

// Cluster is the cluster the clone deploys: the source's settings, with the stage's changes.
// Without a capacity (or with useSourceCapacity) the copy takes the source's size.
func (s CloneServerGroupStage) Cluster(source AWSCluster) AWSCluster {
	c, o := source, s.Changes
	for _, key := range s.Given {
		cloneChanges[key](&c, o)
	}
	if o.UseSourceCapacity {
		c.Capacity = source.Capacity
	}
	c.UseSourceCapacity = false
	c.Account, c.Region = o.Account, o.Region
	c.Strategy, c.MaxRemainingAsgs, c.ScaleDown = o.Strategy, o.MaxRemainingAsgs, o.ScaleDown
	c.DelayBeforeCleanupSec, c.DelayBeforeScaleDownSec = o.DelayBeforeCleanupSec, o.DelayBeforeScaleDownSec
	c.RollbackOnFailure, c.DestroyLatest = o.RollbackOnFailure, o.DestroyLatest
	c.TargetPercentages, c.MaxInitialAsgs, c.PipelineBeforeCleanup = o.TargetPercentages, o.MaxInitialAsgs, o.PipelineBeforeCleanup
	return c
}

// cloneChanges applies each setting a clone stage may change, by Deck's key, from the stage's
// settings o to the copy c.
var cloneChanges = map[string]func(c *AWSCluster, o AWSCluster){
	"application":     func(c *AWSCluster, o AWSCluster) { c.Application = o.Application },
	"stack":           func(c *AWSCluster, o AWSCluster) { c.Stack = o.Stack },
	"freeFormDetails": func(c *AWSCluster, o AWSCluster) { c.Detail = o.Detail },
	"details":         func(c *AWSCluster, o AWSCluster) { c.Detail = o.Detail },
	"moniker": func(c *AWSCluster, o AWSCluster) {
		c.Application, c.Stack, c.Detail = cmp.Or(o.Application, c.Application), o.Stack, o.Detail
	},
	"availabilityZones": func(c *AWSCluster, o AWSCluster) { c.AvailabilityZones = o.AvailabilityZones },
	"subnetType": func(c *AWSCluster, o AWSCluster) {
		// Subnets of a type replace the source's subnets.
		c.SubnetType, c.SubnetIDs = o.SubnetType, o.SubnetIDs
	},
	"subnetIds":                     func(c *AWSCluster, o AWSCluster) { c.SubnetIDs = o.SubnetIDs },
	"capacity":                      func(c *AWSCluster, o AWSCluster) { c.Capacity = o.Capacity },
	"targetHealthyDeployPercentage": func(c *AWSCluster, o AWSCluster) { c.TargetHealthyDeployPercentage = o.TargetHealthyDeployPercentage },
	"amiName":                       func(c *AWSCluster, o AWSCluster) { c.Image = o.Image },
	"imageId":                       func(c *AWSCluster, o AWSCluster) { c.Image = o.Image },
	"instanceType":                  func(c *AWSCluster, o AWSCluster) { c.InstanceType = o.InstanceType },
	"securityGroups":                func(c *AWSCluster, o AWSCluster) { c.SecurityGroups = o.SecurityGroups },
	"iamRole":                       func(c *AWSCluster, o AWSCluster) { c.IAMRole = o.IAMRole },
	"keyPair":                       func(c *AWSCluster, o AWSCluster) { c.KeyPair = o.KeyPair },
	"base64UserData":                func(c *AWSCluster, o AWSCluster) { c.UserData = o.UserData },
	"instanceMonitoring":            func(c *AWSCluster, o AWSCluster) { c.InstanceMonitoring = o.InstanceMonitoring },
	"ebsOptimized":                  func(c *AWSCluster, o AWSCluster) { c.EBSOptimized = o.EBSOptimized },
	"associatePublicIpAddress":      func(c *AWSCluster, o AWSCluster) { c.AssociatePublicIPAddress = o.AssociatePublicIPAddress },
	"requireIMDSv2":                 func(c *AWSCluster, o AWSCluster) { c.RequireIMDSv2 = o.RequireIMDSv2 },
	"blockDevices":                  func(c *AWSCluster, o AWSCluster) { c.BlockDevices = o.BlockDevices },
	"loadBalancers":                 func(c *AWSCluster, o AWSCluster) { c.LoadBalancers = o.LoadBalancers },
	"targetGroups":                  func(c *AWSCluster, o AWSCluster) { c.TargetGroups = o.TargetGroups },
	"healthCheckType":               func(c *AWSCluster, o AWSCluster) { c.HealthCheckType = o.HealthCheckType },
	"healthCheckGracePeriod":        func(c *AWSCluster, o AWSCluster) { c.HealthCheckGracePeriod = o.HealthCheckGracePeriod },
	"cooldown":                      func(c *AWSCluster, o AWSCluster) { c.Cooldown = o.Cooldown },
	"enabledMetrics":                func(c *AWSCluster, o AWSCluster) { c.EnabledMetrics = o.EnabledMetrics },
	"terminationPolicies":           func(c *AWSCluster, o AWSCluster) { c.TerminationPolicies = o.TerminationPolicies },
	"suspendedProcesses":            func(c *AWSCluster, o AWSCluster) { c.SuspendedProcesses = o.SuspendedProcesses },
	"tags":                          func(c *AWSCluster, o AWSCluster) { c.Tags = o.Tags },
	"lifecycleHooks":                func(c *AWSCluster, o AWSCluster) { c.LifecycleHooks = o.LifecycleHooks },
	"capacityRebalance":             func(c *AWSCluster, o AWSCluster) { c.CapacityRebalance = o.CapacityRebalance },
	"startDisabled":                 func(c *AWSCluster, o AWSCluster) { c.StartDisabled = o.StartDisabled },
	"sequence":                      func(c *AWSCluster, o AWSCluster) { c.Sequence = o.Sequence },
	"ignoreSequence":                func(c *AWSCluster, o AWSCluster) { c.IgnoreSequence = o.IgnoreSequence },
}
