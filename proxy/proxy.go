package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/h2"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Proxy serves requests from the current snapshot. It is safe for concurrent use and must not be
// copied.
type Proxy struct {
	noCopy noCopy

	opts  Options
	log   *slog.Logger
	snap  atomic.Pointer[snapshot.Snapshot]
	live  atomic.Pointer[live]       // the Options that Update changes
	gen   atomic.Pointer[generation] // the server that takes new connections
	genMu sync.Mutex                 // serialises generation changes
	tr    *transport.Transport       // tries requests on upstream nodes

	exchanges sync.Pool // *exchange
	plugReqs  sync.Pool // *plugin.Request

	conns *metrics.Conns // client connection gauges, when metrics are on
	lot   *lot           // parks idle keep-alive connections; nil when off

	tlsState // the HTTPS listeners' settings (tls.go)

	lnMu     sync.Mutex
	lns      []net.Listener // being served
	stopping bool           // Shutdown began
	retired  []*generation  // under genMu: generations Update replaced, shut down with the proxy
}

// New returns a Proxy that answers 503 until the first Store.
func New(opts Options) *Proxy {
	opts = opts.withDefaults()
	p := &Proxy{opts: opts, log: opts.Logger.With("component", "proxy")}
	p.live.Store(liveOf(opts))
	p.tr = transport.New(transport.Options{
		ServerName:             opts.ServerName,
		Logger:                 p.log,
		ResponseBufferSize:     opts.ResponseBufferSize,
		MaxResponseHeaderBytes: opts.MaxResponseHeaderBytes,
		SendTimeout:            func() time.Duration { return p.live.Load().sendTimeout },
	})
	p.exchanges.New = func() any { return new(exchange) }
	p.plugReqs.New = func() any { return new(plugin.Request) }
	if opts.Metrics != nil {
		p.conns = opts.Metrics.Conns()
	}
	if opts.ParkIdleAfter > 0 {
		p.lot = newLot(p, opts.ParkIdleAfter)
	}
	p.gen.Store(p.newGeneration(opts.HeaderTimeout, opts.SendTimeout, opts.IdleTimeout))
	p.initTLS()
	return p
}

// Store publishes s; requests that start afterwards use it.
func (p *Proxy) Store(s *snapshot.Snapshot) { p.snap.Store(s) }

// Snapshot returns the snapshot in use, or nil before the first Store.
func (p *Proxy) Snapshot() *snapshot.Snapshot { return p.snap.Load() }

// ConfigureClient adapts a node client to the proxy's transport; pass it as
// upstream.Options.Client. It makes dials honour the connect timeout of the request (a route's
// timeout.connect, which wins over the upstream's) and counts requests per connection for
// keepalive_pool.requests. Without it the proxy still works, dialling with the upstream's connect
// timeout and leaving connections open past keepalive_pool.requests. See
// transport.Transport.ConfigureClient.
func (p *Proxy) ConfigureClient(c *fasthttp.HostClient) { p.tr.ConfigureClient(c) }

// Handle serves one request.
func (p *Proxy) Handle(ctx *fasthttp.RequestCtx) {
	if p.conns != nil {
		p.conns.Enter(ctx)
	}
	ob := observation{live: p.live.Load()}
	if ob.live.accessLog != nil || (p.opts.Metrics != nil && ob.live.countAll) {
		ctx.Time() // pinned now: the server reads the clock only when asked (LazyRequestTime)
	}
	p.handle(ctx, &ob)
	if ob.plug != nil {
		p.endPlugins(&ob)
	}
	if p.opts.Metrics != nil || ob.live.accessLog != nil {
		if h2.Is(ctx) {
			// prepareRequest made it the upstream's HTTP/1.1; the log shows the client's.
			ctx.Request.Header.SetProtocol("HTTP/2.0")
		}
		p.record(ctx, &ob)
	}
	if ob.plug != nil {
		p.releasePlugins(&ob)
	}
	if ob.client != nil {
		releaseClientAddr(ctx, ob.client)
	}
}

