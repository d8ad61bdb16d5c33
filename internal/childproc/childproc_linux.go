// Package childproc starts the servers gennaker and its tests run beside them (the local
// Kubernetes control plane, moto, Prometheus) so that none outlives the process that started it.
package childproc

import "syscall"

// SysProcAttr puts a child in its own process group, so that Ctrl-C in a terminal reaches only
// its parent, which then stops it in order; and has the kernel kill a child whose parent died
// without stopping it (a SIGKILL, a crashed test), so no server is left behind.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
