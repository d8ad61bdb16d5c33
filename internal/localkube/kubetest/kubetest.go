// Package kubetest gives a test package one local Kubernetes control plane, started on first use
// and stopped by Stop from TestMain, so tests that do not need it run without it.
package kubetest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/gennaker/gennaker/internal/localkube"
)

var (
	once    sync.Once
	cluster *localkube.Cluster
	dir     string
	err     error
)

// Cluster returns the package's cluster, starting it if need be. Under -short, or without the
// control-plane programs, the test is skipped; in CI (CI=true) missing programs are a failure.
func Cluster(t testing.TB) *localkube.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a local Kubernetes control plane; skipped with -short")
	}
	once.Do(func() {
		if err = localkube.FindBinaries(localkube.DefaultBinDir()); err != nil {
			return
		}
		if dir, err = os.MkdirTemp("", "gennaker-kube-"); err != nil {
			return
		}
		cluster, err = localkube.Start(context.Background(), localkube.Options{DataDir: dir})
	})
	if errors.Is(err, localkube.ErrMissingBinaries) && os.Getenv("CI") != "true" {
		t.Skipf("the Kubernetes control-plane programs are missing; run `make kube-tools` to build them: %v", err)
	}
	if err != nil {
		t.Fatalf("start the Kubernetes control plane: %v", err)
	}
	return cluster
}

// Stop stops the cluster if one was started and removes its files; call it from TestMain.
func Stop() {
	if cluster != nil {
		cluster.Stop()
	}
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
