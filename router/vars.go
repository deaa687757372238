package router

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // nginx's $ssl_client_fingerprint is SHA-1
	"crypto/tls"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"

	"github.com/valyala/fasthttp"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// reqVars serves a request's variables to vars expressions, with nginx's
// and APISIX's semantics, reading the fasthttp request lazily. It is pooled
// per Table and holds request data only between source() and release().
type reqVars struct {
	ctx  *fasthttp.RequestCtx
	path []byte
	host []byte
	addr netip.Addr
	tmp  []byte // backs the value of the latest Value call
	dec  []byte // decoding buffer for argument names
}

var _ expr.Source = (*reqVars)(nil)

func (r *reqVars) reset() {
	r.ctx, r.path, r.host, r.addr = nil, nil, nil, netip.Addr{}
	r.tmp, r.dec = r.tmp[:0], r.dec[:0]
}

func str(b []byte) expr.Value { return expr.Value{Kind: expr.String, S: b} }

// lit returns s as a value backed by the scratch buffer.
func (r *reqVars) lit(s string) expr.Value {
	r.tmp = append(r.tmp[:0], s...)
	return str(r.tmp)
}

// Value implements expr.Source.
func (r *reqVars) Value(v *expr.Var) expr.Value {
	ctx := r.ctx
	switch v.Kind {
	case expr.VarEmpty:
		return str(nil)
	case expr.VarURI:
		return str(r.path)
	case expr.VarHost:
		return str(r.host)
	case expr.VarRemoteAddr:
		r.tmp = r.addr.AppendTo(r.tmp[:0])
		return str(r.tmp)
	case expr.VarRemotePort:
		return r.port(ctx.RemoteAddr())
	case expr.VarRealIPRemoteAddr:
		// The caller may have set the request's remote address from a real-IP header
		// (RequestCtx.SetRemoteAddr); the connection's is the peer's.
		a, _ := netip.AddrFromSlice(ipOf(peerAddr(ctx)))
		r.tmp = a.Unmap().AppendTo(r.tmp[:0])
		return str(r.tmp)
	case expr.VarRealIPRemotePort:
		return r.port(peerAddr(ctx))
	case expr.VarServerAddr:
		a, _ := netip.AddrFromSlice(ctx.LocalIP())
		r.tmp = a.Unmap().AppendTo(r.tmp[:0])
		return str(r.tmp)
	case expr.VarServerPort:
		return r.port(ctx.LocalAddr())
	case expr.VarRequestMethod:
		return str(ctx.Method())
	case expr.VarScheme:
		if ctx.IsTLS() {
			return r.lit("https")
		}
		return r.lit("http")
	case expr.VarHTTPS:
		if ctx.IsTLS() {
			return r.lit("on")
		}
		return r.lit("")
	case expr.VarRequestURI:
		r.tmp = append(r.tmp[:0], r.path...)
		if q, ok := r.args(); ok && len(q) > 0 {
			r.tmp = append(append(r.tmp, '?'), q...)
		}
		return str(r.tmp)
	case expr.VarRealRequestURI:
		return str(ctx.Request.Header.RequestURI())
	case expr.VarArgs:
		if q, ok := r.args(); ok {
			return str(q)
		}
		return expr.Value{}
	case expr.VarIsArgs:
		if q, _ := r.args(); len(q) > 0 {
			return r.lit("?")
		}
		return r.lit("")
	case expr.VarServerProtocol:
		return str(ctx.Request.Header.Protocol())
	case expr.VarArg:
		return r.arg(ctx.URI().QueryString(), v.Key)
	case expr.VarPostArg:
		// Only a body the caller has read (the proxy buffers a form that fits its buffer):
		// PostBody would read a streamed one whole, without limit, and leave nothing to forward.
		if ctx.Request.IsBodyStream() || !bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/x-www-form-urlencoded")) {
			return expr.Value{}
		}
		return r.arg(ctx.PostBody(), v.Key)
	case expr.VarHTTP:
		return r.header(v.Key)
	case expr.VarSSLServerName, expr.VarSSLProtocol, expr.VarSSLClientVerify, expr.VarSSLClientSDN,
		expr.VarSSLClientIDN, expr.VarSSLClientSerial, expr.VarSSLClientFingerprint:
		return r.tlsVar(v.Kind)
	case expr.VarCookie:
		text := r.header("cookie")
		if text.Kind != expr.String {
			return expr.Value{}
		}
		if val, ok := cookieValue(text.S, v.Key); ok {
			return str(val)
		}
		return expr.Value{}
	}
	return expr.Value{}
}

