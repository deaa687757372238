package proxy

import (
	"net"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/deadline"
)

// lazyListener hands out its TCP connections with lazily re-armed deadlines (package
// deadline): fasthttp moves a keep-alive connection's read deadline twice and its write
// deadline once per request, by the microseconds since the last request.
type lazyListener struct{ net.Listener }

func (l lazyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		return &lazyConn{TCPConn: tc}, nil
	}
	return c, err
}

// lazyConn is an accepted TCP connection whose deadlines are re-armed lazily. It keeps every
// other method of *net.TCPConn (CloseWrite, ReadFrom's splice, SyscallConn).
type lazyConn struct {
	*net.TCPConn
	deadlines deadline.Lazy
}

func (c *lazyConn) SetDeadline(t time.Time) error { return c.deadlines.Set(c.TCPConn, t) }
func (c *lazyConn) SetReadDeadline(t time.Time) error {
	return c.deadlines.SetRead(c.TCPConn, t)
}
func (c *lazyConn) SetWriteDeadline(t time.Time) error {
	return c.deadlines.SetWrite(c.TCPConn, t)
}

// NetConn is the TCP connection, for code that looks through wrappers.
func (c *lazyConn) NetConn() net.Conn { return c.TCPConn }
