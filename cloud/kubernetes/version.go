package kubernetes

import (
	"strconv"
	"strings"

	"github.com/gennaker/gennaker/cloud"
)

// VersionedName is the name of version seq of a resource: base-vNNN, as in web-config-v003.
func VersionedName(base string, seq int) string { return base + "-" + cloud.VersionSuffix(seq) }

// SplitVersion splits a versioned name such as web-config-v003 into its base name and sequence.
// ok is false for a name with no -vNNN suffix (at least three digits).
func SplitVersion(name string) (base string, seq int, ok bool) {
	i := strings.LastIndex(name, "-v")
	if i <= 0 {
		return "", 0, false
	}
	digits := name[i+2:]
	if len(digits) < 3 || strings.TrimLeft(digits, "0123456789") != "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return "", 0, false
	}
	return name[:i], n, true
}

// versionsOf picks out of names the versions of base, by wrapped sequence.
func versionsOf(names []string, base string) map[int]string {
	found := map[int]string{}
	for _, name := range names {
		if b, seq, ok := SplitVersion(name); ok && b == base {
			found[cloud.WrapSequence(seq)] = name
		}
	}
	return found
}

func keys(m map[int]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// LatestVersion finds the most recent version of base among existing names (see
// cloud.LatestSequence for how wrapping is handled). Names that are not base-vNNN are ignored; ok
// is false when there is no version of base.
func LatestVersion(existing []string, base string) (name string, seq int, ok bool) {
	found := versionsOf(existing, base)
	seq, ok = cloud.LatestSequence(keys(found))
	if !ok {
		return "", 0, false
	}
	return found[seq], seq, true
}

// NextVersion names the version of base to create next given the names that exist: base-v000 when
// there is none, otherwise the one after the latest, wrapping from v999 to v000 and skipping
// numbers still in use just after a wrap.
func NextVersion(existing []string, base string) (name string, seq int) {
	seq = cloud.NextSequence(keys(versionsOf(existing, base)))
	return VersionedName(base, seq), seq
}
