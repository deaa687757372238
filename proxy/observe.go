package proxy

import (
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// observation is what a request did, for the metrics and the access log. It lives on Handle's stack.
type observation struct {
	live           *live           // the settings the request started with
	rt             *snapshot.Route // the matched route, nil when none
	match          router.Result
	node           *upstream.Node  // the last node tried
	upstreamTime   time.Duration   // time spent in tries, all of them
	upstreamStatus int             // the upstream's status, 0 when it did not answer
	source         metrics.Source  // who made the answer
	bodyBytes      int64           // request body bytes read from the client
	client         *clientAddr     // the client address from the real-IP header, nil: the peer's
	consumer       string          // the consumer a plugin authenticated, "" for none
	plug           *plugin.Request // the plugins' state, nil when no plugin ran; ended and pooled by Handle (endPlugins)
	counted        bool            // the prometheus plugin's log phase ran: the metrics count the request
}

// record feeds the metrics and the access log. A streamed response is recorded when the handler
// returns: its time is the time to the response head and its size the Content-Length, if any.
// The request metrics count a request as APISIX does, when the prometheus plugin ran for it,
// or every request under Options.CountAllRequests.
//
// The clock is read only when the request is counted or logged: the request's start was then
// pinned when it began (Handle, runPlugins).
func (p *Proxy) record(ctx *fasthttp.RequestCtx, ob *observation) {
	m := p.opts.Metrics
	count := m != nil && (ob.counted || ob.live.countAll)
	if !count && ob.live.accessLog == nil {
		return
	}
	now := time.Now()
	code := ctx.Response.StatusCode()
	reqTime := now.Sub(ctx.Time())
	if count {
		rm := m.Unmatched()
		if ob.rt != nil {
			rm = ob.rt.Metrics(m) // nil for a route retired since: the sample is lost
		}
		s := metrics.Sample{
			Code: code, Source: ob.source, MatchedURI: ob.match.URI, MatchedHost: ob.match.Host, Consumer: ob.consumer,
			Request: reqTime, Upstream: ob.upstreamTime,
			BytesIn: requestBytes(ctx) + ob.bodyBytes, BytesOut: responseBytes(ctx),
		}
		if ob.node != nil {
			s.Node = ob.node.Host
		}
		rm.Observe(&s)
	}
	if l := ob.live.accessLog; l != nil {
		var r accesslog.Record
		r.FromCtx(ctx)
		r.Time, r.RequestTime = now, reqTime
		r.Status, r.BodyBytes = code, responseBodyBytes(ctx)
		if ob.node != nil {
			r.UpstreamAddr = unsafe.Slice(unsafe.StringData(ob.node.Addr), len(ob.node.Addr))
			r.UpstreamStatus, r.UpstreamTime = ob.upstreamStatus, ob.upstreamTime
		}
		if ob.rt != nil {
			r.RouteID = ob.rt.ID
		}
		l.Log(&r)
	}
}

// requestBytes estimates the request head's size on the wire: request line and header fields.
func requestBytes(ctx *fasthttp.RequestCtx) int64 {
	h := &ctx.Request.Header
	return int64(len(h.Method()) + len(h.RequestURI()) + len(" HTTP/1.1\r\n") + len(h.RawHeaders()) + 2)
}

// responseBytes estimates the response's size on the wire: status line, header fields and body
// (a streamed body counts its Content-Length, or nothing when it has none).
func responseBytes(ctx *fasthttp.RequestCtx) int64 {
	n := int64(len("HTTP/1.1 200 OK\r\n") + 2)
	// VisitAll, not All: All's iterator inlines into 1.2 KB of code here against VisitAll's 108
	// bytes, and the 1route pairs ran lower with it (bench/README, "Code layout").
	//lint:ignore SA1019 VisitAll is kept for its code size, see above
	ctx.Response.Header.VisitAll(func(k, v []byte) { n += int64(len(k) + len(v) + 4) })
	return n + responseBodyBytes(ctx)
}

func responseBodyBytes(ctx *fasthttp.RequestCtx) int64 {
	if ctx.Response.IsBodyStream() {
		return max(int64(ctx.Response.Header.ContentLength()), 0)
	}
	return int64(len(ctx.Response.Body()))
}
