package proxy

import (
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/netconn"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
)

// Parking idle keep-alive connections.
//
// A keep-alive connection waiting for its next request costs a goroutine blocked in fasthttp's
// read, with the stack it grew to, fasthttp's RequestCtx and its read and write buffers: about
// 21 KiB of RSS, where nginx keeps about 0.6 KiB and no buffer. Once a connection has been idle
// for Options.ParkIdleAfter, the lot takes it off its goroutine: it cuts the waiting read (a
// read deadline in the past), fasthttp ends the connection's serve loop as at an idle timeout,
// and the connection's Close hands it to the lot instead of closing it. The lot watches parked
// connections with an epoll instance of its own (poller). When a client sends again, its
// connection is served from the start by the current generation, as a handed-over one is; at
// its idle timeout, or when the proxy shuts down, the lot closes it.
//
// Per request this costs two atomic stores (the connection goes idle) and a compare-and-swap
// (it goes active); a connection that idles longer than ParkIdleAfter pays a goroutine, an
// epoll registration and a new serve loop when it wakes.

// States of a connection, for the lot.
const (
	connActive      int32 = iota // serving a request, or not parkable (hijacked, h2)
	connIdle                     // between requests, its goroutine waiting for the next one
	connInterrupted              // idle too long: the lot cut the waiting read
	connParking                  // the cut read failed: fasthttp is ending the serve loop
	connParked                   // held by the lot, without a goroutine
)

// parking is a connection's part in the lot, kept in its lazyConn.
type parking struct {
	mu     sync.Mutex   // orders the lot's cut against the request that ends the idle wait
	state  atomic.Int32 // conn*
	since  atomic.Int64 // the lot's tick when the connection went idle
	outer  net.Conn     // what fasthttp served (TLS, metrics wrappers): served again as it was
	fd     int          // its socket, while parked
	expiry int64        // the tick at which a parked connection is closed; 0: never
}

// lot holds the proxy's parked connections and cuts the idle ones. Its tick advances every
// quarter of after; a connection idle for more than four ticks is cut.
type lot struct {
	p     *Proxy
	after time.Duration
	tick  atomic.Int64
	poll  *poller

	mu       sync.Mutex
	conns    map[*lazyConn]struct{} // every open connection of the proxy's listeners
	parked   map[int]*lazyConn      // by socket
	started  bool                   // its goroutines run
	closed   bool
	parks    int64 // connections parked, ever
	released int64 // parks when memory was last handed back
	lastPark int64 // the tick of the last park

	stop chan struct{}
	done sync.WaitGroup

	takenBack atomic.Int64 // for tests: cuts taken back because a request came with them
}

// idleTicks is how many ticks a connection idles before it is cut: after is four ticks.
const idleTicks = 4

// releaseAfterParks and releaseQuietTicks decide when the lot hands memory back to the kernel:
// after a wave of at least releaseAfterParks parked connections, once none has been parked for
// releaseQuietTicks ticks (fasthttp's idle workers, whose stacks are part of it, have ended by
// then: parkWorkerIdle).
const (
	releaseAfterParks = 256
	releaseQuietTicks = 5 * idleTicks
)

// parkWorkerIdle is fasthttp's MaxIdleWorkerDuration while parking is on: a worker goroutine
// whose connection was parked ends soon, with its stack.
const parkWorkerIdle = 2 * time.Second

func newLot(p *Proxy, after time.Duration) *lot {
	poll, err := newPoller()
	if err != nil {
		p.log.Warn("idle connections are not parked", "error", err.Error())
		return nil
	}
	return &lot{p: p, after: after, poll: poll, conns: make(map[*lazyConn]struct{}), parked: make(map[int]*lazyConn),
		stop: make(chan struct{})}
}

