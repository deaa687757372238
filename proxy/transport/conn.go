package transport

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/deadline"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// The transport speaks HTTP/1.1 to upstreams itself, on connections from the node's
// fasthttp.HostClient pool (AcquireConn, ReleaseConn, CloseConn): that way it knows whether a
// request was sent, can stream bodies both ways and replays nothing behind APISIX's back.
// HostClient's connection type is unexported, so a held connection is kept as an any and handed
// back through these adapters.
var (
	releaseConn = adaptConn((*fasthttp.HostClient).ReleaseConn)
	closeConn   = adaptConn((*fasthttp.HostClient).CloseConn)
)

func adaptConn[C any](f func(*fasthttp.HostClient, C)) func(*fasthttp.HostClient, any) {
	return func(hc *fasthttp.HostClient, c any) { f(hc, c.(C)) }
}

// upConn is one upstream connection taken from a node's pool.
type upConn struct {
	hc     *fasthttp.HostClient
	cc     any // the pool's handle
	conn   net.Conn
	reused bool      // it served an earlier request: the upstream may have closed it meanwhile
	idle   time.Time // when it was last released to the pool; zero when new
}

// acquire takes a connection from hc's pool, or dials one within timeout (with ConfigureClient
// installed; otherwise the upstream's connect timeout applies to the dial). A new TLS connection
// does its handshake here, within the same timeout, so that a handshake failure is a connect
// failure and not a failure to send.
func acquire(hc *fasthttp.HostClient, timeout time.Duration) (upConn, error) {
	cc, err := hc.AcquireConn(timeout, false)
	if err != nil {
		return upConn{}, err
	}
	last := cc.LastUseTime()
	uc := upConn{hc: hc, cc: cc, conn: cc.Conn(), reused: !last.IsZero(), idle: last}
	if tc, ok := uc.conn.(*tls.Conn); ok && !uc.reused {
		err = tc.SetDeadline(time.Now().Add(timeout))
		if err == nil {
			err = tc.Handshake()
		}
		if err != nil {
			closeConn(hc, cc)
			return upConn{}, err
		}
	}
	return uc, nil
}

// close closes the connection and frees its pool slot.
func (uc upConn) close() { closeConn(uc.hc, uc.cc) }

// release returns the connection to the pool when reuse is set and keepalive_pool allows it:
// fewer than size idle connections, fewer than requests served on this one (kp nil: no limits).
// Otherwise it closes it.
func (uc upConn) release(reuse bool, kp *upstream.KeepalivePool) {
	if kp == nil {
		kp = &noKeepaliveLimits
	}
	if reuse && kp.Requests > 0 {
		if c := counted(uc.conn); c != nil && c.requests >= kp.Requests {
			reuse = false
		}
	}
	switch {
	case !reuse:
		uc.close()
	case kp.Size > 0:
		// The size check and the release are one step, or concurrent releases would each see
		// room for one more and keep more than size.
		mu := releaseLock(uc.hc)
		mu.Lock()
		if uc.hc.IdleConnsCount() >= kp.Size {
			mu.Unlock()
			uc.close()
			return
		}
		releaseConn(uc.hc, uc.cc)
		mu.Unlock()
	default:
		releaseConn(uc.hc, uc.cc)
	}
}

// releaseLocks serialise the releases of a client's connections under keepalive_pool.size,
// sharded by client so that nodes do not contend with each other.
var releaseLocks [64]struct {
	sync.Mutex
	_ [56]byte // one lock per cache line
}

func releaseLock(hc *fasthttp.HostClient) *sync.Mutex {
	return &releaseLocks[(uintptr(unsafe.Pointer(hc))>>6)%uintptr(len(releaseLocks))].Mutex
}

// countRequest notes one more request sent on the connection.
func (uc upConn) countRequest() {
	if c := counted(uc.conn); c != nil {
		c.requests++
	}
}

// countedConn counts the requests a connection served, for keepalive_pool.requests. A
// connection serves one request at a time; the pool's lock orders the counts.
type countedConn struct {
	net.Conn
	requests int
	// readCap, when above 0, bounds each read: set while a response head is read (headReadSize)
	// after a large response (largeBody), so that the body behind the head is read into the
	// body's buffer, not into the head's buffer first and then copied there.
	readCap int
	// largeBody: the last response read whole had a body at least the head buffer's size.
	largeBody bool
	sock      sock
	deadlines deadline.Lazy // the read and write timeouts move by microseconds per request
}

func (c *countedConn) Read(p []byte) (int, error) {
	if c.readCap > 0 && len(p) > c.readCap {
		p = p[:c.readCap]
	}
	return c.Conn.Read(p)
}

func (c *countedConn) SetDeadline(t time.Time) error      { return c.deadlines.Set(c.Conn, t) }
func (c *countedConn) SetReadDeadline(t time.Time) error  { return c.deadlines.SetRead(c.Conn, t) }
func (c *countedConn) SetWriteDeadline(t time.Time) error { return c.deadlines.SetWrite(c.Conn, t) }

func counted(c net.Conn) *countedConn {
	switch c := c.(type) {
	case *countedConn:
		return c
	case *tls.Conn:
		cc, _ := c.NetConn().(*countedConn)
		return cc
	}
	return nil
}

// noKeepaliveLimits stands for a nil keepalive_pool. Never written to.
var noKeepaliveLimits upstream.KeepalivePool

// ConfigureClient adapts a node client to the transport; pass it as upstream.Options.Client
// (the proxy's ConfigureClient is this one). It makes dials honour the connect timeout of the
// try (Request.Timeouts.Connect: a route's timeout.connect, which wins over the upstream's),
// counts requests per connection for keepalive_pool.requests and lets the transport reach the
// socket (closedWhileIdle, sendWait). Without it the transport still works, dialling with the
// upstream's connect timeout, leaving connections open past keepalive_pool.requests and reading the
// ordinary way. It may run concurrently with tries, on clients no try uses yet.
func (t *Transport) ConfigureClient(c *fasthttp.HostClient) {
	orig := c.Dial
	d := t.dialer
	c.Dial = nil
	c.DialTimeout = func(addr string, timeout time.Duration) (net.Conn, error) {
		var (
			conn net.Conn
			err  error
		)
		switch {
		case timeout > 0:
			conn, err = d.DialDualStackTimeout(addr, timeout) // IPv6 nodes too
		case orig != nil:
			conn, err = orig(addr)
		default:
			conn, err = d.DialDualStack(addr)
		}
		if err != nil {
			return nil, err
		}
		if t.dialled != nil {
			conn = t.dialled(conn)
		}
		return &countedConn{Conn: conn}, nil
	}
}
