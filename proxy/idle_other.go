//go:build !unix

package proxy

import "net"

// closedWhileIdle cannot peek at a socket here: a dead pooled connection is found on use.
func closedWhileIdle(net.Conn) bool { return false }

type idleProbe struct{}
