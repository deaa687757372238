package h2

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"

	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// Options configure a Server. A zero field takes the default documented on it; the defaults are
// nginx's (ngx_http_v2_module) where it has one.
type Options struct {
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS (default 128, nginx's
	// http2_max_concurrent_streams). x/net/http2 queues a few more handlers than this and ends
	// a connection that opens streams faster than it closes them (rapid reset) with GOAWAY.
	MaxConcurrentStreams uint32
	// MaxHeaderBytes bounds a request's header list (SETTINGS_MAX_HEADER_LIST_SIZE; default
	// 32 KiB, nginx's large_client_header_buffers 4 8k, the bound of an HTTP/1.1 head too). A
	// larger list is answered 431 on its stream; a CONTINUATION flood ends the connection.
	MaxHeaderBytes int
	// IdleTimeout closes a connection without open streams for that long, with GOAWAY
	// (default 60 s, keepalive_timeout).
	IdleTimeout time.Duration
	// SendTimeout bounds the wait for the client to take data (default 10 s, send_timeout):
	// for the whole connection, and for each stream's response, whose stream is reset when
	// its flow-control window stays closed longer.
	SendTimeout time.Duration
	// ServerName is the Server header of responses that have none (default "zoneproxy").
	ServerName string
	// CountError, when set, is called with x/net/http2's name for each protocol error it
	// answers (a metric's label).
	CountError func(errType string)
	// OnStream, when set, is called as each stream's request reaches the handler.
	OnStream func()
	// Logger gets the protocol's own messages at Debug. nil discards.
	Logger *slog.Logger
}

const (
	defaultMaxConcurrentStreams = 128
	defaultMaxHeaderBytes       = 32 << 10
	defaultIdleTimeout          = 60 * time.Second
	defaultSendTimeout          = 10 * time.Second
	copyBufferSize              = 32 << 10
)

// Server serves HTTP/2 connections with one fasthttp handler. It is safe for concurrent use.
type Server struct {
	handler   fasthttp.RequestHandler
	opts      Options
	hs        *http.Server // x/net/http2's base configuration, and its hook for GOAWAY on shutdown
	h2        *http2.Server
	logger    fasthttp.Logger
	closing   atomic.Bool
	heads     sync.Pool // *headBuf
	bufs      sync.Pool // *[]byte, for streamed response bodies
	exchanges sync.Pool // *exchange
}

// New returns a Server that runs h for each request.
func New(h fasthttp.RequestHandler, o Options) *Server {
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = defaultMaxConcurrentStreams
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = defaultSendTimeout
	}
	if o.ServerName == "" {
		o.ServerName = "zoneproxy"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{handler: h, opts: o, logger: debugLogger{o.Logger}}
	s.hs = &http.Server{
		MaxHeaderBytes: o.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	s.h2 = &http2.Server{
		MaxConcurrentStreams: o.MaxConcurrentStreams,
		IdleTimeout:          o.IdleTimeout,
		WriteByteTimeout:     o.SendTimeout,
		CountError:           o.CountError,
	}
	if err := http2.ConfigureServer(s.hs, s.h2); err != nil {
		// Only a TLSConfig with cipher suites can fail, and hs has none.
		panic(err)
	}
	s.heads.New = func() any {
		return &headBuf{r: bufio.NewReaderSize(nil, o.MaxHeaderBytes+len(chunkedField))}
	}
	s.bufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	s.exchanges.New = func() any { return new(exchange) }
	return s
}

// Conn is a TLS connection: a *tls.Conn, or a wrapper of one whose ConnectionState the streams
// report (the proxy's, which adds an optional client certificate's verification). One that also
// has a ClientVerifyFailed method gives its result to the streams' ClientVerifyFailed.
type Conn interface {
	net.Conn
	ConnectionState() tls.ConnectionState
}

// ServeConn serves c, whose handshake negotiated "h2", until the client or the server ends the
// connection; it closes c. A connection that arrives after Shutdown is closed at once.
func (s *Server) ServeConn(c Conn) {
	if s.closing.Load() {
		_ = c.Close()
		return
	}
	ci := &connInfo{conn: c, local: c.LocalAddr(), remote: c.RemoteAddr(), state: c.ConnectionState()}
	if f, ok := c.(interface{ ClientVerifyFailed() string }); ok {
		ci.verifyFailed = f.ClientVerifyFailed()
	}
	s.h2.ServeConn(c, &http2.ServeConnOpts{BaseConfig: s.hs, Handler: &connHandler{s: s, ci: ci}})
}

// Shutdown sends GOAWAY on every connection: each finishes its open streams, takes no new one
// and closes. It does not wait.
func (s *Server) Shutdown() {
	if s.closing.Swap(true) {
		return
	}
	// hs serves no listener and tracks no connection: Shutdown only runs the GOAWAY hook
	// http2.ConfigureServer registered, and returns.
	_ = s.hs.Shutdown(context.Background())
}

// connInfo is what a connection's streams share.
type connInfo struct {
	conn          Conn
	local, remote net.Addr
	state         tls.ConnectionState
	verifyFailed  string
	// Streams the client reset before their response was out, and streams answered: the
	// rapid-reset guard (resetStream).
	resets, answered atomic.Int64
	cut              atomic.Bool
}

// resetStream counts a stream the client reset before its answer was out. x/net/http2 caps the
// handlers running at once and ends a connection whose resets outrun them, but a client that
// resets each stream as soon as it opens it (CVE-2023-44487) still has every request run
// through the pipeline, up to the upstream. Past 2 × MaxConcurrentStreams resets, when resets
// are most of the connection's streams, the connection is closed and counted as "rapid_reset".
func (s *Server) resetStream(ci *connInfo) {
	n := ci.resets.Add(1)
	if n > 2*int64(s.opts.MaxConcurrentStreams) && n > ci.answered.Load() && !ci.cut.Swap(true) {
		if s.opts.CountError != nil {
			s.opts.CountError("rapid_reset")
		}
		s.opts.Logger.Debug("HTTP/2 connection closed: rapid reset", "client", ci.remote.String(), "resets", n)
		_ = ci.conn.Close()
	}
}

type connHandler struct {
	s  *Server
	ci *connInfo
}

// headBuf holds a request head written out as HTTP/1.1 and the reader fasthttp parses it from.
type headBuf struct {
	b  []byte
	br bytes.Reader
	r  *bufio.Reader
}

var (
	chunkedField = []byte("Transfer-Encoding: chunked\r\n")
	http20       = []byte("HTTP/2.0")
	errTooLarge  = errors.New("request head too large")
)

func (h *connHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if r.Context().Err() != nil { // reset before its handler started
		s.resetStream(h.ci)
		return
	}
	if s.opts.OnStream != nil {
		s.opts.OnStream()
	}
	x := s.exchanges.Get().(*exchange)
	st, ctx := &x.st, &x.ctx
	*st = Stream{ci: h.ci, w: w}
	if d, ok := w.(deadliner); ok {
		st.d = d
	}
	ctx.Init2(st, s.logger, false)
	// Not deferred: a handler that panics (http.ErrAbortHandler from respond included) leaves
	// its exchange to the garbage collector rather than to the next stream.
	if err := s.readHead(&ctx.Request.Header, r); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errTooLarge) {
			code = http.StatusRequestHeaderFieldsTooLarge
		}
		w.Header()["Content-Type"] = nil
		w.WriteHeader(code)
		s.putExchange(x)
		return
	}
	if hasBody(r) {
		ctx.Request.SetBodyStream(r.Body, int(r.ContentLength))
	}
	ctx.Request.Header.SetProtocolBytes(http20)
	s.handler(ctx)
	if r.Context().Err() != nil && !ctx.IsHead() {
		s.resetStream(h.ci)
	} else {
		h.ci.answered.Add(1)
	}
	s.respond(ctx, st, w)
	s.putExchange(x)
}

