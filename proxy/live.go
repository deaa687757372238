package proxy

import (
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
)

// live are the Options that may change while the proxy serves (Update): each request reads them
// once, from an atomic pointer.
type live struct {
	maxURILength       int
	maxHeaderCount     int
	maxRequestBodySize int64
	bodyTimeout        time.Duration
	sendTimeout        time.Duration
	accessLog          *accesslog.Logger
	realIP             *realIP // nil: the client address is always the peer's
	countAll           bool
}

func liveOf(o Options) *live {
	return &live{maxURILength: o.MaxURILength, maxHeaderCount: o.MaxHeaderCount,
		maxRequestBodySize: o.MaxRequestBodySize, bodyTimeout: o.BodyTimeout, sendTimeout: o.SendTimeout,
		accessLog: o.AccessLog, realIP: compileRealIP(o.RealIP), countAll: o.CountAllRequests}
}

// Update applies opts to the running proxy: the URI length, header count and body size limits,
// the body timeout, the real-IP settings, the access log and CountAllRequests for the requests that start afterwards; the header, send
// and idle timeouts for the connections accepted afterwards (those already open answer their next
// request with "Connection: close", see generation). The others keep their running values; Update returns the
// names of those that differ (their Options field names). Metrics and Logger are not compared:
// they are fixed at New.
func (p *Proxy) Update(opts Options) (fixed []string) {
	opts = opts.withDefaults()
	cur := p.opts
	// MaxURILength is capped by the running MaxHeaderBytes, the read buffer's size.
	opts.MaxURILength = min(opts.MaxURILength, cur.MaxHeaderBytes)
	p.live.Store(liveOf(opts))
	p.setTimeouts(opts.HeaderTimeout, opts.SendTimeout, opts.IdleTimeout)
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"ServerName", opts.ServerName != cur.ServerName},
		{"MaxHeaderBytes", opts.MaxHeaderBytes != cur.MaxHeaderBytes},
		{"RequestBufferSize", opts.RequestBufferSize != cur.RequestBufferSize},
		{"ResponseBufferSize", opts.ResponseBufferSize != cur.ResponseBufferSize},
		{"MaxResponseHeaderBytes", opts.MaxResponseHeaderBytes != cur.MaxResponseHeaderBytes},
	} {
		if f.changed {
			fixed = append(fixed, f.name)
		}
	}
	return fixed
}
