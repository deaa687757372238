package h2

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2/hpack"
)

// Stream is one HTTP/2 stream, and the connection its RequestCtx sees (RequestCtx.Conn): the
// TLS connection's addresses and state (so that RequestCtx.IsTLS holds), and deadlines that
// apply to the stream alone. It carries no raw bytes: Read and Write fail, and the request
// and response go through the RequestCtx. One goroutine, the stream's handler, uses it.
type Stream struct {
	c  *conn
	id uint32

	// The request, as the reader took it from HEADERS: fields in inline when they fit.
	fields                          []hpack.HeaderField
	inline                          [8]hpack.HeaderField
	method, path, scheme, authority string
	declared                        int64 // Content-Length, or -1
	hasBody                         bool  // HEADERS did not end the stream
	status                          int   // an answer given instead of the handler's (431)
	answered                        atomic.Bool
	closed                          atomic.Bool // reset by either side, or the connection ended
	sig                             chan struct{}
	timer                           *time.Timer
	readDeadline, writeDeadline     atomic.Int64 // Unix nanoseconds, 0 for none

	// The request body, under rmu: what arrived and the handler has not read, from roff.
	rmu         sync.Mutex
	rbuf        []byte
	roff        int
	received    int64
	recvWindow  int32 // what the client may still send
	unacked     int32 // read, not yet given back to the client
	remoteEnded bool  // END_STREAM (or trailers) arrived
	bodyDone    bool  // the handler is done with the body: what arrives is dropped
	rerr        error // what Read returns once rbuf is empty

	// Send-side flow control, under the connection's fmu.
	sendWindow  int32
	waitingConn bool
}

func newStream(c *conn, id uint32) *Stream {
	st := &Stream{c: c, id: id, sig: make(chan struct{}, 1), recvWindow: streamWindow, declared: -1}
	c.fmu.Lock()
	st.sendWindow = c.initWindow
	c.fmu.Unlock()
	return st
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
func (s *Stream) LocalAddr() net.Addr       { return s.c.local }
func (s *Stream) RemoteAddr() net.Addr      { return s.c.peer }

// ConnectionState is the TLS connection's state.
func (s *Stream) ConnectionState() tls.ConnectionState { return s.c.state }

// ClientVerifyFailed is the connection's ClientVerifyFailed, or "".
func (s *Stream) ClientVerifyFailed() string { return s.c.verifyFailed }

// Handshake does nothing: the handshake is done.
func (s *Stream) Handshake() error { return nil }

func (s *Stream) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline bounds the wait for the stream's next body bytes; past it, the body read
// fails with a timeout.
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.readDeadline.Store(unixNano(t))
	return nil
}

// SetWriteDeadline bounds the wait for the client to open its flow-control window to the
// response; past it, the stream is reset.
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.writeDeadline.Store(unixNano(t))
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// wake tells the stream's handler that its body or its send window may have changed.
func (s *Stream) wake() {
	select {
	case s.sig <- struct{}{}:
	default:
	}
}

// wait waits for a wake, the deadline, or the connection's end.
func (s *Stream) wait(deadline *atomic.Int64) error {
	var tc <-chan time.Time
	if d := deadline.Load(); d != 0 {
		left := time.Until(time.Unix(0, d))
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		if s.timer == nil {
			s.timer = time.NewTimer(left)
		} else {
			s.timer.Reset(left)
		}
		tc = s.timer.C
		defer s.timer.Stop()
	}
	select {
	case <-s.sig:
		return nil
	case <-tc:
		return os.ErrDeadlineExceeded
	case <-s.c.done:
		return errConnClosed
	}
}

// abort closes the stream with err (a reset, the connection's end): reads and writes fail. It
// returns the request body bytes it dropped, for the caller to give back to the connection's
// window.
func (s *Stream) abort(err error) int32 {
	s.rmu.Lock()
	n := int32(len(s.rbuf) - s.roff)
	s.rbuf, s.roff = nil, 0
	s.bodyDone = true
	if s.rerr == nil || s.rerr == io.EOF {
		s.rerr = err
	}
	s.rmu.Unlock()
	s.closed.Store(true)
	s.wake()
	return n
}

