package cptest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const loopback = "127.0.0.1"

// target is where an endpoint forwards to: an etcd member's client address.
type target struct {
	addr string
	// down is set while the member is stopped: new connections are reset
	// at once instead of being dialled through.
	down atomic.Bool
}

// Endpoint is a TCP forwarder in front of an etcd member and a fault switch.
// Its faults apply to the connections it forwards; they do not touch the
// member. It is safe for concurrent use.
type Endpoint struct {
	index  int
	port   int
	url    string
	target *target
	log    *slog.Logger
	dialer net.Dialer

	accepted atomic.Int64
	open     atomic.Int64
	delay    atomic.Int64 // time.Duration added before each forwarded chunk

	mu         sync.Mutex
	ln         net.Listener // nil while stopped
	gate       chan struct{}
	blackholed bool // gate is open (blocks) while set; closed otherwise
	resetting  bool // ResetAll: every connection accepted is reset at once
	pipes      map[*pipe]struct{}
	closed     bool

	wg sync.WaitGroup // serve loops and pipe goroutines
}

func newEndpoint(index, port int, t *target, log *slog.Logger) *Endpoint {
	gate := make(chan struct{})
	close(gate)
	return &Endpoint{
		index:  index,
		port:   port,
		url:    "https://" + net.JoinHostPort(loopback, strconv.Itoa(port)),
		target: t,
		log:    log.With("endpoint", index, "port", port),
		dialer: net.Dialer{Timeout: 5 * time.Second},
		gate:   gate,
		pipes:  make(map[*pipe]struct{}),
	}
}

// URL returns "https://127.0.0.1:<port>". It does not change over the
// endpoint's life.
func (e *Endpoint) URL() string { return e.url }

// Port returns the endpoint's TCP port.
func (e *Endpoint) Port() int { return e.port }

// Stop makes the endpoint refuse connections: the listener is closed and
// every open connection is reset.
func (e *Endpoint) Stop() {
	e.mu.Lock()
	if e.ln != nil {
		_ = e.ln.Close()
		e.ln = nil
	}
	pipes := e.pipesLocked()
	e.mu.Unlock()
	e.log.Debug("endpoint stopped", "reset_conns", len(pipes))
	for _, p := range pipes {
		p.shut(true)
	}
}

// Blackhole makes the endpoint accept connections but never answer: no byte
// moves in either direction on new or open connections, and nothing is
// closed, like a paused process or a network partition. A chunk already
// being written when Blackhole is called still completes. A stopped endpoint
// listens again. The error reports a failure to listen again.
func (e *Endpoint) Blackhole() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if !e.blackholed {
		e.blackholed = true
		e.gate = make(chan struct{})
	}
	e.log.Debug("endpoint blackholed")
	return e.listenLocked()
}

// Reset resets every open connection now (the client sees ECONNRESET); new
// connections are served as before.
func (e *Endpoint) Reset() {
	e.mu.Lock()
	pipes := e.pipesLocked()
	e.mu.Unlock()
	e.log.Debug("endpoint reset", "reset_conns", len(pipes))
	for _, p := range pipes {
		p.shut(true)
	}
}

// ResetAll resets every open connection and, until Restore, every connection
// the endpoint accepts, right after the handshake of TCP: a broken middlebox
// in front of a live member.
func (e *Endpoint) ResetAll() {
	e.mu.Lock()
	e.resetting = true
	pipes := e.pipesLocked()
	e.mu.Unlock()
	e.log.Debug("endpoint resets every connection", "reset_conns", len(pipes))
	for _, p := range pipes {
		p.shut(true)
	}
}

// Slow delays every chunk the endpoint forwards, in either direction, by d.
// 0 removes the delay.
func (e *Endpoint) Slow(d time.Duration) {
	e.delay.Store(int64(max(d, 0)))
	e.log.Debug("endpoint slowed", "delay", d)
}

// Restore brings the endpoint back to normal: it listens again on the same
// port if stopped, releases blackholed connections, which carry on where
// they stopped, stops resetting new connections and removes any delay. The error reports a failure to listen
// again.
func (e *Endpoint) Restore() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.delay.Store(0)
	e.resetting = false
	if e.blackholed {
		e.blackholed = false
		close(e.gate)
	}
	e.log.Debug("endpoint restored")
	return e.listenLocked()
}

// Conns returns the number of client connections open now: accepted and
// neither closed by the client nor by the endpoint.
func (e *Endpoint) Conns() int { return int(e.open.Load()) }

// Accepted returns the number of connections accepted so far.
func (e *Endpoint) Accepted() int64 { return e.accepted.Load() }

// start listens for the first time.
func (e *Endpoint) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.listenLocked()
}

// close stops the endpoint for good and waits for its goroutines.
func (e *Endpoint) close() {
	e.mu.Lock()
	e.closed = true
	if e.ln != nil {
		_ = e.ln.Close()
		e.ln = nil
	}
	pipes := e.pipesLocked()
	e.mu.Unlock()
	for _, p := range pipes {
		p.shut(true)
	}
	e.wg.Wait()
}

// listenLocked listens on the endpoint's port unless already listening.
func (e *Endpoint) listenLocked() error {
	if e.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(e.port)))
	if err != nil {
		return fmt.Errorf("cptest: endpoint %d: listen: %w", e.index, err)
	}
	e.ln = ln
	e.wg.Add(1)
	go e.serve(ln)
	return nil
}

func (e *Endpoint) pipesLocked() []*pipe {
	pipes := make([]*pipe, 0, len(e.pipes))
	for p := range e.pipes {
		pipes = append(pipes, p)
	}
	return pipes
}

// currentGate returns a channel that is closed while traffic may flow.
func (e *Endpoint) currentGate() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gate
}

// serve accepts connections on ln until ln is closed.
func (e *Endpoint) serve(ln net.Listener) {
	defer e.wg.Done()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as
			// net/http does rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			e.log.Warn("accept failed", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		e.accepted.Add(1)
		tcp, ok := conn.(*net.TCPConn)
		if !ok {
			_ = conn.Close()
			continue
		}
		p := newPipe(e, tcp)
		e.mu.Lock()
		if e.closed || e.ln != ln || e.resetting {
			// Stopped while this one was being accepted, or resetting all.
			e.mu.Unlock()
			resetConn(tcp)
			continue
		}
		e.pipes[p] = struct{}{}
		e.open.Add(1)
		e.wg.Add(1)
		e.mu.Unlock()
		go p.run()
	}
}

// untrack forgets p once it is shut.
func (e *Endpoint) untrack(p *pipe) {
	e.mu.Lock()
	delete(e.pipes, p)
	e.mu.Unlock()
}

// resetConn closes c with an RST instead of a FIN.
func resetConn(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
