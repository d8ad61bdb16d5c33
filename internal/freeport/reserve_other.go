//go:build !linux

package freeport

import (
	"fmt"
	"net"
)

// reserve finds a port free right now and releases it at once: outside Linux a socket bound to the
// port would keep the server from binding it too.
func reserve() (*Port, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("freeport: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return nil, fmt.Errorf("freeport: %w", err)
	}
	return &Port{Port: port}, nil
}
