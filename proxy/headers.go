package proxy

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// Hop-by-hop headers (RFC 9110 section 7.6.1), removed in both directions. On a WebSocket
// handshake the route allows, Upgrade and Connection are set again afterwards.
var hopHeaders = []string{
	fasthttp.HeaderConnection,
	"Keep-Alive",
	"Proxy-Connection",
	fasthttp.HeaderTE,
	fasthttp.HeaderTrailer,
	fasthttp.HeaderTransferEncoding,
	fasthttp.HeaderUpgrade,
}

// connectionTokens calls fn with every header name listed in the Connection header value v.
func connectionTokens(v []byte, fn func(name []byte)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 {
			fn(tok)
		}
	}
}

type headerDeleter interface {
	Peek(key string) []byte
	Del(key string)
	DelBytes(key []byte)
}

// stripHop removes the hop-by-hop headers and the headers named by Connection.
func stripHop(h headerDeleter) {
	if v := h.Peek(fasthttp.HeaderConnection); len(v) > 0 {
		connectionTokens(v, h.DelBytes)
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// prepareRequest turns the client's request into the upstream's, in place: hop-by-hop headers
// out (Upgrade back in when upgrade is set), X-Forwarded-* and X-Real-IP set, HTTP/1.1 (nginx's
// proxy_http_version 1.1 in APISIX), no header fasthttp would add by itself.
func prepareRequest(ctx *fasthttp.RequestCtx, x *exchange, upgrade bool) {
	h := &ctx.Request.Header
	x.upgrade = x.upgrade[:0]
	if upgrade {
		x.upgrade = append(x.upgrade, h.Peek(fasthttp.HeaderUpgrade)...)
	}
	h.ResetConnectionClose()
	stripHop(h)
	// The proxy answered any Expect: 100-continue itself and forwards the body regardless.
	h.Del(fasthttp.HeaderExpect)
	if len(x.upgrade) > 0 {
		h.SetBytesV(fasthttp.HeaderUpgrade, x.upgrade)
		h.Set(fasthttp.HeaderConnection, "upgrade")
	}
	x.scratch = setForwarded(ctx, x.scratch)
	if !h.IsHTTP11() {
		h.SetProtocol("HTTP/1.1")
	}
	h.SetNoDefaultContentType(true)
	if uri := h.RequestURI(); len(uri) > 0 && uri[0] != '/' && !(len(uri) == 1 && uri[0] == '*') {
		// absolute-form: the upstream gets origin-form.
		h.SetRequestURIBytes(ctx.URI().RequestURI())
	}
}

// setForwarded sets the X-Forwarded-* and X-Real-IP headers the way APISIX (up to 3.17) does:
// X-Forwarded-For gets the client address appended; X-Forwarded-Proto, X-Forwarded-Host (nginx's
// $host: lower case, no port) and X-Forwarded-Port (the listener's) are overwritten; Forwarded is
// removed. buf is scratch space, returned for reuse.
func setForwarded(ctx *fasthttp.RequestCtx, buf []byte) []byte {
	h := &ctx.Request.Header
	buf = appendIP(buf[:0], ctx.RemoteIP())
	ipLen := len(buf)
	if prior := h.Peek(fasthttp.HeaderXForwardedFor); len(prior) > 0 {
		buf = append(buf, prior...)
		buf = append(buf, ", "...)
		buf = append(buf, buf[:ipLen]...)
		h.SetBytesV(fasthttp.HeaderXForwardedFor, buf[ipLen:])
	} else {
		h.SetBytesV(fasthttp.HeaderXForwardedFor, buf[:ipLen])
	}
	h.SetBytesV("X-Real-IP", buf[:ipLen])
	if ctx.IsTLS() {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	buf = appendLower(buf[:0], hostWithoutPort(h.Host()))
	h.SetBytesV("X-Forwarded-Host", buf)
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		buf = strconv.AppendInt(buf[:0], int64(a.Port), 10)
		h.SetBytesV("X-Forwarded-Port", buf)
	}
	h.Del("Forwarded")
	return buf
}

// setUpstreamHost sets the Host the upstream receives, by pass_host: "pass" keeps the client's
// (the node's when the client sent none), "node" uses the node's, "rewrite" upstream_host.
func setUpstreamHost(h *fasthttp.RequestHeader, spec *upstream.Spec, node *upstream.Node) {
	switch spec.PassHost {
	case "node":
		h.SetHost(node.HostHeader)
	case "rewrite":
		h.SetHost(spec.UpstreamHost)
	default:
		if len(h.Host()) == 0 {
			h.SetHost(node.HostHeader)
		}
	}
}

// cleanResponse makes the upstream's response head the client's: hop-by-hop headers out, the
// proxy's own Server header instead of the upstream's.
func cleanResponse(h *fasthttp.ResponseHeader) {
	stripHop(h)
	h.Del(fasthttp.HeaderServer)
	h.ResetConnectionClose()
}

func appendIP(dst []byte, ip net.IP) []byte {
	if ip4 := ip.To4(); ip4 != nil {
		return fasthttp.AppendIPv4(dst, ip4)
	}
	if a, ok := netip.AddrFromSlice(ip); ok {
		return a.AppendTo(dst)
	}
	return dst
}

func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// hostWithoutPort strips a port from a Host header value ("[::1]:80" keeps its brackets).
func hostWithoutPort(host []byte) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		return host[:i]
	}
	return host
}
