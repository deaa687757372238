package metrics

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/netconn"
)

// Conns counts client connections and requests for apisix_http_current_connections and
// apisix_http_requests_total, nginx's stub_status counters, as far as fasthttp lets us see them:
//
//   - accepted: connections accepted by a Listener.
//   - handled: the same as accepted (nginx counts fewer only when it runs out of connections;
//     fasthttp's own limits are not visible here).
//   - active: accepted connections not closed yet.
//   - waiting: connections open but between requests (new or keep-alive idle), from ConnState.
//   - reading: connections that have read a request's first byte but whose handler has not
//     started yet (Enter).
//   - writing: connections whose request is in the handler or whose response is being written.
//   - apisix_http_requests_total: requests started (fasthttp's StateActive transitions).
//
// Wire all three: serve on Listener(ln) (below any TLS listener), set fasthttp.Server.ConnState
// to ConnState, and call Enter at the start of the handler. A Conns is safe for concurrent use.
//
// A request moves only its own connection's fields: its state and its count of requests. The
// gauges and the total are summed when the metrics are collected, over the open connections,
// which Conns keeps in shards. Counters that every request moved (seven atomic additions on one
// cache line) made each core take that line from the others on every request (issue 22's
// contention profile); accepting and closing a connection still write shared counters.
type Conns struct {
	accepted, closed atomic.Int64
	// requests counts the requests of connections that Listener did not count (served with
	// ServeConn); a counted connection keeps its own count, its HTTP/2 streams' included.
	requests atomic.Int64
	shards   [connShards]connShard
}

// connShards is how many lists the open connections are spread over: a connection's accept and
// close lock one of them, a collection each in turn.
const connShards = 32

// connShard is a list of open counted connections.
type connShard struct {
	mu   sync.Mutex
	head *conn // linked through prev and next
	// requests is the requests of the shard's connections that have closed. A connection's count
	// moves here under mu, so that a collection sees it once: the total never goes back.
	requests int64
	_        [40]byte // a cache line of its own
}

func (s *connShard) add(c *conn) {
	s.mu.Lock()
	c.next = s.head
	if s.head != nil {
		s.head.prev = c
	}
	s.head = c
	s.mu.Unlock()
}

func (s *connShard) remove(c *conn) {
	s.mu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		s.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	s.requests += c.requests.Load()
	s.mu.Unlock()
}

// Conns returns the connection counters of m.
func (m *Metrics) Conns() *Conns { return &m.conns }

// Per-connection states.
const (
	stateNone int32 = iota
	stateWaiting
	stateReading
	stateWriting
)

// Listener wraps ln so that its connections are counted.
func (c *Conns) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, c: c} }

type listener struct {
	net.Listener
	c *Conns
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.c.accepted.Add(1)
	c := &conn{Conn: nc, c: l.c, shard: &l.c.shards[uint64(n)%connShards]}
	c.shard.add(c)
	return c, nil
}

// conn is a counted connection. fasthttp passes it back to ConnState and through
// RequestCtx.Conn, which is how its state is found without a map.
type conn struct {
	net.Conn
	c          *Conns
	state      atomic.Int32
	closed     atomic.Bool
	requests   atomic.Int64 // requests started on the connection
	shard      *connShard
	prev, next *conn // in shard's list while open (under shard.mu)
}

// Close closes the connection and counts it, unless the connection under it is being parked
// (ParkOnClose: the proxy holds an idle connection without its goroutine and serves it again
// later); a parked connection stays counted as waiting.
func (c *conn) Close() error {
	if p, ok := c.Conn.(interface{ ParkOnClose(outer net.Conn) bool }); ok && p.ParkOnClose(c) {
		return nil
	}
	if c.closed.CompareAndSwap(false, true) {
		c.state.Store(stateNone)
		c.shard.remove(c)
		c.c.closed.Add(1)
	}
	return c.Conn.Close()
}

// SetKeepAlive and SetKeepAlivePeriod pass TCP keep-alive settings through (fasthttp's
// Server.TCPKeepalive looks for them).
func (c *conn) SetKeepAlive(on bool) error {
	if kc, ok := c.Conn.(interface{ SetKeepAlive(bool) error }); ok {
		return kc.SetKeepAlive(on)
	}
	return nil
}

