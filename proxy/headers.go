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
// proxy_http_version 1.1 in APISIX), no header fasthttp would add by itself. scan is what
// scanHead found in the request's head.
func prepareRequest(ctx *fasthttp.RequestCtx, x *exchange, upgrade bool, scan *headScan) {
	present := scan.rewrite()
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
	x.req.Fields = setForwarded(ctx, x.req.Fields[:0], scan)
	if !h.IsHTTP11() {
		h.SetProtocol("HTTP/1.1")
	}
	h.SetNoDefaultContentType(true)
	if uri := h.RequestURI(); len(uri) > 0 && uri[0] != '/' && !(len(uri) == 1 && uri[0] == '*') {
		// absolute-form: the upstream gets origin-form.
		x.scratch = appendOriginForm(x.scratch[:0], uri)
		h.SetRequestURIBytes(x.scratch)
	}
}

// appendOriginForm appends the origin-form of an absolute-form target (one validTarget
// accepts) as nginx passes it on: what follows the authority as the client wrote it
// ("http://b/a/../x%41?q" gives "/a/../x%41?q"), and with no path "/" and the query if it is
// not empty ("http://b?q" gives "/?q", "http://b?" and "http://b" give "/"). fasthttp's URI
// would hand over its normalised, decoded path ("/xA"), which is not what the client asked
// the upstream for: "/a%2Fb" would become "/a/b".
func appendOriginForm(dst, target []byte) []byte {
	if i := bytes.Index(target, []byte("://")); i >= 0 {
		target = target[i+3:]
	}
	rest := target[len(target):]
	if j := bytes.IndexAny(target, "/?"); j >= 0 {
		rest = target[j:]
	}
	switch {
	case len(rest) > 0 && rest[0] == '/':
		return append(dst, rest...)
	case len(rest) > 1: // "?" and a query
		return append(append(dst, '/'), rest...)
	}
	return append(dst, '/')
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
		len(key) == 4 && transport.EqualFoldLower(key, "host"):
		return
	}
	h.RequestHeader.DelBytes(key)
}

// setForwarded writes the X-Forwarded-* and X-Real-IP fields the way APISIX's configuration
// does (apisix/cli/ngx_tpl.lua, with no trusted_addresses; t/core/trusted-addresses.t):
// X-Forwarded-For is the client's X-Forwarded-For fields joined in order, ", ", then the client
// address ($proxy_add_x_forwarded_for); X-Real-IP the client address; X-Forwarded-Proto the
// scheme; X-Forwarded-Host the Host; X-Forwarded-Port the port that Host names, else the
// listener's; Forwarded is removed. Each replaces every field of its name the request holds, in
// any letter case, as proxy_set_header and more_set_input_headers do, so that a second field
// never rides behind the proxy's.
//
// The fields are appended to dst as header lines, spelled as nginx's proxy_set_header spells
// them, for the transport to write after the head's own (transport.Request.Fields): the head
// object only loses the fields they replace. (Setting five fields in fasthttp's header costs a
// search of its fields, a copy and a scan for line breaks each, some 1,900 instructions a
// request; nginx, too, builds these lines apart from the client's.) As in nginx, the plugins
// that run later and the access log see the client's fields, not these.
//
// s tells which of these fields the client's head holds; when plugins ran (s.edited) they may
// have set others, which are looked up by name (a lookup of a name that is not there costs a
// pass over the head's fields; a delete, several times that).
func setForwarded(ctx *fasthttp.RequestCtx, dst []byte, s *headScan) []byte {
	h := &ctx.Request.Header
	fwd, xff := s.fwd, s.xff
	forwarded := s.rewrite()&transport.FieldForwarded != 0
	if s.edited {
		for i, key := range fwdKeys {
			if fwd&(1<<i) == 0 && h.PeekCanonical(key) != nil {
				fwd |= 1 << i
			}
		}
		if xff != 0 || h.PeekCanonical(keyXForwardedFor) != nil {
			xff = -1 // the plugins may have added some: all are joined
		}
		forwarded = forwarded || h.PeekCanonical(keyForwarded) != nil
	}
	// The names looked up below are canonical: no normalising (as in transport.StripHop).
	wasOff := h.DisableNormalizing()
	if fwd != 0 {
		for i, key := range fwdKeys {
			if fwd&(1<<i) != 0 {
				h.DelBytes(key)
			}
		}
	}
	if forwarded {
		h.DelBytes(keyForwarded)
	}
	dst = append(dst, "X-Forwarded-For: "...)
	start := len(dst)
	switch {
	case xff == 1: // one, as a load balancer in front sends it
		dst = append(dst, h.PeekCanonical(keyXForwardedFor)...)
		h.DelBytes(keyXForwardedFor)
	case xff != 0: // several, or unknown
		all := h.PeekAll(fasthttp.HeaderXForwardedFor)
		for i, v := range all {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, v...)
		}
		if len(all) > 0 {
			h.DelBytes(keyXForwardedFor)
		}
	}
	if !wasOff {
		h.EnableNormalizing()
	}
	if len(dst) > start {
		dst = append(dst, ", "...)
	}
	ip := len(dst)
	dst = appendClientIP(dst, ctx)
	ipEnd := len(dst)
	dst = append(dst, "\r\nX-Real-IP: "...)
	dst = append(dst, dst[ip:ipEnd]...)
	if ctx.IsTLS() {
		dst = append(dst, "\r\nX-Forwarded-Proto: https"...)
	} else {
		dst = append(dst, "\r\nX-Forwarded-Proto: http"...)
	}
	host := h.Host()
	if len(host) > 0 {
		dst = append(dst, "\r\nX-Forwarded-Host: "...)
		dst = append(dst, host...)
	}
	if port := hostPort(host); len(port) > 0 {
		dst = append(dst, "\r\nX-Forwarded-Port: "...)
		dst = append(dst, port...)
	} else if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		dst = append(dst, "\r\nX-Forwarded-Port: "...)
		dst = strconv.AppendInt(dst, int64(a.Port), 10)
	}
	return append(dst, "\r\n"...)
}