// takeData takes a DATA frame's payload; n is its length with padding, which the connection's
// window was charged.
func (s *Stream) takeData(data []byte, n int32, end bool) error {
	c := s.c
	s.rmu.Lock()
	if s.remoteEnded {
		s.rmu.Unlock()
		c.giveBack(n)
		return streamError{s.id, 0x5 /* STREAM_CLOSED */, "closed"}
	}
	if n > s.recvWindow {
		s.rmu.Unlock()
		c.giveBack(n)
		return streamError{s.id, 0x3 /* FLOW_CONTROL_ERROR */, "flow_on_data_length"}
	}
	s.recvWindow -= n
	s.received += int64(len(data))
	if s.declared >= 0 && s.received > s.declared {
		s.rmu.Unlock()
		c.giveBack(n)
		return streamError{s.id, 0x1 /* PROTOCOL_ERROR */, "data_past_length"}
	}
	back := n - int32(len(data)) // padding
	if s.bodyDone {
		back = n
	} else if len(data) > 0 {
		if s.roff > 0 && len(s.rbuf)+len(data) > cap(s.rbuf) {
			s.rbuf = s.rbuf[:copy(s.rbuf, s.rbuf[s.roff:])]
			s.roff = 0
		}
		s.rbuf = append(s.rbuf, data...)
	}
	if end {
		s.endBodyLocked()
	}
	s.rmu.Unlock()
	c.giveBack(back)
	s.wake()
	return nil
}

// endBody ends the request body (trailers arrived).
func (s *Stream) endBody() {
	s.rmu.Lock()
	s.endBodyLocked()
	s.rmu.Unlock()
	s.wake()
}

func (s *Stream) endBodyLocked() {
	s.remoteEnded = true
	if s.rerr != nil {
		return
	}
	if s.declared >= 0 && s.received != s.declared {
		s.rerr = io.ErrUnexpectedEOF
		return
	}
	s.rerr = io.EOF
}

// readBody reads the request body for the handler, giving what it read back to the client's
// windows.
func (s *Stream) readBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		s.rmu.Lock()
		if s.roff < len(s.rbuf) {
			n := copy(p, s.rbuf[s.roff:])
			s.roff += n
			if s.roff == len(s.rbuf) {
				s.rbuf, s.roff = s.rbuf[:0], 0
			}
			var inc int32
			if !s.remoteEnded {
				s.unacked += int32(n)
				if s.unacked >= streamWindow/4 {
					inc, s.unacked = s.unacked, 0
					s.recvWindow += inc
				}
			}
			s.rmu.Unlock()
			if inc > 0 {
				_ = s.c.writeControl(func() { s.c.writeWindowUpdate(s.id, uint32(inc)) })
			}
			s.c.giveBack(int32(n))
			return n, nil
		}
		if err := s.rerr; err != nil {
			s.rmu.Unlock()
			return 0, err
		}
		s.rmu.Unlock()
		if err := s.wait(&s.readDeadline); err != nil {
			return 0, err
		}
	}
}

// finishBody drops what the handler left of the body and gives it back to the connection's
// window; later DATA is dropped as it comes. It reports whether the client is still sending.
func (s *Stream) finishBody() bool {
	s.rmu.Lock()
	n := int32(len(s.rbuf) - s.roff)
	s.rbuf, s.roff = nil, 0
	s.bodyDone = true
	open := !s.remoteEnded
	s.rmu.Unlock()
	s.c.giveBack(n)
	return open
}

// body is a stream's request body as the handler reads it (Request.SetBodyStream).
type body struct{ st *Stream }

func (b *body) Read(p []byte) (int, error) { return b.st.readBody(p) }
