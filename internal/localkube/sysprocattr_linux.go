package localkube

import "syscall"

// sysProcAttr puts each program in its own process group, so that Ctrl-C in a terminal reaches
// only gennaker, which then stops the programs in order; and has the kernel kill a program whose
// parent died without stopping it, so a crashed test leaves no servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