// hostPort is the port at the end of a Host value, as APISIX's map of $http_host to
// X-Forwarded-Port takes it (":(\d+)$"), or nil.
func hostPort(host []byte) []byte {
	i := len(host)
	for i > 0 && '0' <= host[i-1] && host[i-1] <= '9' {
		i--
	}
	if i == len(host) || i == 0 || host[i-1] != ':' {
		return nil
	}
	return host[i:]
}

// The forwarding fields setForwarded replaces, one headScan.fwd bit each, in the order of
// fwdKeys. (X-Forwarded-For, which is joined rather than replaced, is counted in headScan.xff.)
const (
	fwdRealIP uint8 = 1 << iota
	fwdProto
	fwdHost
	fwdPort

	fwdAll = fwdRealIP | fwdProto | fwdHost | fwdPort
)

var fwdKeys = [...][]byte{keyXRealIP, keyXForwardedProto, keyXForwardedHost, keyXForwardedPort}

// The forwarding fields' names, as forwardingField compares them.
var (
	foldXRealIP         = transport.NewFoldName("x-real-ip")
	foldXForwardedHost  = transport.NewFoldName("x-forwarded-host")
	foldXForwardedPort  = transport.NewFoldName("x-forwarded-port")
	foldXForwardedProto = transport.NewFoldName("x-forwarded-proto")
)

// forwardingField is the fwd bit of the field named name (any case), 0 for others.
func forwardingField(name []byte) uint8 {
	switch len(name) {
	case len("x-real-ip"):
		if foldXRealIP.Equal(name) {
			return fwdRealIP
		}
	case len("x-forwarded-host"):
		switch {
		case foldXForwardedHost.Equal(name):
			return fwdHost
		case foldXForwardedPort.Equal(name):
			return fwdPort
		}
	case len("x-forwarded-proto"):
		if foldXForwardedProto.Equal(name) {
			return fwdProto
		}
	}
	return 0
}

// The names of the fields setForwarded replaces, in fasthttp's canonical form. Never written to.
var (
	keyXForwardedFor   = []byte(fasthttp.HeaderXForwardedFor)
	keyForwarded       = []byte("Forwarded")
	keyXRealIP         = []byte("X-Real-Ip")
	keyXForwardedProto = []byte("X-Forwarded-Proto")
	keyXForwardedHost  = []byte("X-Forwarded-Host")
	keyXForwardedPort  = []byte("X-Forwarded-Port")
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

// appendClientIP appends the client's address as text, ctx.RemoteIP's: the one a real-IP
// setting or plugin gave the request, else the peer's, which an HTTP/1.1 connection formats at
// its first request and keeps (four integers to format a request, a third of the forwarding
// headers' cost, for an address that never changes).
func appendClientIP(dst []byte, ctx *fasthttp.RequestCtx) []byte {
	c := lazyOf(ctx.Conn())
	if c == nil || ctx.RemoteAddr() != c.RemoteAddr() {
		return appendIP(dst, ctx.RemoteIP())
	}
	if c.ipLen > 0 {
		return append(dst, c.ip[:c.ipLen]...)
	}
	b := appendIP(dst, ctx.RemoteIP())
	if n := len(b) - len(dst); n > 0 && n <= len(c.ip) {
		c.ipLen = uint8(copy(c.ip[:], b[len(dst):]))
	}
	return b
}

// appendIP appends ip as text: an IPv4 address (also one in IPv6 form) dotted, IPv6 as netip writes it.
func appendIP(dst []byte, ip net.IP) []byte {
	if ip4 := ip.To4(); ip4 != nil {
		return fasthttp.AppendIPv4(dst, ip4)
	}
	if a, ok := netip.AddrFromSlice(ip); ok {
		return a.AppendTo(dst)
	}
	return dst
}
