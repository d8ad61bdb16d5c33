package freeport

import (
	"fmt"
	"syscall"
)

// reserve binds a socket to 127.0.0.1:0 with SO_REUSEADDR and never listens on it. The kernel
// skips a port bound this way when it picks one for a bind to port 0 or for a connection's local
// end; a server binding it by number with SO_REUSEADDR may, as long as nothing listens there yet,
// and then listens as usual (socket(7)).
func reserve() (*Port, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("freeport: socket: %w", err)
	}
	fail := func(what string, err error) (*Port, error) {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("freeport: %s: %w", what, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail("bind 127.0.0.1:0", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		return fail("getsockname", fmt.Errorf("unexpected address %T", sa))
	}
	return &Port{Port: in4.Port, release: func() error { return syscall.Close(fd) }}, nil
}
