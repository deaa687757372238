package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/transport"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// exchange is the per-request state of forward, pooled so that a request allocates nothing.
// It belongs to one request at a time.
type exchange struct {
	tried upstream.Tried
	live  *live // the settings the request started with
	// req is what the transport's tries share; its body fields are set by readBody.
	req transport.Request
	// ctx is the request being forwarded while forward runs (for Read), nil otherwise.
	ctx *fasthttp.RequestCtx

	body    []byte // the buffered body, or the prefix of a streamed one
	status  []byte // X-APISIX-Upstream-Status: every try's status
	upgrade []byte // the client's Upgrade value, on a WebSocket route
	scratch []byte

	// bodyRead counts the body bytes taken from the client, prefix included.
	bodyRead int64
	// bodyDone is set once the client's body was read to its end.
	bodyDone bool
	// chunked: the client's body came chunked (frame sets its framing for the upstream).
	chunked bool
}

func (p *Proxy) getExchange() *exchange {
	return p.exchanges.Get().(*exchange)
}

func (p *Proxy) putExchange(x *exchange) {
	x.tried.Reset()
	x.req.Reset()
	x.ctx = nil
	x.status = x.status[:0]
	x.bodyRead, x.bodyDone, x.chunked = 0, false, false
	x.live = nil
	if cap(x.body) > 4*defaultRequestBufferSize {
		x.body = nil
	}
	p.exchanges.Put(x)
}

// addStatus appends one try's status to the X-APISIX-Upstream-Status list.
func (x *exchange) addStatus(code int) {
	if len(x.status) > 0 {
		x.status = append(x.status, ", "...)
	}
	x.status = strconv.AppendInt(x.status, int64(code), 10)
}