// tlsStater is an HTTPS connection (the proxy's TLS listener's).
type tlsStater interface{ ConnectionState() tls.ConnectionState }

// clientVerifyFailer is an HTTPS connection that tells an optional client certificate that failed
// to verify: "FAILED:<reason>", else "".
type clientVerifyFailer interface{ ClientVerifyFailed() string }

// tlsVar is one of nginx's $ssl_* variables: missing (nil) on a plain connection, and those of the
// client certificate when the client sent none. $ssl_client_verify is SUCCESS, NONE, or FAILED:
// with the reason for a certificate that an object asking for an optional one could not verify
// (where it is required, such a handshake fails).
func (r *reqVars) tlsVar(kind expr.VarKind) expr.Value {
	c, ok := r.ctx.Conn().(tlsStater)
	if !ok || !r.ctx.IsTLS() {
		return expr.Value{}
	}
	cs := c.ConnectionState()
	switch kind {
	case expr.VarSSLServerName:
		if cs.ServerName == "" {
			return expr.Value{}
		}
		return r.lit(cs.ServerName)
	case expr.VarSSLProtocol:
		switch cs.Version {
		case tls.VersionTLS13:
			return r.lit("TLSv1.3")
		case tls.VersionTLS12:
			return r.lit("TLSv1.2")
		case tls.VersionTLS11:
			return r.lit("TLSv1.1")
		}
		return r.lit("TLSv1")
	case expr.VarSSLClientVerify:
		if len(cs.VerifiedChains) > 0 {
			return r.lit("SUCCESS")
		}
		if f, ok := c.(clientVerifyFailer); ok {
			if s := f.ClientVerifyFailed(); s != "" {
				return r.lit(s)
			}
		}
		return r.lit("NONE")
	}
	if len(cs.PeerCertificates) == 0 {
		return expr.Value{}
	}
	leaf := cs.PeerCertificates[0]
	switch kind {
	case expr.VarSSLClientSDN:
		return r.lit(leaf.Subject.String())
	case expr.VarSSLClientIDN:
		return r.lit(leaf.Issuer.String())
	case expr.VarSSLClientSerial:
		r.tmp = leaf.SerialNumber.Append(r.tmp[:0], 16)
		for i, ch := range r.tmp {
			if 'a' <= ch && ch <= 'f' {
				r.tmp[i] = ch - 'a' + 'A'
			}
		}
		return str(r.tmp)
	case expr.VarSSLClientFingerprint:
		sum := sha1.Sum(leaf.Raw)
		r.tmp = hex.AppendEncode(r.tmp[:0], sum[:])
		return str(r.tmp)
	}
	return expr.Value{}
}

// peerAddr is the address of the connection's peer ($realip_remote_addr), whatever the
// request's remote address was set to.
func peerAddr(ctx *fasthttp.RequestCtx) net.Addr {
	if c := ctx.Conn(); c != nil {
		if a := c.RemoteAddr(); a != nil {
			return a
		}
	}
	return ctx.RemoteAddr()
}

func ipOf(a net.Addr) net.IP {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP
	}
	return nil
}

// port is nginx's $remote_port (and the like): the port, or "" when there is none, as for an
// address from a real-IP header that named no port.
func (r *reqVars) port(a net.Addr) expr.Value {
	p := 0
	if t, ok := a.(*net.TCPAddr); ok {
		p = t.Port
	}
	if p <= 0 {
		return r.lit("")
	}
	r.tmp = strconv.AppendInt(r.tmp[:0], int64(p), 10)
	return str(r.tmp)
}

