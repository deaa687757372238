package transport

import (
	"bufio"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// clientConn stands for the client connection of a RequestCtx made by hand: the transport only
// re-arms its write deadline (a streamed body), which it accepts. Anything else would panic.
type clientConn struct{ net.Conn }

func (clientConn) SetDeadline(time.Time) error      { return nil }
func (clientConn) SetReadDeadline(time.Time) error  { return nil }
func (clientConn) SetWriteDeadline(time.Time) error { return nil }
func (clientConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555} }
func (clientConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 80} }

// responseSeeds are realistic upstream answers, and some that are not.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
	"HTTP/1.0 200 OK\r\nServer: nginx\r\n\r\nthe body ends when the upstream closes the connection",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n" +
		"Upgrade: h2c\r\nTrailer: X-T\r\nServer: upstream\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + string(make([]byte, 100)),
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi!",
	"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
	"HTTP/1.1 500 Internal Server Error\r\nSet-Cookie: a=1; Path=/a\r\nSet-Cookie: a=2; Path=/b\r\nContent-Length: 5\r\n\r\noops!",
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 099 Odd\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
	"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
}

// FuzzResponse: whatever an upstream sends back, a try does not panic, reports to the node
// exactly once, never waits for the read timeout (the upstream closes after its answer, so
// everything ends at once), and an answer it accepts is consistent: a final status, no
// hop-by-hop field and no upstream Server header in the head, a buffered body of its
// Content-Length, a streamed body no longer than what the upstream sent and, when it ends
// cleanly, of its declared length. A body cut short goes out on the hijacked connection (passCut).
// Then the next request to the node gets its own answer, whole: no byte of the first response
// ever reaches it (a pooled connection with bytes left on it is not reused).
// head: the request is a HEAD.
func FuzzResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(responseSeeds[0]), true)

	// The upstream reads a request head, sends the current payload (or, to /second, its own
	// answer) and closes.
	const second = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECOND"
	var payload atomic.Pointer[[]byte]
	addr := rawBackend(f, nil, func(c net.Conn) {
		path, _, err := readTarget(bufio.NewReader(c))
		if err != nil {
			return
		}
		if path == "/second" {
			_, _ = io.WriteString(c, second)
			return
		}
		_, _ = c.Write(*payload.Load())
	})
	// A small ResponseBufferSize and head limit let short inputs reach the streamed paths and
	// the head limit.
	tr := New(Options{ResponseBufferSize: 64, MaxResponseHeaderBytes: 512})
	pool := newPool(f, tr, nil, `"type":"least_conn","timeout":{"connect":5,"send":5,"read":5}`, addr)
	node := pool.Nodes()[0]
	var ctx fasthttp.RequestCtx
	ctx.Init2(clientConn{}, nil, false)
	var r Request
	buf := make([]byte, 4096)

	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		payload.Store(&data)
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Hijack(nil) // a server starts every request unhijacked
		ctx.HijackSetNoResponse(false)
		ctx.Request.Header.SetMethod(fasthttp.MethodGet)
		if head {
			ctx.Request.Header.SetMethod(fasthttp.MethodHead)
		}
		ctx.Request.SetRequestURI("/fuzz")
		ctx.Request.Header.SetHost("upstream.test")
		r.Reset()
		r.Timeouts = Timeouts{Connect: 5 * time.Second, Send: 5 * time.Second, Read: 5 * time.Second}
		r.Keepalive = &pool.Spec().KeepalivePool
		if got := pool.Pick(&ctx, nil); got != node {
			t.Fatalf("picked %v", got)
		}
		start := time.Now()
		o := tr.Try(&ctx, &r, node, start)
		resp := &ctx.Response

		switch {
		case o.ClientErr != nil || o.Early:
			t.Fatalf("outcome %+v without a request body", o)
		case !o.Answered:
			if resp.IsBodyStream() {
				t.Fatalf("a try that did not answer left a body stream")
			}
		case o.Status != resp.StatusCode() || o.Status < 200:
			t.Fatalf("answered with status %d, head says %d", o.Status, resp.StatusCode())
		case o.Retry:
			t.Fatalf("an answer marked for retry: %+v", o)
		}
		switch {
		case o.Answered && ctx.Hijacked():
			// A body cut short: the head and what arrived go out on the hijacked connection.
			if resp.IsBodyStream() || resp.SkipBody || len(resp.Body()) >= resp.Header.ContentLength() {
				t.Fatalf("hijacked with a body of %d bytes, Content-Length %d", len(resp.Body()), resp.Header.ContentLength())
			}
		case o.Answered:
			banned := FieldServer | FieldConnection | FieldKeepAlive | FieldProxyConnection | FieldTE |
				FieldTrailer | FieldTransferEncoding | FieldUpgrade
			if resp.IsBodyStream() && resp.Header.ContentLength() == -1 {
				// The server's own framing of a body of unknown length: fasthttp writes it in
				// the head when the body stream is set.
				banned &^= FieldTransferEncoding
			}
			for k := range resp.Header.All() {
				if FieldOf(k)&banned != 0 {
					t.Fatalf("field %q reached the client: %q", k, resp.Header.Header())
				}
			}
			cl := resp.Header.ContentLength()
			switch {
			case resp.IsBodyStream():
				n, err := 0, error(nil)
				for err == nil {
					var m int
					m, err = resp.BodyStream().Read(buf)
					if n += m; n > len(data) {
						t.Fatalf("streamed %d bytes out of %d", n, len(data))
					}
				}
				if err == io.EOF && cl >= 0 && n != cl {
					t.Fatalf("streamed %d bytes cleanly, Content-Length %d", n, cl)
				}
				_ = resp.CloseBodyStream()
			case resp.SkipBody:
			case cl >= 0 && len(resp.Body()) != cl:
				t.Fatalf("buffered %d bytes, Content-Length %d", len(resp.Body()), cl)
			}
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("the try took %v: it waited for the read timeout", d)
		}
		if n := node.InFlight(); n != 0 {
			t.Fatalf("the node has %d tries in flight after the try: Done was not called exactly once", n)
		}

		// The next request on the node: its own answer, nothing of the first.
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Hijack(nil) // a server starts every request unhijacked
		ctx.HijackSetNoResponse(false)
		ctx.Request.Header.SetMethod(fasthttp.MethodGet)
		ctx.Request.SetRequestURI("/second")
		ctx.Request.Header.SetHost("upstream.test")
		r.Reset()
		r.Timeouts = Timeouts{Connect: 5 * time.Second, Send: 5 * time.Second, Read: 5 * time.Second}
		r.Keepalive = &pool.Spec().KeepalivePool
		o = tr.Try(&ctx, &r, node, time.Now())
		if !o.Answered || resp.StatusCode() != 200 || string(resp.Body()) != "SECOND" || ctx.Hijacked() {
			t.Fatalf("the next request got %+v, %d %q: bytes of the first response reached it",
				o, resp.StatusCode(), resp.Body())
		}
		if n := node.InFlight(); n != 0 {
			t.Fatalf("the node has %d tries in flight after the second try", n)
		}
	})
}
