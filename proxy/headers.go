package proxy

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// fieldMask is a set of the header fields the proxy removes, replaces or checks, one bit each
// (fieldBit): finding them in one pass over a head spares a lookup (a normalised copy of the
// name and a scan of every field) per field that is not there, which is most of them.
type fieldMask uint16

const (
	// The hop-by-hop fields (RFC 9110 section 7.6.1), removed in both directions, in the order
	// of hopHeaders. On a WebSocket handshake the route allows, Upgrade and Connection are set
	// again afterwards.
	fieldConnection fieldMask = 1 << iota
	fieldKeepAlive
	fieldProxyConnection
	fieldTE
	fieldTrailer
	fieldTransferEncoding
	fieldUpgrade

	fieldContentLength // checked (smuggling)
	fieldExpect        // removed: the proxy answers 100-continue itself
	fieldForwarded     // removed, as APISIX does
	fieldXForwardedFor // appended to
	fieldServer        // replaced in responses

	allFields = 1<<iota - 1
)

// hopHeaders are the hop-by-hop fields, in the order of their fieldMask bits.
var hopHeaders = [...]string{
	fasthttp.HeaderConnection,
	"Keep-Alive",
	"Proxy-Connection",
	fasthttp.HeaderTE,
	fasthttp.HeaderTrailer,
	fasthttp.HeaderTransferEncoding,
	fasthttp.HeaderUpgrade,
}

// fieldBit is the bit of the field named name (in any case), 0 for a field of no interest.
func fieldBit(name []byte) fieldMask {
	var f fieldMask
	var want string
	switch len(name) {
	case 2:
		f, want = fieldTE, "te"
	case 6:
		switch name[0] | 0x20 {
		case 'e':
			f, want = fieldExpect, "expect"
		case 's':
			f, want = fieldServer, "server"
		}
	case 7:
		switch name[0] | 0x20 {
		case 'u':
			f, want = fieldUpgrade, "upgrade"
		case 't':
			f, want = fieldTrailer, "trailer"
		}
	case 9:
		f, want = fieldForwarded, "forwarded"
	case 10:
		switch name[0] | 0x20 {
		case 'c':
			f, want = fieldConnection, "connection"
		case 'k':
			f, want = fieldKeepAlive, "keep-alive"
		}
	case 14:
		f, want = fieldContentLength, "content-length"
	case 15:
		f, want = fieldXForwardedFor, "x-forwarded-for"
	case 16:
		f, want = fieldProxyConnection, "proxy-connection"
	case 17:
		f, want = fieldTransferEncoding, "transfer-encoding"
	}
	if f == 0 || !equalFoldLower(name, want) {
		return 0
	}
	return f
}

// equalFoldLower reports whether b equals the lower-case ASCII s, ignoring b's case.
func equalFoldLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
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

// stripHop removes the hop-by-hop headers and the headers named by Connection, of those present
// holds.
func stripHop(h headerDeleter, present fieldMask) {
	if present&fieldConnection != 0 {
		if v := h.Peek(fasthttp.HeaderConnection); len(v) > 0 {
			connectionTokens(v, h.DelBytes)
		}
	}
	for i, name := range hopHeaders {
		if present&(1<<i) != 0 {
			h.Del(name)
		}
	}
}

// prepareRequest turns the client's request into the upstream's, in place: hop-by-hop headers
// out (Upgrade back in when upgrade is set), X-Forwarded-* and X-Real-IP set, HTTP/1.1 (nginx's
// proxy_http_version 1.1 in APISIX), no header fasthttp would add by itself. present has the
// fields of interest the request holds (scanHead).
func prepareRequest(ctx *fasthttp.RequestCtx, x *exchange, upgrade bool, present fieldMask) {
	h := &ctx.Request.Header
	x.upgrade = x.upgrade[:0]
	if upgrade {
		x.upgrade = append(x.upgrade, h.Peek(fasthttp.HeaderUpgrade)...)
	}
	h.ResetConnectionClose()
	stripHop(h, present)
	if present&fieldExpect != 0 {
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

// setForwarded sets the X-Forwarded-* and X-Real-IP headers the way APISIX (up to 3.17) does:
// X-Forwarded-For gets the client address appended; X-Forwarded-Proto, X-Forwarded-Host (nginx's
// $host: lower case, no port) and X-Forwarded-Port (the listener's) are overwritten; Forwarded is
// removed. buf is scratch space, returned for reuse. present tells whether the request holds
// X-Forwarded-For and Forwarded at all. The names are set in their canonical form, which spares
// fasthttp normalising them.
func setForwarded(ctx *fasthttp.RequestCtx, buf []byte, present fieldMask) []byte {
	h := &ctx.Request.Header
	buf = appendIP(buf[:0], ctx.RemoteIP())
	ipLen := len(buf)
	var prior []byte
	if present&fieldXForwardedFor != 0 {
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
	if present&fieldForwarded != 0 {
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

// cleanResponse makes the upstream's response head the client's: hop-by-hop headers out, the
// proxy's own Server header instead of the upstream's.
func cleanResponse(h *fasthttp.ResponseHeader) {
	var present fieldMask
	for k := range h.All() {
		present |= fieldBit(k)
	}
	stripHop(h, present)
	if present&fieldServer != 0 {
		h.Del(fasthttp.HeaderServer)
	}
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
