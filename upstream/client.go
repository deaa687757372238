package upstream

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// clientKey holds every setting a node's client is built from; equal keys share one client.
type clientKey struct {
	addr      string
	https     bool
	sni       string
	verify    bool
	cert, key string
	idle      time.Duration
	connect   time.Duration
}

func (r *Registry) clientKeyFor(s *Spec, n NodeSpec, connect time.Duration) clientKey {
	k := clientKey{addr: n.Addr(), https: s.Scheme == "https", connect: connect}
	k.idle = time.Duration(s.KeepalivePool.IdleTimeout * float64(time.Second))
	if k.idle <= 0 {
		k.idle = time.Millisecond // idle_timeout 0: no keepalive to speak of
	}
	if !k.https {
		return k
	}
	switch s.PassHost {
	case "rewrite":
		k.sni = s.UpstreamHost
	case "node":
		if !isIPHost(n.Host) {
			k.sni = n.Host
		}
	}
	if s.TLS != nil {
		k.verify = s.TLS.Verify
		k.cert, k.key = s.TLS.ClientCert, s.TLS.ClientKey
	}
	return k
}

// newClient builds a HostClient for a proxy: one attempt per call (the proxy owns retries), raw
// header names and paths, no default User-Agent, LIFO reuse so that surplus idle connections
// age out.
func (r *Registry) newClient(k clientKey, cert *tls.Certificate) *fasthttp.HostClient {
	c := &fasthttp.HostClient{
		Addr: k.addr,
		// Dual stack: a node may be an IPv6 literal ("[::1]:1980") or a name with only AAAA
		// records; fasthttp's plain Dial* use tcp4 alone.
		Dial: func(addr string) (net.Conn, error) {
			return r.dialer.DialDualStackTimeout(addr, k.connect)
		},
		MaxConns:                      r.opts.MaxConnsPerNode,
		MaxConnWaitTimeout:            k.connect,
		MaxIdleConnDuration:           k.idle,
		MaxIdemponentCallAttempts:     1,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		ConnPoolStrategy:              fasthttp.LIFO,
	}
	if k.https {
		c.IsTLS = true
		c.TLSConfig = &tls.Config{
			ServerName:         k.sni,
			InsecureSkipVerify: !k.verify, //nolint:gosec // APISIX does not verify upstreams unless tls.verify
			RootCAs:            r.opts.RootCAs,
			MinVersion:         tls.VersionTLS12,
		}
		if cert != nil {
			c.TLSConfig.Certificates = []tls.Certificate{*cert}
		}
	}
	if r.opts.Client != nil {
		r.opts.Client(c)
	}
	return c
}
