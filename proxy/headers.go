package proxy

import (
	"bytes"
	"net"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Hop-by-hop headers (RFC 9110 section 7.6.1), removed in both directions. Upgrade is kept on a
// WebSocket handshake that the route allows.
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
func stripHop(h headerDeleter, keepUpgrade bool) {
	if v := h.Peek(fasthttp.HeaderConnection); len(v) > 0 {
		connectionTokens(v, func(name []byte) {
			if keepUpgrade && bytes.EqualFold(name, []byte("upgrade")) {
				return
			}
			h.DelBytes(name)
		})
	}
	for _, name := range hopHeaders {
		if keepUpgrade && (name == fasthttp.HeaderUpgrade || name == fasthttp.HeaderConnection) {
			continue
		}
		h.Del(name)
	}
}

// setForwarded sets the X-Forwarded-* and X-Real-IP headers the way APISIX does: X-Forwarded-For
// gets the client address appended, the others are overwritten, Forwarded is removed.
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
	h.SetBytesV("X-Forwarded-Host", hostWithoutPort(h.Host()))
	buf = buf[:0]
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		buf = strconv.AppendInt(buf, int64(a.Port), 10)
		h.SetBytesV("X-Forwarded-Port", buf)
	}
	h.Del("Forwarded")
	return buf
}

func appendIP(dst []byte, ip net.IP) []byte {
	if ip4 := ip.To4(); ip4 != nil {
		return fasthttp.AppendIPv4(dst, ip4)
	}
	return append(dst, ip.String()...)
}

// hostWithoutPort strips a port from a Host header value ("[::1]:80" keeps its brackets).
func hostWithoutPort(host []byte) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		return host[:i]
	}
	return host
}
