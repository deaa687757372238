package accesslog

import (
	"net"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
)

// Record is what one request contributes to the log. Its byte slices may alias request memory:
// Log reads them before it returns and keeps nothing. The zero value of a field means "absent".
type Record struct {
	// Time is when the request ended (nginx's $time_local); zero means the time Log is called.
	Time time.Time
	// RemoteAddr is the client's address.
	RemoteAddr netip.Addr
	// Method, URI (the raw request URI, nginx's $request_uri) and Protocol make the request line.
	Method, URI, Protocol []byte
	Host                  []byte
	Referer, UserAgent    []byte
	// Authorization is the request's Authorization header; the user of a Basic credential is
	// $remote_user.
	Authorization []byte
	// RequestID is the X-Request-Id request header.
	RequestID []byte
	// Status is the status sent to the client; BodyBytes the response body's size
	// ($body_bytes_sent).
	Status    int
	BodyBytes int64
	// RequestTime is the whole request's time ($request_time).
	RequestTime time.Duration
	// UpstreamAddr is the address of the upstream node(s) tried, as the proxy writes it ("" when
	// the request was not proxied); UpstreamStatus the upstream's status (0 when none came) and
	// UpstreamTime the time spent on upstream tries. Without an UpstreamAddr, UpstreamTime is
	// absent.
	UpstreamAddr   []byte
	UpstreamStatus int
	UpstreamTime   time.Duration
	// RouteID is the matched route's id ("" when none).
	RouteID string
}

// FromCtx fills the request's and the response's fields from ctx: every field but Time,
// RequestTime, the upstream fields and RouteID. Call it when the response is complete, and Log
// the Record before the handler returns: the slices alias ctx. It does not allocate.
func (r *Record) FromCtx(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	r.RemoteAddr = addrOf(ctx.RemoteAddr())
	r.Method = h.Method()
	r.URI = h.RequestURI()
	r.Protocol = h.Protocol()
	r.Host = h.Host()
	r.Referer = h.Referer()
	r.UserAgent = h.UserAgent()
	r.Authorization = h.Peek(fasthttp.HeaderAuthorization)
	r.RequestID = h.Peek("X-Request-Id")
	r.Status = ctx.Response.StatusCode()
	r.BodyBytes = bodyBytes(ctx)
}

func addrOf(a net.Addr) netip.Addr {
	switch x := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(x.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(x.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// bodyBytes is the size of the response body sent: none for HEAD and for statuses without a body;
// the Content-Length of a streamed body (0 when chunked: unknown here).
func bodyBytes(ctx *fasthttp.RequestCtx) int64 {
	resp := &ctx.Response
	code := resp.StatusCode()
	if ctx.IsHead() || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		return 0
	}
	if resp.IsBodyStream() {
		return int64(max(resp.Header.ContentLength(), 0))
	}
	return int64(len(resp.Body()))
}
