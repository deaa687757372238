package proxy

import (
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/netconn"
)

// nginx's lingering_timeout and lingering_time: how long a client that is still sending a body
// nobody will read may take between two reads, and in all, before its connection is closed.
const (
	lingerTimeout = 5 * time.Second
	lingerTime    = 30 * time.Second
)

// maxDrained is what fasthttp reads and drops by itself of a body the handler left unread
// before it gives up and closes the connection.
const maxDrained = 256 << 10

// reject answers a request the proxy refuses and closes the connection.
func (p *Proxy) reject(ctx *fasthttp.RequestCtx, code int) {
	writeError(ctx, code)
	ctx.SetConnectionClose()
	p.linger(ctx)
}

// lingerUnread lingers after an answer given without reading the body, when fasthttp would not
// drain that body by itself: chunked, or longer than it drains.
func (p *Proxy) lingerUnread(ctx *fasthttp.RequestCtx) {
	if cl := ctx.Request.Header.ContentLength(); cl == -1 || cl > maxDrained {
		ctx.SetConnectionClose()
		p.linger(ctx)
	}
}

// linger makes a closing answer to a request whose body was not read to its end reach the
// client. fasthttp would close the connection at once, and a client still uploading would get
// a reset, which may destroy the answer before it is read. Instead the answer goes out on the
// hijacked connection, which is then half-closed and drained, as nginx's lingering close does.
// Streamed answers and requests without a body are left to fasthttp.
func (p *Proxy) linger(ctx *fasthttp.RequestCtx) {
	filterHead(ctx)
	if ctx.RequestBodyStream() == nil || ctx.Response.IsBodyStream() || ctx.Conn() == nil {
		return
	}
	resp := &ctx.Response
	h := &resp.Header
	h.SetServer(p.opts.ServerName)
	h.SetConnectionClose()
	body := resp.Body()
	if !ctx.IsHead() {
		h.SetContentLength(len(body))
	}
	out := h.AppendBytes(nil)
	if !ctx.IsHead() {
		out = append(out, body...)
	}
	send := p.live.Load().sendTimeout
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		_ = c.SetWriteDeadline(time.Now().Add(send))
		if _, err := c.Write(out); err != nil {
			return
		}
		closeWrite(c)
		drain(c)
	})
}

// closeWrite half-closes c: the first connection under its wrappers (the hijack's, the
// metrics' counted one, the lazy deadlines') that can. A TLS connection's is its close_notify.
func closeWrite(c net.Conn) {
	if cw, ok := netconn.Find[interface{ CloseWrite() error }](c); ok {
		_ = cw.CloseWrite()
	}
}

// drain reads and drops what c still sends, within lingerTimeout per read and lingerTime in all.
func drain(c net.Conn) {
	end := time.Now().Add(lingerTime)
	buf := make([]byte, 4096)
	for {
		d := time.Now().Add(lingerTimeout)
		if d.After(end) {
			d = end
		}
		_ = c.SetReadDeadline(d)
		if _, err := c.Read(buf); err != nil {
			return // the client is done, or lingered too long
		}
	}
}
