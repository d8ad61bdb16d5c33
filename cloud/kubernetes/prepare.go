package kubernetes

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/pipeline"
)

// ResourceKey names a resource, or a series of versions of one, within an account. For a versioned
// resource Name is the base name, without -vNNN.
type ResourceKey struct {
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
}

// ExistingVersion is one version of a versioned resource already in the cluster.
type ExistingVersion struct {
	// Name is the versioned name, such as web-config-v002.
	Name string `json:"name"`
	// Manifest is the object as it was last applied, when known. A new manifest that would be the
	// same apart from metadata reuses this version instead of creating another, as Spinnaker does;
	// this also makes a retried deploy land on the version its first attempt created.
	Manifest map[string]any `json:"manifest,omitempty"`
}

// PrepareInput is everything PrepareManifests needs; it reads no cluster.
type PrepareInput struct {
	// Manifests are the stage's manifests, already expression-evaluated: each a map[string]any (or
	// an *unstructured.Unstructured). A List's items are deployed as separate manifests.
	Manifests []any
	// Account is the Kubernetes account deployed to, recorded on every resource.
	Account string
	// Application is the pipeline's application; it names the moniker of every resource.
	Application string
	// NamespaceOverride, when set, replaces the namespace of every namespaced manifest.
	NamespaceOverride string
	// DefaultNamespace is the account's namespace for manifests that name none; "default" if empty.
	DefaultNamespace string
	ExecutionID      string
	StageRefID       string
	// Artifacts are the trigger's and upstream stages' artifacts, bound where they match.
	Artifacts []pipeline.Artifact
	// RequiredArtifacts must each be bound somewhere, or the deploy is refused. They take
	// precedence over Artifacts with the same name.
	RequiredArtifacts []pipeline.Artifact
	// Existing lists, by namespace, kind and base name, the versions already in the cluster of
	// every key LookupKeys returns; keys without versions may be left out.
	Existing map[ResourceKey][]ExistingVersion
	// ClusterScopedKinds names custom kinds that live outside namespaces, in addition to the
	// built-in ones.
	ClusterScopedKinds []string
}

// PrepareResult is the deploy PrepareManifests worked out.
type PrepareResult struct {
	// Manifests are ready to apply, in the order to apply them: namespaces and definitions first,
	// then storage, configuration, services, workloads, and what points at workloads.
	Manifests []*unstructured.Unstructured
	// Deployed describes Manifests, in the same order.
	Deployed []cloud.DeployedResource
	// CreatedArtifacts are the kubernetes/* artifacts the deploy produces, one per manifest in the
	// same order, for later stages to bind.
	CreatedArtifacts []pipeline.Artifact
	// BoundArtifacts are the artifacts substituted into the manifests: images, and the versions of
	// ConfigMaps, Secrets and other resources that references were pointed at.
	BoundArtifacts []pipeline.Artifact
}

// item is one manifest being prepared.
type item struct {
	label      string // where the manifest came from, for messages: manifest 2, or manifest 2 item 0
	obj        map[string]any
	apiVersion string
	kind       string
	namespace  string
	base       string // the name as written
	versioned  bool
	priority   int

	// Set once prepared.
	name string
	seq  *int
}

func (it *item) key() ResourceKey {
	return ResourceKey{Namespace: it.namespace, Kind: it.kind, Name: it.base}
}

func (it *item) version() string {
	if it.seq == nil {
		return ""
	}
	return cloud.VersionSuffix(*it.seq)
}

// artifact is the kubernetes/* artifact describing the prepared resource.
func (it *item) artifact() pipeline.Artifact {
	return pipeline.Artifact{
		Type:      ArtifactTypePrefix + kindName(it.kind),
		Name:      it.base,
		Location:  it.namespace,
		Version:   it.version(),
		Reference: it.name,
	}
}

