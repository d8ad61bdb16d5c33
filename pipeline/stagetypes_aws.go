package pipeline

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// AWS stage types, with Spinnaker's names. Their settings are Deck's: an account is "credentials"
// (or "account"), the regions a stage works in "regions", a cluster "cluster" (or moniker.cluster).
const (
	StageDeploy             = "deploy"
	StageCreateServerGroup  = "createServerGroup"
	StageResizeServerGroup  = "resizeServerGroup"
	StageEnableServerGroup  = "enableServerGroup"
	StageDisableServerGroup = "disableServerGroup"
	StageDestroyServerGroup = "destroyServerGroup"
	StageFindImage          = "findImage"
	StageFindImageFromTags  = "findImageFromTags"
)

// Capacity is a server group's size: at least Min instances, Desired asked for, at most Max.
type Capacity struct {
	Min     int `json:"min"`
	Desired int `json:"desired"`
	Max     int `json:"max"`
}

// Check reports whether the sizes are in order, 0 ≤ min ≤ desired ≤ max, and says how not.
func (c Capacity) Check() error {
	if c.Min < 0 || c.Desired < 0 || c.Max < 0 {
		return fmt.Errorf("sizes cannot be negative (min %d, desired %d, max %d)", c.Min, c.Desired, c.Max)
	}
	if c.Min > c.Desired || c.Desired > c.Max {
		return fmt.Errorf("needs min ≤ desired ≤ max (min %d, desired %d, max %d)", c.Min, c.Desired, c.Max)
	}
	return nil
}

// String writes the capacity as min/desired/max.
func (c Capacity) String() string {
	return fmt.Sprintf("%d/%d/%d (min/desired/max)", c.Min, c.Desired, c.Max)
}

// readCapacity reads a {min, desired, max} object; absent sizes are def's.
func readCapacity(f fields, key string, def Capacity) (Capacity, bool) {
	m, ok := f.optionalObject(key)
	if !ok {
		return def, false
	}
	cf := f.sub(key, m)
	c := Capacity{
		Min:     int(cf.count("min", 0, int64(def.Min))),
		Desired: int(cf.count("desired", 0, int64(def.Desired))),
		Max:     int(cf.count("max", 0, int64(def.Max))),
	}
	if !holdsExpression(m) {
		if err := c.Check(); err != nil {
			f.ps.add(f.at(key), "%v", err)
		}
	}
	return c, true
}

// Spinnaker's targets: which server group of a cluster, in each region, a stage works on.
const (
	TargetCurrent  = "current_asg_dynamic"
	TargetPrevious = "ancestor_asg_dynamic"
	TargetOldest   = "oldest_asg_dynamic"
)

// targetAliases are the older, non-dynamic names Spinnaker still accepts for its targets.
var targetAliases = map[string]string{"current_asg": TargetCurrent, "ancestor_asg": TargetPrevious, "oldest_asg": TargetOldest}

// AWSTarget names the server groups an AWS stage works on: in each region, the one Target picks
// among Cluster's server groups, or the one ServerGroupName names.
type AWSTarget struct {
	Account string
	Regions []string
	Cluster string
	// Target is TargetCurrent, TargetPrevious or TargetOldest; Spinnaker's default, the current.
	Target string
	// ServerGroupName (serverGroupName or asgName) names the server group, bypassing Target.
	ServerGroupName string

	where awsPlace
}

// References names the account and its regions.
func (t AWSTarget) References(path string) []Reference {
	return t.where.references(path, t.Account, t.Regions)
}

// awsPlace remembers where settings named their account and regions, for the paths of problems
// found when they are checked against the configured accounts.
type awsPlace struct {
	accountPath string
	// regionPaths are the paths of the regions, in order.
	regionPaths []string
	// pipelinePath is the path of a pipeline the stage runs, if any.
	pipelinePath string
}

// references names an AWS account and the regions of it a stage uses. The paths are the ones the
// reader saw, which ran on the same path.
func (w awsPlace) references(path, account string, regions []string) []Reference {
	refs := []Reference{{Path: cmp.Or(w.accountPath, joinKey(path, "credentials")), Kind: RefAccount, Provider: CloudAWS, Name: account}}
	for i, r := range regions {
		p := joinKey(path, "regions")
		if i < len(w.regionPaths) {
			p = w.regionPaths[i]
		}
		refs = append(refs, Reference{Path: p, Kind: RefRegion, Provider: CloudAWS, Account: account, Name: r})
	}
	return refs
}

