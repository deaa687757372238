package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Options configure a Proxy. Zero values take the documented defaults.
type Options struct {
	// ServerName is the Server response header (default "zoneproxy").
	ServerName string
	// ReadTimeout and IdleTimeout bound reading a client request and an idle keep-alive connection
	// (defaults 60 s each).
	ReadTimeout, IdleTimeout time.Duration
	// MaxRequestBodySize is the largest request body accepted (default 1 MiB, nginx's
	// client_max_body_size); larger bodies get 413.
	MaxRequestBodySize int
	// ReadBufferSize bounds the request line and headers (default 16 KiB); larger get 431.
	ReadBufferSize int
	Logger         *slog.Logger
}

// Proxy serves requests from the current snapshot.
type Proxy struct {
	opts Options
	log  *slog.Logger
	snap atomic.Pointer[snapshot.Snapshot]
	srv  *fasthttp.Server
	bufs sync.Pool // *[]byte scratch buffers for header values
}

// New returns a Proxy that answers 503 until the first Store.
func New(opts Options) *Proxy {
	if opts.ServerName == "" {
		opts.ServerName = "zoneproxy"
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 60 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.MaxRequestBodySize <= 0 {
		opts.MaxRequestBodySize = 1 << 20
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = 16 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{opts: opts, log: opts.Logger.With("component", "proxy")}
	p.bufs.New = func() any { b := make([]byte, 0, 128); return &b }
	p.srv = &fasthttp.Server{
		Handler:               p.Handle,
		Name:                  opts.ServerName,
		ReadTimeout:           opts.ReadTimeout,
		IdleTimeout:           opts.IdleTimeout,
		MaxRequestBodySize:    opts.MaxRequestBodySize,
		ReadBufferSize:        opts.ReadBufferSize,
		NoDefaultContentType:  true,
		NoDefaultDate:         false,
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{p.log},
		ErrorHandler:          p.serverError,
	}
	return p
}

// Store publishes s; requests that start afterwards use it.
func (p *Proxy) Store(s *snapshot.Snapshot) { p.snap.Store(s) }

// Snapshot returns the snapshot in use, or nil before the first Store.
func (p *Proxy) Snapshot() *snapshot.Snapshot { return p.snap.Load() }

// Serve accepts connections on ln until Shutdown.
func (p *Proxy) Serve(ln net.Listener) error { return p.srv.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests, until ctx is done.
func (p *Proxy) Shutdown(ctx context.Context) error { return p.srv.ShutdownWithContext(ctx) }

// Handle serves one request.
func (p *Proxy) Handle(ctx *fasthttp.RequestCtx) {
	s := p.snap.Load()
	if s == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable)
		return
	}
	m, ok := s.Router.Match(ctx)
	if !ok {
		writeNotFound(ctx)
		return
	}
	rt := s.Routes[m.Value]
	if rt == nil || rt.Pool == nil {
		code := fasthttp.StatusServiceUnavailable
		if rt != nil && rt.Status != 0 {
			code = rt.Status
		}
		writeError(ctx, code)
		return
	}
	p.forward(ctx, rt)
}

// forward sends the request to a node of the route's pool, trying other nodes when a node cannot
// be reached, and copies the answer back.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, rt *snapshot.Route) {
	req := &ctx.Request
	clientClose := req.Header.ConnectionClose()
	req.Header.ResetConnectionClose()
	stripHop(&req.Header, false)
	bp := p.bufs.Get().(*[]byte)
	*bp = setForwarded(ctx, *bp)
	p.bufs.Put(bp)

	timeout := p.timeout(rt)
	retries := rt.Pool.Spec().EffectiveRetries()
	var tried upstream.Tried
	var err error
	for attempt := 0; attempt <= retries; attempt++ {
		node := rt.Pool.Pick(ctx, &tried)
		if node == nil {
			break
		}
		tried.Add(node)
		start := time.Now()
		err = node.Client().DoDeadline(req, &ctx.Response, start.Add(timeout))
		status := 0
		if err == nil {
			status = ctx.Response.StatusCode()
		}
		node.Done(status, err, time.Since(start))
		if err == nil || !retryable(err) {
			break
		}
	}
	switch {
	case err == nil && tried.Len() == 0:
		writeError(ctx, fasthttp.StatusServiceUnavailable)
	case err == nil:
		stripHop(&ctx.Response.Header, false)
		ctx.Response.Header.ResetConnectionClose()
	case isTimeout(err):
		writeError(ctx, fasthttp.StatusGatewayTimeout)
	default:
		writeError(ctx, fasthttp.StatusBadGateway)
	}
	if clientClose {
		ctx.SetConnectionClose()
	}
}

// timeout bounds one try: connect plus read, from the route's timeout, else the upstream's (which
// falls back to the registry's default).
func (p *Proxy) timeout(rt *snapshot.Route) time.Duration {
	if rt.Timeout != nil {
		return seconds(rt.Timeout.Connect + rt.Timeout.Read)
	}
	connect, _, read := rt.Pool.Timeouts()
	return connect + read
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// retryable reports whether a failed try may go to another node: the node could not be reached, so
// nothing of the request was processed.
func retryable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || errors.Is(err, fasthttp.ErrDialTimeout)
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serverError answers requests fasthttp could not parse, with nginx's codes.
func (p *Proxy) serverError(ctx *fasthttp.RequestCtx, err error) {
	var big *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &big):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge)
	case isTimeout(err):
		writeError(ctx, fasthttp.StatusRequestTimeout)
	default:
		writeError(ctx, fasthttp.StatusBadRequest)
	}
	ctx.SetConnectionClose()
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}
