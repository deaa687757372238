// Package netconn finds a connection of a given type, or with a given method, under the
// wrappers around it (TLS, metrics, deadline wrappers, fasthttp's hijacked connection), through
// their NetConn methods as crypto/tls's *tls.Conn has, or UnsafeConn as fasthttp's has.
package netconn

import "net"

// maxDepth bounds the walk: the proxy wraps a connection at most four times (a hijacked TLS
// connection over the metrics' and the lazy deadlines' wrappers).
const maxDepth = 5

// Find returns the first of c and the connections under it that is a T, or false. T is a
// connection type (*tls.Conn) or an interface (interface{ CloseWrite() error }).
func Find[T any](c net.Conn) (T, bool) {
	for range maxDepth {
		if t, ok := c.(T); ok {
			return t, true
		}
		switch w := c.(type) {
		case interface{ UnsafeConn() net.Conn }:
			c = w.UnsafeConn()
		case interface{ NetConn() net.Conn }:
			c = w.NetConn()
		default:
			var zero T
			return zero, false
		}
	}
	var zero T
	return zero, false
}
