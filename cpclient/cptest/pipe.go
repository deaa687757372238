package cptest

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	chunkSize = 32 << 10
	// queueLen chunks may wait between a reader and its writer; beyond
	// that the reader stops reading and TCP flow control takes over.
	queueLen = 4
)

// pipe forwards one client connection to the endpoint's target. Each
// direction has a reader feeding a writer through a short queue, so that a
// reader notices its peer closing even while its writer is held by a
// blackhole or a delay.
type pipe struct {
	ep     *Endpoint
	client *net.TCPConn
	ctx    context.Context // done once the pipe is shut
	cancel context.CancelFunc

	mu       sync.Mutex
	upstream *net.TCPConn
	shutDone bool

	clientGone sync.Once    // Endpoint.open is decremented once
	halves     atomic.Int32 // directions that ended with a clean EOF
}

func newPipe(e *Endpoint, client *net.TCPConn) *pipe {
	ctx, cancel := context.WithCancel(context.Background())
	return &pipe{ep: e, client: client, ctx: ctx, cancel: cancel}
}

// run connects to the target once the gate is open and forwards client to
// upstream; the other direction runs in goroutines of its own.
func (p *pipe) run() {
	defer p.ep.wg.Done()
	toUpstream := make(chan []byte, queueLen)
	clientEOF := make(chan struct{})
	p.ep.wg.Add(1)
	go p.read(p.client, toUpstream, clientEOF)

	gate := p.ep.currentGate()
	select {
	case <-gate:
	default:
		select {
		case <-gate:
		case <-p.ctx.Done():
			return
		case <-clientEOF:
			// The client gave up while blackholed: nothing was ever
			// delivered, so nothing is.
			p.shut(false)
			return
		}
	}
	if p.ep.target.down.Load() {
		p.shut(true)
		return
	}
	conn, err := p.ep.dialer.DialContext(p.ctx, "tcp", p.ep.target.addr)
	if err != nil {
		p.ep.log.Debug("dial target failed", "target", p.ep.target.addr, "error", err)
		p.shut(true)
		return
	}
	up, ok := conn.(*net.TCPConn)
	if !ok || !p.attach(up) {
		_ = conn.Close()
		p.shut(true)
		return
	}
	toClient := make(chan []byte, queueLen)
	p.ep.wg.Add(2)
	go p.read(up, toClient, nil)
	go func() {
		defer p.ep.wg.Done()
		p.write(p.client, toClient)
	}()
	p.write(up, toUpstream)
}

// attach records the upstream connection unless the pipe is already shut.
func (p *pipe) attach(up *net.TCPConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutDone {
		return false
	}
	p.upstream = up
	return true
}

// read copies src into q until src ends. A clean EOF closes q so the writer
// half-closes its side; any other error shuts the whole pipe with a reset.
// eof, when not nil, is closed when the client side ends.
func (p *pipe) read(src *net.TCPConn, q chan<- []byte, eof chan<- struct{}) {
	defer p.ep.wg.Done()
	defer close(q)
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			select {
			case q <- chunk:
			case <-p.ctx.Done():
				return
			}
		}
		if err != nil {
			if eof != nil {
				p.clientClosed()
				close(eof)
			}
			if !errors.Is(err, io.EOF) {
				p.shut(true)
			}
			return
		}
	}
}

// write copies q to dst, holding each chunk for the endpoint's delay and
// while the endpoint is blackholed.
func (p *pipe) write(dst *net.TCPConn, q <-chan []byte) {
	for {
		var chunk []byte
		var ok bool
		select {
		case chunk, ok = <-q:
		case <-p.ctx.Done():
			return
		}
		if !ok {
			_ = dst.CloseWrite()
			if p.halves.Add(1) == 2 {
				p.shut(false)
			}
			return
		}
		if d := time.Duration(p.ep.delay.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
		}
		select {
		case <-p.ep.currentGate():
		case <-p.ctx.Done():
			return
		}
		if _, err := dst.Write(chunk); err != nil {
			p.shut(true)
			return
		}
	}
}

// shut closes both connections, with an RST when reset is set, and stops
// the pipe's goroutines. Only the first call acts.
func (p *pipe) shut(reset bool) {
	p.mu.Lock()
	if p.shutDone {
		p.mu.Unlock()
		return
	}
	p.shutDone = true
	up := p.upstream
	p.mu.Unlock()

	p.cancel()
	if reset {
		resetConn(p.client)
		if up != nil {
			resetConn(up)
		}
	} else {
		_ = p.client.Close()
		if up != nil {
			_ = up.Close()
		}
	}
	p.clientClosed()
	p.ep.untrack(p)
}

func (p *pipe) clientClosed() {
	p.clientGone.Do(func() { p.ep.open.Add(-1) })
}
