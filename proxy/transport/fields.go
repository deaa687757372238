package transport

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Fields is a set of the header fields that the proxy and the transport remove, replace or
// check, one bit each (FieldOf): finding them in one pass over a head spares a lookup (a
// normalised copy of the name and a scan of every field) per field that is not there, which is
// most of them.
type Fields uint16

const (
	// The hop-by-hop fields (RFC 9110 section 7.6.1), removed in both directions (StripHop), in
	// the order of hopHeaders.
	FieldConnection Fields = 1 << iota
	FieldKeepAlive
	FieldProxyConnection
	FieldTE
	FieldTrailer
	FieldTransferEncoding
	FieldUpgrade

	FieldContentLength // checked (smuggling)
	FieldExpect        // removed: the proxy answers 100-continue itself
	FieldForwarded     // removed, as APISIX does
	FieldXForwardedFor // appended to
	FieldServer        // replaced in responses

	// AllFields is every field above: what a rewrite must look for when nothing is known of a
	// head.
	AllFields = 1<<iota - 1
)

// hopHeaders are the hop-by-hop fields, in the order of their Fields bits.
var hopHeaders = [...]string{
	fasthttp.HeaderConnection,
	"Keep-Alive",
	"Proxy-Connection",
	fasthttp.HeaderTE,
	fasthttp.HeaderTrailer,
	fasthttp.HeaderTransferEncoding,
	fasthttp.HeaderUpgrade,
}

// FieldOf is the bit of the field named name (in any case), 0 for a field of no interest.
func FieldOf(name []byte) Fields {
	var f Fields
	var want string
	switch len(name) {
	case 2:
		f, want = FieldTE, "te"
	case 6:
		switch name[0] | 0x20 {
		case 'e':
			f, want = FieldExpect, "expect"
		case 's':
			f, want = FieldServer, "server"
		}
	case 7:
		switch name[0] | 0x20 {
		case 'u':
			f, want = FieldUpgrade, "upgrade"
		case 't':
			f, want = FieldTrailer, "trailer"
		}
	case 9:
		f, want = FieldForwarded, "forwarded"
	case 10:
		switch name[0] | 0x20 {
		case 'c':
			f, want = FieldConnection, "connection"
		case 'k':
			f, want = FieldKeepAlive, "keep-alive"
		}
	case 14:
		f, want = FieldContentLength, "content-length"
	case 15:
		f, want = FieldXForwardedFor, "x-forwarded-for"
	case 16:
		f, want = FieldProxyConnection, "proxy-connection"
	case 17:
		f, want = FieldTransferEncoding, "transfer-encoding"
	}
	if f == 0 || !EqualFoldLower(name, want) {
		return 0
	}
	return f
}

// EqualFoldLower reports whether b equals the lower-case ASCII s, ignoring b's case.
func EqualFoldLower(b []byte, s string) bool {
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

// Header is a request or response head that StripHop edits: *fasthttp.RequestHeader or
// *fasthttp.ResponseHeader.
type Header interface {
	Peek(key string) []byte
	Del(key string)
	DelBytes(key []byte)
}

// StripHop removes from h the hop-by-hop fields and the fields named by Connection, of those
// present holds (AllFields when unknown).
func StripHop(h Header, present Fields) {
	if present&FieldConnection != 0 {
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

// cleanResponse makes the upstream's response head the client's: hop-by-hop headers out, the
// proxy's own Server header instead of the upstream's.
func cleanResponse(h *fasthttp.ResponseHeader) {
	var present Fields
	for k := range h.All() {
		present |= FieldOf(k)
	}
	StripHop(h, present)
	if present&FieldServer != 0 {
		h.Del(fasthttp.HeaderServer)
	}
	h.ResetConnectionClose()
}
