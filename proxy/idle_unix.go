//go:build unix

package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// closedWhileIdle reports whether the upstream closed a pooled connection (or sent something
// unasked) while it sat idle: a non-blocking peek at the socket. It lets a non-idempotent
// request, which must not be replayed once sent, avoid a dead connection instead. On a
// connection dialled through ConfigureClient it allocates nothing after the first time.
func closedWhileIdle(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*countedConn); ok {
		return cc.probe.peek(cc.Conn)
	}
	return (&idleProbe{}).peek(c)
}

// idleProbe keeps what a peek needs, so that a connection can be probed without allocating.
type idleProbe struct {
	rc     syscall.RawConn
	fn     func(fd uintptr) bool
	buf    [1]byte
	closed bool
}

func (p *idleProbe) peek(c net.Conn) bool {
	if p.rc == nil {
		sc, ok := c.(syscall.Conn)
		if !ok {
			return false
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return true
		}
		p.rc = rc
		p.fn = func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			// n == 0 without an error is the peer's FIN; n > 0 is data nobody asked for.
			p.closed = n > 0 || err == nil || (err != syscall.EAGAIN && err != syscall.EWOULDBLOCK)
			return true
		}
	}
	p.closed = false
	if err := p.rc.Read(p.fn); err != nil {
		return true
	}
	return p.closed
}
