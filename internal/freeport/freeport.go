// Package freeport reserves loopback TCP ports for servers that must be told their port before
// they bind it: a program started with --port=N, or a configuration file naming N.
//
// Choosing a port by listening on :0 and closing the listener leaves the port free until the
// server binds it, and in between any process asking the kernel for a port (a test's httptest
// server, an outgoing connection) can be handed the same one; the server then fails with "address
// already in use". A reservation keeps a socket bound to the port, without listening, until it is
// released. On Linux the kernel never hands a port so bound to anyone asking for any port, while a
// server that binds it by number with SO_REUSEADDR (Go's net package always sets it, and so do
// Python's HTTP servers) still can, and listens there. Release the reservation once the server is seen listening, or when it is
// no longer wanted; while it is held, a connection to the port is refused, so a reservation also
// makes an address that is sure to have nothing behind it.
//
// Elsewhere, where SO_REUSEADDR does not let two sockets share an address, the port is released
// at once and only the old guarantee holds: it was free a moment ago. Such systems hand out ports
// in sequence rather than at random, which makes the race rare.
package freeport

import (
	"net"
	"strconv"
	"sync"
)

// Port is a reserved loopback port.
type Port struct {
	// Port is the port number, on 127.0.0.1.
	Port int

	once    sync.Once
	release func() error
}

// Reserve reserves a free port on 127.0.0.1.
func Reserve() (*Port, error) {
	return reserve()
}

// ReserveN reserves n distinct ports; on error none is kept.
func ReserveN(n int) ([]*Port, error) {
	ports := make([]*Port, 0, n)
	for range n {
		p, err := Reserve()
		if err != nil {
			ReleaseAll(ports)
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// Addr is the port's address, 127.0.0.1:port.
func (p *Port) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
}

// Release gives the port back; a server already listening there keeps it. Calling Release again
// does nothing.
func (p *Port) Release() {
	p.once.Do(func() {
		if p.release != nil {
			_ = p.release()
		}
	})
}

// ReleaseAll releases every port of ports.
func ReleaseAll(ports []*Port) {
	for _, p := range ports {
		p.Release()
	}
}
