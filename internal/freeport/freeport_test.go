package freeport_test

import (
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"

	"github.com/gennaker/gennaker/internal/freeport"
)

// TestServerBindsReservedPort: a server told the port binds and serves it while the reservation
// still holds it, and keeps it once the reservation is released.
func TestServerBindsReservedPort(t *testing.T) {
	p, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	ln, err := net.Listen("tcp", p.Addr())
	if err != nil {
		t.Fatalf("listening on the reserved %s: %v", p.Addr(), err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	p.Release()
	p.Release() // a second Release is harmless
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dialling the server on %s after the release: %v", p.Addr(), err)
	}
	_ = conn.Close()
}

// TestReservedPortRefusesConnections: nothing listens on a port while it is only reserved.
func TestReservedPortRefusesConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ports are held only on Linux")
	}
	p, err := freeport.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	conn, err := net.Dial("tcp", p.Addr())
	if err == nil {
		_ = conn.Close()
		t.Fatalf("a connection to the reserved %s was accepted", p.Addr())
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dialling the reserved %s: %v, want connection refused", p.Addr(), err)
	}
}

// TestReservedPortIsNotHandedOut: while a port is held, asking the kernel for any port never
// yields it.
func TestReservedPortIsNotHandedOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ports are held only on Linux")
	}
	ports, err := freeport.ReserveN(100)
	if err != nil {
		t.Fatal(err)
	}
	defer freeport.ReleaseAll(ports)
	held := map[int]bool{}
	for _, p := range ports {
		if held[p.Port] {
			t.Fatalf("port %d reserved twice", p.Port)
		}
		held[p.Port] = true
	}
	// Were the held ports candidates, about one bind to port 0 in 300 would yield one of them
	// (Linux offers some 28,000 ports, picked at random).
	for range 5000 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if held[port] {
			t.Fatalf("the kernel handed out the reserved port %d", port)
		}
	}
}
