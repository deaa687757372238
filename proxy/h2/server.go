package h2

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Options configure a Server. A zero field takes the default documented on it; the defaults are
// nginx's (ngx_http_v2_module) where it has one.
type Options struct {
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS (default 128, nginx's
	// http2_max_concurrent_streams): a stream past it is refused (REFUSED_STREAM). Handlers of
	// streams the client reset still count until they return; a client that queues more than
	// 4 × MaxConcurrentStreams of them (rapid reset) loses the connection (ENHANCE_YOUR_CALM).
	MaxConcurrentStreams uint32
	// MaxHeaderBytes bounds a request's header list (SETTINGS_MAX_HEADER_LIST_SIZE; default
	// 32 KiB, nginx's large_client_header_buffers 4 8k, the bound of an HTTP/1.1 head too). A
	// larger list is answered 431 on its stream; a CONTINUATION flood ends the connection.
	MaxHeaderBytes int
	// IdleTimeout closes a connection without open streams for that long, with GOAWAY
	// (default 60 s, keepalive_timeout).
	IdleTimeout time.Duration
	// SendTimeout bounds the wait for the client to take data (default 10 s, send_timeout):
	// for the whole connection (a write to it that makes no progress for that long ends it),
	// and for each stream's response, whose stream is reset when its flow-control window
	// stays closed past the stream's write deadline.
	SendTimeout time.Duration
	// ServerName is the Server header of responses that have none (default "zoneproxy").
	ServerName string
	// CountError, when set, is called with a name for each protocol error the server answers
	// (a metric's label): golang.org/x/net/http2's names where it has one.
	CountError func(errType string)
	// OnStream, when set, is called with the stream's connection as each stream's request
	// reaches the handler.
	OnStream func(net.Conn)
	// Logger gets the protocol's own messages at Debug. nil discards.
	Logger *slog.Logger
}

const (
	defaultMaxConcurrentStreams = 128
	defaultMaxHeaderBytes       = 32 << 10
	defaultIdleTimeout          = 60 * time.Second
	defaultSendTimeout          = 10 * time.Second
	copyBufferSize              = 32 << 10
	// maxIdleWorkers bounds the handler goroutines a Server keeps waiting for streams.
	maxIdleWorkers = 128
)

// Server serves HTTP/2 connections with one fasthttp handler. It is safe for concurrent use.
type Server struct {
	handler fasthttp.RequestHandler
	opts    Options
	logger  fasthttp.Logger
	// headerListSize is SETTINGS_MAX_HEADER_LIST_SIZE: MaxHeaderBytes plus HTTP/2's 32 bytes
	// of overhead per field for 10 fields, as x/net/http2 pads net/http's bound.
	headerListSize uint32

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing atomic.Bool

	// Handler goroutines wait on work for the next stream, keeping the stack a stream grew.
	work        chan *Stream
	quit        chan struct{}
	idleWorkers atomic.Int32

	heads     sync.Pool // *headBuf
	bufs      sync.Pool // *[]byte, for streamed response bodies
	exchanges sync.Pool // *exchange
	writers   sync.Pool // *bufio.Writer, held by a connection only while it has output
	date      atomic.Pointer[dateValue]
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
	s := &Server{
		handler:        h,
		opts:           o,
		logger:         debugLogger{o.Logger},
		headerListSize: uint32(o.MaxHeaderBytes + 10*32),
		conns:          make(map[*conn]struct{}),
		work:           make(chan *Stream),
		quit:           make(chan struct{}),
	}
	s.heads.New = func() any {
		return &headBuf{r: bufio.NewReaderSize(nil, o.MaxHeaderBytes+len(chunkedField))}
	}
	s.bufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	s.exchanges.New = func() any { return new(exchange) }
	s.writers.New = func() any { return bufio.NewWriterSize(nil, writeBufferSize) }
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
// connection and every handler of its streams has returned; it closes c. A connection that
// arrives after Shutdown is closed at once.
func (s *Server) ServeConn(nc Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown sends GOAWAY on every connection: each finishes its open streams, takes no new one
// and closes. It does not wait.
func (s *Server) Shutdown() {
	s.mu.Lock()
	if s.closing.Swap(true) {
		s.mu.Unlock()
		return
	}
	close(s.quit)
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
}

// countError reports a protocol error by name.
func (s *Server) countError(name string) {
	if s.opts.CountError != nil {
		s.opts.CountError(name)
	}
}

// dispatch runs st's handler on a waiting worker, or on a new one.
func (s *Server) dispatch(st *Stream) {
	select {
	case s.work <- st:
	default:
		go s.worker(st)
	}
}

// worker serves st, then waits for the next stream while fewer than maxIdleWorkers wait: a
// stream then starts on a stack already grown to the proxy's depth, rather than on a fresh
// 8 KiB one grown by copies. Workers end at Shutdown.
func (s *Server) worker(st *Stream) {
	for {
		st.c.serveStream(st)
		if s.idleWorkers.Add(1) > maxIdleWorkers {
			s.idleWorkers.Add(-1)
			return
		}
		select {
		case st = <-s.work:
			s.idleWorkers.Add(-1)
		case <-s.quit:
			s.idleWorkers.Add(-1)
			return
		}
	}
}

// dateValue is the Date header of responses sent within one second.
type dateValue struct {
	sec int64
	v   []byte
}

// dateHeader is the current Date header value, formatted once a second.
func (s *Server) dateHeader() []byte {
	now := time.Now()
	if d := s.date.Load(); d != nil && d.sec == now.Unix() {
		return d.v
	}
	d := &dateValue{sec: now.Unix(), v: now.UTC().AppendFormat(nil, "Mon, 02 Jan 2006 15:04:05 GMT")}
	s.date.Store(d)
	return d.v
}

// debugLogger sends fasthttp's messages to Debug.
type debugLogger struct{ log *slog.Logger }

func (l debugLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("http2", "detail", fmt.Sprintf(format, args...))
	}
}
