package proxy

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

// timeouts bound one try, as nginx's proxy_connect_timeout, proxy_send_timeout (between two
// writes) and proxy_read_timeout (between two reads).
type timeouts struct{ connect, send, read time.Duration }

// routeTimeouts applies APISIX's precedence: the route's timeout, else the upstream's, else the
// registry's default (60 s each). Services have no timeout in APISIX.
func routeTimeouts(rt *snapshot.Route) timeouts {
	if t := rt.Timeout; t != nil {
		return timeouts{seconds(t.Connect), seconds(t.Send), seconds(t.Read)}
	}
	c, s, r := rt.Pool.Timeouts()
	return timeouts{c, s, r}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// forward sends the request to a node of the route's pool, retrying as APISIX does, and leaves
// the answer in ctx.Response: the upstream's, or an error page.
//
// Retries: up to Spec.EffectiveRetries more tries (default nodes − 1; a lone node is retried on
// itself), only after a try failed before a response head arrived (connect error, reset, early
// close, timeout), never after the upstream answered, whatever its status. A POST, PATCH or LOCK
// is retried only when its try failed before a connection was made; a body that streamed from
// the client is never replayed. retry_timeout bounds the time within which a retry may start.
//
// present tells which of the fields the proxy removes or replaces the request holds (checkRequest).
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, rt *snapshot.Route, ob *observation, present fieldMask) {
	x := p.getExchange()
	defer p.putExchange(x)
	x.live = ob.live
	req := &ctx.Request
	upgrade := rt.EnableWebsocket && len(req.Header.Peek(fasthttp.HeaderUpgrade)) > 0
	x.http10 = !req.Header.IsHTTP11()
	prepareRequest(ctx, x, upgrade, present)
	code := p.readBody(ctx, x)
	ob.bodyBytes = x.bodyRead
	if code != 0 {
		p.reject(ctx, code)
		return
	}

	pool := rt.Pool
	spec := pool.Spec()
	tm := routeTimeouts(rt)
	retries := spec.EffectiveRetries()
	var retryBy time.Time
	if spec.RetryTimeout > 0 {
		retryBy = time.Now().Add(seconds(spec.RetryTimeout))
	}
	var o outcome
	for try := 0; ; try++ {
		if try > 0 && !retryBy.IsZero() && !time.Now().Before(retryBy) {
			// APISIX: "proxy retry timeout" answers 502, whatever the last failure was.
			o = outcome{}
			break
		}
		node := pool.Pick(ctx, &x.tried)
		if node == nil {
			// Nothing (left) to pick: APISIX's "failed to pick server" is a 502.
			o = outcome{}
			break
		}
		x.tried.Add(node)
		setUpstreamHost(&req.Header, spec, node)
		tryStart := time.Now()
		o = p.try(ctx, x, node, spec, tm, upgrade, tryStart)
		ob.node, ob.upstreamTime = node, ob.upstreamTime+time.Since(tryStart)
		if o.client != 0 {
			p.reject(ctx, o.client)
			return
		}
		x.addStatus(o.listStatus())
		if o.answered || !o.retry || try >= retries {
			break
		}
	}

	ob.bodyBytes = x.bodyRead
	if o.answered {
		code = ctx.Response.StatusCode()
		ob.source, ob.upstreamStatus = metrics.SourceUpstream, code
	} else {
		ob.source = metrics.SourceNginx
		code = fasthttp.StatusBadGateway
		if o.timeout {
			code = fasthttp.StatusGatewayTimeout
		}
		writeError(ctx, code)
	}
	if code >= 500 && code <= 599 && len(x.status) > 0 {
		ctx.Response.Header.SetBytesV("X-APISIX-Upstream-Status", x.status)
	}
	if o.early || (!x.bodyDone && !ctx.Response.IsBodyStream() && !ctx.Hijacked()) {
		// The client may still be sending a body nobody will read.
		ctx.SetConnectionClose()
		p.linger(ctx)
	}
}

// outcome is how one try ended.
type outcome struct {
	// answered: ctx.Response holds the upstream's answer (possibly streaming, or a 101).
	answered bool
	status   int
	// timeout: the try failed on a timeout, which makes a 504 rather than a 502.
	timeout bool
	// retry: the failure allows another try.
	retry bool
	// client, when set, is the answer: the client failed (its body), no retry.
	client int
	// early: the upstream answered before it had read the whole request.
	early bool
}

// listStatus is the try's entry in X-APISIX-Upstream-Status, as nginx's $upstream_status has it.
func (o outcome) listStatus() int {
	switch {
	case o.answered:
		return o.status
	case o.timeout:
		return fasthttp.StatusGatewayTimeout
	default:
		return fasthttp.StatusBadGateway
	}
}
