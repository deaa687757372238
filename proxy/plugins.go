package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

// runPlugins runs the rewrite and access phases of the global rules and of rt's chain (rt nil:
// the 404 path, global rules only). It reports whether a plugin answered; the answer is then in
// ctx.Response. A request that goes on keeps what the plugins changed (headers for the
// upstream, the consumer for a chash upstream).
//
// When a plugin of the request has a header filter phase, the plugin.Request is returned, to be
// passed to finishPlugins once the response head is final; else it is released at once and nil
// is returned, and the request pays nothing more. Until finishPlugins it is also the request's
// user value pluginsKey, for linger, and the transport's HeaderFilter, for the paths that write
// the head themselves: HeaderFilter runs once, on whichever comes first.
//
// The log phase is not called yet: no implemented plugin has it (plugin.Chain.HasLog).
func (p *Proxy) runPlugins(ctx *fasthttp.RequestCtx, s *snapshot.Snapshot, rt *snapshot.Route) (pr *plugin.Request, answered bool) {
	r := p.plugReqs.Get().(*plugin.Request)
	r.Ctx, r.Consumers, r.Vars = ctx, s.Consumers, s.Router
	var chain *plugin.Chain
	if rt != nil {
		r.RouteID, r.ServiceID, chain = rt.ID, rt.ServiceID, rt.Plugins
	}
	rep := r.Run(s.Global, chain)
	if rep.Status != 0 {
		writeReply(ctx, rep)
	}
	if !r.NeedsHeaderFilter() {
		r.Reset()
		p.plugReqs.Put(r)
		return nil, rep.Status != 0
	}
	ctx.SetUserValue(pluginsKey, r)
	return r, rep.Status != 0
}

// pluginsKey is the user value under which a request's plugin.Request waits for its header
// filter.
var pluginsKey any = pluginsKeyType{}

type pluginsKeyType struct{}

// finishPlugins runs the header filter phase on the final response head (unless it ran
// already) and releases r.
func (p *Proxy) finishPlugins(ctx *fasthttp.RequestCtx, r *plugin.Request) {
	r.HeaderFilter()
	ctx.RemoveUserValue(pluginsKey)
	r.Reset()
	p.plugReqs.Put(r)
}

// filterHead runs the header filter phase of the request's plugins, if they have one, before
// the head is written by the proxy itself (linger).
func filterHead(ctx *fasthttp.RequestCtx) {
	if r, ok := ctx.UserValue(pluginsKey).(*plugin.Request); ok {
		r.HeaderFilter()
	}
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
