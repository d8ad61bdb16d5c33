//go:build !linux

package promtest

import "syscall"

// sysProcAttr asks nothing of the kernel where it cannot kill an orphan; the test's cleanup stops
// Prometheus.
func sysProcAttr() *syscall.SysProcAttr { return nil }
