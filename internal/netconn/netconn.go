// Package netconn finds a connection of a given type under the wrappers around it (TLS, metrics,
// deadline wrappers), through their NetConn methods as crypto/tls's *tls.Conn has.
package netconn

import "net"

// maxDepth bounds the walk: the proxy wraps a connection at most three times.
const maxDepth = 4

// Find returns the first connection of type T from c down through NetConn, or false.
func Find[T net.Conn](c net.Conn) (T, bool) {
	for range maxDepth {
		if t, ok := c.(T); ok {
			return t, true
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	var zero T
	return zero, false
}
