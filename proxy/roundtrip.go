package proxy

import (
	"bufio"
	"context"
	"log/slog"
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
	// wait for its response without a read attempt (sendWhole): Proxy.maxWaitIdle's default.
	maxWaitIdle = time.Second
	// statusClientClosed is what a try reports to passive health when the client, not the
	// node, ended it (nginx's 499): neither a success nor a failure by default.
	statusClientClosed = 499
)

// try is one try of the request on node, which started at start: the response head, and the
// body unless it streams, are in ctx.Response when it answers. It calls node.Done exactly once, at once or, for a
// streamed body or a tunnel, when that ends. A connection the upstream had closed while pooled
// is replaced by a fresh one within the same try, when that replays nothing that may have been
// processed.
func (p *Proxy) try(ctx *fasthttp.RequestCtx, x *exchange, node *upstream.Node, spec *upstream.Spec, tm timeouts, upgrade bool,
	start time.Time) outcome {
	hc := node.Client()
	if node.SNIFromHost() {
		// As APISIX (proxy_ssl_name $upstream_host): the client's host is the TLS server name.
		x.sni = appendLower(x.sni[:0], hostWithoutPort(ctx.Request.Header.Host()))
		hc = node.ClientFor(x.sni)
	}
	for stale := 0; ; stale++ {
		uc, err := acquire(hc, tm.connect)
		if err != nil {
			// Nothing was sent: any request may go to another try.
			p.logFailure(node, "connect", err)
			node.Done(0, err, time.Since(start))
			return outcome{timeout: isTimeout(err), retry: x.replayable()}
		}
		if uc.reused && nonIdempotent(&ctx.Request.Header) && closedWhileIdle(uc.conn) {
			// A POST on a dead pooled connection could not be replayed: take another.
			uc.close()
			continue
		}
		o, again, err := p.roundTrip(ctx, x, uc, node, spec, tm, upgrade, start)
		if again && stale < maxStaleConns {
			continue
		}
		if err != nil {
			p.logFailure(node, "request", err)
			node.Done(0, err, time.Since(start))
		}
		return o
	}
}

// roundTrip sends the request on uc and reads the response head. err is set when the try
// failed before a response status arrived (node.Done is then the caller's); again is set when
// the failure was a pooled connection the upstream had closed, and the request may be sent on
// another one. Every other outcome has called node.Done or handed it to the body stream.
func (p *Proxy) roundTrip(ctx *fasthttp.RequestCtx, x *exchange, uc upConn, node *upstream.Node, spec *upstream.Spec,
	tm timeouts, upgrade bool, start time.Time) (o outcome, again bool, err error) {
	req := &ctx.Request
	x.head = req.Header.AppendBytes(x.head[:0])
	uc.countRequest()
	x.cw = upstreamWriter{conn: uc.conn, timeout: tm.send}
	var (
		code    int
		waited  bool  // the response has started to arrive (or waitErr)
		waitErr error // waiting for the response failed after the whole request was sent
	)
	if x.bodyMode == bodyStream {
		bw := p.writers.Get().(*bufio.Writer)
		bw.Reset(&x.cw)
		code, err = p.sendStream(ctx, x, bw)
		bw.Reset(nil)
		p.writers.Put(bw)
	} else {
		waited, waitErr, err = p.sendWhole(x, uc, tm)
	}
	if code != 0 {
		uc.close()
		node.Done(statusClientClosed, nil, time.Since(start))
		return outcome{client: code}, false, nil
	}
	// APISIX retries a POST, PATCH or LOCK only when it failed before a connection was made.
	retry := x.replayable() && !nonIdempotent(&req.Header)
	if err != nil && !isTimeout(err) {
		// The upstream may have answered early and closed (a 413 or 401 to a large upload):
		// that answer is the response, not a failure.
		if o, ok := p.earlyResponse(ctx, x, uc, node, spec, tm, start); ok {
			o.early = true
			return o, false, nil
		}
	}
	if err != nil {
		uc.close()
		again = uc.reused && !isTimeout(err) && x.replayable() && (x.cw.n == 0 || !nonIdempotent(&req.Header))
		return outcome{timeout: isTimeout(err), retry: retry}, again, err
	}

	resp := &ctx.Response
	resp.ResetBody()
	br := p.readers.Get().(*bufio.Reader)
	br.Reset(uc.conn)
	if !waited {
		_ = uc.conn.SetReadDeadline(time.Now().Add(tm.read))
	}
	if err = waitErr; err == nil {
		_, err = br.Peek(1)
	}
	if err != nil {
		// Nothing came back. On a pooled connection that usually means the upstream closed it
		// while idle, before our request arrived.
		p.putReader(br)
		uc.close()
		again = uc.reused && !isTimeout(err) && x.replayable() && (x.cw.n == 0 || !nonIdempotent(&req.Header))
		return outcome{timeout: isTimeout(err), retry: retry}, again, err
	}
	status, err := readHead(resp, br, uc, tm.read)
	if err != nil {
		p.putReader(br)
		uc.close()
		// A malformed or oversized head is nginx's invalid_header, which APISIX does not retry.
		return outcome{timeout: isTimeout(err), retry: retry && ioFailure(err)}, false, err
	}

	if status == fasthttp.StatusSwitchingProtocols {
		if !upgrade {
			p.putReader(br)
			uc.close()
			return outcome{}, false, errUnexpectedUpgrade
		}
		p.startTunnel(ctx, uc, br, node, tm, start)
		return outcome{answered: true, status: status}, false, nil
	}
	return p.readResponse(ctx, x, uc, br, node, spec, tm, start), false, nil
}

