package transport

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Options configure a Transport. A zero field takes the default documented on it; the proxy
// passes its own (proxy.Options) values.
type Options struct {
	// ServerName is the Server header of the response heads the transport writes to the client
	// itself: an unframed body to an HTTP/1.0 client and a WebSocket 101 (default "zoneproxy").
	// fasthttp's server sets it on the others.
	ServerName string
	// Logger receives failed tries at Debug, as it is given (the transport adds no attribute of
	// its own). nil discards.
	Logger *slog.Logger
	// ResponseBufferSize is the largest upstream response body, by Content-Length, read whole
	// before Try returns (default 64 KiB). Larger, chunked and close-delimited bodies stream to
	// the client as they arrive.
	ResponseBufferSize int
	// MaxResponseHeaderBytes bounds an upstream response head (default 16 KiB); a larger one
	// fails the try. It is the size of the pooled reader on each upstream connection.
	MaxResponseHeaderBytes int
	// SendTimeout returns the client send timeout: the wait allowed between two writes to the
	// client while a streamed body or a tunnel runs. It is called at every such write, so it may
	// change while the transport serves. nil: 10 s.
	SendTimeout func() time.Duration
}

const (
	defaultServerName             = "zoneproxy"
	defaultResponseBufferSize     = 64 << 10
	defaultMaxResponseHeaderBytes = 16 << 10
	defaultSendTimeout            = 10 * time.Second

	// copyBufferSize is the chunk a streamed body moves in.
	copyBufferSize = 32 << 10
)

func (o Options) withDefaults() Options {
	if o.ServerName == "" {
		o.ServerName = defaultServerName
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ResponseBufferSize <= 0 {
		o.ResponseBufferSize = defaultResponseBufferSize
	}
	if o.MaxResponseHeaderBytes <= 0 {
		o.MaxResponseHeaderBytes = defaultMaxResponseHeaderBytes
	}
	if o.SendTimeout == nil {
		o.SendTimeout = func() time.Duration { return defaultSendTimeout }
	}
	return o
}

// Transport sends requests to upstream nodes over HTTP/1.1, one try at a time, on connections
// from each node's fasthttp.HostClient pool. It is safe for concurrent use and must not be
// copied.
type Transport struct {
	noCopy noCopy

	opts   Options
	log    *slog.Logger
	dialer *fasthttp.TCPDialer
	// dialled, when set (tests), wraps each connection ConfigureClient's dialler makes, under
	// the transport's own connection type.
	dialled func(net.Conn) net.Conn

	readers  sync.Pool // *bufio.Reader of MaxResponseHeaderBytes, on upstream connections
	writers  sync.Pool // *bufio.Writer, on upstream connections
	copyBufs sync.Pool // *[]byte of copyBufferSize, for streamed bodies
	bareLF   sync.Pool // *bareLFHead, for heads with bare LF line ends
	bodies   *bodyPool // buffers of the bodies read whole (bodies.go)

	tunnels tunnels // WebSocket tunnels, closed by CloseTunnels

	// maxWaitIdle: a pooled upstream connection idle for longer is read from before waiting
	// (sendWhole). A constant but for tests.
	maxWaitIdle time.Duration
}

// New returns a Transport. It starts no goroutine.
func New(opts Options) *Transport {
	opts = opts.withDefaults()
	t := &Transport{opts: opts, log: opts.Logger, dialer: &fasthttp.TCPDialer{}, maxWaitIdle: maxWaitIdle}
	t.bodies = newBodyPool(opts.ResponseBufferSize)
	t.copyBufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	t.readers.New = func() any { return bufio.NewReaderSize(nil, opts.MaxResponseHeaderBytes) }
	t.writers.New = func() any { return bufio.NewWriterSize(nil, upstreamWriteBufferSize) }
	return t
}

// Tunnels is the number of live WebSocket tunnels.
func (t *Transport) Tunnels() int { return t.tunnels.len() }

// CloseTunnels ends every live WebSocket tunnel by closing its client connection; the tunnel
// closes its upstream connection in turn. A server that shuts down calls it once its requests
// are done: tunnels would otherwise never end.
func (t *Transport) CloseTunnels() { t.tunnels.closeAll() }

func (t *Transport) putReader(br *bufio.Reader) {
	br.Reset(nil)
	t.readers.Put(br)
}

func (t *Transport) logFailure(node *upstream.Node, phase string, err error) {
	if !t.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	t.log.LogAttrs(context.Background(), slog.LevelDebug, "upstream try failed",
		slog.String("node", node.Addr), slog.String("phase", phase), slog.String("error", err.Error()))
}

// noCopy lets go vet report copies of a Transport.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
