package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/h2"
)

// generation is one fasthttp.Server with the client timeouts it was made with. fasthttp reads
// its timeouts while it serves, so they cannot change in place: Update makes a new generation
// instead, which takes every connection accepted from then on, and retires the old one. A retired
// generation answers the next request of each of its connections with "Connection: close" and
// closes it after the response, as a reloaded nginx worker does; an idle one ends with its idle
// timeout. None is cut while a client may be sending on it.
type generation struct {
	srv                *fasthttp.Server
	h2                 *h2.Server // the HTTPS listeners' connections that negotiated h2
	header, send, idle time.Duration
	retired            atomic.Bool
	shutdownOnce       sync.Once
	shutdownErr        error
}

func (p *Proxy) newGeneration(header, send, idle time.Duration) *generation {
	g := &generation{header: header, send: send, idle: idle}
	g.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			p.Handle(ctx)
			if g.retired.Load() {
				ctx.Response.SetConnectionClose()
			}
			p.beforeWrite(ctx)
		},
		ErrorHandler: p.serverError,
		Name:         p.opts.ServerName,
		// The read buffer holds a whole request head, so it is the head's limit.
		ReadBufferSize: p.opts.MaxHeaderBytes,
		// ReadTimeout covers the head; HeaderReceived arms the body timeout for the first body
		// byte, Handle re-arms it per body read (BodyTimeout) and the stream of a large
		// response re-arms the write deadline per chunk.
		ReadTimeout:    header,
		HeaderReceived: p.headerReceived,
		WriteTimeout:   send,
		IdleTimeout:    idle,
		// Bodies flow through without being buffered whole; the proxy enforces
		// MaxRequestBodySize itself, since fasthttp only uses its own limit to size the prefetch
		// of a streamed body.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultContentType:         true,
		// The request's start time is read only when something will use it (Proxy.Handle
		// pins it): a clock read less per request otherwise.
		LazyRequestTime:       true,
		SecureErrorLogMessage: true,
		CloseOnShutdown:       true,
		Logger:                fasthttpLogger{p.log},
	}
	g.srv.ConnState = p.connState
	if p.lot != nil {
		// A worker whose connection was parked ends soon, and its stack with it.
		g.srv.MaxIdleWorkerDuration = parkWorkerIdle
	}
	g.h2 = p.newH2(idle, send)
	// fasthttp does the handshake of a TLS connection first (tlsConn), then hands one that
	// negotiated h2 to the HTTP/2 server, with its deadlines cleared, for its whole life. The
	// current generation's: a connection this one accepted just before it retired is served
	// with the new timeouts rather than closed.
	g.srv.NextProto("h2", func(c net.Conn) error {
		tc, ok := c.(*tlsConn)
		if !ok {
			return c.Close()
		}
		tc.done = true
		tc.verifyOptional() // fasthttp ran the handshake (Handshake), not tlsConn's first Read
		p.gen.Load().h2.ServeConn(tc)
		return nil
	})
	return g
}

// headerReceived runs once a request head is in, before fasthttp reads any of the body. By
// default fasthttp would wait for the first 8 KiB of a body (or all of a smaller one) before
// the handler runs, under the header timeout: a slow but steady body was cut off with 408, and
// a client that declared a body larger than MaxRequestBodySize and waited for the answer got
// 408 once the header timeout ran out instead of 413 at once. So the prefetch is cut to one
// byte (MaxRequestBodySize 1: the proxy enforces its own limit as it reads) under the body
// timeout, nginx's client_body_timeout, and a body declared too large is not waited for at all:
// its parsed length is zeroed, checkRequest answers 413 from the length as sent (headScan), and
// the connection closes after the answer, as nginx does.
func (p *Proxy) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	cl := h.ContentLength()
	if cl == 0 || cl == -2 {
		return fasthttp.RequestConfig{} // no body
	}
	lv := p.live.Load()
	if max := lv.maxRequestBodySize; max > 0 && int64(cl) > max {
		h.SetContentLength(0)
		h.SetConnectionClose()
	}
	return fasthttp.RequestConfig{ReadTimeout: lv.bodyTimeout, MaxRequestBodySize: 1}
}