// PrepareManifests turns a deploy stage's manifests into what to apply, as Spinnaker's Kubernetes
// provider does: it sets each namespace, annotates and labels every resource with its moniker, its
// artifact and the execution that deployed it, names versioned resources name-vNNN, points
// references at the versions they should use, and binds images to artifacts. Errors about the
// manifests match ErrInvalid and name the manifest's position.
func PrepareManifests(in PrepareInput) (PrepareResult, error) {
	items, err := parse(in)
	if err != nil {
		return PrepareResult{}, err
	}
	p := newPreparer(in, items)
	for _, it := range items {
		if err := p.prepare(it); err != nil {
			return PrepareResult{}, err
		}
	}
	if err := p.checkRequired(); err != nil {
		return PrepareResult{}, err
	}
	var res PrepareResult
	for _, it := range items {
		res.Manifests = append(res.Manifests, &unstructured.Unstructured{Object: it.obj})
		res.Deployed = append(res.Deployed, cloud.DeployedResource{
			APIVersion: it.apiVersion, Kind: it.kind, Namespace: it.namespace, Name: it.name,
			Version: it.version(), Versioned: it.versioned,
		})
		res.CreatedArtifacts = append(res.CreatedArtifacts, it.artifact())
	}
	res.BoundArtifacts = p.bound
	return res, nil
}

