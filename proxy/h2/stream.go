package h2

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
)

// Stream is the connection a stream's RequestCtx sees (RequestCtx.Conn): the TLS connection's
// addresses and state (so that RequestCtx.IsTLS holds), and deadlines that apply to the stream
// alone. It carries no bytes: Read and Write fail, and the response goes through the
// RequestCtx.
type Stream struct {
	ci *connInfo
	w  http.ResponseWriter
	d  deadliner
	// The deadlines last passed on to x/net/http2, each a message to the connection's
	// goroutine: one that moves a deadline later by less than rearmSlack is not passed on.
	read, write time.Time
}

// rearmSlack is how much earlier than asked a stream deadline may fire, to spare the
// connection's goroutine a message per body read.
const rearmSlack = 100 * time.Millisecond

// deadliner is x/net/http2's per-stream deadlines on its ResponseWriter.
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Is reports whether ctx is a request that came over HTTP/2.
func Is(ctx *fasthttp.RequestCtx) bool {
	_, ok := ctx.Conn().(*Stream)
	return ok
}

var errNoRaw = errors.New("h2: a stream carries no raw bytes")

func (s *Stream) Read([]byte) (int, error)  { return 0, errNoRaw }
func (s *Stream) Write([]byte) (int, error) { return 0, errNoRaw }
func (s *Stream) Close() error              { return nil }
func (s *Stream) LocalAddr() net.Addr       { return s.ci.local }
func (s *Stream) RemoteAddr() net.Addr      { return s.ci.remote }

// ConnectionState is the TLS connection's state.
func (s *Stream) ConnectionState() tls.ConnectionState { return s.ci.state }

// ClientVerifyFailed is the connection's ClientVerifyFailed, or "".
func (s *Stream) ClientVerifyFailed() string { return s.ci.verifyFailed }

// Handshake does nothing: the handshake is done.
func (s *Stream) Handshake() error { return nil }

func (s *Stream) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline bounds the wait for the stream's next body bytes; past it, the stream is
// reset and the body read fails.
func (s *Stream) SetReadDeadline(t time.Time) error {
	if s.d == nil || skip(s.read, t) {
		return nil
	}
	s.read = t
	return s.d.SetReadDeadline(t)
}

// SetWriteDeadline bounds the wait for the client to take the response; past it, the stream is
// reset.
func (s *Stream) SetWriteDeadline(t time.Time) error {
	if s.d == nil || skip(s.write, t) {
		return nil
	}
	s.write = t
	return s.d.SetWriteDeadline(t)
}

func skip(last, t time.Time) bool {
	if t.IsZero() || last.IsZero() {
		return t.IsZero() && last.IsZero()
	}
	d := t.Sub(last)
	return d >= 0 && d < rearmSlack
}