// exchange is what one stream needs, pooled: its RequestCtx and the connection it sees.
type exchange struct {
	ctx fasthttp.RequestCtx
	st  Stream
}

// putExchange resets x for the next stream: what RequestCtx.Init2 leaves as it was (the
// request, the response, user values and a hijack handler) included.
func (s *Server) putExchange(x *exchange) {
	ctx := &x.ctx
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.ResetUserValues()
	ctx.Hijack(nil)
	ctx.HijackSetNoResponse(false)
	x.st = Stream{}
	s.exchanges.Put(x)
}

// hasBody reports a request whose HEADERS did not end the stream.
func hasBody(r *http.Request) bool { return r.Body != nil && r.Body != http.NoBody }

// readHead writes r's head out as an HTTP/1.1 head and has fasthttp parse it into h, so that
// the handler sees raw header fields, counted and checked as on HTTP/1.1. A request with a body
// but no Content-Length is declared chunked. Field order across names is lost: x/net/http2
// keeps fields in a map.
func (s *Server) readHead(h *fasthttp.RequestHeader, r *http.Request) error {
	hb := s.heads.Get().(*headBuf)
	defer s.heads.Put(hb)
	b := append(hb.b[:0], r.Method...)
	b = append(b, ' ')
	b = append(b, r.RequestURI...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	for k, vs := range r.Header {
		if k == "Host" {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if hasBody(r) && r.ContentLength < 0 {
		b = append(b, chunkedField...)
	}
	b = append(b, "\r\n"...)
	hb.b = b
	if len(b) > s.opts.MaxHeaderBytes+len(chunkedField) {
		return errTooLarge
	}
	hb.br.Reset(b)
	hb.r.Reset(&hb.br)
	return h.Read(hb.r)
}

// connectionSpecific reports the response fields HTTP/2 forbids (RFC 9113 section 8.2.2), and
// Content-Length, which respond sets itself.
func connectionSpecific(k []byte) bool {
	switch len(k) {
	case 2:
		return equalFold(k, "te")
	case 7:
		return equalFold(k, "upgrade")
	case 10:
		return equalFold(k, "connection") || equalFold(k, "keep-alive")
	case 14:
		return equalFold(k, "content-length")
	case 16:
		return equalFold(k, "proxy-connection")
	case 17:
		return equalFold(k, "transfer-encoding")
	}
	return false
}

func equalFold(b []byte, lower string) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// respond writes ctx's response to w. A response body the upstream cut short (a hijacked
// response shorter than its Content-Length, or a body stream that failed) resets the stream
// after what arrived, as a closed connection tells an HTTP/1.1 client.
func (s *Server) respond(ctx *fasthttp.RequestCtx, st *Stream, w http.ResponseWriter) {
	resp := &ctx.Response
	hdr := w.Header()
	for k, v := range resp.Header.All() {
		if connectionSpecific(k) {
			continue
		}
		key := string(k)
		hdr[key] = append(hdr[key], string(v))
	}
	if _, ok := hdr["Server"]; !ok {
		hdr["Server"] = []string{s.opts.ServerName}
	}
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // no sniffing
	}
	code := resp.StatusCode()
	noBody := ctx.IsHead() || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
	_ = st.SetWriteDeadline(time.Now().Add(s.opts.SendTimeout))
	if resp.IsBodyStream() {
		s.stream(resp, w, code, noBody)
		return
	}
	body := resp.Body()
	declared := resp.Header.ContentLength()
	switch {
	case noBody:
		if declared >= 0 && ctx.IsHead() {
			hdr["Content-Length"] = []string{itoa(declared)}
		}
		body = nil
	case ctx.Hijacked() && declared > len(body):
		hdr["Content-Length"] = []string{itoa(declared)}
	default:
		hdr["Content-Length"] = []string{itoa(len(body))}
	}
	w.WriteHeader(code)
	if len(body) > 0 {
		if _, err := w.Write(body); err != nil {
			return
		}
	}
	if !noBody && ctx.Hijacked() && declared > len(body) {
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// stream copies a streamed response body to w as it is read; each write waits for the client's
// flow-control window, which paces the reads from the upstream.
func (s *Server) stream(resp *fasthttp.Response, w http.ResponseWriter, code int, noBody bool) {
	if n := resp.Header.ContentLength(); n >= 0 {
		w.Header()["Content-Length"] = []string{itoa(n)}
	}
	w.WriteHeader(code)
	bs := resp.BodyStream()
	failed := false
	if !noBody {
		bp := s.bufs.Get().(*[]byte)
		f, _ := w.(http.Flusher)
		for {
			n, err := bs.Read(*bp)
			if n > 0 {
				if _, werr := w.Write((*bp)[:n]); werr != nil {
					break // the client is gone or too slow: the stream is reset already
				}
				if f != nil {
					f.Flush()
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				failed = true
				break
			}
		}
		s.bufs.Put(bp)
	}
	_ = resp.CloseBodyStream()
	if failed {
		panic(http.ErrAbortHandler)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// debugLogger sends fasthttp's messages to Debug.
type debugLogger struct{ log *slog.Logger }

func (l debugLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("http2", "detail", fmt.Sprintf(format, args...))
	}
}
