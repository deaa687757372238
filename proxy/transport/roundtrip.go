package transport

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

const (
	// maxStaleConns bounds how many pooled connections one try may find closed by the upstream
	// before it gives up on the pool.
	maxStaleConns = 8
	// upstreamWriteBufferSize buffers a request head and small body into few writes.
	upstreamWriteBufferSize = 8 << 10
	// maxWaitIdle bounds how long a pooled connection may have been idle for a request to
	// wait for its response without a read attempt (sendWhole): Transport.maxWaitIdle's default.
	maxWaitIdle = time.Second
	// statusClientClosed is what a try reports to passive health when the client, not the
	// node, ended it (nginx's 499): neither a success nor a failure by default.
	statusClientClosed = 499
)

// Try is one try of the request on node, which started at start: it sends ctx.Request's head and
// r's body and reads the response into ctx.Response. When it answers, the response head is
// there, hop-by-hop fields out, and so is the body unless it streams: then ctx.Response has a body
// stream that the server reads after the handler returns, or, for a 101 on an upgrade, a hijack
// handler that runs the tunnel. Try calls node.Done exactly once, at once or, for a streamed body
// or a tunnel, when that ends. A connection the upstream had closed while pooled is replaced by a
// fresh one within the same try, when that replays nothing that may have been processed: that is
// not a retry, nothing is reported for it.
//
// Try does not write error pages: an Outcome that did not answer leaves ctx.Response to the
// caller. It runs on the handler's goroutine; nothing of ctx is kept after the handler returns
// but the client connection of a streamed body (to re-arm its write deadline) and of a tunnel.
func (t *Transport) Try(ctx *fasthttp.RequestCtx, r *Request, node *upstream.Node, start time.Time) Outcome {
	hc := node.Client()
	if node.SNIFromHost() {
		// As APISIX (proxy_ssl_name $upstream_host): the client's host is the TLS server name.
		r.sni = appendLower(r.sni[:0], hostWithoutPort(ctx.Request.Header.Host()))
		hc = node.ClientFor(r.sni)
	}
	for stale := 0; ; stale++ {
		uc, err := acquire(hc, r.Timeouts.Connect)
		if err != nil {
			// Nothing was sent: any request may go to another try.
			t.logFailure(node, "connect", err)
			node.Done(0, err, time.Since(start))
			return Outcome{Timeout: IsTimeout(err), Retry: r.replayable()}
		}
		if uc.reused && closedWhileIdle(uc.conn) {
			// The upstream closed the pooled connection, or sent something nobody asked for,
			// which would be read as this request's answer: take another. (A POST sent on a
			// dead connection could not be replayed either.)
			uc.close()
			continue
		}
		o, again, err := t.roundTrip(ctx, r, uc, node, start)
		if again && stale < maxStaleConns {
			continue
		}
		if err != nil {
			t.logFailure(node, "request", err)
			node.Done(0, err, time.Since(start))
		}
		return o
	}
}

// roundTrip sends the request on uc and reads the response head. err is set when the try
// failed before a response status arrived (node.Done is then the caller's); again is set when
// the failure was a pooled connection the upstream had closed, and the request may be sent on
// another one. Every other outcome has called node.Done or handed it to the body stream.
func (t *Transport) roundTrip(ctx *fasthttp.RequestCtx, r *Request, uc upConn, node *upstream.Node,
	start time.Time) (o Outcome, again bool, err error) {
	req := &ctx.Request
	tm := r.Timeouts
	r.head = req.Header.AppendBytes(r.head[:0])
	if len(r.Fields) > 0 { // before the blank line that ends the head
		r.head = append(append(r.head[:len(r.head)-2], r.Fields...), '\r', '\n')
	}
	uc.countRequest()
	r.cw = upstreamWriter{conn: uc.conn, timeout: tm.Send}
	var (
		clientErr error // reading the client's body failed
		waited    bool  // the response has started to arrive (or waitErr)
		waitErr   error // waiting for the response failed after the whole request was sent
	)
	if r.BodyStream != nil {
		bw := t.writers.Get().(*bufio.Writer)
		bw.Reset(&r.cw)
		clientErr, err = t.sendStream(r, bw)
		bw.Reset(nil)
		t.writers.Put(bw)
	} else {
		waited, waitErr, err = t.sendWhole(r, uc, start)
	}
	if clientErr != nil {
		uc.close()
		node.Done(statusClientClosed, nil, time.Since(start))
		return Outcome{ClientErr: clientErr}, false, nil
	}
	// APISIX retries a POST, PATCH or LOCK only when it failed before a connection was made.
	retry := r.replayable() && !nonIdempotent(&req.Header)
	if err != nil && !IsTimeout(err) {
		// The upstream may have answered early and closed (a 413 or 401 to a large upload):
		// that answer is the response, not a failure.
		if o, ok := t.earlyResponse(ctx, r, uc, node, start); ok {
			o.Early = true
			return o, false, nil
		}
	}
	if err != nil {
		uc.close()
		again = uc.reused && !IsTimeout(err) && r.replayable() && (r.cw.n == 0 || !nonIdempotent(&req.Header))
		return Outcome{Timeout: IsTimeout(err), Retry: retry}, again, err
	}

	resp := &ctx.Response
	resp.ResetBody()
	br := t.readers.Get().(*bufio.Reader)
	br.Reset(uc.conn)
	cc, capped := uc.conn.(*countedConn) // plain TCP: TLS reads whole records
	if capped = capped && cc.largeBody; capped {
		cc.readCap = headReadSize
	}
	if !waited {
		_ = uc.conn.SetReadDeadline(time.Now().Add(tm.Read))
	}
	if err = waitErr; err == nil {
		_, err = br.Peek(1)
	}
	if err != nil {
		// Nothing came back. On a pooled connection that usually means the upstream closed it
		// while idle, before our request arrived.
		t.putReader(br)
		uc.close()
		again = uc.reused && !IsTimeout(err) && r.replayable() && (r.cw.n == 0 || !nonIdempotent(&req.Header))
		return Outcome{Timeout: IsTimeout(err), Retry: retry}, again, err
	}
	status, err := t.readHead(resp, br, uc, tm.Read)
	if capped {
		cc.readCap = 0
	}
	if err != nil {
		t.putReader(br)
		uc.close()
		// A malformed or oversized head is nginx's invalid_header, which APISIX does not retry.
		return Outcome{Timeout: IsTimeout(err), Retry: retry && ioFailure(err)}, false, err
	}

	if status == fasthttp.StatusSwitchingProtocols {
		if !r.Upgrade {
			t.putReader(br)
			uc.close()
			return Outcome{}, false, errUnexpectedUpgrade
		}
		r.filterHead()
		t.startTunnel(ctx, uc, br, node, tm, start)
		return Outcome{Answered: true, Status: status}, false, nil
	}
	return t.readResponse(ctx, r, uc, br, node, start), false, nil
}

