package pipeline

import (
	"cmp"
	"encoding/base64"
	"math"
	"regexp"
	"slices"
	"strings"
)

// DeployStageType deploys one new server group (an Auto Scaling group) per cluster of the stage,
// each as its strategy says; Spinnaker's deploy stage.
var DeployStageType = RegisterStageType(StageType[DeployStage]{
	Name: StageDeploy, CloudProvider: CloudAWS, Read: ReadDeployStage})

// CreateServerGroupStageType deploys one cluster written at the top level of the stage, as Orca
// writes the stages a deploy stage expands into.
var CreateServerGroupStageType = RegisterStageType(StageType[DeployStage]{
	Name: StageCreateServerGroup, CloudProvider: CloudAWS, Read: ReadCreateServerGroupStage})

// Deploy strategies offered on AWS, beside StrategyNone, StrategyRedBlack and StrategyHighlander.
const (
	// StrategyRollingRedBlack moves traffic to the new server group in steps (targetPercentages).
	StrategyRollingRedBlack = "rollingredblack"
)

// DeployStage is a deploy stage's settings: the clusters it deploys a new server group to.
type DeployStage struct {
	Clusters []AWSCluster
}

// References names each cluster's account and region.
func (s DeployStage) References(path string) []Reference {
	var refs []Reference
	for _, c := range s.Clusters {
		refs = append(refs, c.where.references(path, c.Account, []string{c.Region})...)
		if p := c.PipelineBeforeCleanup; p != nil {
			refs = append(refs, Reference{Path: c.where.pipelinePath, Kind: RefPipeline, Application: p.Application, Name: p.Pipeline})
		}
	}
	return refs
}

