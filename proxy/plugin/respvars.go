package plugin

import (
	"io"
	"strconv"

	"github.com/zoneproxy/zoneproxy/router/expr"
)

// UpstreamHead is r as the transport's header filter (transport.Request.HeaderFilter): the same
// phase as HeaderFilter, and the same body filters, called once the upstream's response head is
// in r.Ctx.Response, so that r knows the response is the upstream's ($upstream_status,
// $upstream_http_* in EvalResponse). It allocates nothing.
func (r *Request) UpstreamHead() *UpstreamHead { return (*UpstreamHead)(r) }

// UpstreamHead is a Request seen by the transport; see Request.UpstreamHead.
type UpstreamHead Request

// HeaderFilter notes the upstream's status, then runs the request's header filter phase.
func (u *UpstreamHead) HeaderFilter() {
	r := (*Request)(u)
	if !r.headerDone {
		r.upstreamStatus = r.Ctx.Response.StatusCode()
	}
	r.HeaderFilter()
}

// FilterBody is Request.FilterBody.
func (u *UpstreamHead) FilterBody(src io.ReadCloser) io.ReadCloser {
	return (*Request)(u).FilterBody(src)
}

// EvalResponse evaluates e, compiled with expr.CompileResponse, on the response about to be sent
// (response-rewrite's vars, in the header filter phase): $status is its status, $sent_http_<name>
// its header; $upstream_status and $upstream_http_<name> are the same when the upstream answered
// (UpstreamHead), nil on an answer the proxy or a plugin made. Every other variable is read as
// AppendVar reads it. Differences from nginx: $upstream_status is the last try's status only (not
// the list of every try's), and $upstream_http_<name> sees a header that a header filter which
// ran before (a global rule's, cors, request-id) set on the response.
//
// It allocates nothing once warm. Call it only from a phase of r's request.
func (r *Request) EvalResponse(e *expr.Expr) bool {
	if e.Empty() {
		return true
	}
	r.resp.r = r
	ok := e.Eval(&r.resp)
	r.resp.r = nil
	return ok
}

// responseVars is the expr.Source of EvalResponse; buf backs the latest value.
type responseVars struct {
	r   *Request
	buf []byte
}

// Value implements expr.Source.
func (s *responseVars) Value(v *expr.Var) expr.Value {
	r := s.r
	resp := &r.Ctx.Response
	switch v.Kind {
	case expr.VarStatus:
		s.buf = strconv.AppendInt(s.buf[:0], int64(resp.StatusCode()), 10)
	case expr.VarUpstreamStatus:
		if r.upstreamStatus == 0 {
			return expr.Value{}
		}
		s.buf = strconv.AppendInt(s.buf[:0], int64(r.upstreamStatus), 10)
	case expr.VarUpstreamHTTP, expr.VarSentHTTP:
		if v.Kind == expr.VarUpstreamHTTP && r.upstreamStatus == 0 {
			return expr.Value{}
		}
		h := resp.Header.Peek(v.Key)
		if h == nil {
			return expr.Value{}
		}
		s.buf = append(s.buf[:0], h...)
	default:
		var ok bool
		if s.buf, ok = r.AppendVar(s.buf[:0], v); !ok {
			return expr.Value{}
		}
	}
	return expr.Value{Kind: expr.String, S: s.buf}
}