// args is nginx's $args: the raw query string, absent when the request
// target has no '?'.
func (r *reqVars) args() ([]byte, bool) {
	q := r.ctx.URI().QueryString()
	if len(q) > 0 {
		return q, true
	}
	return q, bytes.IndexByte(r.ctx.Request.Header.RequestURI(), '?') >= 0
}

// header is nginx's $http_<key>: every header whose name, lowercased with
// '-' read as '_', equals key; several are joined with ", " ("; " for
// Cookie).
func (r *reqVars) header(key string) expr.Value {
	sep := ", "
	if key == "cookie" {
		sep = "; "
	}
	var first []byte
	n := 0
	visit := func(k, v []byte) {
		if !headerNameIs(k, key) {
			return
		}
		switch n {
		case 0:
			first = v
		case 1:
			r.tmp = append(append(append(r.tmp[:0], first...), sep...), v...)
		default:
			r.tmp = append(append(r.tmp, sep...), v...)
		}
		n++
	}
	h := &r.ctx.Request.Header
	if len(h.RawHeaders()) > 0 {
		for k, v := range h.AllInOrder() {
			visit(k, v)
		}
	} else {
		// A request built in code rather than parsed from the wire.
		for k, v := range h.All() {
			visit(k, v)
		}
	}
	switch n {
	case 0:
		return expr.Value{}
	case 1:
		return str(first)
	}
	return str(r.tmp)
}

func headerNameIs(name []byte, key string) bool {
	if len(name) != len(key) {
		return false
	}
	for i, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '-':
			c = '_'
		}
		if c != key[i] {
			return false
		}
	}
	return true
}

// arg finds the first argument named key in a query string or urlencoded
// body, as ngx.req.get_uri_args / get_post_args parse it: pairs split on
// '&', the name ends at the first '=', both sides unescaped ('+' is a
// space, an invalid %-escape stays as is), empty names ignored; a name
// without '=' is Lua true.
func (r *reqVars) arg(q []byte, key string) expr.Value {
	for len(q) > 0 {
		seg := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			seg, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		name, val, hasVal := bytes.Cut(seg, []byte("="))
		if len(name) == 0 {
			continue
		}
		if !argNameIs(name, key, &r.dec) {
			continue
		}
		if !hasVal {
			return expr.Value{Kind: expr.True}
		}
		if bytes.IndexByte(val, '%') < 0 && bytes.IndexByte(val, '+') < 0 {
			return str(val)
		}
		r.tmp = unescapeArg(r.tmp[:0], val)
		return str(r.tmp)
	}
	return expr.Value{}
}

func argNameIs(name []byte, key string, buf *[]byte) bool {
	if bytes.IndexByte(name, '%') < 0 && bytes.IndexByte(name, '+') < 0 {
		return string(name) == key
	}
	*buf = unescapeArg((*buf)[:0], name)
	return string(*buf) == key
}

// unescapeArg is ngx_http_lua_unescape_uri for URI components.
func unescapeArg(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 < len(s) {
				hi, ok1 := unhex(s[i+1])
				lo, ok2 := unhex(s[i+2])
				if ok1 && ok2 {
					dst = append(dst, hi<<4|lo)
					i += 2
					continue
				}
			}
			dst = append(dst, '%')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// cookieValue looks name up in a Cookie header the way lua-resty-cookie
// parses it: a key runs from the first non-blank byte to '=', a value ends
// at ';', ' ' or '\t'; a later pair wins over an earlier one.
func cookieValue(text []byte, name string) (val []byte, found bool) {
	const (
		expectKey = iota
		expectValue
		expectSpace
	)
	state := expectSpace
	start := 0
	var key []byte
	for j := 0; j < len(text); j++ {
		c := text[j]
		switch state {
		case expectKey:
			if c == '=' {
				key, state, start = text[start:j], expectValue, j+1
			}
		case expectValue:
			if c == ';' || c == ' ' || c == '\t' {
				if string(key) == name {
					val, found = text[start:j], true
				}
				state, start = expectSpace, j+1
			}
		case expectSpace:
			if c != ' ' && c != '\t' {
				state, start = expectKey, j
				j--
			}
		}
	}
	if state == expectValue && string(key) == name {
		val, found = text[start:], true
	}
	return val, found
}