// earlyResponse reads a response the upstream sent before it stopped reading the request. ok is
// false when there is none; the connection is then the caller's to close.
func (t *Transport) earlyResponse(ctx *fasthttp.RequestCtx, r *Request, uc upConn, node *upstream.Node,
	start time.Time) (Outcome, bool) {
	br := t.readers.Get().(*bufio.Reader)
	br.Reset(uc.conn)
	_ = uc.conn.SetReadDeadline(time.Now().Add(min(r.Timeouts.Read, time.Second)))
	resp := &ctx.Response
	resp.ResetBody()
	if _, err := br.Peek(1); err != nil {
		t.putReader(br)
		return Outcome{}, false
	}
	status, err := t.readHead(resp, br, uc, r.Timeouts.Read)
	if err != nil || status == fasthttp.StatusSwitchingProtocols {
		t.putReader(br)
		return Outcome{}, false
	}
	resp.Header.SetConnectionClose() // the request was cut short: the connection is done
	return t.readResponse(ctx, r, uc, br, node, start), true
}

// sendWhole sends a request whose body is buffered (or absent) in one write: head and body
// together. On a plain TCP connection from ConfigureClient that is new or was idle less than
// t.maxWaitIdle it then waits for the response without a read attempt (sendWait): waited is then
// set, the read deadline is armed, and waitErr is the wait's failure. err is the failure to send.
//
// A connection idle for longer takes the ordinary way: the upstream may have closed it while
// idle, and the read attempt finds its FIN at once, where a wait would only end with the RST
// that the request provokes (or, should that never come, the read timeout).
//
// start is the try's start. A connection taken from the pool at once cost no time since, so
// start stands for the clock here (one clock read less per request); a new connection was dialled
// meanwhile, and one released after start was waited for (a full pool): both read the clock.
func (t *Transport) sendWhole(r *Request, uc upConn, start time.Time) (waited bool, waitErr, err error) {
	out := r.head
	if len(r.Body) > 0 {
		out = append(out, r.Body...)
		r.head = out
	}
	now := start
	if !uc.reused || now.IsZero() || uc.idle.After(start) {
		now = time.Now()
	}
	if t.waitable(uc, now) {
		_ = uc.conn.SetReadDeadline(now.Add(r.Timeouts.Read))
		n, ok, werr, rerr := sendWait(uc.conn, out)
		r.cw.n += int64(n)
		switch {
		case !ok:
		case werr != nil:
			return false, nil, werr
		case n == len(out):
			return true, rerr, nil
		default:
			// The socket's buffer is full: the rest goes the ordinary way, under the send
			// timeout.
			out = out[n:]
		}
	}
	_, err = r.cw.Write(out)
	return false, nil, err
}

// waitable reports whether a request on uc may wait for its response without a read attempt: a
// plain TCP connection from ConfigureClient, new or idle for less than maxWaitIdle.
func (t *Transport) waitable(uc upConn, now time.Time) bool {
	_, ok := uc.conn.(*countedConn)
	return ok && (!uc.reused || now.Sub(uc.idle) < t.maxWaitIdle)
}

