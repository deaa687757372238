package h2

import (
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// exchange is what one stream's handler needs, pooled: its RequestCtx, the body reader it
// sees, and the response's header block.
type exchange struct {
	ctx   fasthttp.RequestCtx
	body  body
	block []byte
}

// serveStream runs the handler for st and writes its response; it runs on a worker.
func (c *conn) serveStream(st *Stream) {
	if st.closed.Load() { // reset before its handler started
		c.streamDone(st)
		return
	}
	s := c.s
	x := s.exchanges.Get().(*exchange)
	ctx := &x.ctx
	ctx.Init2(st, s.logger, false)
	status := st.status
	if status == 0 {
		if s.opts.OnStream != nil {
			s.opts.OnStream(c.nc)
		}
		if err := s.readHead(&ctx.Request.Header, st); err != nil {
			status = fasthttp.StatusBadRequest
			if errors.Is(err, errTooLarge) {
				status = fasthttp.StatusRequestHeaderFieldsTooLarge
			}
		}
	}
	if status != 0 {
		x.block = c.s.appendHead(x.block[:0], status)
		_ = c.send(st, x.block, nil, true)
	} else {
		if st.hasBody {
			x.body.st = st
			ctx.Request.SetBodyStream(&x.body, int(st.declared))
		}
		ctx.Request.Header.SetProtocolBytes(http20)
		s.handler(ctx)
		c.respond(ctx, st, x)
	}
	if st.finishBody() && !st.closed.Load() {
		// The response is out before the request's end: the client may stop sending
		// (RFC 9113 section 8.1).
		c.resetStream(st.id, http2.ErrCodeNo)
	}
	s.putExchange(x)
	c.streamDone(st)
}

// putExchange resets x for the next stream: what RequestCtx.Init2 leaves as it was (the
// request, the response, user values and a hijack handler) included.
func (s *Server) putExchange(x *exchange) {
	ctx := &x.ctx
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.ResetUserValues()
	ctx.Hijack(nil)
	ctx.HijackSetNoResponse(false)
	x.body.st = nil
	s.exchanges.Put(x)
}

// respond writes ctx's response on st. A response body the upstream cut short (a hijacked
// response shorter than its Content-Length, or a body stream that failed) resets the stream
// after what arrived, as a closed connection tells an HTTP/1.1 client.
func (c *conn) respond(ctx *fasthttp.RequestCtx, st *Stream, x *exchange) {
	resp := &ctx.Response
	code := resp.StatusCode()
	b := appendStatus(x.block[:0], code)
	var hasServer, hasDate bool
	for k, v := range resp.Header.All() {
		if connectionSpecific(k) {
			continue
		}
		switch {
		case len(k) == 6 && equalFold(k, "server"):
			hasServer = true
		case len(k) == 4 && equalFold(k, "date"):
			hasDate = true
		}
		b = appendField(b, k, v)
	}
	if !hasServer {
		b = appendIndexedName(b, nameServer, c.s.opts.ServerName)
	}
	if !hasDate {
		b = appendIndexedNameBytes(b, nameDate, c.s.dateHeader())
	}
	noBody := ctx.IsHead() || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified
	_ = st.SetWriteDeadline(time.Now().Add(c.s.opts.SendTimeout))
	if resp.IsBodyStream() {
		if n := resp.Header.ContentLength(); n >= 0 {
			b = appendLength(b, n)
		}
		x.block = b
		c.stream(st, resp, b, noBody)
		return
	}
	body := resp.Body()
	declared := resp.Header.ContentLength()
	cut := false
	switch {
	case noBody:
		if declared >= 0 && ctx.IsHead() {
			b = appendLength(b, declared)
		}
		body = nil
	case ctx.Hijacked() && declared > len(body):
		b = appendLength(b, declared)
		cut = true
	default:
		b = appendLength(b, len(body))
	}
	x.block = b
	if c.send(st, b, body, !cut) == nil && cut {
		c.resetStream(st.id, http2.ErrCodeInternal)
	}
}

// stream sends a streamed response body as it is read; each write waits for the client's
// flow-control window, which paces the reads from the upstream.
func (c *conn) stream(st *Stream, resp *fasthttp.Response, block []byte, noBody bool) {
	if noBody {
		_ = c.send(st, block, nil, true)
		_ = resp.CloseBodyStream()
		return
	}
	if c.send(st, block, nil, false) != nil {
		_ = resp.CloseBodyStream()
		return
	}
	bs := resp.BodyStream()
	bp := c.s.bufs.Get().(*[]byte)
	failed := false
	for {
		n, err := bs.Read(*bp)
		if n > 0 {
			if c.sendData(st, (*bp)[:n], false) != nil {
				break // the client is gone, reset the stream, or was too slow
			}
		}
		if err == io.EOF {
			_ = c.sendData(st, nil, true)
			break
		}
		if err != nil {
			failed = true
			break
		}
	}
	c.s.bufs.Put(bp)
	_ = resp.CloseBodyStream()
	if failed && !st.closed.Load() {
		c.resetStream(st.id, http2.ErrCodeInternal)
	}
}

var errWriteTimeout = errors.New("h2: the client's window stayed closed past the send timeout")

// send writes a response's HEADERS and body, in one write with the body's first DATA as far as
// the windows let it; end ends the stream after the body.
func (c *conn) send(st *Stream, block, body []byte, end bool) error {
	n := 0
	if len(body) > 0 {
		n = c.reserve(st, len(body))
	}
	if st.closed.Load() || !c.lockWrite() {
		return errStreamReset
	}
	last := end && n == len(body)
	c.writeHeaders(st.id, block, end && len(body) == 0)
	if n > 0 {
		c.writeData(st.id, body[:n], last)
	}
	if last {
		st.answered.Store(true)
	}
	c.unlockWrite()
	if n == len(body) {
		return nil
	}
	return c.sendData(st, body[n:], end)
}

// sendData writes data as DATA frames as the windows open, the last with END_STREAM if end.
// A window that stays closed past the stream's write deadline resets the stream.
func (c *conn) sendData(st *Stream, data []byte, end bool) error {
	for {
		n := 0
		if len(data) > 0 {
			if n = c.reserve(st, len(data)); n == 0 {
				if st.closed.Load() {
					return errStreamReset
				}
				if err := st.wait(&st.writeDeadline); err != nil {
					if !errors.Is(err, errConnClosed) {
						c.resetStream(st.id, http2.ErrCodeInternal)
						return errWriteTimeout
					}
					return err
				}
				continue
			}
		}
		if st.closed.Load() || !c.lockWrite() {
			return errStreamReset
		}
		last := end && n == len(data)
		c.writeData(st.id, data[:n], last)
		if last {
			st.answered.Store(true)
		}
		c.unlockWrite()
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
}

// appendHead is the header block of an answer without a body.
func (s *Server) appendHead(b []byte, status int) []byte {
	b = appendStatus(b, status)
	b = appendIndexedName(b, nameServer, s.opts.ServerName)
	b = appendIndexedNameBytes(b, nameDate, s.dateHeader())
	return appendLength(b, 0)
}

// connectionSpecific reports the response fields HTTP/2 forbids (RFC 9113 section 8.2.2), and
// Content-Length, which respond sets itself.
func connectionSpecific(k []byte) bool {
	switch len(k) {
	case 2:
		return equalFold(k, "te")
	case 7:
		return equalFold(k, "upgrade")
	case 10:
		return equalFold(k, "connection") || equalFold(k, "keep-alive")
	case 14:
		return equalFold(k, "content-length")
	case 16:
		return equalFold(k, "proxy-connection")
	case 17:
		return equalFold(k, "transfer-encoding")
	}
	return false
}

func equalFold(b []byte, lower string) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// The response header block is HPACK without the dynamic table, as nginx writes it: indexed
// :status for the common codes, literal fields "without indexing" otherwise, names from the
// static table where they are in it, no Huffman coding. So the encoder keeps no state, a
// stream encodes its block before it takes the connection's write lock, and the client's
// SETTINGS_HEADER_TABLE_SIZE does not matter.

// Static table indexes (RFC 7541 appendix A).
const (
	nameStatus        = 8
	nameContentLength = 28
	nameContentType   = 31
	nameDate          = 33
	nameServer        = 54
)

func appendStatus(b []byte, code int) []byte {
	switch code {
	case 200:
		return append(b, 0x80|8)
	case 204:
		return append(b, 0x80|9)
	case 206:
		return append(b, 0x80|10)
	case 304:
		return append(b, 0x80|11)
	case 400:
		return append(b, 0x80|12)
	case 404:
		return append(b, 0x80|13)
	case 500:
		return append(b, 0x80|14)
	}
	var d [20]byte
	v := strconv.AppendInt(d[:0], int64(code), 10)
	b = appendInt(b, 0x00, 4, nameStatus)
	b = appendInt(b, 0x00, 7, uint64(len(v)))
	return append(b, v...)
}

func appendLength(b []byte, n int) []byte {
	var d [20]byte
	return appendIndexedNameBytes(b, nameContentLength, strconv.AppendInt(d[:0], int64(n), 10))
}

func appendIndexedName(b []byte, name uint64, v string) []byte {
	b = appendInt(b, 0x00, 4, name)
	b = appendInt(b, 0x00, 7, uint64(len(v)))
	return append(b, v...)
}

func appendIndexedNameBytes(b []byte, name uint64, v []byte) []byte {
	b = appendInt(b, 0x00, 4, name)
	b = appendInt(b, 0x00, 7, uint64(len(v)))
	return append(b, v...)
}

// appendField appends a literal field without indexing, its name lowercased as HTTP/2 wants.
func appendField(b []byte, k, v []byte) []byte {
	switch {
	case len(k) == 12 && equalFold(k, "content-type"):
		return appendIndexedNameBytes(b, nameContentType, v)
	case len(k) == 6 && equalFold(k, "server"):
		return appendIndexedNameBytes(b, nameServer, v)
	case len(k) == 4 && equalFold(k, "date"):
		return appendIndexedNameBytes(b, nameDate, v)
	}
	b = append(b, 0x00)
	b = appendInt(b, 0x00, 7, uint64(len(k)))
	for _, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = appendInt(b, 0x00, 7, uint64(len(v)))
	return append(b, v...)
}

// appendInt appends v as an HPACK integer with an n-bit prefix after the bits in first.
func appendInt(b []byte, first byte, n uint, v uint64) []byte {
	max := uint64(1)<<n - 1
	if v < max {
		return append(b, first|byte(v))
	}
	b = append(b, first|byte(max))
	v -= max
	for v >= 128 {
		b = append(b, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
