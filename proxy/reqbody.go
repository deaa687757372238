package proxy

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// readBody decides how the request body travels and reads it whole when it is small: a body of
// at most RequestBufferSize bytes (declared, or chunked and found to end within that) is buffered
// and can be replayed; a larger one streams. It returns the status to answer with when the client
// fails (400, 408, 413), or 0.
func (p *Proxy) readBody(ctx *fasthttp.RequestCtx, x *exchange) int {
	h := &ctx.Request.Header
	rs := ctx.RequestBodyStream()
	cl := h.ContentLength()
	x.body = x.body[:0]
	switch {
	case rs == nil || cl == 0 || cl == -2:
		x.bodyMode, x.bodyDone = bodyNone, true
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
		x.bodyMode, x.bodyLength = bodyBuffered, int64(cl)
		return 0
	case cl > 0:
		x.bodyMode, x.bodyLength = bodyStream, int64(cl)
		return 0
	}
	// Chunked: read up to RequestBufferSize and see whether the body ends within it.
	x.body = slices.Grow(x.body, p.opts.RequestBufferSize)[:p.opts.RequestBufferSize]
	n, code := p.readClient(ctx, x, rs, x.body)
	x.body = x.body[:n]
	switch code {
	case 0:
		// The buffer filled up: the rest streams, chunked.
		x.bodyMode, x.bodyLength = bodyStream, -1
		h.SetContentLength(-1)
		return 0
	case endOfBody:
		x.bodyMode, x.bodyLength = bodyBuffered, int64(n)
		h.SetContentLength(n)
		return 0
	}
	return code
}

// endOfBody is readClient's code for a body that ended before buf was full.
const endOfBody = -1

// readClient fills buf from the client's body stream. It returns the bytes read and 0 when buf
// is full, endOfBody when the body ended first, or the status to answer a failed client with.
func (p *Proxy) readClient(ctx *fasthttp.RequestCtx, x *exchange, rs io.Reader, buf []byte) (int, int) {
	n := 0
	for n < len(buf) {
		m, code := p.readOnce(ctx, x, rs, buf[n:])
		n += m
		if code == endOfBody && n == len(buf) {
			break
		}
		if code != 0 {
			return n, code
		}
	}
	return n, 0
}

// readOnce reads what the client has sent of its body, at most len(buf) bytes, after re-arming
// the client read deadline (BodyTimeout, nginx's client_body_timeout between two reads). It
// returns 0, endOfBody once the body is over, or the status to answer a failed client with.
func (p *Proxy) readOnce(ctx *fasthttp.RequestCtx, x *exchange, rs io.Reader, buf []byte) (int, int) {
	if conn := ctx.Conn(); conn != nil {
		_ = conn.SetReadDeadline(time.Now().Add(x.live.bodyTimeout))
	}
	n, err := rs.Read(buf)
	x.bodyRead += int64(n)
	if max := x.live.maxRequestBodySize; max > 0 && x.bodyRead > max {
		return n, fasthttp.StatusRequestEntityTooLarge
	}
	switch {
	case err == io.EOF:
		x.bodyDone = true
		return n, endOfBody
	case err != nil:
		return n, clientFailure(err)
	}
	return n, 0
}

// clientFailure is the answer to a client whose body could not be read: 408 on a timeout (nginx's
// client_body_timeout), else 400.
func clientFailure(err error) int {
	if isTimeout(err) {
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}

// streamBody writes a streamed request body to the upstream: the prefix readBody took, then the
// rest as it arrives from the client, chunked when the client sent it chunked. It returns the
// status for a failed client, or the error writing to the upstream.
func (p *Proxy) streamBody(ctx *fasthttp.RequestCtx, x *exchange, bw *bufio.Writer) (int, error) {
	chunked := x.bodyLength < 0
	x.streamed = true
	if err := x.writeBody(bw, x.body, chunked); err != nil {
		return 0, err
	}
	rs := ctx.RequestBodyStream()
	bp := p.copyBufs.Get().(*[]byte)
	defer p.copyBufs.Put(bp)
	for {
		n, code := p.readOnce(ctx, x, rs, (*bp)[:cap(*bp)])
		if code > 0 {
			return code, nil
		}
		if err := x.writeBody(bw, (*bp)[:n], chunked); err != nil {
			return 0, err
		}
		if code == endOfBody {
			break
		}
	}
	if !chunked && x.bodyRead < x.bodyLength {
		// The client went away before sending what it declared.
		return fasthttp.StatusBadRequest, nil
	}
	if chunked {
		_, err := bw.WriteString("0\r\n\r\n")
		return 0, err
	}
	return 0, nil
}

// writeBody writes b, as one chunk when chunked.
func (x *exchange) writeBody(bw *bufio.Writer, b []byte, chunked bool) error {
	if len(b) == 0 {
		return nil
	}
	if chunked {
		x.scratch = strconv.AppendInt(x.scratch[:0], int64(len(b)), 16)
		x.scratch = append(x.scratch, '\r', '\n')
		if _, err := bw.Write(x.scratch); err != nil {
			return err
		}
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}
	if chunked {
		_, err := bw.WriteString("\r\n")
		return err
	}
	return nil
}