// LookupKeys lists the versioned resources PrepareManifests will consult PrepareInput.Existing
// for: every versioned manifest of the deploy, and every resource its manifests refer to by name
// (ConfigMaps, Secrets, autoscaler targets) that the deploy does not itself contain. The caller
// lists the versions of each and passes them in as Existing.
func LookupKeys(in PrepareInput) ([]ResourceKey, error) {
	items, err := parse(in)
	if err != nil {
		return nil, err
	}
	inDeploy := map[ResourceKey]bool{}
	for _, it := range items {
		inDeploy[it.key()] = true
	}
	seen := map[ResourceKey]bool{}
	var out []ResourceKey
	add := func(k ResourceKey) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, it := range items {
		if it.versioned {
			add(it.key())
		}
		_ = rewriteRefs(it.kind, it.obj, func(kind, name string) (string, error) {
			if k := (ResourceKey{Namespace: it.namespace, Kind: kind, Name: name}); !inDeploy[k] {
				add(k)
			}
			return name, nil
		})
	}
	slices.SortFunc(out, func(a, b ResourceKey) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// ExistingVersions groups objects listed from the cluster into PrepareInput.Existing: each object
// named base-vNNN becomes a version of (namespace, kind, base), with the manifest kubectl recorded
// as last applied when there is one. Objects whose names carry no version are skipped.
func ExistingVersions(objs []*unstructured.Unstructured) map[ResourceKey][]ExistingVersion {
	out := map[ResourceKey][]ExistingVersion{}
	for _, o := range objs {
		if o == nil {
			continue
		}
		base, _, ok := SplitVersion(o.GetName())
		if !ok {
			continue
		}
		v := ExistingVersion{Name: o.GetName()}
		if raw := o.GetAnnotations()[AnnotationLastApplied]; raw != "" {
			var m map[string]any
			// A damaged annotation only costs the chance to reuse this version.
			if json.Unmarshal([]byte(raw), &m) == nil {
				v.Manifest = m
			}
		}
		k := ResourceKey{Namespace: o.GetNamespace(), Kind: o.GetKind(), Name: base}
		out[k] = append(out[k], v)
	}
	for _, vs := range out {
		slices.SortFunc(vs, func(a, b ExistingVersion) int { return cmp.Compare(a.Name, b.Name) })
	}
	return out
}

// parse checks the manifests, resolves their namespaces and orders them for applying.
func parse(in PrepareInput) ([]*item, error) {
	if in.Application == "" {
		return nil, invalidf("no application: every deployed resource is annotated with the application it belongs to")
	}
	if len(in.Manifests) == 0 {
		return nil, invalidf("no manifests to deploy")
	}
	var items []*item
	for i, raw := range in.Manifests {
		label := fmt.Sprintf("manifest %d", i)
		obj, err := normalize(raw)
		if err != nil {
			return nil, invalidf("%s: %v", label, err)
		}
		kind, _ := obj["kind"].(string)
		if list, ok := obj["items"].([]any); ok && strings.HasSuffix(kind, "List") {
			for j, raw := range list {
				sub := fmt.Sprintf("%s item %d", label, j)
				o, err := normalize(raw)
				if err != nil {
					return nil, invalidf("%s: %v", sub, err)
				}
				items = append(items, &item{label: sub, obj: o})
			}
			continue
		}
		items = append(items, &item{label: label, obj: obj})
	}

	scoped := map[string]bool{}
	for _, k := range in.ClusterScopedKinds {
		scoped[k] = true
	}
	firstAt := map[ResourceKey]*item{}
	for _, it := range items {
		if err := it.read(); err != nil {
			return nil, err
		}
		if ClusterScoped(it.kind) || scoped[it.kind] {
			if md := mapAt(it.obj, "metadata"); md != nil {
				delete(md, "namespace")
			}
		} else {
			it.namespace = cmp.Or(in.NamespaceOverride, stringAt(it.obj, "metadata", "namespace"), in.DefaultNamespace, "default")
			ensureMap(it.obj, "metadata")["namespace"] = it.namespace
		}
		if first, dup := firstAt[it.key()]; dup {
			where := "namespace " + it.namespace
			if it.namespace == "" {
				where = "the cluster"
			}
			return nil, invalidf("%s and %s are both %s %s in %s; a deploy may hold each resource once",
				first.label, it.label, it.kind, it.base, where)
		}
		firstAt[it.key()] = it
	}
	// Referenced ConfigMaps and Secrets must be named before the workloads that mount them.
	slices.SortStableFunc(items, func(a, b *item) int { return cmp.Compare(a.priority, b.priority) })
	return items, nil
}

// read checks one manifest's identity and annotations and records them.
func (it *item) read() error {
	it.apiVersion, _ = it.obj["apiVersion"].(string)
	it.kind, _ = it.obj["kind"].(string)
	it.base = stringAt(it.obj, "metadata", "name")
	describe := it.label
	if it.kind != "" && it.base != "" {
		describe = fmt.Sprintf("%s (%s %s)", it.label, it.kind, it.base)
	} else if it.kind != "" {
		describe = fmt.Sprintf("%s (%s)", it.label, it.kind)
	}
	switch {
	case it.kind == "":
		return invalidf("%s: kind is missing", describe)
	case it.apiVersion == "":
		return invalidf("%s: apiVersion is missing", describe)
	case it.base == "":
		if stringAt(it.obj, "metadata", "generateName") != "" {
			return invalidf("%s: metadata.name is missing; generateName is not supported, because a deploy must know what it applied", describe)
		}
		return invalidf("%s: metadata.name is missing", describe)
	}
	for _, f := range [][]string{{"metadata", "annotations"}, {"metadata", "labels"}, {"spec", "template", "metadata", "annotations"}, {"spec", "template", "metadata", "labels"}} {
		what := "annotation"
		if f[len(f)-1] == "labels" {
			what = "label"
		}
		if err := checkStrings(it.obj, what, f...); err != nil {
			return invalidf("%s: %v", describe, err)
		}
	}
	versioned, err := Versioned(it.kind, stringMapAt(it.obj, "metadata", "annotations"))
	if err != nil {
		return invalidf("%s: %v", describe, err)
	}
	it.versioned = versioned
	it.priority = deployPriority(it.kind)
	return nil
}

// artifactKey is what tells bound artifacts apart: the fields binding reads.
type artifactKey struct{ typ, name, version, location, reference string }

func keyOf(a pipeline.Artifact) artifactKey {
	return artifactKey{a.Type, a.Name, a.Version, a.Location, a.Reference}
}

// preparer holds what a deploy has worked out so far.
type preparer struct {
	in       PrepareInput
	byKey    map[ResourceKey]*item
	bound    []pipeline.Artifact
	isBound  map[artifactKey]bool
	bindable []pipeline.Artifact // required first, so they win over optional artifacts of the same name
}

func newPreparer(in PrepareInput, items []*item) *preparer {
	p := &preparer{in: in, byKey: map[ResourceKey]*item{}, isBound: map[artifactKey]bool{}}
	for _, it := range items {
		p.byKey[it.key()] = it
	}
	p.bindable = append(append([]pipeline.Artifact{}, in.RequiredArtifacts...), in.Artifacts...)
	return p
}

func (p *preparer) prepare(it *item) error {
	for _, spec := range podSpecs(it.kind, it.obj) {
		p.bindImages(spec)
	}
	if err := rewriteRefs(it.kind, it.obj, func(kind, name string) (string, error) {
		return p.resolve(it, kind, name)
	}); err != nil {
		return err
	}
	if it.versioned {
		it.name, it.seq = p.chooseVersion(it)
	} else {
		it.name = it.base
	}
	stampItem(it.obj, p.in, it)
	return nil
}

// chooseVersion reuses an existing version identical to the manifest, else takes the next one.
func (p *preparer) chooseVersion(it *item) (string, *int) {
	existing := p.in.Existing[it.key()]
	names := make([]string, 0, len(existing))
	matching := map[int]string{}
	for _, ev := range existing {
		names = append(names, ev.Name)
		base, seq, ok := SplitVersion(ev.Name)
		if !ok || base != it.base || ev.Manifest == nil {
			continue
		}
		candidate := deepCopy(it.obj)
		stampItem(candidate, p.in, &item{kind: it.kind, namespace: it.namespace, base: it.base, versioned: true, name: ev.Name, seq: &seq})
		if sameContent(candidate, ev.Manifest) {
			matching[cloud.WrapSequence(seq)] = ev.Name
		}
	}
	if seq, ok := cloud.LatestSequence(keys(matching)); ok {
		return matching[seq], &seq
	}
	name, seq := NextVersion(names, it.base)
	return name, &seq
}

// sameContent compares everything but metadata and status, as Spinnaker does when deciding
// whether a version already exists: metadata carries the execution that applied it.
func sameContent(candidate, applied map[string]any) bool {
	norm, err := normalize(applied)
	if err != nil {
		return false
	}
	strip := func(m map[string]any) map[string]any {
		out := make(map[string]any, len(m))
		for k, v := range m {
			if k != "metadata" && k != "status" {
				out[k] = v
			}
		}
		return out
	}
	return reflect.DeepEqual(strip(candidate), strip(norm))
}

// resolve decides the name a reference from it to a kind/name resource should carry: the version
// this deploy creates, else a matching kubernetes/* artifact, else the latest version in the
// cluster; a name that matches none of these is left alone.
func (p *preparer) resolve(from *item, kind, name string) (string, error) {
	key := ResourceKey{Namespace: from.namespace, Kind: kind, Name: name}
	if target, ok := p.byKey[key]; ok {
		if target.name == "" {
			if !target.versioned {
				return target.base, nil
			}
			// The deploy order puts what pods mount before the pods; a versioned kind it does not
			// know can still come later, and its version is not decided yet.
			return "", invalidf("%s refers to %s %s, which is versioned and applied after it; "+
				"refer to it from a resource applied later, or mark it %s: \"false\"", from.label, kind, name, AnnotationVersioned)
		}
		if target.versioned {
			p.bind(target.artifact())
		}
		return target.name, nil
	}
	for _, a := range p.bindable {
		if a.Type == ArtifactTypePrefix+kindName(kind) && a.Name == name && a.Reference != "" &&
			(a.Location == "" || a.Location == from.namespace) {
			p.bind(a)
			return a.Reference, nil
		}
	}
	versions := p.in.Existing[key]
	names := make([]string, 0, len(versions))
	for _, v := range versions {
		names = append(names, v.Name)
	}
	if latest, seq, ok := LatestVersion(names, name); ok {
		p.bind(pipeline.Artifact{Type: ArtifactTypePrefix + kindName(kind), Name: name, Location: from.namespace,
			Version: cloud.VersionSuffix(seq), Reference: latest})
		return latest, nil
	}
	return name, nil
}

func (p *preparer) bind(a pipeline.Artifact) {
	if !p.isBound[keyOf(a)] {
		p.isBound[keyOf(a)] = true
		p.bound = append(p.bound, a)
	}
}

// bindImages points every container whose image names a docker/image artifact — with any tag or
// digest, or none — at the artifact's reference.
func (p *preparer) bindImages(spec map[string]any) {
	for _, list := range []string{"containers", "initContainers"} {
		for _, c := range mapsIn(spec[list]) {
			image, _ := c["image"].(string)
			if image == "" {
				continue
			}
			for _, a := range p.bindable {
				if a.Type != ArtifactTypeDockerImage || a.Reference == "" {
					continue
				}
				if imageName(cmp.Or(a.Name, a.Reference)) == imageName(image) {
					c["image"] = a.Reference
					p.bind(a)
					break
				}
			}
		}
	}
}

// imageName strips the tag and digest from an image reference: gcr.io/x/web:1.0 and
// gcr.io/x/web@sha256:... are both gcr.io/x/web. A colon before the last slash is a registry port.
func imageName(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if c := strings.LastIndexByte(ref, ':'); c > strings.LastIndexByte(ref, '/') {
		ref = ref[:c]
	}
	return ref
}

func (p *preparer) checkRequired() error {
	var missing []string
	for _, a := range p.in.RequiredArtifacts {
		if !p.isBound[keyOf(a)] {
			missing = append(missing, fmt.Sprintf("%s %s", a.Type, cmp.Or(a.Name, a.Reference)))
		}
	}
	if len(missing) > 0 {
		return invalidf("required artifacts could not be bound: %s; check that each name matches the image "+
			"of a container (or the name of a reference) in the manifests", strings.Join(missing, ", "))
	}
	return nil
}

// podSpecs finds the pod specs of a manifest: a Pod's own spec, a CronJob's job template's, and
// spec.template.spec of every other kind that has one (Deployments, ReplicaSets, StatefulSets,
// DaemonSets, Jobs, and custom workloads built the same way).
func podSpecs(kind string, obj map[string]any) []map[string]any {
	var spec map[string]any
	switch kind {
	case "Pod":
		spec = mapAt(obj, "spec")
	case "CronJob":
		spec = mapAt(obj, "spec", "jobTemplate", "spec", "template", "spec")
	default:
		spec = mapAt(obj, "spec", "template", "spec")
	}
	if spec == nil {
		return nil
	}
	return []map[string]any{spec}
}

// rewriteRefs calls rename for every resource a manifest refers to by name — ConfigMaps and
// Secrets its pods mount or read, the target of an autoscaler — and writes back the name it
// returns.
func rewriteRefs(kind string, obj map[string]any, rename func(kind, name string) (string, error)) error {
	var err error
	field := func(m map[string]any, key, kind string) {
		if m == nil || err != nil {
			return
		}
		if name, _ := m[key].(string); name != "" {
			var renamed string
			if renamed, err = rename(kind, name); err == nil {
				m[key] = renamed
			}
		}
	}
	for _, spec := range podSpecs(kind, obj) {
		for _, v := range mapsIn(spec["volumes"]) {
			field(mapAt(v, "configMap"), "name", "ConfigMap")
			field(mapAt(v, "secret"), "secretName", "Secret")
			for _, s := range mapsIn(mapAt(v, "projected")["sources"]) {
				field(mapAt(s, "configMap"), "name", "ConfigMap")
				field(mapAt(s, "secret"), "name", "Secret")
			}
		}
		for _, list := range []string{"containers", "initContainers"} {
			for _, c := range mapsIn(spec[list]) {
				for _, e := range mapsIn(c["envFrom"]) {
					field(mapAt(e, "configMapRef"), "name", "ConfigMap")
					field(mapAt(e, "secretRef"), "name", "Secret")
				}
				for _, e := range mapsIn(c["env"]) {
					field(mapAt(e, "valueFrom", "configMapKeyRef"), "name", "ConfigMap")
					field(mapAt(e, "valueFrom", "secretKeyRef"), "name", "Secret")
				}
			}
		}
	}
	if kind == "HorizontalPodAutoscaler" {
		if target := mapAt(obj, "spec", "scaleTargetRef"); target != nil {
			if targetKind, _ := target["kind"].(string); targetKind != "" {
				field(target, "name", targetKind)
			}
		}
	}
	return err
}

// stampItem names a prepared manifest and writes its moniker, artifact, labels and provenance.
func stampItem(obj map[string]any, in PrepareInput, it *item) {
	stamp(obj, stampInfo{
		app: in.Application, cluster: cloud.FullName(it.kind, it.base),
		kind: it.kind, namespace: it.namespace, base: it.base, name: it.name, seq: it.seq,
		account: in.Account, executionID: in.ExecutionID, stageRefID: in.StageRefID,
	})
}

// stampInfo is what stamp writes on a manifest.
type stampInfo struct {
	app, cluster, stack, detail string
	// forceMoniker overwrites moniker annotations the manifest already carries; otherwise the
	// manifest's own win, as in Spinnaker, so a manifest can name its own cluster.
	forceMoniker bool

	kind, namespace, base, name string
	seq                         *int

	account, executionID, stageRefID string
}

// stamp writes the annotations and labels gennaker keeps on what it deploys, on the resource and on
// its pod template. Who deployed it (execution, stage, account) goes on the resource only: on the
// template it would change the pods on every deploy and roll them for nothing.
func stamp(obj map[string]any, s stampInfo) {
	md := ensureMap(obj, "metadata")
	md["name"] = s.name
	version := ""
	if s.seq != nil {
		version = cloud.VersionSuffix(*s.seq)
	}

	annotate := func(a map[string]any) (app string) {
		set := func(key, value string) {
			if value != "" {
				a[key] = value
			} else {
				delete(a, key)
			}
		}
		setDefault := func(key, value string) {
			if _, has := a[key]; value != "" && (s.forceMoniker || !has) {
				a[key] = value
			}
		}
		setDefault(AnnotationApplication, s.app)
		setDefault(AnnotationCluster, s.cluster)
		setDefault(AnnotationStack, s.stack)
		setDefault(AnnotationDetail, s.detail)
		if s.seq != nil {
			a[AnnotationSequence] = strconv.Itoa(*s.seq)
		}
		set(AnnotationArtifactType, ArtifactTypePrefix+kindName(s.kind))
		set(AnnotationArtifactName, s.base)
		set(AnnotationArtifactLocation, s.namespace)
		set(AnnotationArtifactVersion, version)
		app, _ = a[AnnotationApplication].(string)
		return app
	}
	label := func(l map[string]any, app string) {
		if _, has := l[LabelName]; !has && app != "" {
			l[LabelName] = app
		}
		l[LabelManagedBy] = ManagedBy
		if s.seq != nil {
			l[LabelSequence] = strconv.Itoa(*s.seq)
		}
	}

	annotations := ensureMap(md, "annotations")
	app := annotate(annotations)
	for key, value := range map[string]string{AnnotationAccount: s.account, AnnotationExecutionID: s.executionID, AnnotationStageRefID: s.stageRefID} {
		if value != "" {
			annotations[key] = value
		}
	}
	label(ensureMap(md, "labels"), app)

	if template := mapAt(obj, "spec", "template"); template != nil {
		annotate(ensureMap(template, "metadata", "annotations"))
		label(ensureMap(template, "metadata", "labels"), app)
	}
}
