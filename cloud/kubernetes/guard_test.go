package kubernetes

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gennaker/gennaker/cloud"
)

func TestTrafficGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "guard")
	ctx := t.Context()
	e.deploy(cloud.DeployRequest{Application: "shop", Manifests: append(docs(t, shopService), shopReplicaSet(t, "example.com/shop:1", 1)...)})
	e.deploy(cloud.DeployRequest{Application: "shop", Manifests: shopReplicaSet(t, "example.com/shop:2", 0)})
	// A Deployment the Service also selects is a cluster of its own, and one it does not select
	// takes no traffic.
	e.deploy(cloud.DeployRequest{Application: "shop", Manifests: slices.Concat(
		simpleDeployment(t, "solo", "example.com/solo:1", 1), simpleDeployment(t, "batch", "example.com/batch:1", 1))})
	if err := e.p.Patch(ctx, "Deployment", e.ns, "solo", PatchStrategic, []byte(`{"spec":{"template":{"metadata":{"labels":{"svc":"shop"}}}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.p.SetTraffic(ctx, e.ns, "shop-v000", "service shop", true); err != nil {
		t.Fatal(err)
	}

	refusal := func(what string) string {
		return fmt.Sprintf(`refusing to %s: it is the only server group of cluster "replicaSet shop" taking traffic (traffic guard); enable another server group first`, what)
	}
	wantRefused := func(t *testing.T, err error, contains ...string) {
		t.Helper()
		wantInvalid(t, err, contains...)
		if !errors.Is(err, ErrTrafficGuard) {
			t.Errorf("error %q does not match ErrTrafficGuard", err)
		}
	}
	target := "replicaSet shop-v000 in " + e.ns

	t.Run("the only server group taking traffic", func(t *testing.T) {
		wantRefused(t, e.p.CheckTrafficGuard(ctx, e.ns, "ReplicaSet", "shop-v000", GuardDisable), refusal("disable "+target))
		wantRefused(t, e.p.CheckTrafficGuard(ctx, "", "replicaSet", "shop-v000", GuardDelete), refusal("delete "+target))
		wantRefused(t, e.p.CheckTrafficGuard(ctx, e.ns, "replicasets", "shop-v000", GuardScaleToZero), "refusing to scale "+target+" to 0 replicas")
		wantRefused(t, e.p.CheckTrafficGuard(ctx, e.ns, "Deployment", "solo", GuardDelete), `refusing to delete deployment solo in `+e.ns, `cluster "deployment solo"`)
	})

	t.Run("nothing to guard", func(t *testing.T) {
		for _, c := range [][2]string{
			{"ReplicaSet", "shop-v001"}, // takes no traffic
			{"Deployment", "batch"},     // takes no traffic
			{"ReplicaSet", "shop-v042"}, // not there
			{"Service", "shop"},         // not a server group
			{"ConfigMap", "kube-root-ca.crt"},
		} {
			if err := e.p.CheckTrafficGuard(ctx, e.ns, c[0], c[1], GuardDelete); err != nil {
				t.Errorf("%s %s: %v", c[0], c[1], err)
			}
		}
		err := e.p.CheckTrafficGuard(ctx, "kube-system", "ReplicaSet", "shop-v000", GuardDelete)
		wantInvalid(t, err, "may not use namespace kube-system")
		if errors.Is(err, ErrTrafficGuard) {
			t.Errorf("a refused namespace is not the traffic guard's refusal: %v", err)
		}
	})

	// Another server group taking traffic counts only once a pod of it is ready to serve.
	if err := e.p.SetTraffic(ctx, e.ns, "shop-v001", "service shop", true); err != nil {
		t.Fatal(err)
	}
	t.Run("another takes traffic without ready pods", func(t *testing.T) {
		wantRefused(t, e.p.CheckTrafficGuard(ctx, e.ns, "ReplicaSet", "shop-v000", GuardDisable),
			refusal("disable "+target), "(replicaSet shop-v001 takes traffic but no ready pods)")
	})
	if err := e.p.Scale(ctx, "ReplicaSet", e.ns, "shop-v001", 1); err != nil {
		t.Fatal(err)
	}
	t.Run("another serves", func(t *testing.T) {
		eventually(t, 30*time.Second, "shop-v000 may be disabled once shop-v001 serves", func() string {
			if err := e.p.CheckTrafficGuard(ctx, e.ns, "ReplicaSet", "shop-v000", GuardDisable); err != nil {
				return err.Error()
			}
			return ""
		})
		// Either may go now, but not both: with shop-v000 disabled, shop-v001 is the last.
		if err := e.p.SetTraffic(ctx, e.ns, "shop-v000", "service shop", false); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, e.p.CheckTrafficGuard(ctx, e.ns, "ReplicaSet", "shop-v001", GuardDisable), "refusing to disable replicaSet shop-v001")
		if err := e.p.CheckTrafficGuard(ctx, e.ns, "ReplicaSet", "shop-v000", GuardDelete); err != nil {
			t.Errorf("deleting the disabled shop-v000: %v", err)
		}
	})
}

func TestLoadBalancers(t *testing.T) {
	for text, want := range map[string][]string{
		`'["service web", " service api "]'`: {"service web", "service api"},
		`'[]'`:                               {},
		`""`:                                 nil,
	} {
		got, err := LoadBalancers(object(t, "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-v001\n  annotations:\n    traffic.spinnaker.io/load-balancers: "+text))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("annotation %s: %q, %v; want %q", text, got, err, want)
		}
	}
	if got, err := LoadBalancers(object(t, "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-v001}")); err != nil || got != nil {
		t.Errorf("without the annotation: %q, %v", got, err)
	}
	_, err := LoadBalancers(object(t, "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-v001\n  annotations:\n    traffic.spinnaker.io/load-balancers: service web"))
	wantInvalid(t, err, "replicaSet web-v001: its annotation traffic.spinnaker.io/load-balancers is \"service web\"", "JSON list")
}
