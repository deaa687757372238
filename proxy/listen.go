package proxy

import (
	"context"
	"net"
)

// Listen opens a listener for the proxy (network "tcp", "tcp4" or "tcp6").
//
// Accepted connections get no TCP keep-alive probes, as nginx's (and so APISIX's) listen default
// so_keepalive=off: idle connections end with keepalive_timeout. Go's default of probes after 15 s
// costs four setsockopt calls per accepted connection, a tenth of the CPU when every request comes
// on a new connection.
//
// The listening socket is plain TCP. Since Go 1.24 a ListenConfig opens an MPTCP socket where the
// kernel has MPTCP; nginx listens with TCP unless told "multipath", and so does APISIX. Clients
// that do not speak MPTCP fall back to TCP either way, but every connection then goes through
// MPTCP's SYN and accept path, and a client that does would get subflows from other addresses.
//
// On Linux the socket defers accept until the client's first bytes arrive (see deferAccept).
func Listen(network, address string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: deferAccept}
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), network, address)
}
