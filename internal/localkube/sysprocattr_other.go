//go:build !linux

package localkube

import "syscall"

// sysProcAttr leaves the programs in gennaker's process group where the kernel cannot kill them
// when gennaker dies; Stop ends them.
func sysProcAttr() *syscall.SysProcAttr { return nil }
