package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

// runPlugins runs the rewrite and access phases of the global rules and of rt's chain (rt nil:
// the 404 path, global rules only). It reports whether a plugin answered; the answer is then in
// ctx.Response. A request that goes on keeps what the plugins changed (headers for the
// upstream, the consumer for a chash upstream). The consumer's name goes to ob for the metrics.
//
// When a plugin of the request has a log phase (prometheus), the Request is kept in ob until
// the request ends (endPlugins); otherwise it is released at once, and the request pays nothing
// more. The header filter phase is not called yet: no implemented plugin has one
// (plugin.Chain.HasHeaderFilter tells when it is needed).
func (p *Proxy) runPlugins(ctx *fasthttp.RequestCtx, s *snapshot.Snapshot, rt *snapshot.Route, ob *observation) bool {
	r := p.plugReqs.Get().(*plugin.Request)
	r.Ctx, r.Consumers, r.Vars = ctx, s.Consumers, s.Router
	var chain *plugin.Chain
	if rt != nil {
		r.RouteID, r.ServiceID, chain = rt.ID, rt.ServiceID, rt.Plugins
	}
	rep := r.Run(s.Global, chain)
	if c := r.Consumer; c != nil {
		ob.consumer = c.Username
	}
	if s.Global.HasLog() || chain.HasLog() || (r.Consumer != nil && r.Consumer.Plugins.HasLog()) {
		ob.plug = r
	} else {
		r.Reset()
		p.plugReqs.Put(r)
	}
	if rep.Status == 0 {
		return false
	}
	writeReply(ctx, rep)
	return true
}

// endPlugins runs the log phase of the request's plugins, once the response is made, and
// releases its Request.
func (p *Proxy) endPlugins(ob *observation) {
	r := ob.plug
	r.Log()
	ob.counted = r.Counted
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