// AWSCluster is one cluster of a deploy stage as Deck writes it: the new server group's launch
// settings, its size and load balancers, and the strategy that moves traffic to it.
type AWSCluster struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// Application is the moniker's application; empty means the pipeline's.
	Application string `json:"application,omitempty"`
	Stack       string `json:"stack,omitempty"`
	Detail      string `json:"freeFormDetails,omitempty"`
	// AvailabilityZones are the zones to launch in; empty means the account's for the region.
	AvailabilityZones []string `json:"availabilityZones,omitempty"`
	// SubnetType picks the region's subnets whose immutable_metadata tag has this purpose; empty
	// launches into the default VPC of the zones.
	SubnetType string   `json:"subnetType,omitempty"`
	SubnetIDs  []string `json:"subnetIds,omitempty"`
	Capacity   Capacity `json:"capacity"`
	// UseSourceCapacity takes the size of the cluster's current server group, when there is one.
	UseSourceCapacity bool `json:"useSourceCapacity,omitempty"`
	// TargetHealthyDeployPercentage is the share of desired instances that must be up for the
	// deploy to count as healthy (0–100).
	TargetHealthyDeployPercentage int `json:"targetHealthyDeployPercentage"`
	// Image is amiName or imageId: an image id (ami-…) or name; empty takes the image an upstream
	// stage found or baked for the region (deploymentDetails).
	Image                    string           `json:"image,omitempty"`
	InstanceType             string           `json:"instanceType"`
	SecurityGroups           []string         `json:"securityGroups,omitempty"`
	IAMRole                  string           `json:"iamRole,omitempty"`
	KeyPair                  string           `json:"keyPair,omitempty"`
	UserData                 string           `json:"base64UserData,omitempty"`
	InstanceMonitoring       bool             `json:"instanceMonitoring,omitempty"`
	EBSOptimized             bool             `json:"ebsOptimized,omitempty"`
	AssociatePublicIPAddress *bool            `json:"associatePublicIpAddress,omitempty"`
	RequireIMDSv2            bool             `json:"requireIMDSv2,omitempty"`
	BlockDevices             []AWSBlockDevice `json:"blockDevices,omitempty"`
	// CopySourceBlockDevices copies the block devices of the current server group's launch
	// template when the cluster gives none (copySourceCustomBlockDeviceMappings).
	CopySourceBlockDevices bool     `json:"copySourceCustomBlockDeviceMappings,omitempty"`
	LoadBalancers          []string `json:"loadBalancers,omitempty"`
	// TargetGroups are target group names.
	TargetGroups           []string           `json:"targetGroups,omitempty"`
	HealthCheckType        string             `json:"healthCheckType"`
	HealthCheckGracePeriod int                `json:"healthCheckGracePeriod"`
	Cooldown               int                `json:"cooldown"`
	EnabledMetrics         []string           `json:"enabledMetrics,omitempty"`
	TerminationPolicies    []string           `json:"terminationPolicies,omitempty"`
	SuspendedProcesses     []string           `json:"suspendedProcesses,omitempty"`
	Tags                   map[string]string  `json:"tags,omitempty"`
	LifecycleHooks         []AWSLifecycleHook `json:"lifecycleHooks,omitempty"`
	CapacityRebalance      bool               `json:"capacityRebalance,omitempty"`
	// StartDisabled deploys the server group out of traffic.
	StartDisabled bool `json:"startDisabled,omitempty"`
	// Sequence, when set, is the new server group's sequence; IgnoreSequence names it without one.
	Sequence       *int `json:"sequence,omitempty"`
	IgnoreSequence bool `json:"ignoreSequence,omitempty"`

	Strategy string `json:"strategy"`
	// MaxRemainingAsgs is how many server groups red/black leaves in the cluster, the new one
	// included; 0 leaves them all.
	MaxRemainingAsgs int `json:"maxRemainingAsgs,omitempty"`
	// ScaleDown scales the server groups red/black disabled down to nothing.
	ScaleDown bool `json:"scaleDown,omitempty"`
	// DelayBeforeCleanupSec waits between the new server group being healthy and the old ones
	// being disabled; DelayBeforeScaleDownSec between disabling and scaling down.
	DelayBeforeCleanupSec   int `json:"delayBeforeCleanup,omitempty"`
	DelayBeforeScaleDownSec int `json:"delayBeforeScaleDownSec,omitempty"`
	// RollbackOnFailure disables the new server group and restores the previous one when the
	// deploy fails; DestroyLatest then destroys the new one.
	RollbackOnFailure bool `json:"rollbackOnFailure,omitempty"`
	DestroyLatest     bool `json:"destroyLatest,omitempty"`
	// TargetPercentages are rolling red/black's steps: at each, the new server group grows to
	// that share of its capacity and, once it is up, the same share of the source's instances
	// leaves traffic. The last is 100.
	TargetPercentages []int `json:"targetPercentages,omitempty"`
	// MaxInitialAsgs is how many enabled server groups rolling red/black accepts in the cluster
	// when it starts.
	MaxInitialAsgs int `json:"maxInitialAsgs,omitempty"`
	// PipelineBeforeCleanup runs at each step of rolling red/black, once the new instances are
	// up and before the source's share is disabled; its failure fails the deploy.
	PipelineBeforeCleanup *PipelineStage `json:"pipelineBeforeCleanup,omitempty"`

	where awsPlace
}

// Cluster is the cluster's Frigga name, app-stack-detail.
func (c AWSCluster) Cluster(application string) string {
	app := c.Application
	if app == "" {
		app = application
	}
	switch {
	case c.Detail != "":
		return app + "-" + c.Stack + "-" + c.Detail
	case c.Stack != "":
		return app + "-" + c.Stack
	}
	return app
}

// AWSBlockDevice is one EBS volume (or instance store) of a launch template.
type AWSBlockDevice struct {
	DeviceName          string `json:"deviceName"`
	Size                int    `json:"size,omitempty"`
	VolumeType          string `json:"volumeType,omitempty"`
	IOPS                int    `json:"iops,omitempty"`
	Throughput          int    `json:"throughput,omitempty"`
	DeleteOnTermination *bool  `json:"deleteOnTermination,omitempty"`
	Encrypted           *bool  `json:"encrypted,omitempty"`
	SnapshotID          string `json:"snapshotId,omitempty"`
	VirtualName         string `json:"virtualName,omitempty"`
}

// AWSLifecycleHook is a lifecycle hook the new Auto Scaling group gets.
type AWSLifecycleHook struct {
	Name                  string `json:"name,omitempty"`
	LifecycleTransition   string `json:"lifecycleTransition"`
	RoleARN               string `json:"roleARN,omitempty"`
	NotificationTargetARN string `json:"notificationTargetARN,omitempty"`
	NotificationMetadata  string `json:"notificationMetadata,omitempty"`
	HeartbeatTimeout      int    `json:"heartbeatTimeout,omitempty"`
	DefaultResult         string `json:"defaultResult,omitempty"`
}

