package proxy

import (
	"net"
	"strconv"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// How a request body reaches the upstream.
const (
	bodyNone     = iota // no body: GET, HEAD, Content-Length 0
	bodyBuffered        // read whole into exchange.body before the first try; replayable
	bodyStream          // exchange.body holds a prefix, the rest streams from the client
)

// exchange is the per-request state of forward, pooled so that a request allocates nothing.
// It belongs to one request at a time.
type exchange struct {
	tried upstream.Tried
	live  *live // the settings the request started with

	head    []byte // the request head as written upstream (and a buffered body after it)
	body    []byte // the buffered body, or the prefix of a streamed one
	status  []byte // X-APISIX-Upstream-Status: every try's status
	upgrade []byte // the client's Upgrade value, on a WebSocket route
	scratch []byte
	sni     []byte // the TLS server name under pass_host pass to https

	// http10: the client spoke HTTP/1.0, which has no chunked encoding.
	http10 bool

	bodyMode int
	// bodyLength is the request body's length as the upstream will see it, -1 for chunked.
	bodyLength int64
	// bodyRead counts the body bytes taken from the client, prefix included.
	bodyRead int64
	// streamed is set once a try read from the client's body stream: the body cannot be
	// replayed any more.
	streamed bool
	// bodyDone is set once the client's body was read to its end.
	bodyDone bool

	cw upstreamWriter
}

func (p *Proxy) getExchange() *exchange {
	return p.exchanges.Get().(*exchange)
}

func (p *Proxy) putExchange(x *exchange) {
	x.tried.Reset()
	x.status = x.status[:0]
	x.bodyMode, x.bodyLength, x.bodyRead, x.streamed, x.bodyDone, x.http10 = bodyNone, 0, 0, false, false, false
	x.cw = upstreamWriter{}
	x.live = nil
	if cap(x.body) > 4*defaultRequestBufferSize {
		x.body = nil
	}
	if cap(x.head) > 4*defaultRequestBufferSize { // sendWhole appends the body to the head
		x.head = nil
	}
	p.exchanges.Put(x)
}

// replayable reports whether the request can be sent again in full.
func (x *exchange) replayable() bool { return x.bodyMode != bodyStream || !x.streamed }

// addStatus appends one try's status to the X-APISIX-Upstream-Status list.
func (x *exchange) addStatus(code int) {
	if len(x.status) > 0 {
		x.status = append(x.status, ", "...)
	}
	x.status = strconv.AppendInt(x.status, int64(code), 10)
}

// upstreamWriter counts what reaches an upstream connection and re-arms its write deadline
// before every write, so that the send timeout bounds the wait between two writes, as nginx's
// proxy_send_timeout does.
type upstreamWriter struct {
	conn    net.Conn
	timeout time.Duration
	n       int64
}

func (w *upstreamWriter) Write(b []byte) (int, error) {
	if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return 0, err
	}
	n, err := w.conn.Write(b)
	w.n += int64(n)
	return n, err
}
