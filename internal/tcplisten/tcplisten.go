// Package tcplisten holds the options of the proxy's listening sockets that nginx's listen has
// and Go's default does not: plain TCP rather than MPTCP, and accept deferred until the client
// speaks. proxy.Listen uses it, and so does the bench's bare forwarder, so that its ceiling row
// listens as zoneproxy does.
package tcplisten

import (
	"net"
	"syscall"
)

// Config returns a ListenConfig for a plain TCP socket whose accept is deferred (deferAccept, on
// Linux).
//
// Since Go 1.24 a ListenConfig opens an MPTCP socket where the kernel has MPTCP; nginx listens
// with TCP unless told "multipath", and so does APISIX. Clients that do not speak MPTCP fall back
// to TCP either way, but every connection then goes through MPTCP's SYN and accept path, and a
// client that does would get subflows from other addresses.
func Config() net.ListenConfig {
	lc := net.ListenConfig{Control: deferAccept}
	lc.SetMultipathTCP(false)
	return lc
}

// ReusePort makes lc's listening sockets share their port with others that set it
// (SO_REUSEPORT, on Linux; elsewhere nothing changes): several processes on one port, the kernel
// spreading new connections over them. The bench's bare forwarder uses it (bench/workers2.sh).
func ReusePort(lc *net.ListenConfig) {
	control := lc.Control
	lc.Control = func(network, address string, c syscall.RawConn) error {
		if err := reusePort(c); err != nil {
			return err
		}
		if control == nil {
			return nil
		}
		return control(network, address, c)
	}
}
