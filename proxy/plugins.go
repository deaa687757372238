package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
)

// runPlugins runs the rewrite and access phases of the global rules and of rt's chain (rt nil:
// the 404 path, global rules only). It reports whether a plugin answered; the answer is then in
// ctx.Response. A request that goes on keeps what the plugins changed (headers for the
// upstream, the consumer for a chash upstream). The consumer's name goes to ob for the metrics.
//
// The plugins' request state stays in ob until Handle ends it (endPlugins), once the response
// is made. When a plugin has a header filter phase (cors, request-id), it is also returned, for
// headerFilter once the response head is final, and is the request's user value pluginsKey
// until then, for linger and the transport's HeaderFilter, the paths that write the head
// themselves: HeaderFilter runs once, on whichever comes first.
func (p *Proxy) runPlugins(ctx *fasthttp.RequestCtx, s *snapshot.Snapshot, rt *snapshot.Route, ob *observation) (pr *plugin.Request, answered bool) {
	if p.opts.Metrics != nil {
		ctx.Time() // the prometheus plugin may count the request: its start is pinned (Handle)
	}
	r := p.plugReqs.Get().(*plugin.Request)
	r.Ctx, r.Consumers, r.Vars, r.Metadata = ctx, s.Consumers, s.Router, s.PluginMetadata
	var chain *plugin.Chain
	if rt != nil {
		r.RouteID, r.ServiceID, chain = rt.ID, rt.ServiceID, rt.Plugins
		r.Targets = chain.Targets()
	}
	ob.plug = r
	rep := r.Run(s.Global, chain)
	if c := r.Consumer; c != nil {
		ob.consumer = c.Username
	}
	if rep.Status != 0 {
		writeReply(ctx, rep)
	}
	if !r.NeedsHeaderFilter() {
		return nil, rep.Status != 0
	}
	ctx.SetUserValue(pluginsKey, r)
	return r, rep.Status != 0
}

// pluginsKey is the user value under which a request's plugin.Request waits for its header
// filter.
var pluginsKey any = pluginsKeyType{}

type pluginsKeyType struct{}

// headerFilter runs the header filter phase on the final response head, unless it ran already,
// and the body filters on a body held whole (one that streams from the upstream went through
// them in the transport: plugin.Request.FilterBody).
func headerFilter(ctx *fasthttp.RequestCtx, r *plugin.Request) {
	r.HeaderFilter()
	r.FilterBufferedBody()
	ctx.RemoveUserValue(pluginsKey)
}

// filterHead runs the header and body filter phases of the request's plugins, if they have
// them, before the response is written by the proxy itself (linger).
func filterHead(ctx *fasthttp.RequestCtx) {
	if r, ok := ctx.UserValue(pluginsKey).(*plugin.Request); ok {
		r.HeaderFilter()
		r.FilterBufferedBody()
	}
}

// endPlugins ends the request for the plugins once its response is made, whatever it is
// (plugin.Request.Finish: the headers they set for the answer, their log phase, a limit-conn
// slot released) and notes whether the prometheus plugin counts it. Their state is pooled by
// releasePlugins once the request is recorded: a client address the real-ip plugin set lives in
// it, and the access log reads it.
func (p *Proxy) endPlugins(ob *observation) {
	r := ob.plug
	// What a plugin holds until the body is sent (limit-conn's slot) waits for a streamed
	// upstream body to end.
	r.SetAfterBody(transport.AfterBody)
	r.Finish()
	ob.counted = r.Counted
}

// releasePlugins pools the plugins' state of a request that endPlugins ended.
func (p *Proxy) releasePlugins(ob *observation) {
	r := ob.plug
	ob.plug = nil
	r.Reset()
	p.plugReqs.Put(r)
}

// writeReply writes a plugin's answer: its body as given (APISIX's core.response.exit; nginx's
// default type), or nginx's error page for the status when it has none. Headers the plugin set
// on the response (WWW-Authenticate) stay.
func writeReply(ctx *fasthttp.RequestCtx, rep plugin.Reply) {
	ctx.SetStatusCode(rep.Status)
	if rep.Body == nil {
		if page, ok := errorPages[rep.Status]; ok {
			ctx.SetContentType("text/html; charset=utf-8")
			ctx.SetBody(page)
			return
		}
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(rep.Body)
}
