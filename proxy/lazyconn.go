package proxy

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/deadline"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
)

// lazyListener hands out its TCP connections with lazily re-armed deadlines (package
// deadline): fasthttp moves a keep-alive connection's read deadline twice and its write
// deadline once per request, by the microseconds since the last request.
// Its connections are also the ones the lot parks when idle (park.go), when lot is not nil.
type lazyListener struct {
	net.Listener
	lot *lot
}

func (l lazyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		lc := &lazyConn{TCPConn: tc, lot: l.lot}
		if l.lot != nil {
			l.lot.register(lc)
		}
		return lc, nil
	}
	return c, err
}

// lazyConn is an accepted TCP connection whose deadlines are re-armed lazily. It keeps every
// other method of *net.TCPConn (CloseWrite, ReadFrom's splice, SyscallConn).
type lazyConn struct {
	*net.TCPConn
	deadlines deadline.Lazy
	lot       *lot // nil: never parked
	park      parking
	hold      atomic.Int32 // holdNone, holdArmed, holdPending (holdwrite.go)
	held      *heldWrite   // the kept write while holdPending
	// body is the response whose body buffer goes back to the transport's pool when the
	// connection goes idle (beforeWrite, releaseBody); nil when there is none.
	body *fasthttp.Response
	// ip is the peer's address as text (appendClientIP), ipLen its length: 0 until a request
	// formatted it. Only the connection's request reads or writes it, one at a time.
	ip    [maxIPText]byte
	ipLen uint8
}

// maxIPText is the room for an address's text: IPv4-mapped IPv6 in full takes 45 bytes. A
// longer one (a zone) is formatted every time.
const maxIPText = 46

// releaseBody hands the buffer of c's last response body back to tr's pool when c goes idle:
// fasthttp has written the response by then, and resets it before the next request. Pooled,
// the buffers of large bodies are the few a busy process has in use, and stay in the CPU's
// cache (proxy/transport/bodies.go); left with each connection, they were as many as the
// connections. At any other transition (the serve loop ends or hands the connection over)
// the response is only forgotten: its buffer is then fasthttp's, as before.
func (c *lazyConn) releaseBody(tr *transport.Transport, s fasthttp.ConnState) {
	if c.body == nil {
		return
	}
	if s == fasthttp.StateIdle {
		tr.ReleaseBody(c.body)
	}
	c.body = nil
}

// Read is the TCP connection's; a failed read may be the lot's cut of an idle wait.
// Held bytes (holdwrite.go) are sent first.
func (c *lazyConn) Read(b []byte) (int, error) {
	if c.hold.Load() != holdNone {
		if err := c.flushHeld(); err != nil {
			return 0, err
		}
	}
	n, err := c.TCPConn.Read(b)
	if err != nil && c.park.state.Load() == connInterrupted {
		c.readFailed(n, err)
	}
	return n, err
}

// Close closes the connection, unless the lot takes it (ParkOnClose).
// Held bytes (holdwrite.go) are sent first.
func (c *lazyConn) Close() error {
	if c.hold.Load() != holdNone {
		_ = c.flushHeld()
	}
	if c.ParkOnClose(c) {
		return nil
	}
	if c.lot != nil {
		c.lot.unregister(c)
	}
	return c.TCPConn.Close()
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