// readAWSAccount reads the account, written "credentials" by Deck and "account" by others; both
// naming different accounts is an error, as in Spinnaker. It returns the path that named it.
func readAWSAccount(f fields, required bool) (string, string) {
	creds, account := f.trimmed("credentials"), f.trimmed("account")
	switch {
	case creds != "" && account != "" && creds != account:
		f.ps.add(f.at("account"), "names account %q but credentials names %q: give one", account, creds)
	case creds == "" && account == "" && required:
		f.ps.add(f.at("credentials"), "required: the AWS account (credentials or account)")
	}
	if creds != "" {
		return creds, f.at("credentials")
	}
	return account, f.at("account")
}

// readRegions reads "regions" (a list, or one region as text) or "region", with the path (under
// the stage) of each.
func readRegions(f fields, required bool) ([]string, []string) {
	var regions, paths []string
	if f.has("regions") {
		regions = f.stringsOrCommaList("regions")
		for i := range regions {
			p := f.at("regions")
			if _, isList := f.ctx["regions"].([]any); isList {
				p = joinIndex(p, i)
			}
			paths = append(paths, p)
		}
	}
	if r := f.trimmed("region"); r != "" && !slices.Contains(regions, r) {
		regions, paths = append(regions, r), append(paths, f.at("region"))
	}
	if len(regions) == 0 && required {
		f.ps.add(f.at("regions"), "required: the regions to work in, such as [\"us-east-1\"]")
	}
	return regions, paths
}

// readClusterName reads "cluster", or the cluster of "moniker".
func readClusterName(f fields) string {
	if c := f.trimmed("cluster"); c != "" {
		return c
	}
	if m, ok := f.optionalObject("moniker"); ok {
		return f.sub("moniker", m).trimmed("cluster")
	}
	return ""
}

// readAWSTarget reads the account, regions, cluster and target of a stage that works on server
// groups.
func readAWSTarget(f fields) AWSTarget {
	t := AWSTarget{Cluster: readClusterName(f)}
	t.Account, t.where.accountPath = readAWSAccount(f, true)
	t.Regions, t.where.regionPaths = readRegions(f, true)
	t.ServerGroupName = f.trimmed("serverGroupName")
	if t.ServerGroupName == "" {
		t.ServerGroupName = f.trimmed("asgName")
	}
	target := f.trimmed("target")
	if alias, ok := targetAliases[target]; ok {
		target = alias
	}
	switch {
	case target == "" && t.ServerGroupName == "":
		target = TargetCurrent
	case target == "", target == TargetCurrent, target == TargetPrevious, target == TargetOldest:
	case hasExpression(target):
	default:
		f.bad(f.at("target"), target, "must be one of %s, %s or %s, not %q", TargetCurrent, TargetPrevious, TargetOldest, target)
	}
	t.Target = target
	if t.ServerGroupName == "" && t.Cluster == "" {
		f.ps.add(f.at("cluster"), "required: the cluster (such as web-prod) whose server group to work on, or serverGroupName")
	}
	if t.Cluster != "" && !hasExpression(t.Cluster) {
		if _, _, _, err := splitClusterName(t.Cluster); err != nil {
			f.bad(f.at("cluster"), t.Cluster, "%v", err)
		}
	}
	checkAWSProvider(f)
	return t
}

// checkAWSProvider refuses a cloudProvider other than aws on a stage read as an AWS stage.
func checkAWSProvider(f fields) {
	for _, key := range []string{"cloudProvider", "cloudProviderType", "provider"} {
		if cp := f.trimmed(key); cp != "" && cp != CloudAWS && !hasExpression(cp) {
			f.bad(f.at(key), cp, "this stage runs on aws, not %q", cp)
		}
	}
}

// Frigga's name parts: application and stack take letters, digits, '.' and '_'; the detail may
// also hold '-', '~' and '^'.
var (
	friggaAppOrStack = regexp.MustCompile(`^[a-zA-Z0-9._]*$`)
	friggaDetail     = regexp.MustCompile(`^[-a-zA-Z0-9._~^]*$`)
)

// splitClusterName splits a cluster name into application, stack and detail as Frigga does.
func splitClusterName(cluster string) (app, stack, detail string, err error) {
	parts := strings.SplitN(cluster, "-", 3)
	app = parts[0]
	if len(parts) > 1 {
		stack = parts[1]
	}
	if len(parts) > 2 {
		detail = parts[2]
	}
	if app == "" || !friggaAppOrStack.MatchString(app) || !friggaAppOrStack.MatchString(stack) || !friggaDetail.MatchString(detail) {
		return "", "", "", fmt.Errorf("%q is not a cluster name of the form app, app-stack or app-stack-detail "+
			"(application and stack take letters, digits, '.' and '_'; the detail may also hold '-', '~' and '^')", cluster)
	}
	return app, stack, detail, nil
}