// sendStream writes the request head and a streamed body to the upstream. It returns the
// client's failure, or the error writing upstream.
func (t *Transport) sendStream(r *Request, bw *bufio.Writer) (clientErr, err error) {
	if _, err := bw.Write(r.head); err != nil {
		return nil, err
	}
	if clientErr, err = t.streamBody(r, bw); clientErr != nil || err != nil {
		return clientErr, err
	}
	return nil, bw.Flush()
}

// streamBody writes a streamed request body to the upstream: the prefix in r.Body, then the rest
// as it arrives from the client, chunked when BodyLength is -1. It returns the client's failure,
// or the error writing to the upstream.
func (t *Transport) streamBody(r *Request, bw *bufio.Writer) (clientErr, err error) {
	chunked := r.BodyLength < 0
	r.streamed = true
	if err := r.writeBody(bw, r.Body, chunked); err != nil {
		return nil, err
	}
	sent := int64(len(r.Body))
	bp := t.copyBufs.Get().(*[]byte)
	defer t.copyBufs.Put(bp)
	for {
		n, rerr := r.BodyStream.Read((*bp)[:cap(*bp)])
		if rerr != nil && rerr != io.EOF {
			return rerr, nil
		}
		if err := r.writeBody(bw, (*bp)[:n], chunked); err != nil {
			return nil, err
		}
		sent += int64(n)
		if rerr == io.EOF {
			break
		}
	}
	if !chunked && sent < r.BodyLength {
		// The client went away before sending what it declared.
		return io.ErrUnexpectedEOF, nil
	}
	if chunked {
		_, err := bw.WriteString("0\r\n\r\n")
		return nil, err
	}
	return nil, nil
}

// writeBody writes b, as one chunk when chunked.
func (r *Request) writeBody(bw *bufio.Writer, b []byte, chunked bool) error {
	if len(b) == 0 {
		return nil
	}
	if chunked {
		r.scratch = strconv.AppendInt(r.scratch[:0], int64(len(b)), 16)
		r.scratch = append(r.scratch, '\r', '\n')
		if _, err := bw.Write(r.scratch); err != nil {
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

// readResponse takes the response body: read whole when small, else handed to a stream that the
// server reads as it writes to the client. The connection goes back to the pool once the body is
// complete.
func (t *Transport) readResponse(ctx *fasthttp.RequestCtx, r *Request, uc upConn, br *bufio.Reader,
	node *upstream.Node, start time.Time) Outcome {
	resp := &ctx.Response
	status := resp.Header.StatusCode()
	reuse := !resp.Header.ConnectionClose()
	cl := resp.Header.ContentLength()
	noBody := ctx.Request.Header.IsHead() || status == fasthttp.StatusNoContent ||
		status == fasthttp.StatusNotModified
	switch {
	case noBody:
		cleanResponse(&resp.Header)
		r.filterHead()
		resp.SkipBody = true
	case cl >= 0 && cl <= t.opts.ResponseBufferSize:
		if cc, ok := uc.conn.(*countedConn); ok {
			cc.largeBody = cl >= br.Size()
		}
		t.bodies.takeBody(resp, cl)
		err := resp.ReadBody(br, 0)
		cleanResponse(&resp.Header)
		r.filterHead()
		if err != nil {
			// The head came, the body broke: too late to retry. As nginx, the client gets the
			// head and what arrived, then the connection's end.
			t.putReader(br)
			uc.close()
			t.logFailure(node, "response body", err)
			node.Done(status, nil, time.Since(start))
			t.passCut(ctx)
			return Outcome{Answered: true, Status: status}
		}
	default:
		cleanResponse(&resp.Header)
		r.filterHead()
		t.streamResponse(ctx, r, uc, br, node, start, status, reuse && cl != -2)
		return Outcome{Answered: true, Status: status}
	}
	// Bytes behind the response were not asked for: the connection must not serve another
	// request, which would read them as its answer.
	reuse = reuse && br.Buffered() == 0
	t.putReader(br)
	uc.release(reuse, r.Keepalive)
	took := time.Since(start)
	node.Done(status, nil, took)
	return Outcome{Answered: true, Status: status, Took: took}
}

// passCut sends the client a response whose body the upstream cut short, as nginx passes it:
// the head (with the Content-Length the upstream declared), the part of the body that arrived,
// then the end of the connection, which tells the client the body is incomplete. fasthttp would
// send none of it (a body shorter than its length fails the write before anything is flushed),
// so the response goes out on the hijacked connection. Only this rare path allocates.
func (t *Transport) passCut(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.SetServer(t.opts.ServerName)
	h.SetConnectionClose()
	out := h.AppendBytes(nil)
	out = append(out, ctx.Response.Body()...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		_ = c.SetWriteDeadline(time.Now().Add(t.opts.SendTimeout()))
		_, _ = c.Write(out)
	})
}

// appendLower appends s to dst in lower case. (The proxy has its own, for X-Forwarded-Host.)
func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// hostWithoutPort strips a port from a Host header value ("[::1]:80" keeps its brackets).
func hostWithoutPort(host []byte) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		return host[:i]
	}
	return host
}
