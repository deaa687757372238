package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

// runPlugins runs the rewrite and access phases of the global rules and of rt's chain (rt nil:
// the 404 path, global rules only). It reports whether a plugin answered; the answer is then in
// ctx.Response. A request that goes on keeps what the plugins changed (headers for the
// upstream, the consumer for a chash upstream). The plugins' request state stays in ob until
// Handle finishes it (finishPlugins), once the response is made.
//
// The header filter phase is not called yet: no implemented plugin has it
// (plugin.Chain.HasHeaderFilter tells when it is needed).
func (p *Proxy) runPlugins(ctx *fasthttp.RequestCtx, s *snapshot.Snapshot, rt *snapshot.Route, ob *observation) bool {
	r := p.plugReqs.Get().(*plugin.Request)
	r.Ctx, r.Consumers, r.Vars = ctx, s.Consumers, s.Router
	var chain *plugin.Chain
	if rt != nil {
		r.RouteID, r.ServiceID, chain = rt.ID, rt.ServiceID, rt.Plugins
	}
	ob.plug = r
	rep := r.Run(s.Global, chain)
	if rep.Status == 0 {
		return false
	}
	writeReply(ctx, rep)
	return true
}

// finishPlugins ends the request for the plugins once its response is made, whatever it is
// (plugin.Request.Finish: the headers they set for the answer, their log phase, a limit-conn
// slot released), and pools their state.
func (p *Proxy) finishPlugins(r *plugin.Request) {
	r.Finish()
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
