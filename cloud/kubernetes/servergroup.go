package kubernetes

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
)

// serverSetMetadata are the fields the API server fills in; a clone of a live object must drop
// them to be created anew.
var serverSetMetadata = []string{"uid", "resourceVersion", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "ownerReferences", "selfLink"}

// ServerGroupManifest makes sequence seq of a ReplicaSet server group: a copy of rs named
// base-vNNN (base is rs's name without any -vNNN it had), with the moniker app, cluster and
// sequence, its artifact annotations and gennaker's labels, on the ReplicaSet and its pod template,
// exactly as PrepareManifests writes them. Given app and cluster replace any the manifest carries;
// an empty cluster means Spinnaker's default, "replicaSet base". rs may be a live object: what the
// API server set (uid, resourceVersion, owner, status) is dropped, so cloning the running version
// into the next one works.
func ServerGroupManifest(rs *unstructured.Unstructured, app, cluster string, seq int) (*unstructured.Unstructured, error) {
	if rs == nil {
		return nil, invalidf("no ReplicaSet given")
	}
	if rs.GetKind() != "ReplicaSet" {
		return nil, invalidf("%s: a server group for red/black is a ReplicaSet", cloud.FullName(rs.GetKind(), rs.GetName()))
	}
	if app == "" {
		return nil, invalidf("%s: no application given for its moniker", cloud.FullName(rs.GetKind(), rs.GetName()))
	}
	obj, err := normalize(rs.Object)
	if err != nil {
		return nil, invalidf("%s: %v", cloud.FullName(rs.GetKind(), rs.GetName()), err)
	}
	base := rs.GetName()
	if b, _, ok := SplitVersion(base); ok {
		base = b
	}
	if base == "" {
		return nil, invalidf("ReplicaSet: metadata.name is missing")
	}
	delete(obj, "status")
	md := ensureMap(obj, "metadata")
	for _, f := range serverSetMetadata {
		delete(md, f)
	}
	if cluster == "" {
		cluster = cloud.FullName("ReplicaSet", base)
	}
	info := stampInfo{
		app: app, cluster: cluster, forceMoniker: true,
		kind: "ReplicaSet", namespace: rs.GetNamespace(), base: base,
	}
	// A Frigga cluster name of the same application carries the stack and detail too.
	if m, err := cloud.ParseServerGroupName(cluster); err == nil && m.App == app && m.Sequence == nil {
		info.stack, info.detail = m.Stack, m.Detail
	}
	seq = cloud.WrapSequence(seq)
	info.seq, info.name = &seq, VersionedName(base, seq)
	stamp(obj, info)
	return &unstructured.Unstructured{Object: obj}, nil
}
