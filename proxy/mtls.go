package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/ssl"
)

// tlsStater is a connection that can tell its TLS state: the listener's tlsConn.
type tlsStater interface{ ConnectionState() tls.ConnectionState }

// checkClientCert applies the client certificate rules of SSL objects with a client member to an
// HTTPS request, as APISIX's access phase does (apisix/init.lua verify_https_client), and returns
// 400 for a request they refuse, else 0:
//   - the object of the handshake (by SNI, or fallback_sni) verifies client certificates and the
//     connection has no verified one: refused unless the path matches one of the object's
//     skip_mtls_uri_regex (without them the handshake itself required the certificate);
//   - the object found by the Host header verifies client certificates and the SNI is not that
//     host: refused, or a client verified for one name could reach another's routes.
//
// It runs only when some object has a client member (ssl.Index.HasClient) and allocates nothing.
func (p *Proxy) checkClientCert(ctx *fasthttp.RequestCtx, x *ssl.Index) int {
	conn, ok := ctx.Conn().(tlsStater)
	if !ok {
		return 0
	}
	cs := conn.ConnectionState()
	name := cs.ServerName
	if name == "" {
		name = p.tls.Load().fallback
	}
	if c := x.Lookup(name); c != nil && c.Client != nil && len(cs.VerifiedChains) == 0 && !c.Client.Exempt(ctx.Path()) {
		p.refusedClient(ctx, "client certificate was not present", cs.ServerName)
		return fasthttp.StatusBadRequest
	}
	host := hostName(ctx.Host())
	if c := x.LookupBytes(host); c != nil && c.Client != nil && !sameName(host, cs.ServerName) {
		p.refusedClient(ctx, "client certificate verified with another SNI than the host", cs.ServerName)
		return fasthttp.StatusBadRequest
	}
	return 0
}

func (p *Proxy) refusedClient(ctx *fasthttp.RequestCtx, why, sni string) {
	if p.log.Enabled(context.Background(), slog.LevelInfo) {
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "HTTPS request refused: "+why,
			slog.String("sni", sni), slog.String("host", string(ctx.Host())),
			slog.String("client", ctx.RemoteAddr().String()))
	}
}

// hostName is a Host header without its port.
func hostName(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// sameName compares server names as SNI matching does: case-insensitive, one trailing dot
// ignored.
func sameName(a []byte, b string) bool {
	a = bytes.TrimSuffix(a, []byte("."))
	if n := len(b); n > 0 && b[n-1] == '.' {
		b = b[:n-1]
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
