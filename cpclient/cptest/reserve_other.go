//go:build !linux

package cptest

import (
	"fmt"
	"net"
	"strconv"
)

// reservation only records a port: outside Linux a bound socket that does
// not listen cannot share its port with a listener portably, so the port is
// checked free and released at once.
type reservation struct {
	port int
}

// reservePort checks that port is free on 127.0.0.1, or picks a free port
// when port is 0.
func reservePort(port int) (*reservation, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("cptest: reserve port %d: %w", port, err)
	}
	got := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return nil, fmt.Errorf("cptest: reserve port %d: %w", port, err)
	}
	return &reservation{port: got}, nil
}

// Close does nothing.
func (r *reservation) Close() error { return nil }