// shutdown stops g's server once, waiting for its connections until ctx is done.
func (g *generation) shutdown(ctx context.Context) error {
	g.shutdownOnce.Do(func() { g.shutdownErr = g.srv.ShutdownWithContext(ctx) })
	return g.shutdownErr
}

// genListener is a generation's view of a listener the generations share. Accept takes
// connections from the listener directly; once the generation is retired, a connection it still
// accepts is kept for the next generation (handoff) and the generation is told the listener
// closed. Close leaves the shared listener open: only Proxy.Shutdown closes it.
type genListener struct {
	net.Listener
	g       *generation
	pending net.Conn // accepted by the previous generation, for this one
	handoff net.Conn // accepted after g retired, for the next one
}

func (l *genListener) Accept() (net.Conn, error) {
	if c := l.pending; c != nil {
		l.pending = nil
		return c, nil
	}
	if l.g.retired.Load() {
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.g.retired.Load() {
		l.handoff = c
		return nil, net.ErrClosed
	}
	return c, nil
}

func (l *genListener) Close() error { return nil }

// Serve accepts connections on ln until Shutdown, serving each with the generation current when
// it was accepted.
func (p *Proxy) Serve(ln net.Listener) error { return p.serve(ln, false) }

// serve is Serve, over TLS when withTLS (ServeTLS).
func (p *Proxy) serve(ln net.Listener, withTLS bool) error {
	ln = lazyListener{Listener: ln, lot: p.lot}
	if p.conns != nil {
		ln = p.conns.Listener(ln)
	}
	if withTLS {
		ln = &tlsListener{Listener: ln, p: p}
	}
	p.lnMu.Lock()
	if p.stopping {
		p.lnMu.Unlock()
		_ = ln.Close()
		return nil
	}
	p.lns = append(p.lns, ln)
	p.lnMu.Unlock()
	var pending net.Conn
	for {
		g := p.gen.Load()
		gl := &genListener{Listener: ln, g: g, pending: pending}
		err := g.srv.Serve(gl)
		pending = gl.handoff
		if g.retired.Load() && !p.isStopping() {
			continue // the next generation takes over this listener
		}
		if pending != nil {
			_ = pending.Close()
		}
		if p.isStopping() && (err == nil || errors.Is(err, net.ErrClosed)) {
			return nil
		}
		return err
	}
}

func (p *Proxy) isStopping() bool {
	p.lnMu.Lock()
	defer p.lnMu.Unlock()
	return p.stopping
}

// setTimeouts makes a new generation for the client timeouts when they differ from the current
// ones, and retires the current one.
func (p *Proxy) setTimeouts(header, send, idle time.Duration) {
	p.genMu.Lock()
	defer p.genMu.Unlock()
	old := p.gen.Load()
	if old.retired.Load() { // shutting down
		return
	}
	if old.header == header && old.send == send && old.idle == idle {
		return
	}
	p.gen.Store(p.newGeneration(header, send, idle))
	old.retired.Store(true)
	old.h2.Shutdown() // GOAWAY: its h2 clients move to new connections, as its h1 clients do
	p.retired = append(p.retired, old)
}

// Shutdown stops accepting connections and waits for in-flight requests, until ctx is done;
// then it closes the WebSocket tunnels, which would otherwise never end.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.lnMu.Lock()
	p.stopping = true
	lns := p.lns
	p.lnMu.Unlock()
	p.genMu.Lock()
	cur := p.gen.Load()
	cur.retired.Store(true)
	gens := append([]*generation{cur}, p.retired...)
	p.genMu.Unlock()
	if p.lot != nil {
		p.lot.close() // parked connections are idle ones: closed at once, as fasthttp closes those
	}
	var errs []error
	for _, ln := range lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, g := range gens {
		g.h2.Shutdown() // GOAWAY: open streams finish, then the connections close
	}
	var wg sync.WaitGroup
	shutErrs := make([]error, len(gens))
	for i, g := range gens {
		wg.Go(func() { shutErrs[i] = g.shutdown(ctx) })
	}
	wg.Wait()
	p.tr.CloseTunnels()
	return errors.Join(append(errs, shutErrs...)...)
}
