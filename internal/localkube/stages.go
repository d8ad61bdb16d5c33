package localkube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// StagesDir is the folder under the binaries' folder holding kwok's CRDs and the stages taken
// from the kwok module (`make kube-tools` copies them there).
const StagesDir = "kwok-stages"

// crdFiles define the kwok resources localkube uses: Stage, without which kwok simulates nothing,
// and Logs and ClusterLogs, which say what file kwok's kubelet server answers a pod's log
// requests with (see Cluster.SetPodLogs). kwok watches them from its start, so they go in first.
var crdFiles = []string{
	"kwok.x-k8s.io_stages.yaml",
	"kwok.x-k8s.io_logs.yaml",
	"kwok.x-k8s.io_clusterlogs.yaml",
}

// upstreamStages are kwok's own stages, applied one object at a time: nodes become Ready and keep
// heartbeating, pods become Ready, pods of Jobs complete, deleted pods go away.
var upstreamStages = []string{
	"node-initialize.yaml",
	"node-heartbeat.yaml",
	"pod-ready.yaml",
	"pod-complete.yaml",
	"pod-delete.yaml",
}

// chaosExcluded names the upstream stages that must leave chaos pods alone: kwok picks one of the
// stages whose selector matches, so without the exclusion a chaos pod could become Ready anyway.
var chaosExcluded = map[string]bool{"pod-ready": true, "pod-complete": true}

// fieldManager owns everything localkube applies.
const fieldManager = "gennaker-localkube"

var (
	crdGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	stageGVR       = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "stages"}
	clusterLogsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
)

// stageFiles lists every file applyStages reads, for FindBinaries.
func stageFiles() []string {
	return append(slices.Clone(crdFiles), upstreamStages...)
}

// applyStages installs kwok's CRDs, kwok's stages (pod-ready and pod-complete narrowed to
// non-chaos pods) and the chaos stages. Applying is idempotent, so a restart re-applies them all.
func applyStages(ctx context.Context, dyn dynamic.Interface, dir string) error {
	crds := make([]*unstructured.Unstructured, 0, len(crdFiles))
	for _, file := range crdFiles {
		crd, err := readObject(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if err := apply(ctx, dyn.Resource(crdGVR), crd); err != nil {
			return err
		}
		crds = append(crds, crd)
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, dyn, crd.GetName()); err != nil {
			return err
		}
	}
	stages := make([]*unstructured.Unstructured, 0, len(upstreamStages)+len(chaosStages()))
	for _, file := range upstreamStages {
		stage, err := readObject(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if chaosExcluded[stage.GetName()] {
			if err := excludeChaos(stage); err != nil {
				return err
			}
		}
		stages = append(stages, stage)
	}
	stages = append(stages, chaosStages()...)
	for _, stage := range stages {
		if err := apply(ctx, dyn.Resource(stageGVR), stage); err != nil {
			return err
		}
	}
	return nil
}

// readObject reads one Kubernetes object from a YAML file.
func readObject(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("localkube: %w (run `make kube-tools`)", err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("localkube: parse %s: %w", path, err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetKind() == "" || u.GetName() == "" {
		return nil, fmt.Errorf("localkube: %s holds no single named object", path)
	}
	return u, nil
}

// excludeChaos adds to a stage's selector the requirement that the pod is not a chaos pod.
func excludeChaos(stage *unstructured.Unstructured) error {
	exprs, _, err := unstructured.NestedSlice(stage.Object, "spec", "selector", "matchExpressions")
	if err != nil {
		return fmt.Errorf("localkube: stage %s: %w", stage.GetName(), err)
	}
	exprs = append(exprs, map[string]any{
		"key":      chaosModeExpr,
		"operator": "NotIn",
		"values":   []any{ChaosFail, ChaosNeverReady},
	})
	if err := unstructured.SetNestedSlice(stage.Object, exprs, "spec", "selector", "matchExpressions"); err != nil {
		return fmt.Errorf("localkube: stage %s: %w", stage.GetName(), err)
	}
	return nil
}

// apply creates or updates obj with server-side apply, retrying while a just-established CRD's
// resource is not served yet.
func apply(ctx context.Context, res dynamic.NamespaceableResourceInterface, obj *unstructured.Unstructured) error {
	for {
		_, err := res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("localkube: apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localkube: apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitEstablished waits until the named CRD's resource is served.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	for {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localkube: CRD %s not established: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
