package transport

import (
	"bufio"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// startTunnel completes an upgrade the upstream accepted (101, on a route with enable_websocket):
// the client connection is hijacked once the handler returns, gets the upstream's 101 head, and is
// spliced to the upstream connection until either side closes or stays silent past the read
// timeout. The try is reported to the node at once, with the 101.
func (t *Transport) startTunnel(ctx *fasthttp.RequestCtx, uc upConn, br *bufio.Reader, node *upstream.Node, tm Timeouts,
	start time.Time) {
	h := &ctx.Response.Header
	h.Del(fasthttp.HeaderServer)
	h.SetServer(t.opts.ServerName)
	head := h.AppendBytes(nil)
	node.Done(fasthttp.StatusSwitchingProtocols, nil, time.Since(start))
	send := t.opts.SendTimeout()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		t.tunnels.add(c)
		defer t.tunnels.remove(c)
		defer uc.close()
		_ = c.SetWriteDeadline(time.Now().Add(send))
		if _, err := c.Write(head); err != nil {
			t.putReader(br)
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			splice(uc.conn, c, c, tm.Read, send)
			// The client is gone or silent: end the other direction too.
			_ = uc.conn.Close()
		}()
		splice(c, br, uc.conn, tm.Read, send)
		_ = rawConn(c).Close()
		<-done
		t.putReader(br)
	})
}

// splice copies src to dst until either fails, re-arming the deadlines around every chunk: a
// read may wait up to idle, a write up to send.
func splice(dst net.Conn, src io.Reader, srcConn net.Conn, idle, send time.Duration) {
	buf := make([]byte, copyBufferSize)
	for {
		_ = srcConn.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			_ = dst.SetWriteDeadline(time.Now().Add(send))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// tunnels tracks the hijacked client connections of live WebSocket tunnels.
type tunnels struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (t *tunnels) add(c net.Conn) {
	t.mu.Lock()
	if t.conns == nil {
		t.conns = make(map[net.Conn]struct{})
	}
	t.conns[c] = struct{}{}
	t.mu.Unlock()
}

func (t *tunnels) remove(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// closeAll ends every tunnel by closing its client connection; the tunnel closes the rest.
func (t *tunnels) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		_ = rawConn(c).Close()
	}
}

// rawConn is the connection under a hijacked one, whose own Close does nothing: fasthttp closes
// it when the hijack handler returns.
func rawConn(c net.Conn) net.Conn {
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		return u.UnsafeConn()
	}
	return c
}

// len is the number of live tunnels.
func (t *tunnels) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}
