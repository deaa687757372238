package transport

import (
	"io"
	"net"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// Timeouts bound one try, as nginx's proxy_connect_timeout, proxy_send_timeout (between two
// writes) and proxy_read_timeout (between two reads). A zero timeout expires at once.
type Timeouts struct{ Connect, Send, Read time.Duration }

// Request is what the tries of one request share: what the caller decided once (body, timeouts,
// keepalive_pool, upgrade, the client's protocol) and the transport's per-request scratch
// state. The caller keeps it in its own pooled per-request state, fills in the exported fields
// before the first Try and calls Reset when the request is done; a Request allocates nothing once
// its buffers have grown. It belongs to one request at a time.
//
// The request head is ctx.Request.Header, written as it is, then Fields: the caller has made it
// the upstream's (hop-by-hop fields out, Host, framing) before each Try.
type Request struct {
	// Body is the request body sent after the head: all of it, or with BodyStream the part
	// already read from the client. nil: none. The transport never modifies it; it must stay
	// unchanged until the request's last Try returned.
	Body []byte
	// BodyStream, when set, is the rest of the body, read from the client while the try sends
	// it: the body streams, and once a try began to send it no failure is retried (Outcome.Retry).
	// A Read that returns io.EOF ends the body; any other error is the client's and ends the
	// try (Outcome.ClientErr), the bytes read with it dropped. It is read only within Try, on
	// the caller's goroutine. nil: the body is Body alone.
	BodyStream io.Reader
	// BodyLength is a streamed body's length as the head declares it, Body included, or -1 when
	// it is chunked: the transport then frames each part as a chunk. Unused without BodyStream.
	BodyLength int64
	// Timeouts bound each try. There is no default: a zero send or read timeout expires at
	// once.
	Timeouts Timeouts
	// Keepalive is the upstream's keepalive_pool: how many idle connections its node clients
	// keep and how many requests one connection serves. nil: no limit but the client's own.
	Keepalive *upstream.KeepalivePool
	// Upgrade: the client asked for a WebSocket upgrade that the route allows; a 101 from the
	// upstream becomes a tunnel. Without it a 101 fails the try.
	Upgrade bool
	// HTTP10: the client spoke HTTP/1.0, which has no chunked encoding: a response body of
	// unknown length reaches it unframed, ended by the connection's close.
	HTTP10 bool
	// HeaderFilter, when set, is called once the upstream's response head is in ctx.Response,
	// before anything of it is written: the plugins' header filter phase. When it is also a
	// BodyFilter, a body that streams goes through its FilterBody.
	HeaderFilter interface{ HeaderFilter() }
	// Fields are header lines written after the head's own, each "Name: value\r\n": the
	// proxy's forwarding fields, which it keeps out of ctx.Request.Header (setting a field
	// there costs a search of the head's fields and copies). Reset keeps the buffer for the
	// next request: append to Fields[:0].
	Fields []byte

	head    []byte // the request head as written upstream (and a buffered body after it)
	sni     []byte // the TLS server name under pass_host pass to https
	scratch []byte // a chunk's size line
	// streamed is set once a try began to send BodyStream: the body cannot be replayed.
	streamed bool
	cw       upstreamWriter
}

// maxKeptBuffer bounds the buffers a Request keeps for the next request.
const maxKeptBuffer = 256 << 10

// Reset makes r ready for another request: the exported fields are cleared, the buffers kept
// unless a large body grew them.
func (r *Request) Reset() {
	r.Body, r.BodyStream, r.BodyLength = nil, nil, 0
	r.Timeouts, r.Keepalive, r.Upgrade, r.HTTP10, r.HeaderFilter = Timeouts{}, nil, false, false, nil
	r.Fields = r.Fields[:0]
	r.streamed = false
	r.cw = upstreamWriter{}
	if cap(r.head) > maxKeptBuffer { // sendWhole appends the body to the head
		r.head = nil
	}
}

// BodyFilter transforms a response body that streams (the plugins' body filter phase):
// FilterBody returns what is sent in place of body, of unknown length, or nil to send body as it
// is. Closing what it returns must close body.
type BodyFilter interface {
	FilterBody(body io.ReadCloser) io.ReadCloser
}

// filterBody is the body sent for an upstream body that streams, and its length (-1: unknown).
func (r *Request) filterBody(body io.ReadCloser, size int) (io.ReadCloser, int) {
	if bf, ok := r.HeaderFilter.(BodyFilter); ok {
		if fb := bf.FilterBody(body); fb != nil {
			return fb, -1
		}
	}
	return body, size
}

func (r *Request) filterHead() {
	if r.HeaderFilter != nil {
		r.HeaderFilter.HeaderFilter()
	}
}

// replayable reports whether the request can still be sent again in full: its body is buffered,
// or its stream was never read.
func (r *Request) replayable() bool { return r.BodyStream == nil || !r.streamed }

// Outcome is how one try ended.
type Outcome struct {
	// Answered: ctx.Response holds the upstream's answer (its body possibly streaming, or a
	// 101 whose tunnel starts once the handler returns).
	Answered bool
	// Status is the upstream's status: set when Answered, and when the head came but the body
	// then broke (the try failed all the same). 0 otherwise.
	Status int
	// Timeout: the try failed on a timeout (connect, send or read), which makes a 504 rather
	// than a 502.
	Timeout bool
	// Retry: the failure allows another try: nothing was sent, or what was sent may be sent
	// again (an idempotent method, a replayable body, a connection or I/O failure).
	Retry bool
	// ClientErr is set when the request body could not be read from the client: BodyStream's
	// error, or io.ErrUnexpectedEOF when it ended short of BodyLength. The try was abandoned;
	// nothing else is set.
	ClientErr error
	// Early: the upstream answered before it had read the whole request (and the connection is
	// closed after the response).
	Early bool
	// Took is the try's duration from its start to the response read whole, when Try measured
	// it (a buffered response); 0 otherwise. It saves the caller a clock read.
	Took time.Duration
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
