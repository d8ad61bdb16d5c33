// Package aws deploys to Amazon EC2 as Spinnaker does: an immutable machine image per release, an
// Auto Scaling group per deploy (a server group, named app-stack-detail-vNNN), launched from a
// launch template of its own, its traffic moved through load balancer target groups and classic
// load balancers. It reads AWS directly, never a cache, and every create is described first and
// tagged with its owner, so a retried call adopts what it made instead of making it twice.
package aws

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Account is a named AWS account from configuration: pipelines name the account and its regions;
// its credentials come from the SDK's default chain (optionally through AssumeRole) and never
// appear in pipelines, executions or workflow history.
type Account struct {
	// Name is how pipelines refer to the account.
	Name string `json:"name"`
	// AccountID is the 12-digit AWS account id, checked against the credentials' when set.
	AccountID string `json:"accountId,omitempty"`
	// AssumeRole is a role name (in AccountID) or ARN assumed with the default chain's
	// credentials; empty uses those credentials directly.
	AssumeRole string `json:"assumeRole,omitempty"`
	// ExternalID is passed to AssumeRole when the role's trust policy asks for one.
	ExternalID string `json:"externalId,omitempty"`
	// Regions are the regions pipelines may deploy to.
	Regions []Region `json:"regions"`
	// DefaultKeyPair is the key pair of instances whose deploy names none.
	DefaultKeyPair string `json:"defaultKeyPair,omitempty"`
	// DefaultSecurityGroups are added to every server group's security groups (names or ids).
	// There are no others: gennaker adds no security group or role of its own.
	DefaultSecurityGroups []string `json:"defaultSecurityGroups,omitempty"`
	// Endpoint replaces AWS's endpoints for every service, for moto or LocalStack.
	Endpoint string `json:"endpoint,omitempty"`
	// RateLimit is how many AWS calls a second a worker makes in each of the account's regions;
	// 0 means DefaultRateLimit. Throttling answers slow the calls down further.
	RateLimit float64 `json:"rateLimit,omitempty"`

	// Bakery configures the machine image bakes in the account; nil refuses them.
	Bakery *Bakery `json:"bakery,omitempty"`

	// StaticCredentials replaces the default chain's credentials: set for the local AWS that
	// `gennaker dev` runs, whose moto takes any. It cannot be configured.
	StaticCredentials *StaticCredentials `json:"-"`
}

// StaticCredentials are an access key, for the local AWS only.
type StaticCredentials struct{ AccessKeyID, SecretAccessKey string }

// DefaultRateLimit is the calls a second a worker makes per account and region when the account
// sets no rateLimit: under EC2's and Auto Scaling's default request quotas with room to spare for
// other callers.
const DefaultRateLimit = 20

// Region is one region of an account.
type Region struct {
	Name string `json:"name"`
	// AvailabilityZones are where server groups run when a deploy names none; empty means every
	// zone the region's subnets are in.
	AvailabilityZones []string `json:"availabilityZones,omitempty"`
}

var (
	accountName = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?$`)
	accountID   = regexp.MustCompile(`^[0-9]{12}$`)
	regionName  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// Validate reports every problem with the account's configuration at once.
func (a Account) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !accountName.MatchString(a.Name) {
		add("name %q: use up to 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", a.Name)
	}
	if a.AccountID != "" && !accountID.MatchString(a.AccountID) {
		add("accountId %q: an AWS account id is 12 digits", a.AccountID)
	}
	if a.AssumeRole != "" && !strings.HasPrefix(a.AssumeRole, "arn:") && a.AccountID == "" {
		add("assumeRole %q is a role name: give accountId too, or the role's ARN", a.AssumeRole)
	}
	if len(a.Regions) == 0 {
		add("regions: name at least one region, such as {name: us-east-1}")
	}
	seen := map[string]bool{}
	for _, r := range a.Regions {
		if !regionName.MatchString(r.Name) {
			add("region %q is not an AWS region name such as us-east-1", r.Name)
		}
		if seen[r.Name] {
			add("region %q is named twice", r.Name)
		}
		seen[r.Name] = true
		for _, z := range r.AvailabilityZones {
			if !strings.HasPrefix(z, r.Name) {
				add("region %s: availability zone %q is not in the region", r.Name, z)
			}
		}
	}
	if b := a.Bakery; b != nil {
		for i, bi := range b.BaseImages {
			if bi.BaseOS == "" || len(bi.Regions) == 0 {
				add("bakery.baseImages[%d]: baseOs and regions (region: image) are required", i)
			}
			if bi.VMType != "" && bi.VMType != "hvm" && bi.VMType != "pv" {
				add("bakery.baseImages[%d]: vmType %q is hvm or pv", i, bi.VMType)
			}
			for r := range bi.Regions {
				if !seen[r] {
					add("bakery.baseImages[%d]: region %q is not one of the account's", i, r)
				}
			}
		}
		for name, script := range b.Templates {
			if strings.TrimSpace(script) == "" {
				add("bakery.templates[%s] is empty", name)
			}
		}
	}
	if a.Endpoint != "" && !strings.HasPrefix(a.Endpoint, "http://") && !strings.HasPrefix(a.Endpoint, "https://") {
		add("endpoint %q: give a URL, such as http://127.0.0.1:5000", a.Endpoint)
	}
	if a.RateLimit < 0 {
		add("rateLimit %v: give calls a second, more than 0", a.RateLimit)
	}
	if len(problems) == 0 {
		return nil
	}
	name := a.Name
	if name == "" {
		name = "(unnamed)"
	}
	return errors.New("aws account " + name + ": " + strings.Join(problems, "; "))
}

// RegionNames lists the account's regions, in configuration order.
func (a Account) RegionNames() []string {
	names := make([]string, len(a.Regions))
	for i, r := range a.Regions {
		names[i] = r.Name
	}
	return names
}

// HasRegion reports whether pipelines may use the region.
func (a Account) HasRegion(name string) bool { return slices.Contains(a.RegionNames(), name) }

// region finds a region's configuration.
func (a Account) region(name string) (Region, bool) {
	for _, r := range a.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// roleARN is the ARN of the role to assume.
func (a Account) roleARN() string {
	if strings.HasPrefix(a.AssumeRole, "arn:") {
		return a.AssumeRole
	}
	return "arn:aws:iam::" + a.AccountID + ":role/" + a.AssumeRole
}
