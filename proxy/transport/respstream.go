package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// Framings of an upstream response body.
const (
	framingLength  = iota // Content-Length
	framingChunked        // Transfer-Encoding: chunked
	framingClose          // until the upstream closes the connection
)

// respStream is an upstream response body on its way to the client. The server reads it after
// the handler returned, while writing the response, and closes it when done (or when the response is
// reset): the body is never held whole. Each read re-arms the upstream read deadline (the read
// timeout bounds the wait between two reads, as proxy_read_timeout does) and the client write
// deadline (SendTimeout between two writes, as send_timeout does). It is used by one goroutine,
// the connection's.
type respStream struct {
	t       *Transport
	uc      upConn
	br      *bufio.Reader
	client  net.Conn // nil when the request did not come over a connection
	keep    *upstream.KeepalivePool
	node    *upstream.Node
	status  int
	start   time.Time
	read    time.Duration
	reuse   bool // the connection may serve another request once the body is complete
	framing int
	left    int64 // bytes of the body left (framingLength)
	chunked chunkedBody
	done    bool
	err     error // the failure that ended the body, returned by every Read after it
	// after are released once the body has been passed on to its end, or abandoned (AfterBody).
	after []interface{ Release() }
}

// AfterBody defers x.Release until the response's body, when it is an upstream body still
// streaming to the client, has been passed on to its end or abandoned, and reports whether it
// did; false (not a streamed upstream body, or already ended): the caller releases at once.
// It is called by the connection's goroutine, before fasthttp writes the body, as Read and
// Close are: no lock is needed.
func AfterBody(resp *fasthttp.Response, x interface{ Release() }) bool {
	var s *respStream
	switch b := resp.BodyStream().(type) {
	case *respStream:
		s = b
	case closeFramed:
		s = b.s
	}
	if s == nil || s.done {
		return false
	}
	s.after = append(s.after, x)
	return true
}

// streamResponse hands the rest of the response to a respStream.
func (t *Transport) streamResponse(ctx *fasthttp.RequestCtx, r *Request, uc upConn, br *bufio.Reader, node *upstream.Node,
	start time.Time, status int, reuse bool) {
	s := &respStream{
		t: t, uc: uc, br: br, client: ctx.Conn(), keep: r.Keepalive, node: node,
		status: status, start: start, read: r.Timeouts.Read, reuse: reuse, chunked: chunkedBody{br: br},
	}
	resp := &ctx.Response
	size := resp.Header.ContentLength()
	switch {
	case size >= 0:
		s.framing, s.left = framingLength, int64(size)
	case size == -1:
		s.framing = framingChunked
	default:
		s.framing, size = framingClose, -1
	}
	var body io.ReadCloser = s
	if r.HeaderFilter != nil {
		body, size = r.filterBody(s, size)
	}
	if size < 0 && r.HTTP10 {
		t.streamUntilClose(ctx, body, s)
		return
	}
	resp.SetBodyStream(body, size)
}

// streamUntilClose sends an HTTP/1.0 client a body of unknown length the way nginx does: no
// framing, the end of the body is the end of the connection. fasthttp would chunk it, which
// HTTP/1.0 does not know, so the proxy writes the response on the hijacked connection itself.
// The response's body stream is then a closeFramed standing for up, so that AfterBody defers
// its releases (a limit-conn slot) to the end of that body too.
func (t *Transport) streamUntilClose(ctx *fasthttp.RequestCtx, s io.ReadCloser, up *respStream) {
	h := &ctx.Response.Header
	h.SetServer(t.opts.ServerName)
	h.SetConnectionClose()
	head := h.AppendBytes(nil)
	ctx.Response.SetBodyStream(closeFramed{up}, -1)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer s.Close()
		_ = c.SetWriteDeadline(time.Now().Add(t.opts.SendTimeout()))
		if _, err := c.Write(head); err != nil {
			return
		}
		bp := t.copyBufs.Get().(*[]byte)
		defer t.copyBufs.Put(bp)
		_, _ = io.CopyBuffer(writerOnly{c}, s, *bp)
	})
}

// writerOnly hides a connection's ReadFrom, so that io.CopyBuffer reads through the stream
// with the proxy's buffer and deadlines.
type writerOnly struct{ io.Writer }

