package proxy

import (
	"errors"
	"io"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/transport"
)

// readBody decides how the request body travels and reads it whole when it is small: a body of
// at most RequestBufferSize bytes (declared, or chunked and found to end within that) is buffered
// and can be replayed; a larger one streams (the transport reads the rest through x.Read as it
// sends it). It returns the status to answer with when the client fails (400, 408, 413), or 0.
func (p *Proxy) readBody(ctx *fasthttp.RequestCtx, x *exchange) int {
	rs := ctx.RequestBodyStream()
	cl := ctx.Request.Header.ContentLength()
	x.body = x.body[:0]
	switch {
	case rs == nil || cl == 0 || cl == -2:
		x.bodyDone = true
		return 0
	case cl > 0 && cl <= p.opts.RequestBufferSize:
		x.body = slices.Grow(x.body, cl)[:cl]
		switch _, code := p.readClient(ctx, x, rs, x.body); code {
		case 0:
		case endOfBody: // shorter than declared: the client went away
			return fasthttp.StatusBadRequest
		default:
			return code
		}
		x.req.Body = x.body
		return 0
	case cl > 0:
		x.req.Body, x.req.BodyStream, x.req.BodyLength = x.body, x, int64(cl)
		return 0
	}
	// Chunked: read up to RequestBufferSize and see whether the body ends within it.
	x.body = slices.Grow(x.body, p.opts.RequestBufferSize)[:p.opts.RequestBufferSize]
	n, code := p.readClient(ctx, x, rs, x.body)
	x.body = x.body[:n]
	switch code {
	case 0:
		// The buffer filled up: the rest streams, chunked.
		x.req.Body, x.req.BodyStream, x.req.BodyLength = x.body, x, -1
		x.chunked = true
		return 0
	case endOfBody:
		x.req.Body = x.body
		x.chunked = true
		return 0
	}
	return code
}

// frame sets the framing of a chunked body in the head the upstream gets, once the hop-by-hop
// fields are out: its length when it was read whole, else chunked again. A body with a
// Content-Length keeps it.
func (x *exchange) frame(h *fasthttp.RequestHeader) {
	switch {
	case !x.chunked:
	case x.req.BodyStream != nil:
		h.SetContentLength(-1)
	default:
		h.SetContentLength(len(x.body))
	}
}

// endOfBody is readClient's code for a body that ended before buf was full.
const endOfBody = -1

// readClient fills buf from the client's body stream. It returns the bytes read and 0 when buf
// is full, endOfBody when the body ended first, or the status to answer a failed client with.
func (p *Proxy) readClient(ctx *fasthttp.RequestCtx, x *exchange, rs io.Reader, buf []byte) (int, int) {
	n := 0
	for n < len(buf) {
		m, err := x.readOnce(ctx, rs, buf[n:])
		n += m
		if err == io.EOF && n == len(buf) {
			break
		}
		if err == io.EOF {
			return n, endOfBody
		}
		if err != nil {
			return n, clientFailure(err)
		}
	}
	return n, 0
}

// errBodyTooLarge: the client sent more than MaxRequestBodySize.
var errBodyTooLarge = errors.New("request body too large")

// readOnce reads what the client has sent of its body, at most len(buf) bytes, after re-arming
// the client read deadline (BodyTimeout, nginx's client_body_timeout between two reads). It
// returns io.EOF once the body is over, errBodyTooLarge past MaxRequestBodySize, or the client's
// read error.
func (x *exchange) readOnce(ctx *fasthttp.RequestCtx, rs io.Reader, buf []byte) (int, error) {
	if conn := ctx.Conn(); conn != nil {
		_ = conn.SetReadDeadline(time.Now().Add(x.live.bodyTimeout))
	}
	n, err := rs.Read(buf)
	x.bodyRead += int64(n)
	if max := x.live.maxRequestBodySize; max > 0 && x.bodyRead > max {
		return n, errBodyTooLarge
	}
	if err == io.EOF {
		x.bodyDone = true
	}
	return n, err
}

// Read reads the rest of a streamed request body from the client, for the transport
// (transport.Request.BodyStream); the transport ends the try on any error but io.EOF, and
// forward answers it with clientFailure.
func (x *exchange) Read(buf []byte) (int, error) {
	return x.readOnce(x.ctx, x.ctx.RequestBodyStream(), buf)
}

// clientFailure is the answer to a client whose body could not be read: 413 past
// MaxRequestBodySize, 408 on a timeout (nginx's client_body_timeout), else 400.
func clientFailure(err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge
	case transport.IsTimeout(err):
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}