// earlyResponse reads a response the upstream sent before it stopped reading the request. ok is
// false when there is none; the connection is then the caller's to close.
func (p *Proxy) earlyResponse(ctx *fasthttp.RequestCtx, x *exchange, uc upConn, node *upstream.Node,
	spec *upstream.Spec, tm timeouts, start time.Time) (outcome, bool) {
	br := p.readers.Get().(*bufio.Reader)
	br.Reset(uc.conn)
	_ = uc.conn.SetReadDeadline(time.Now().Add(min(tm.read, time.Second)))
	resp := &ctx.Response
	resp.ResetBody()
	if _, err := br.Peek(1); err != nil {
		p.putReader(br)
		return outcome{}, false
	}
	status, err := readHead(resp, br, uc, tm.read)
	if err != nil || status == fasthttp.StatusSwitchingProtocols {
		p.putReader(br)
		return outcome{}, false
	}
	resp.Header.SetConnectionClose() // the request was cut short: the connection is done
	return p.readResponse(ctx, x, uc, br, node, spec, tm, start), true
}

// sendWhole sends a request whose body is buffered (or absent) in one write: head and body
// together. On a plain TCP connection from ConfigureClient that is new or was idle less than
// p.maxWaitIdle it then waits for the response without a read attempt (sendWait): waited is then
// set, the read deadline is armed, and waitErr is the wait's failure. err is the failure to send.
//
// A connection idle for longer takes the ordinary way: the upstream may have closed it while
// idle, and the read attempt finds its FIN at once, where a wait would only end with the RST
// that the request provokes (or, should that never come, the read timeout).
func (p *Proxy) sendWhole(x *exchange, uc upConn, tm timeouts) (waited bool, waitErr, err error) {
	out := x.head
	if x.bodyMode == bodyBuffered {
		out = append(out, x.body...)
		x.head = out
	}
	if now := time.Now(); p.waitable(uc, now) {
		_ = uc.conn.SetReadDeadline(now.Add(tm.read))
		n, ok, werr, rerr := sendWait(uc.conn, out)
		x.cw.n += int64(n)
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
	_, err = x.cw.Write(out)
	return false, nil, err
}

// waitable reports whether a request on uc may wait for its response without a read attempt: a
// plain TCP connection from ConfigureClient, new or idle for less than maxWaitIdle.
func (p *Proxy) waitable(uc upConn, now time.Time) bool {
	_, ok := uc.conn.(*countedConn)
	return ok && (!uc.reused || now.Sub(uc.idle) < p.maxWaitIdle)
}

// sendStream writes the request head and a streamed body to the upstream. It returns the status
// for a failed client, or the error writing upstream.
func (p *Proxy) sendStream(ctx *fasthttp.RequestCtx, x *exchange, bw *bufio.Writer) (int, error) {
	if _, err := bw.Write(x.head); err != nil {
		return 0, err
	}
	if code, err := p.streamBody(ctx, x, bw); code != 0 || err != nil {
		return code, err
	}
	return 0, bw.Flush()
}

// readHead reads the response head, skipping interim 1xx responses other than 101.
func readHead(resp *fasthttp.Response, br *bufio.Reader, uc upConn, read time.Duration) (int, error) {
	for {
		if err := resp.Header.Read(br); err != nil {
			return 0, err
		}
		status := resp.Header.StatusCode()
		if status >= 200 || status == fasthttp.StatusSwitchingProtocols {
			return status, nil
		}
		if status < 100 {
			return 0, errBadStatus
		}
		_ = uc.conn.SetReadDeadline(time.Now().Add(read))
	}
}

// readResponse takes the response body: read whole when small, else handed to a stream that the
// server reads as it writes to the client. The connection goes back to the pool once the body is
// complete.
func (p *Proxy) readResponse(ctx *fasthttp.RequestCtx, x *exchange, uc upConn, br *bufio.Reader, node *upstream.Node,
	spec *upstream.Spec, tm timeouts, start time.Time) outcome {
	resp := &ctx.Response
	status := resp.Header.StatusCode()
	reuse := !resp.Header.ConnectionClose()
	cl := resp.Header.ContentLength()
	noBody := ctx.Request.Header.IsHead() || status == fasthttp.StatusNoContent ||
		status == fasthttp.StatusNotModified
	switch {
	case noBody:
		cleanResponse(&resp.Header)
		resp.SkipBody = true
	case cl >= 0 && cl <= p.opts.ResponseBufferSize:
		err := resp.ReadBody(br, 0)
		cleanResponse(&resp.Header)
		if err != nil {
			// The head came, the body broke: too late to retry, and no answer to pass on.
			p.putReader(br)
			uc.close()
			p.logFailure(node, "response body", err)
			node.Done(status, nil, time.Since(start))
			return outcome{status: status}
		}
	default:
		cleanResponse(&resp.Header)
		p.streamResponse(ctx, x, uc, br, node, spec, tm, start, status, reuse && cl != -2)
		return outcome{answered: true, status: status}
	}
	p.putReader(br)
	uc.release(reuse, &spec.KeepalivePool)
	node.Done(status, nil, time.Since(start))
	return outcome{answered: true, status: status}
}

func (p *Proxy) putReader(br *bufio.Reader) {
	br.Reset(nil)
	p.readers.Put(br)
}

// nonIdempotent reports the methods nginx never retries once sent.
func nonIdempotent(h *fasthttp.RequestHeader) bool {
	return h.IsPost() || h.IsPatch() || string(h.Method()) == "LOCK"
}

func (p *Proxy) logFailure(node *upstream.Node, phase string, err error) {
	if !p.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	p.log.LogAttrs(context.Background(), slog.LevelDebug, "upstream try failed",
		slog.String("node", node.Addr), slog.String("phase", phase), slog.String("error", err.Error()))
}
