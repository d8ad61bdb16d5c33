package kubernetes

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gennaker/gennaker/cloud"
)

// Red/black traffic management, as in Spinnaker: a Service selects pods by label; gennaker puts
// the Service's selector labels on a ReplicaSet's pod template (and pods) to send it traffic, and
// takes them off to stop, leaving the pods running for a quick rollback.

// TrafficSelector reads the selector of a Service whose traffic gennaker manages. A Service without
// one routes to endpoints managed by hand, which no labels can change.
func TrafficSelector(service *unstructured.Unstructured) (map[string]string, error) {
	if service == nil {
		return nil, invalidf("no service given")
	}
	if service.GetKind() != "Service" {
		return nil, invalidf("%s: traffic is managed through a Service, not a %s", cloud.FullName(service.GetKind(), service.GetName()), service.GetKind())
	}
	selector := stringMapAt(service.Object, "spec", "selector")
	if len(selector) == 0 {
		return nil, invalidf("%s has no selector; gennaker moves traffic by adding and removing the labels a Service selects, so the Service must select pods by label",
			cloud.FullName("Service", service.GetName()))
	}
	return selector, nil
}

// CheckTrafficManagement says why a workload cannot have its traffic managed through a Service with
// this selector, or returns nil. Only ReplicaSets qualify, as in Spinnaker: a Deployment replaces
// its own pods, so an old version cannot be kept running without traffic. And the Service's labels
// must not be among those the ReplicaSet selects its own pods by, since disabling removes them and
// would orphan the pods.
func CheckTrafficManagement(workload *unstructured.Unstructured, serviceSelector map[string]string) error {
	if workload == nil {
		return invalidf("no workload given")
	}
	name := cloud.FullName(workload.GetKind(), workload.GetName())
	if workload.GetKind() != "ReplicaSet" {
		return invalidf("%s: traffic management (red/black, enable and disable) works only on ReplicaSets; "+
			"a %s replaces its pods itself and cannot keep an old version ready without traffic. "+
			"Deploy a ReplicaSet instead, or leave traffic management off and let the %s roll",
			name, workload.GetKind(), workload.GetKind())
	}
	if len(serviceSelector) == 0 {
		return invalidf("%s: the service selector is empty; traffic is moved by adding and removing the labels a Service selects", name)
	}
	var shared []string
	for key := range stringMapAt(workload.Object, "spec", "selector", "matchLabels") {
		if _, ok := serviceSelector[key]; ok {
			shared = append(shared, key)
		}
	}
	for _, expr := range mapsIn(mapAt(workload.Object, "spec", "selector")["matchExpressions"]) {
		if key, _ := expr["key"].(string); key != "" {
			if _, ok := serviceSelector[key]; ok && !slices.Contains(shared, key) {
				shared = append(shared, key)
			}
		}
	}
	if len(shared) > 0 {
		slices.Sort(shared)
		return invalidf("%s: its spec.selector uses %s, which the service also selects on; disabling traffic removes "+
			"the service's labels from the pods, which would take them out of the ReplicaSet. Select the "+
			"ReplicaSet's pods by labels the service does not use", name, labelList(shared))
	}
	labels := stringMapAt(workload.Object, "spec", "template", "metadata", "labels")
	if err := conflicts(name, labels, serviceSelector); err != nil {
		return err
	}
	return nil
}

// EnableTrafficLabels returns a copy of a ReplicaSet (its pod template) or a Pod with the service
// selector's labels added, so the Service routes to it. A label the workload already has with
// another value is an error: overwriting it would change what the workload is.
func EnableTrafficLabels(obj *unstructured.Unstructured, serviceSelector map[string]string) (*unstructured.Unstructured, error) {
	out, labels, err := trafficLabels(obj)
	if err != nil {
		return nil, err
	}
	if err := conflicts(cloud.FullName(obj.GetKind(), obj.GetName()), stringsOf(labels), serviceSelector); err != nil {
		return nil, err
	}
	for k, v := range serviceSelector {
		labels[k] = v
	}
	return out, nil
}

// DisableTrafficLabels returns a copy of a ReplicaSet (its pod template) or a Pod without the
// service selector's labels, so the Service stops routing to it. A ReplicaSet's running pods keep
// their labels until each is disabled too; a label with a value other than the selector's is not
// the service's and stays.
func DisableTrafficLabels(obj *unstructured.Unstructured, serviceSelector map[string]string) (*unstructured.Unstructured, error) {
	out, labels, err := trafficLabels(obj)
	if err != nil {
		return nil, err
	}
	for k, v := range serviceSelector {
		if labels[k] == v {
			delete(labels, k)
		}
	}
	return out, nil
}

// MatchesSelector reports whether labels carry every label of a selector, that is whether a
// Service with that selector sends traffic to pods with those labels. An empty selector matches
// nothing, as a Service without a selector routes to no pods by label.
func MatchesSelector(labels, selector map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// trafficLabels copies obj and finds the labels that decide which Services select it.
func trafficLabels(obj *unstructured.Unstructured) (*unstructured.Unstructured, map[string]any, error) {
	if obj == nil {
		return nil, nil, invalidf("no workload given")
	}
	copied, err := normalize(obj.Object)
	if err != nil {
		return nil, nil, invalidf("%s: %v", cloud.FullName(obj.GetKind(), obj.GetName()), err)
	}
	out := &unstructured.Unstructured{Object: copied}
	if obj.GetKind() == "Pod" {
		return out, ensureMap(copied, "metadata", "labels"), nil
	}
	if mapAt(copied, "spec", "template") == nil {
		return nil, nil, invalidf("%s has no pod template whose labels could be changed", cloud.FullName(obj.GetKind(), obj.GetName()))
	}
	return out, ensureMap(copied, "spec", "template", "metadata", "labels"), nil
}

func conflicts(name string, labels, selector map[string]string) error {
	var clash []string
	for k, v := range selector {
		if got, ok := labels[k]; ok && got != v {
			clash = append(clash, fmt.Sprintf("%s=%s (the service selects %s=%s)", k, got, k, v))
		}
	}
	if len(clash) > 0 {
		slices.Sort(clash)
		return invalidf("%s: its pod labels %s conflict with the service's selector; enabling traffic would overwrite them",
			name, strings.Join(clash, ", "))
	}
	return nil
}

func labelList(keys []string) string {
	if len(keys) == 1 {
		return "label " + keys[0]
	}
	return "labels " + strings.Join(keys, ", ")
}

func stringsOf(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
