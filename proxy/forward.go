package proxy

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/h2"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// routeTimeouts applies APISIX's precedence: the route's timeout, else the upstream's, else the
// registry's default (60 s each). Services have no timeout in APISIX.
func routeTimeouts(rt *snapshot.Route, pool *upstream.Pool) transport.Timeouts {
	if t := rt.Timeout; t != nil {
		return transport.Timeouts{Connect: seconds(t.Connect), Send: seconds(t.Send), Read: seconds(t.Read)}
	}
	c, s, r := pool.Timeouts()
	return transport.Timeouts{Connect: c, Send: s, Read: r}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// forward sends the request to a node of pool (the route's, or the one a plugin picked), retrying as APISIX does, and leaves
// the answer in ctx.Response: the upstream's, or an error page.
//
// Retries: up to Spec.EffectiveRetries more tries (default nodes − 1; a lone node is retried on
// itself), only after a try failed before a response head arrived (connect error, reset, early
// close, timeout), never after the upstream answered, whatever its status. A POST, PATCH or LOCK
// is retried only when its try failed before a connection was made; a body that streamed from
// the client is never replayed. retry_timeout bounds the time within which a retry may start.
//
// Each try is the transport's (Transport.Try): forward decides which node, how often and what
// the client gets when no try answered.
//
// scan tells which of the fields the proxy removes or replaces the request holds (checkRequest).
// x, when set, is the exchange whose body was read before matching (prereadForm).
//
// pr, when set, is the request's plugins, whose header filter runs on the upstream's head as
// soon as it is read (the transport may write it itself).
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, rt *snapshot.Route, pool *upstream.Pool, ob *observation, scan *headScan, x *exchange, pr *plugin.Request) {
	preread := x != nil
	if !preread {
		x = p.getExchange()
		defer p.putExchange(x)
		x.live, x.ctx = ob.live, ctx
	}
	req := &ctx.Request
	upgrade := rt.EnableWebsocket && len(req.Header.Peek(fasthttp.HeaderUpgrade)) > 0
	x.req.HTTP10 = !req.Header.IsHTTP11() && !h2.Is(ctx)
	prepareRequest(ctx, x, upgrade, scan)
	if !preread {
		code := p.readBody(ctx, x)
		ob.bodyBytes = x.bodyRead
		if code != 0 {
			p.reject(ctx, code)
			return
		}
	}
	x.frame(&req.Header)

	spec := pool.Spec()
	x.req.Timeouts, x.req.Keepalive, x.req.Upgrade = routeTimeouts(rt, pool), &spec.KeepalivePool, upgrade
	if pr != nil {
		x.req.HeaderFilter = pr.UpstreamHead() // the plugins learn the answer is the upstream's ($upstream_status)
	}
	retries := spec.EffectiveRetries()
	var retryBy time.Time
	if spec.RetryTimeout > 0 {
		retryBy = time.Now().Add(seconds(spec.RetryTimeout))
	}
	var o transport.Outcome
	for try := 0; ; try++ {
		if try > 0 && !retryBy.IsZero() && !time.Now().Before(retryBy) {
			// APISIX: "proxy retry timeout" answers 502, whatever the last failure was.
			o = transport.Outcome{}
			break
		}
		node := pool.Pick(ctx, &x.tried)
		if node == nil {
			// Nothing (left) to pick: APISIX's "failed to pick server" is a 502.
			o = transport.Outcome{}
			break
		}
		x.tried.Add(node)
		setUpstreamHost(&req.Header, spec, node)
		tryStart := time.Now()
		o = p.tr.Try(ctx, &x.req, node, tryStart)
		took := o.Took
		if took == 0 {
			took = time.Since(tryStart)
		}
		ob.node, ob.upstreamTime = node, ob.upstreamTime+took
		if o.ClientErr != nil {
			p.reject(ctx, clientFailure(o.ClientErr))
			return
		}
		x.addStatus(listStatus(o))
		if o.Answered || !o.Retry || try >= retries {
			break
		}
	}

	ob.bodyBytes = x.bodyRead
	var code int
	if o.Answered {
		code = ctx.Response.StatusCode()
		ob.source, ob.upstreamStatus = metrics.SourceUpstream, code
	} else {
		ob.source = metrics.SourceNginx
		code = fasthttp.StatusBadGateway
		if o.Timeout {
			code = fasthttp.StatusGatewayTimeout
		}
		writeError(ctx, code)
	}
	if code >= 500 && code <= 599 && len(x.status) > 0 {
		ctx.Response.Header.SetBytesV("X-APISIX-Upstream-Status", x.status)
	}
	if o.Early || (!x.bodyDone && !ctx.Response.IsBodyStream() && !ctx.Hijacked()) {
		// The client may still be sending a body nobody will read.
		ctx.SetConnectionClose()
		p.linger(ctx)
	}
}

// listStatus is a try's entry in X-APISIX-Upstream-Status, as nginx's $upstream_status has it.
func listStatus(o transport.Outcome) int {
	switch {
	case o.Answered:
		return o.Status
	case o.Timeout:
		return fasthttp.StatusGatewayTimeout
	default:
		return fasthttp.StatusBadGateway
	}
}
