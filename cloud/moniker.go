// Package cloud holds gennaker's provider-neutral contracts: the names of what it deploys
// (monikers, server groups, clusters), the types workflows and activities exchange about resources,
// health, traffic and rollbacks, and the small interfaces of the operations a provider implements
// (cloud/kubernetes is one). Names follow Spinnaker's Frigga conventions so that clusters, server
// groups and the tooling around them carry over from Spinnaker unchanged.
package cloud

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// SequenceLimit is how many server group sequences there are: sequences run from 0 to 999 and the
// one after 999 is 0 again, as in Spinnaker.
const SequenceLimit = 1000

// Moniker names what a resource belongs to: its application, its cluster (the app-stack-detail
// group of server groups that replace one another) and, for a server group, its sequence. The JSON
// shape is Spinnaker's.
type Moniker struct {
	App     string `json:"app,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	Stack   string `json:"stack,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// Sequence is the server group's number within its cluster; nil for a resource that is not
	// one of a numbered series.
	Sequence *int `json:"sequence,omitempty"`
}

// ClusterName joins an application, stack and detail as Frigga does: app, app-stack,
// app-stack-detail, or app--detail when there is a detail but no stack. The application must not
// be empty.
func ClusterName(app, stack, detail string) string {
	switch {
	case detail != "":
		return app + "-" + stack + "-" + detail
	case stack != "":
		return app + "-" + stack
	default:
		return app
	}
}

// ServerGroupName is the name of server group seq of the app-stack-detail cluster, such as
// app-stack-detail-v003. A sequence outside 0–999 is wrapped into that range.
func ServerGroupName(app, stack, detail string, seq int) string {
	return ClusterName(app, stack, detail) + "-" + VersionSuffix(seq)
}

// VersionSuffix is the vNNN part of a server group name for a sequence, wrapped into 0–999.
func VersionSuffix(seq int) string {
	return fmt.Sprintf("v%03d", WrapSequence(seq))
}

// WrapSequence brings any integer into 0–999 the way the sequence counter wraps.
func WrapSequence(seq int) int {
	return ((seq % SequenceLimit) + SequenceLimit) % SequenceLimit
}

// Frigga's character classes: application and stack may not contain a hyphen, the detail may.
var (
	versionedName = regexp.MustCompile(`^([-a-zA-Z0-9._~^]*)-v([0-9]{3,6})$`)
	clusterParts  = regexp.MustCompile(`^([a-zA-Z0-9._]+)(?:-([a-zA-Z0-9._]*)(?:-([-a-zA-Z0-9._~^]*))?)?$`)
)

// ParseServerGroupName splits a Frigga name such as app-stack-detail-v003 into its moniker. A name
// without a -vNNN suffix is a cluster name and parses with a nil Sequence; a name whose application
// part is empty or holds characters Frigga does not allow is an error.
func ParseServerGroupName(name string) (Moniker, error) {
	if name == "" {
		return Moniker{}, fmt.Errorf("empty server group name")
	}
	cluster := name
	var seq *int
	if m := versionedName.FindStringSubmatch(name); m != nil {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return Moniker{}, fmt.Errorf("server group name %q: sequence %q: %w", name, m[2], err)
		}
		cluster, seq = m[1], &n
	}
	parts := clusterParts.FindStringSubmatch(cluster)
	if parts == nil {
		return Moniker{}, fmt.Errorf("server group name %q is not of the form app-stack-detail-vNNN "+
			"(application and stack take letters, digits, '.' and '_'; the detail may also hold '-')", name)
	}
	return Moniker{App: parts[1], Cluster: cluster, Stack: parts[2], Detail: parts[3], Sequence: seq}, nil
}

// LatestSequence picks the most recent of a cluster's sequences, taking wrapping into account:
// sequences are handed out in a circle, so the most recent one is the one followed by the widest
// run of unused numbers (after 998, 999, 000 comes 001, not 000 again). With no wrap in sight this
// is simply the highest. ok is false when seqs is empty.
func LatestSequence(seqs []int) (latest int, ok bool) {
	if len(seqs) == 0 {
		return 0, false
	}
	sorted := make([]int, 0, len(seqs))
	for _, s := range seqs {
		sorted = append(sorted, WrapSequence(s))
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	latest, widest := sorted[len(sorted)-1], -1
	for i, s := range sorted {
		next := sorted[(i+1)%len(sorted)]
		gap := WrapSequence(next - s)
		if gap == 0 {
			gap = SequenceLimit // a single sequence: everything else is free
		}
		// On a tie keep the highest number, which is the answer when nothing has wrapped.
		if gap >= widest {
			latest, widest = s, gap
		}
	}
	return latest, true
}

// NextSequence is the sequence for a new server group after the given ones: 0 for the first, then
// one past the latest, wrapping from 999 to 0. When all 1000 sequences are taken it returns the one
// after the latest, which is in use; the caller must free old server groups first.
func NextSequence(seqs []int) int {
	latest, ok := LatestSequence(seqs)
	if !ok {
		return 0
	}
	return WrapSequence(latest + 1)
}