// ReadDeployStage reads a deploy stage: its clusters (or one cluster), each on aws.
func ReadDeployStage(settings map[string]any, path string) (DeployStage, []Problem) {
	var ps problems
	f := newFields(settings, path, &ps)
	var s DeployStage
	switch {
	case f.has("clusters"):
		f.eachObject("clusters", true, func(_ int, cf fields) { s.Clusters = append(s.Clusters, readAWSCluster(cf)) })
	case f.has("cluster"):
		if m, ok := f.optionalObject("cluster"); ok {
			s.Clusters = append(s.Clusters, readAWSCluster(f.sub("cluster", m)))
		}
	default:
		ps.add(f.at("clusters"), "required: the clusters to deploy a server group to")
	}
	return s, ps
}

// ReadCreateServerGroupStage reads a createServerGroup stage: one cluster, its settings at the top
// level of the stage.
func ReadCreateServerGroupStage(settings map[string]any, path string) (DeployStage, []Problem) {
	var ps problems
	c := readAWSCluster(newFields(settings, path, &ps))
	return DeployStage{Clusters: []AWSCluster{c}}, ps
}

// Auto Scaling's process names, which suspendedProcesses may list.
var scalingProcesses = []string{"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
	"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}

var (
	instanceTypeName = regexp.MustCompile(`^[a-z0-9-]+\.[a-z0-9-]+$`)
	awsRegionName    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// readAWSCluster reads one cluster of a deploy stage.
func readAWSCluster(f fields) AWSCluster { return readClusterSettings(f, true) }

// readClusterSettings reads a cluster; complete says the settings must be whole, as a deploy's
// are, rather than changes to a server group's, as a clone's are.
func readClusterSettings(f fields, complete bool) AWSCluster {
	var c AWSCluster
	for _, key := range []string{"cloudProvider", "provider"} {
		if cp := f.trimmed(key); cp != "" && cp != CloudAWS && !hasExpression(cp) {
			if cp == CloudKubernetes {
				f.bad(f.at(key), cp, "deploying clusters to kubernetes (Spinnaker's first Kubernetes provider) is not offered: deploy manifests with a deployManifest stage")
			} else {
				f.bad(f.at(key), cp, "deploying clusters to %s is not offered; gennaker deploys clusters to aws", cp)
			}
			return c
		}
	}
	c.Account, c.where.accountPath = readAWSAccount(f, true)
	c.Application, c.Stack, c.Detail = f.trimmed("application"), f.trimmed("stack"), f.trimmed("freeFormDetails")
	if c.Detail == "" {
		c.Detail = f.trimmed("details")
	}
	if m, ok := f.optionalObject("moniker"); ok {
		mf := f.sub("moniker", m)
		c.Application = cmp.Or(c.Application, mf.trimmed("app"))
		c.Stack = cmp.Or(c.Stack, mf.trimmed("stack"))
		c.Detail = cmp.Or(c.Detail, mf.trimmed("detail"))
	}
	checkFriggaParts(f, c)
	readClusterPlacement(f, &c)

	c.Capacity, _ = readCapacity(f, "capacity", Capacity{Min: 1, Desired: 1, Max: 1})
	c.UseSourceCapacity = f.boolean("useSourceCapacity", false) || f.boolean("preferSourceCapacity", false)
	c.TargetHealthyDeployPercentage = int(f.count("targetHealthyDeployPercentage", 0, 100))
	if c.TargetHealthyDeployPercentage > 100 {
		f.ps.add(f.at("targetHealthyDeployPercentage"), "must be a percentage, 0 to 100")
	}
	c.Image = f.trimmed("imageId")
	if c.Image == "" {
		c.Image = f.trimmed("amiName")
	}
	readLaunchSettings(f, &c, complete)
	readGroupSettings(f, &c)
	readDeployStrategy(f, &c)
	checkHealthProviders(f, c)
	return c
}

// checkFriggaParts checks the application, stack and detail make a Frigga cluster name.
func checkFriggaParts(f fields, c AWSCluster) {
	for _, part := range []struct{ key, value string }{{"application", c.Application}, {"stack", c.Stack}} {
		if !hasExpression(part.value) && !friggaAppOrStack.MatchString(part.value) {
			f.bad(f.at(part.key), part.value, "takes letters, digits, '.' and '_' only (it is part of the server group's name)")
		}
	}
	if !hasExpression(c.Detail) && !friggaDetail.MatchString(c.Detail) {
		f.bad(f.at("freeFormDetails"), c.Detail, "takes letters, digits, '.', '_', '-', '~' and '^' only (it is part of the server group's name)")
	}
}

// readClusterPlacement reads the region (availabilityZones' one key, or region), the zones and
// the subnets.
func readClusterPlacement(f fields, c *AWSCluster) {
	if zones, ok := f.optionalObject("availabilityZones"); ok && len(zones) > 0 {
		regions := sortedKeys(zones)
		if len(regions) > 1 {
			f.ps.add(f.at("availabilityZones"), "names %d regions (%s); a cluster deploys to one: give one cluster per region",
				len(regions), strings.Join(regions, ", "))
		}
		c.Region = regions[0]
		c.where.regionPaths = []string{joinKey(f.at("availabilityZones"), c.Region)}
		c.AvailabilityZones = f.sub("availabilityZones", zones).stringList(c.Region)
	}
	if r := f.trimmed("region"); r != "" {
		if c.Region != "" && c.Region != r {
			f.ps.add(f.at("region"), "is %q but availabilityZones are in %q", r, c.Region)
		}
		if c.Region == "" {
			c.Region, c.where.regionPaths = r, []string{f.at("region")}
		}
	}
	switch {
	case c.Region == "":
		f.ps.add(f.at("availabilityZones"), "required: the region and its zones, such as {\"us-east-1\": [\"us-east-1a\"]}, or region")
	case !hasExpression(c.Region) && !awsRegionName.MatchString(c.Region):
		f.bad(c.where.regionPaths[0], c.Region, "is not an AWS region name such as us-east-1")
	}
	c.SubnetType = f.trimmed("subnetType")
	c.SubnetIDs = f.stringsOrCommaList("subnetIds")
}

// readLaunchSettings reads what the launch template holds.
func readLaunchSettings(f fields, c *AWSCluster, complete bool) {
	if complete {
		c.InstanceType = f.requiredString("instanceType")
	} else {
		c.InstanceType = f.str("instanceType")
	}
	if t := strings.TrimSpace(c.InstanceType); t != "" && !hasExpression(t) && !instanceTypeName.MatchString(t) {
		f.bad(f.at("instanceType"), t, "is not an EC2 instance type such as t3.micro")
	}
	c.InstanceType = strings.TrimSpace(c.InstanceType)
	c.SecurityGroups = f.stringsOrCommaList("securityGroups")
	c.IAMRole = f.trimmed("iamRole")
	c.KeyPair = f.trimmed("keyPair")
	c.UserData = f.trimmed("base64UserData")
	if c.UserData != "" && !hasExpression(c.UserData) {
		if _, err := base64.StdEncoding.DecodeString(c.UserData); err != nil {
			f.bad(f.at("base64UserData"), c.UserData, "is not base64: %v", err)
		}
	}
	c.InstanceMonitoring = f.boolean("instanceMonitoring", false)
	c.EBSOptimized = f.boolean("ebsOptimized", false)
	if b, present := f.optionalBool("associatePublicIpAddress"); present {
		c.AssociatePublicIPAddress = &b
	}
	c.RequireIMDSv2 = f.boolean("requireIMDSv2", false)
	if set, present := f.optionalBool("setLaunchTemplate"); present && !set {
		f.ps.add(f.at("setLaunchTemplate"), "launch configurations are not offered (AWS stopped creating them for most accounts in 2024): "+
			"gennaker always launches from a launch template; remove setLaunchTemplate")
	}
	if spot := f.trimmed("spotPrice"); spot != "" {
		f.ps.add(f.at("spotPrice"), "spot instances are not offered yet; remove spotPrice")
	}
	for _, key := range []string{"onDemandAllocationStrategy", "onDemandBaseCapacity", "onDemandPercentageAboveBaseCapacity",
		"spotAllocationStrategy", "spotInstancePools", "launchTemplateOverridesForInstanceType"} {
		if v, ok := f.get(key); ok && !emptyValue(v) {
			f.ps.add(f.at(key), "mixed instances policies are not offered yet; remove %s", key)
		}
	}
	f.eachObject("blockDevices", false, func(_ int, bf fields) {
		d := AWSBlockDevice{DeviceName: bf.requiredString("deviceName"), Size: int(bf.count("size", 1, 0)),
			VolumeType: bf.trimmed("volumeType"), IOPS: int(bf.count("iops", 0, 0)), Throughput: int(bf.count("throughput", 0, 0)),
			SnapshotID: bf.trimmed("snapshotId"), VirtualName: bf.trimmed("virtualName")}
		if b, present := bf.optionalBool("deleteOnTermination"); present {
			d.DeleteOnTermination = &b
		}
		if b, present := bf.optionalBool("encrypted"); present {
			d.Encrypted = &b
		}
		c.BlockDevices = append(c.BlockDevices, d)
	})
	c.CopySourceBlockDevices = f.boolean("copySourceCustomBlockDeviceMappings", false)
}

// emptyValue reports a setting Deck writes empty when it is unused.
func emptyValue(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// readGroupSettings reads what the Auto Scaling group holds.
func readGroupSettings(f fields, c *AWSCluster) {
	c.LoadBalancers = f.stringsOrCommaList("loadBalancers")
	c.TargetGroups = f.stringsOrCommaList("targetGroups")
	c.HealthCheckType = f.oneOf("healthCheckType", "EC2", "EC2", "ELB")
	c.HealthCheckGracePeriod = int(f.count("healthCheckGracePeriod", 0, 600))
	c.Cooldown = int(f.count("cooldown", 0, 10))
	c.EnabledMetrics = f.stringsOrCommaList("enabledMetrics")
	c.TerminationPolicies = f.stringsOrCommaList("terminationPolicies")
	c.SuspendedProcesses = f.stringsOrCommaList("suspendedProcesses")
	for i, p := range c.SuspendedProcesses {
		if !hasExpression(p) && !slices.Contains(scalingProcesses, p) {
			f.bad(joinIndex(f.at("suspendedProcesses"), i), p, "is not an Auto Scaling process; they are %s", strings.Join(scalingProcesses, ", "))
		}
	}
	if tags, ok := f.optionalObject("tags"); ok && len(tags) > 0 {
		c.Tags = map[string]string{}
		tf := f.sub("tags", tags)
		for _, k := range sortedKeys(tags) {
			if strings.HasPrefix(k, "aws:") {
				f.ps.add(tf.at(k), "tag keys starting aws: are AWS's own")
				continue
			}
			v, ok := tags[k].(string)
			if !ok {
				if n, isNumber := readNumber(tags[k]); isNumber {
					v = stringify(n)
				} else if tags[k] != nil {
					tf.bad(tf.at(k), tags[k], "must be a string")
				}
			}
			c.Tags[k] = v
		}
	}
	f.eachObject("lifecycleHooks", false, func(_ int, hf fields) {
		h := AWSLifecycleHook{
			Name:                  hf.trimmed("name"),
			LifecycleTransition:   hf.oneOf("lifecycleTransition", "", "autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"),
			RoleARN:               hf.trimmed("roleARN"),
			NotificationTargetARN: hf.trimmed("notificationTargetARN"),
			NotificationMetadata:  hf.str("notificationMetadata"),
			HeartbeatTimeout:      int(hf.count("heartbeatTimeout", 30, 3600)),
			DefaultResult:         hf.oneOf("defaultResult", "ABANDON", "ABANDON", "CONTINUE"),
		}
		if h.LifecycleTransition == "" {
			hf.ps.add(hf.at("lifecycleTransition"), "required: autoscaling:EC2_INSTANCE_LAUNCHING or autoscaling:EC2_INSTANCE_TERMINATING")
		}
		c.LifecycleHooks = append(c.LifecycleHooks, h)
	})
	c.CapacityRebalance = f.boolean("capacityRebalance", false)
	c.StartDisabled = f.boolean("startDisabled", false)
	if f.has("sequence") {
		n := int(f.count("sequence", 0, 0))
		if n > 999 {
			f.ps.add(f.at("sequence"), "must be from 0 to 999")
		}
		c.Sequence = &n
	}
	c.IgnoreSequence = f.boolean("ignoreSequence", false)
}

// readDeployStrategy reads how traffic moves to the new server group.
func readDeployStrategy(f fields, c *AWSCluster) {
	strategy := strings.TrimSpace(f.str("strategy"))
	switch strategy {
	case "", StrategyNone:
		strategy = StrategyNone
	case StrategyRedBlack, StrategyHighlander:
	case StrategyRollingRedBlack:
		readRollingSteps(f, c)
	case "custom", "monitored", "cf-rolling-redblack":
		f.ps.add(f.at("strategy"), "strategy %q is not offered on aws yet; use redblack, rollingredblack, highlander or none", strategy)
	default:
		if !hasExpression(strategy) {
			f.bad(f.at("strategy"), strategy, "must be one of none, redblack, rollingredblack or highlander, not %q", strategy)
		}
	}
	c.Strategy = strategy
	c.MaxRemainingAsgs = int(f.count("maxRemainingAsgs", 0, 0))
	c.ScaleDown = f.boolean("scaleDown", false)
	c.DelayBeforeCleanupSec = int(f.count("delayBeforeCleanup", 0, 0))
	if c.DelayBeforeCleanupSec == 0 {
		c.DelayBeforeCleanupSec = int(f.count("delayBeforeDisableSec", 0, 0))
	}
	c.DelayBeforeScaleDownSec = int(f.count("delayBeforeScaleDownSec", 0, 0))
	if r, ok := f.optionalObject("rollback"); ok {
		rf := f.sub("rollback", r)
		c.RollbackOnFailure = rf.boolean("onFailure", false)
		c.DestroyLatest = rf.boolean("destroyLatest", false)
	}
}

// readRollingSteps reads rolling red/black's steps: the percentages, ascending, with 100 added
// when the list lacks it (as Spinnaker does), and the pipeline to run before each cleanup.
func readRollingSteps(f fields, c *AWSCluster) {
	items, _ := f.list("targetPercentages", false)
	for i, item := range items {
		p := joinIndex(f.at("targetPercentages"), i)
		n, ok := readNumber(item)
		switch {
		case !ok || n != math.Trunc(n):
			f.bad(p, item, "must be a whole percentage")
		case n < 1 || n > 100:
			f.bad(p, item, "must be a percentage from 1 to 100")
		case len(c.TargetPercentages) > 0 && int(n) <= c.TargetPercentages[len(c.TargetPercentages)-1]:
			f.bad(p, item, "must be larger than the step before it: the steps only move traffic forward")
		default:
			c.TargetPercentages = append(c.TargetPercentages, int(n))
		}
	}
	if len(c.TargetPercentages) == 0 || c.TargetPercentages[len(c.TargetPercentages)-1] != 100 {
		c.TargetPercentages = append(c.TargetPercentages, 100)
	}
	c.MaxInitialAsgs = int(f.count("maxInitialAsgs", 1, 1))
	if c.StartDisabled {
		f.ps.add(f.at("startDisabled"), "cannot be combined with rollingredblack, which moves traffic to the new server group in steps")
	}
	if m, ok := f.optionalObject("pipelineBeforeCleanup"); ok && len(m) > 0 {
		pf := f.sub("pipelineBeforeCleanup", m)
		id := pf.trimmed("pipelineId")
		if id == "" {
			// Deck leaves {"application": …} behind when no pipeline is chosen.
			return
		}
		child := &PipelineStage{Application: pf.trimmed("application"), Pipeline: id, WaitForCompletion: true}
		child.Parameters, _ = pf.optionalObject("pipelineParameters")
		c.PipelineBeforeCleanup = child
		c.where.pipelinePath = pf.at("pipelineId")
	}
}

// checkHealthProviders warns where Spinnaker's platform-only health would count a server group
// healthy that its load balancers do not: gennaker always asks the load balancers too.
func checkHealthProviders(f fields, c AWSCluster) {
	names := f.stringList("interestingHealthProviderNames")
	if len(names) == 1 && names[0] == "Amazon" && len(c.LoadBalancers)+len(c.TargetGroups) > 0 {
		f.ps.warn(f.at("interestingHealthProviderNames"), "is [\"Amazon\"], which in Spinnaker counts every running instance as up; "+
			"gennaker also waits until the instances are healthy in the cluster's load balancers and target groups")
	}
}
