package proxy

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/transport"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// prepareRequest turns the client's request into the upstream's, in place: hop-by-hop headers
// out (Upgrade back in when upgrade is set), X-Forwarded-* and X-Real-IP set, HTTP/1.1 (nginx's
// proxy_http_version 1.1 in APISIX), no header fasthttp would add by itself. present has the
// fields of interest the request holds (scanHead).
func prepareRequest(ctx *fasthttp.RequestCtx, x *exchange, upgrade bool, present transport.Fields) {
	h := &ctx.Request.Header
	x.upgrade = x.upgrade[:0]
	if upgrade {
		x.upgrade = append(x.upgrade, h.Peek(fasthttp.HeaderUpgrade)...)
	}
	h.ResetConnectionClose()
	transport.StripHop(clientHead{h}, present)
	if present&transport.FieldExpect != 0 {
		// The proxy answered any Expect: 100-continue itself and forwards the body regardless.
		h.Del(fasthttp.HeaderExpect)
	}
	if len(x.upgrade) > 0 {
		h.SetBytesV(fasthttp.HeaderUpgrade, x.upgrade)
		h.Set(fasthttp.HeaderConnection, "upgrade")
	}
	x.scratch = setForwarded(ctx, x.scratch, present)
	if !h.IsHTTP11() {
		h.SetProtocol("HTTP/1.1")
	}
	h.SetNoDefaultContentType(true)
	if uri := h.RequestURI(); len(uri) > 0 && uri[0] != '/' && !(len(uri) == 1 && uri[0] == '*') {
		// absolute-form: the upstream gets origin-form.
		h.SetRequestURIBytes(ctx.URI().RequestURI())
	}
}

// clientHead is the client's request head as StripHop edits it: the fields that Connection
// names go, except those that frame the request or name its host. The body is framed from
// Content-Length and Transfer-Encoding after the strip (readBody), and the upstream must get it
// framed as the client framed it: "Connection: content-length" must not turn a body into the
// next request. (net/http never lets Connection reach them either: it keeps the framing out of
// Header. nginx ignores the tokens of Connection altogether.)
type clientHead struct{ *fasthttp.RequestHeader }

// DelBytes removes the field named key unless it is Content-Length, Transfer-Encoding or Host.
func (h clientHead) DelBytes(key []byte) {
	switch {
	case transport.FieldOf(key)&(transport.FieldContentLength|transport.FieldTransferEncoding) != 0,
		len(key) == 4 && equalFoldLower(key, "host"):
		return
	}
	h.RequestHeader.DelBytes(key)
}

// equalFoldLower reports whether b equals the lower-case ASCII s, ignoring b's case.
func equalFoldLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// setForwarded sets the X-Forwarded-* and X-Real-IP headers the way APISIX (up to 3.17) does:
// X-Forwarded-For gets the client address appended; X-Forwarded-Proto, X-Forwarded-Host (nginx's
// $host: lower case, no port) and X-Forwarded-Port (the listener's) are overwritten; Forwarded is
// removed. buf is scratch space, returned for reuse. present tells whether the request holds
// X-Forwarded-For and Forwarded at all. The names are set in their canonical form, which spares
// fasthttp normalising them.
func setForwarded(ctx *fasthttp.RequestCtx, buf []byte, present transport.Fields) []byte {
	h := &ctx.Request.Header
	buf = appendIP(buf[:0], ctx.RemoteIP())
	ipLen := len(buf)
	var prior []byte
	if present&transport.FieldXForwardedFor != 0 {
		prior = h.Peek(fasthttp.HeaderXForwardedFor)
	}
	if len(prior) > 0 {
		buf = append(buf, prior...)
		buf = append(buf, ", "...)
		buf = append(buf, buf[:ipLen]...)
		h.SetCanonical(keyXForwardedFor, buf[ipLen:])
	} else {
		h.SetCanonical(keyXForwardedFor, buf[:ipLen])
	}
	h.SetCanonical(keyXRealIP, buf[:ipLen])
	if ctx.IsTLS() {
		h.SetCanonical(keyXForwardedProto, valueHTTPS)
	} else {
		h.SetCanonical(keyXForwardedProto, valueHTTP)
	}
	buf = appendLower(buf[:0], hostWithoutPort(h.Host()))
	h.SetCanonical(keyXForwardedHost, buf)
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		buf = strconv.AppendInt(buf[:0], int64(a.Port), 10)
		h.SetCanonical(keyXForwardedPort, buf)
	}
	if present&transport.FieldForwarded != 0 {
		h.Del("Forwarded")
	}
	return buf
}

// Names and values setForwarded sets, in fasthttp's canonical form. Never written to.
var (
	keyXForwardedFor   = []byte(fasthttp.HeaderXForwardedFor)
	keyXRealIP         = []byte("X-Real-Ip")
	keyXForwardedProto = []byte("X-Forwarded-Proto")
	keyXForwardedHost  = []byte("X-Forwarded-Host")
	keyXForwardedPort  = []byte("X-Forwarded-Port")
	valueHTTP          = []byte("http")
	valueHTTPS         = []byte("https")
)

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