// Read implements io.Reader.
func (s *respStream) Read(b []byte) (int, error) {
	if s.done {
		// A body that failed keeps failing: fasthttp, given data and an error in one Read,
		// writes the data and reads again, and an io.EOF then would end the chunked body to
		// the client as if it were complete.
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	if s.client != nil {
		_ = s.client.SetWriteDeadline(time.Now().Add(s.t.opts.SendTimeout()))
	}
	if s.br.Buffered() == 0 {
		_ = s.uc.conn.SetReadDeadline(time.Now().Add(s.read))
	}
	var (
		n   int
		err error
	)
	switch s.framing {
	case framingLength:
		if s.left == 0 {
			err = io.EOF
			break
		}
		if int64(len(b)) > s.left {
			b = b[:s.left]
		}
		n, err = s.br.Read(b)
		s.left -= int64(n)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	case framingChunked:
		n, err = s.chunked.Read(b)
	default:
		n, err = s.br.Read(b)
	}
	switch {
	case err == io.EOF:
		s.finish(true)
	case err != nil:
		s.t.logFailure(s.node, "response body", err)
		s.err = err
		s.finish(false)
	}
	return n, err
}

// Close implements io.Closer: a body not read to its end leaves the connection unusable.
func (s *respStream) Close() error {
	s.finish(s.framing == framingLength && s.left == 0)
	return nil
}

// finish releases the connection (complete: the body was read to its end) and reports the try.
func (s *respStream) finish(complete bool) {
	if s.done {
		return
	}
	s.done = true
	// Bytes behind the body were not asked for: the connection must not serve another request.
	reuse := complete && s.reuse && s.framing != framingClose && s.br.Buffered() == 0
	s.t.putReader(s.br)
	s.br = nil
	s.uc.release(reuse, s.keep)
	s.node.Done(s.status, nil, time.Since(s.start))
	for i, x := range s.after {
		x.Release()
		s.after[i] = nil
	}
	s.after = s.after[:0]
}

// closeFramed is the response's body stream while streamUntilClose sends the upstream body s on
// the hijacked connection: a marker AfterBody finds s by, which fasthttp neither writes
// (HijackSetNoResponse) nor closes (it is no io.Closer; the hijack handler closes s). It reads
// as empty.
type closeFramed struct{ s *respStream }

func (closeFramed) Read([]byte) (int, error) { return 0, io.EOF }

// chunkedBody decodes a chunked body (RFC 9112 section 7.1) from br. Trailers are read and
// dropped, as nginx drops them. Read returns io.EOF once the last chunk and the trailer section
// are consumed, and leaves br at the next message.
type chunkedBody struct {
	br   *bufio.Reader
	left int64 // bytes left in the current chunk
}

// Read implements io.Reader.
func (c *chunkedBody) Read(b []byte) (int, error) {
	if c.left == 0 {
		size, err := c.chunkSize()
		if err != nil {
			return 0, err
		}
		if size == 0 {
			return 0, c.skipTrailers()
		}
		c.left = size
	}
	if len(b) == 0 {
		return 0, nil
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.br.Read(b)
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && c.left == 0 {
		err = c.crlf()
	}
	return n, err
}

var errBadChunk = errors.New("malformed chunked encoding")

// chunkSize reads a chunk-size line: hex digits, optional extensions, CRLF. As nginx's
// ngx_http_parse_chunked, it takes no bare LF and no CR but the line's last.
func (c *chunkedBody) chunkSize() (int64, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, noEOF(err)
	}
	if !crlfLine(line) {
		return 0, errBadChunk
	}
	var size int64
	digits := 0
	for _, ch := range line {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			if digits == 0 || (ch != ';' && ch != '\r' && ch != ' ' && ch != '\t') {
				return 0, errBadChunk
			}
			return size, nil
		}
		if digits++; digits > 15 {
			return 0, errBadChunk
		}
		size = size<<4 | int64(d)
	}
	return 0, errBadChunk
}

// skipTrailers reads the trailer section up to its empty line and reports the body's end.
func (c *chunkedBody) skipTrailers() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return noEOF(err)
		}
		if !crlfLine(line) {
			return errBadChunk
		}
		if len(line) == 2 {
			return io.EOF
		}
	}
}

// crlfLine reports whether line (up to its LF) ends in CRLF and holds no other CR.
func crlfLine(line []byte) bool {
	n := len(line)
	return n >= 2 && line[n-2] == '\r' && bytes.IndexByte(line[:n-2], '\r') < 0
}

// crlf reads the CRLF that ends a chunk's data.
func (c *chunkedBody) crlf() error {
	if b, err := c.br.ReadByte(); err != nil || b != '\r' {
		return errOr(err, errBadChunk)
	}
	if b, err := c.br.ReadByte(); err != nil || b != '\n' {
		return errOr(err, errBadChunk)
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func errOr(err, def error) error {
	if err != nil {
		return noEOF(err)
	}
	return def
}