func (c *conn) SetKeepAlivePeriod(d time.Duration) error {
	if kc, ok := c.Conn.(interface{ SetKeepAlivePeriod(time.Duration) error }); ok {
		return kc.SetKeepAlivePeriod(d)
	}
	return nil
}

// NetConn returns the wrapped connection, for code that needs the *net.TCPConn.
func (c *conn) NetConn() net.Conn { return c.Conn }

// ReadFrom and WriteTo keep the wrapped connection's zero-copy paths (splice, sendfile) for
// io.Copy, e.g. on a hijacked websocket connection.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *conn) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.Conn.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{c.Conn})
}

// counted finds the counted connection under nc, looking through TLS. A plain connection is
// one itself: that check is a comparison of types, where netconn.Find's generic one is a call
// (ConnState runs it twice a request).
func counted(nc net.Conn) *conn {
	if c, ok := nc.(*conn); ok {
		return c
	}
	c, _ := netconn.Find[*conn](nc)
	return c
}

// Inner is the connection a connection of Listener wraps, nil for any other: for the hooks that
// look for their own wrapper under this one on every request, without netconn.Find's search.
func Inner(nc net.Conn) net.Conn {
	if c, ok := nc.(*conn); ok {
		return c.Conn
	}
	return nil
}

// ConnState is a fasthttp.Server.ConnState hook. It counts requests on any connection, and
// tracks reading/waiting on connections from Listener.
func (c *Conns) ConnState(nc net.Conn, s fasthttp.ConnState) {
	cc := counted(nc)
	if cc == nil {
		if s == fasthttp.StateActive {
			c.requests.Add(1)
		}
		return
	}
	switch s {
	case fasthttp.StateNew, fasthttp.StateIdle:
		cc.state.Store(stateWaiting)
	case fasthttp.StateActive:
		cc.requests.Add(1)
		cc.state.Store(stateReading)
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		cc.state.Store(stateNone)
	}
}

// Enter marks the request's connection as writing: its request has been read and is being
// handled. Call it first thing in the handler. It does not allocate.
func (c *Conns) Enter(ctx *fasthttp.RequestCtx) {
	if cc := counted(ctx.Conn()); cc != nil {
		cc.state.CompareAndSwap(stateReading, stateWriting)
	}
}

// Stream counts a request that came on an HTTP/2 stream of nc: such requests do not pass through
// fasthttp's ConnState. Their connection stays "waiting" for its whole life. The count is the
// connection's when Listener counted it, as for HTTP/1.1.
func (c *Conns) Stream(nc net.Conn) {
	if cc := counted(nc); cc != nil {
		cc.requests.Add(1)
		return
	}
	c.requests.Add(1)
}

type connsCollector struct{ m *Metrics }

func (c connsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.desc.connections
	ch <- c.m.desc.requests
}

func (c connsCollector) Collect(ch chan<- prometheus.Metric) {
	cs, d := &c.m.conns, c.m.desc.connections
	accepted, closed := cs.accepted.Load(), cs.closed.Load()
	t := cs.tally()
	gauge := func(state string, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(max(v, 0)), state)
	}
	gauge("active", accepted-closed)
	gauge("accepted", accepted)
	gauge("handled", accepted)
	gauge("reading", t.reading)
	gauge("writing", t.writing)
	gauge("waiting", t.waiting)
	ch <- prometheus.MustNewConstMetric(c.m.desc.requests, prometheus.GaugeValue, float64(t.requests))
}

// connTally is what the open connections add up to.
type connTally struct{ reading, writing, waiting, requests int64 }

// tally sums the states and requests of the open connections, and the requests of the closed
// ones and of connections not counted: one shard locked at a time, O(open connections).
func (c *Conns) tally() connTally {
	t := connTally{requests: c.requests.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		t.requests += s.requests
		for cc := s.head; cc != nil; cc = cc.next {
			t.requests += cc.requests.Load()
			switch cc.state.Load() {
			case stateReading:
				t.reading++
			case stateWriting:
				t.writing++
			case stateWaiting:
				t.waiting++
			}
		}
		s.mu.Unlock()
	}
	return t
}
