//go:build !unix

package transport

import "net"

// sock has nothing to do where sockets cannot be reached.
type sock struct{}

// closedWhileIdle cannot peek at a socket here: a dead pooled connection is found on use, and
// bytes behind a response are found only when they arrived with it.
func closedWhileIdle(net.Conn) bool { return false }

// sendWait is not available here: the caller writes and reads the ordinary way.
func sendWait(net.Conn, []byte) (n int, ok bool, werr, rerr error) { return 0, false, nil, nil }
