//go:build !linux

// Package childproc starts the servers gennaker and its tests run beside them (the local
// Kubernetes control plane, moto, Prometheus) so that none outlives the process that started it.
package childproc

import "syscall"

// SysProcAttr leaves a child in its parent's process group, where the kernel cannot kill it when
// the parent dies; its parent's Stop ends it.
func SysProcAttr() *syscall.SysProcAttr { return nil }
