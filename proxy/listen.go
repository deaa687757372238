package proxy

import (
	"context"
	"net"

	"github.com/zoneproxy/zoneproxy/internal/tcplisten"
)

// Listen opens a listener for the proxy (network "tcp", "tcp4" or "tcp6"): plain TCP, accept
// deferred until the client speaks on Linux (package tcplisten).
//
// Accepted connections get no TCP keep-alive probes, as nginx's (and so APISIX's) listen default
// so_keepalive=off: idle connections end with keepalive_timeout. Go's default of probes after 15 s
// costs four setsockopt calls per accepted connection, a tenth of the CPU when every request comes
// on a new connection.
func Listen(network, address string) (net.Listener, error) {
	lc := tcplisten.Config()
	lc.KeepAlive = -1
	return lc.Listen(context.Background(), network, address)
}
