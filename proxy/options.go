package proxy

import (
	"log/slog"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
)

// Options configure a Proxy. Options is the single place for the proxy's limits; a zero field
// takes the default documented on it. Defaults follow what APISIX configures nginx with
// (conf/config-default.yaml, nginx_config.http) and, where APISIX keeps nginx's own, nginx's.
type Options struct {
	// ServerName is the Server response header (default "zoneproxy"). It replaces the
	// upstream's, as APISIX's Server header does.
	ServerName string
	// Logger receives the proxy's own logs (upstream failures at Debug). nil discards.
	Logger *slog.Logger

	// MaxHeaderBytes bounds the request head: request line plus header fields (default 32 KiB,
	// nginx's large_client_header_buffers 4 8k). A larger head is answered 431. It is also the
	// size of each connection's read buffer.
	MaxHeaderBytes int
	// MaxURILength bounds the request target (default 8 KiB, one large_client_header_buffers
	// buffer); a longer one is answered 414. It is capped at MaxHeaderBytes: a target that does
	// not fit the read buffer at all is answered 431.
	MaxURILength int
	// MaxHeaderCount bounds the number of header fields (default 100); more are answered 431.
	MaxHeaderCount int
	// MaxRequestBodySize bounds a request body in bytes, declared or streamed; a larger one is
	// answered 413. The default, 0, is unlimited: APISIX sets client_max_body_size 0.
	MaxRequestBodySize int64

	// HeaderTimeout bounds receiving a whole request head (default 60 s, client_header_timeout);
	// a client that is slower is cut off (408). It also bounds a new connection's first byte.
	HeaderTimeout time.Duration
	// BodyTimeout bounds the wait between two reads of a request body (default 60 s,
	// client_body_timeout); a client that stalls longer is answered 408.
	BodyTimeout time.Duration
	// SendTimeout bounds the wait between two writes to a client (default 10 s, APISIX's
	// send_timeout); a client that does not read is disconnected.
	SendTimeout time.Duration
	// IdleTimeout bounds an idle client keep-alive connection (default 60 s, keepalive_timeout).
	IdleTimeout time.Duration
	// ParkIdleAfter is how long a keep-alive connection idles before the proxy parks it: holds
	// it without its goroutine and buffers, as nginx holds every idle connection, and serves it
	// again when its client sends (default 1 s; negative: never; Linux only).
	ParkIdleAfter time.Duration

	// RequestBufferSize is the largest request body read whole before the first try (default
	// 64 KiB). Such bodies can be replayed on a retry; larger ones stream to the upstream as they
	// arrive and are never replayed once a byte of them was sent.
	RequestBufferSize int
	// ResponseBufferSize is the largest upstream response body, by Content-Length, read whole
	// before answering (default 64 KiB). Larger, chunked and close-delimited bodies stream to the
	// client as they arrive.
	ResponseBufferSize int
	// MaxResponseHeaderBytes bounds an upstream response head (default 16 KiB; nginx's
	// proxy_buffer_size is one page); a larger one is answered 502.
	MaxResponseHeaderBytes int

	// RealIP decides the client address ($remote_addr) from a request header when the peer is
	// trusted, as nginx's realip module (APISIX's nginx_config.http real_ip_header,
	// real_ip_recursive, real_ip_from): the routes' remote_addrs and vars, the X-Real-IP and
	// X-Forwarded-For the upstream gets and the access log all see that address. nil: APISIX's
	// defaults (DefaultRealIP): X-Real-IP, believed from 127.0.0.1.
	RealIP *RealIP

	// Metrics, when set, records requests (apisix_http_status, latency, bandwidth) into the
	// matched route's handle (snapshot.Route.Metrics) and counts client connections. nil: off.
	// As in APISIX, a request is recorded when the prometheus plugin is on its route, service,
	// consumer or a global rule (a global rule: every request, 404s included), unless
	// CountAllRequests.
	Metrics *metrics.Metrics
	// CountAllRequests records every request into Metrics, with or without the prometheus
	// plugin (zoneproxy.metrics.count_all_requests). Default false: APISIX's behaviour.
	CountAllRequests bool
	// AccessLog, when set, gets one line per request. nil: off.
	AccessLog *accesslog.Logger
}

const (
	defaultServerName             = "zoneproxy"
	defaultMaxHeaderBytes         = 32 << 10
	defaultMaxURILength           = 8 << 10
	defaultMaxHeaderCount         = 100
	defaultHeaderTimeout          = 60 * time.Second
	defaultBodyTimeout            = 60 * time.Second
	defaultSendTimeout            = 10 * time.Second
	defaultIdleTimeout            = 60 * time.Second
	defaultParkIdleAfter          = time.Second
	defaultRequestBufferSize      = 64 << 10
	defaultResponseBufferSize     = 64 << 10
	defaultMaxResponseHeaderBytes = 16 << 10
)

// withDefaults fills in every zero field.
func (o Options) withDefaults() Options {
	if o.ServerName == "" {
		o.ServerName = defaultServerName
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	setInt(&o.MaxHeaderBytes, defaultMaxHeaderBytes)
	setInt(&o.MaxURILength, defaultMaxURILength)
	setInt(&o.MaxHeaderCount, defaultMaxHeaderCount)
	setInt(&o.RequestBufferSize, defaultRequestBufferSize)
	setInt(&o.ResponseBufferSize, defaultResponseBufferSize)
	setInt(&o.MaxResponseHeaderBytes, defaultMaxResponseHeaderBytes)
	if o.MaxURILength > o.MaxHeaderBytes {
		o.MaxURILength = o.MaxHeaderBytes
	}
	if o.MaxRequestBodySize < 0 {
		o.MaxRequestBodySize = 0
	}
	setDuration(&o.HeaderTimeout, defaultHeaderTimeout)
	setDuration(&o.BodyTimeout, defaultBodyTimeout)
	setDuration(&o.SendTimeout, defaultSendTimeout)
	setDuration(&o.IdleTimeout, defaultIdleTimeout)
	if o.ParkIdleAfter == 0 {
		o.ParkIdleAfter = defaultParkIdleAfter
	}
	return o
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func setDuration(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}