func (p *Proxy) handle(ctx *fasthttp.RequestCtx, ob *observation) {
	code, scan := checkRequest(ctx, ob.live)
	if code == 0 || code == fasthttp.StatusRequestEntityTooLarge {
		// nginx's realip runs in the post-read phase: after the checks of the request head,
		// before client_max_body_size's.
		ob.client = setClientAddr(ctx, ob.live.realIP, &scan)
	}
	if code != 0 {
		p.reject(ctx, code)
		return
	}
	s := p.snap.Load()
	if s == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable)
		p.lingerUnread(ctx)
		return
	}
	if s.SSL.HasClient() && ctx.IsTLS() {
		if code := p.checkClientCert(ctx, s.SSL); code != 0 {
			p.reject(ctx, code)
			return
		}
	}
	var x *exchange // set when the body was read before matching
	if isForm(&ctx.Request.Header) {
		x = p.getExchange()
		defer p.putExchange(x)
		if code := p.prereadForm(ctx, x, ob); code != 0 {
			p.reject(ctx, code)
			return
		}
	}
	m, ok := s.Router.Match(ctx)
	if !ok {
		if router.PathRejected(ctx) {
			p.reject(ctx, fasthttp.StatusBadRequest)
			return
		}
		// APISIX runs the global rules' rewrite and access on a request no route matched.
		if s.Global == nil {
			writeNotFound(ctx)
			p.lingerUnread(ctx)
			return
		}
		pr, answered := p.runPlugins(ctx, s, nil, ob)
		if !answered {
			writeNotFound(ctx)
		}
		p.lingerUnread(ctx)
		if pr != nil {
			headerFilter(ctx, pr)
		}
		return
	}
	rt := s.Routes.At(m.Value)
	ob.rt, ob.match = rt, m
	var pr *plugin.Request // set while a plugin's header filter is to run
	if rt != nil && !rt.Unresolved && (rt.Plugins != nil || s.Global != nil) {
		var answered bool
		scan.edited = true
		pr, answered = p.runPlugins(ctx, s, rt, ob)
		if pr != nil {
			defer headerFilter(ctx, pr)
		}
		if answered {
			p.lingerUnread(ctx)
			return
		}
	}
	var pool *upstream.Pool
	if rt != nil {
		pool = rt.Pool
		if ob.plug != nil {
			if picked := ob.plug.PickedUpstream(); picked != nil {
				pool = picked // traffic-split
			}
		}
	}
	switch {
	case rt == nil:
		writeError(ctx, fasthttp.StatusServiceUnavailable)
	case pool == nil:
		code := fasthttp.StatusServiceUnavailable
		if rt.Status != 0 {
			code = int(rt.Status)
		}
		writeError(ctx, code)
	case len(pool.Nodes()) == 0:
		// APISIX: "no valid upstream node".
		writeError(ctx, fasthttp.StatusServiceUnavailable)
	default:
		p.forward(ctx, rt, pool, ob, &scan, x, pr)
		return
	}
	p.lingerUnread(ctx)
}

// isForm reports a request with a urlencoded form body, whose fields a route may match on
// (post_arg_*).
func isForm(h *fasthttp.RequestHeader) bool {
	cl := h.ContentLength()
	return cl != 0 && cl != -2 && bytes.HasPrefix(h.ContentType(), formType)
}

var formType = []byte("application/x-www-form-urlencoded")

// prereadForm reads a form body before the route is matched, so that matching on post_arg_*
// reads the very body that is then forwarded. fasthttp's Request.Body would read a streamed
// body whole, without limit or timeout, and leave nothing to forward. A form that fits
// RequestBufferSize becomes the request's body for the router; a larger one keeps streaming
// and has no post args (APISIX: a body nginx had to keep in a file has none either).
func (p *Proxy) prereadForm(ctx *fasthttp.RequestCtx, x *exchange, ob *observation) int {
	x.live, x.ctx = ob.live, ctx
	code := p.readBody(ctx, x)
	ob.bodyBytes = x.bodyRead
	if code == 0 && x.req.BodyStream == nil {
		// Read to its end: the stream is spent, and the router reads the buffer instead.
		ctx.Request.SetBodyRaw(x.body)
	}
	return code
}

// serverError answers requests fasthttp could not read, with nginx's codes.
func (p *Proxy) serverError(ctx *fasthttp.RequestCtx, err error) {
	var big *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &big):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge)
	case transport.IsTimeout(err):
		writeError(ctx, fasthttp.StatusRequestTimeout)
	case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		// A transfer coding other than chunked: nginx's 501. fasthttp reports a repeated
		// Transfer-Encoding, and one in an HTTP/1.0 request, with the same error and no head
		// left to tell them apart, so they get 501 too where nginx says 400: refused and
		// closed all the same.
		writeError(ctx, fasthttp.StatusNotImplemented)
	default:
		writeError(ctx, fasthttp.StatusBadRequest)
	}
	ctx.SetConnectionClose()
}

// fasthttpLogger sends fasthttp's own messages to Debug.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.log.LogAttrs(context.Background(), slog.LevelDebug, "fasthttp", slog.String("detail", fmt.Sprintf(format, args...)))
}

// noCopy lets go vet report copies of a Proxy.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
