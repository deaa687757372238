package plugin

import (
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/router/expr"
)

// VarAppender reads one variable of a request, as a route's vars read it (router.Table
// implements it): the value appended to dst, and whether there is one (false: Lua nil).
type VarAppender interface {
	AppendVar(dst []byte, ctx *fasthttp.RequestCtx, v *expr.Var) ([]byte, bool)
}

// AppendVar appends the value of v for the request to dst, as APISIX's ctx.var reads it in the
// access phase: the nginx variables through r.Vars (when it is a VarAppender), and the context
// fields a matched route and an authenticated consumer fill in (consumer_name,
// consumer_group_id, route_id, service_id), which routing sees as nil.
func (r *Request) AppendVar(dst []byte, v *expr.Var) ([]byte, bool) {
	if v.Kind == expr.VarNil {
		var s string
		switch v.Name {
		case "consumer_name":
			if r.Consumer == nil {
				return dst, false
			}
			s = r.Consumer.Username
		case "consumer_group_id":
			if r.Consumer == nil || r.Consumer.GroupID == "" {
				return dst, false
			}
			s = r.Consumer.GroupID
		case "route_id":
			s = r.RouteID
		case "service_id":
			s = r.ServiceID
		}
		if s == "" {
			return dst, false
		}
		return append(dst, s...), true
	}
	if a, ok := r.Vars.(VarAppender); ok {
		return a.AppendVar(dst, r.Ctx, v)
	}
	return dst, false
}
