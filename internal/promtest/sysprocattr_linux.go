package promtest

import "syscall"

// sysProcAttr has the kernel kill Prometheus when the test binary dies without stopping it (a
// panic, a timeout, Ctrl-C), so no Prometheus outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