// register adds a connection the proxy accepted; the first one starts the lot.
func (l *lot) register(c *lazyConn) {
	l.mu.Lock()
	if !l.started && !l.closed {
		l.started = true
		l.done.Add(2)
		go l.sweepLoop()
		go l.waitLoop()
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
}

func (l *lot) unregister(c *lazyConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// idle and active are the ConnState transitions of a connection on the lot.
func (l *lot) idle(c *lazyConn) {
	c.park.since.Store(l.tick.Load())
	c.park.state.Store(connIdle)
}

func (c *lazyConn) active() {
	if c.park.state.CompareAndSwap(connIdle, connActive) {
		return
	}
	c.park.mu.Lock()
	if c.park.state.Load() == connInterrupted {
		// The lot cut the wait as the request came: the request keeps its deadlines.
		c.lot.takenBack.Add(1)
		c.deadlines.ForgetRead()
		_ = c.TCPConn.SetReadDeadline(time.Time{})
	}
	c.park.state.Store(connActive)
	c.park.mu.Unlock()
}

// interrupt cuts the idle wait of c.
func (c *lazyConn) interrupt() {
	c.park.mu.Lock()
	if c.park.state.CompareAndSwap(connIdle, connInterrupted) || c.park.state.Load() == connInterrupted {
		// Again when already cut: fasthttp may have re-armed its idle deadline after the cut.
		c.deadlines.ForgetRead()
		_ = c.TCPConn.SetReadDeadline(aLongTimeAgo)
	}
	c.park.mu.Unlock()
}

// aLongTimeAgo is a deadline in the past, which ends a read at once.
var aLongTimeAgo = time.Unix(1, 0)

// readFailed runs when a read of c failed: the cut read of an interrupted connection makes it
// parking.
func (c *lazyConn) readFailed(n int, err error) {
	c.park.mu.Lock()
	if c.park.state.Load() == connInterrupted && n == 0 && transport.IsTimeout(err) {
		c.park.state.Store(connParking)
	}
	c.park.mu.Unlock()
}

// ParkOnClose is what Close asks the connection under a wrapper: when its idle wait was cut to
// park it, it keeps outer as the connection to serve again and reports true, and the wrapper
// leaves it open. fasthttp's ConnState(StateClosed), which follows Close, hands it to the lot.
func (c *lazyConn) ParkOnClose(outer net.Conn) bool {
	if c.lot == nil || c.park.state.Load() != connParking {
		return false
	}
	c.park.outer = outer
	return true
}

// connState is the fasthttp servers' ConnState hook: the response body's buffer back to the
// transport's pool, the lot's transitions, then the metrics'.
func (p *Proxy) connState(nc net.Conn, s fasthttp.ConnState) {
	if c := lazyOf(nc); c != nil {
		c.releaseBody(p.tr, s)
		if p.lot != nil && c.lot != nil {
			switch s {
			case fasthttp.StateIdle:
				p.lot.idle(c)
			case fasthttp.StateActive, fasthttp.StateHijacked:
				c.active()
			case fasthttp.StateClosed:
				if c.park.state.Load() == connParking {
					p.lot.add(c)
					return // to the metrics it stays a waiting connection
				}
			}
		}
	}
	if p.conns != nil {
		p.conns.ConnState(nc, s)
	}
}

// lazyOf finds the lazyConn under nc (TLS, metrics). The plain listener's two stacks, the
// lazyConn alone or under the metrics' wrapper, are checked by type first: connState runs this
// twice a request, and netconn.Find's generic search costs a call and an interface check a
// layer.
func lazyOf(nc net.Conn) *lazyConn {
	if c, ok := nc.(*lazyConn); ok {
		return c
	}
	if in := metrics.Inner(nc); in != nil {
		if c, ok := in.(*lazyConn); ok {
			return c
		}
	}
	c, _ := netconn.Find[*lazyConn](nc)
	return c
}

// add parks c, whose serve loop has ended.
func (l *lot) add(c *lazyConn) {
	fd := -1
	if rc, err := c.TCPConn.SyscallConn(); err == nil {
		_ = rc.Control(func(s uintptr) { fd = int(s) })
	}
	l.mu.Lock()
	if l.closed || fd < 0 {
		l.mu.Unlock()
		l.closeParked(c)
		return
	}
	c.park.fd = fd
	c.park.expiry = 0
	if idle := l.p.gen.Load().idle; idle > 0 {
		c.park.expiry = c.park.since.Load() + int64(idle/l.tickDuration()) + 1
	}
	c.park.state.Store(connParked)
	l.parked[fd] = c
	if err := l.poll.add(fd); err != nil {
		delete(l.parked, fd)
		l.mu.Unlock()
		l.closeParked(c)
		return
	}
	l.parks++
	l.lastPark = l.tick.Load()
	l.mu.Unlock()
}

func (l *lot) tickDuration() time.Duration { return l.after / idleTicks }

// closeParked closes a connection that was parked or on its way there, through every wrapper.
func (l *lot) closeParked(c *lazyConn) {
	c.park.state.Store(connActive)
	if c.park.outer != nil {
		_ = c.park.outer.Close()
		return
	}
	_ = c.Close()
}

// ready serves the parked connection on socket fd again: its client sent something (or closed).
func (l *lot) ready(fd int) {
	l.mu.Lock()
	c := l.parked[fd]
	if c == nil {
		l.mu.Unlock()
		return
	}
	delete(l.parked, fd)
	l.poll.del(fd)
	c.park.state.Store(connActive)
	l.mu.Unlock()
	c.deadlines.ForgetRead()
	_ = c.TCPConn.SetReadDeadline(time.Time{})
	go l.p.resume(c.park.outer)
}

// resume serves a connection that was parked with the current generation.
func (p *Proxy) resume(c net.Conn) {
	if p.isStopping() {
		_ = c.Close()
		return
	}
	_ = p.gen.Load().srv.ServeConn(c)
}

func (l *lot) waitLoop() {
	defer l.done.Done()
	for {
		if err := l.poll.wait(l.ready); err != nil {
			return // closed
		}
	}
}

func (l *lot) sweepLoop() {
	defer l.done.Done()
	t := time.NewTicker(l.tickDuration())
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.sweep(l.tick.Add(1))
	}
}

// sweep cuts the connections idle for more than idleTicks, closes the parked ones past their
// idle timeout, and hands memory back after a wave of parking.
func (l *lot) sweep(tick int64) {
	var expired []*lazyConn
	l.mu.Lock()
	for c := range l.conns {
		switch c.park.state.Load() {
		case connIdle, connInterrupted:
			if tick-c.park.since.Load() > idleTicks {
				c.interrupt()
			}
		case connParked:
			if e := c.park.expiry; e != 0 && tick >= e && l.parked[c.park.fd] == c {
				delete(l.parked, c.park.fd)
				l.poll.del(c.park.fd)
				expired = append(expired, c)
			}
		}
	}
	release := l.parks-l.released >= releaseAfterParks && tick-l.lastPark >= releaseQuietTicks
	if release {
		l.released = l.parks
	}
	l.mu.Unlock()
	for _, c := range expired {
		l.closeParked(c)
	}
	if release {
		// Two collections: sync.Pool keeps what it held for one more (fasthttp's contexts and
		// buffers of the parked connections); then the freed pages go back to the kernel.
		runtime.GC()
		debug.FreeOSMemory()
	}
}

// close stops parking and closes the parked connections.
func (l *lot) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	parked := make([]*lazyConn, 0, len(l.parked))
	for fd, c := range l.parked {
		l.poll.del(fd)
		parked = append(parked, c)
	}
	clear(l.parked)
	l.mu.Unlock()
	close(l.stop)
	_ = l.poll.close()
	l.done.Wait()
	for _, c := range parked {
		l.closeParked(c)
	}
}
