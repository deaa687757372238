package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/h2"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
)

// checkRequest applies the limits and framing rules fasthttp leaves to its user. It returns the
// status to reject the request with, or 0, and what it found in the request's head. fasthttp
// itself rejects duplicate Content-Length fields, unparsable lengths (400), repeated or unknown
// Transfer-Encodings (501, see serverError), control characters, a missing or repeated Host,
// whitespace before a field's colon and a head larger than its read buffer (431).
func checkRequest(ctx *fasthttp.RequestCtx, lv *live) (int, headScan) {
	h := &ctx.Request.Header
	s := scanHead(h.RawHeaders())
	if code := checkRequestLine(h, h2.Is(ctx)); code != 0 {
		return code, s
	}
	if len(h.RequestURI()) > lv.maxURILength {
		return fasthttp.StatusRequestURITooLong, s
	}
	switch {
	case s.badTE:
		// nginx: "client sent unknown Transfer-Encoding", whether or not a Content-Length
		// came too. fasthttp would take "identity" for no body at all, and what follows the
		// head for the next request.
		return fasthttp.StatusNotImplemented, s
	case s.badName:
		// nginx: "client sent invalid header line" for whitespace or a control character in
		// a name; fasthttp refuses the other non-token characters itself.
		return fasthttp.StatusBadRequest, s
	case s.folded:
		// obs-fold (RFC 9112 section 5.2): fasthttp would unfold it; nginx refuses it.
		return fasthttp.StatusBadRequest, s
	case s.has(transport.FieldContentLength) && s.has(transport.FieldTransferEncoding):
		// Both framings at once is the classic smuggling vector; fasthttp would let
		// Transfer-Encoding win, while another hop may not.
		return fasthttp.StatusBadRequest, s
	case s.fields > lv.maxHeaderCount:
		return fasthttp.StatusRequestHeaderFieldsTooLarge, s
	}
	// The declared length as sent: the server's HeaderReceived has zeroed the parsed one of a
	// body declared too large, so that the answer needs none of it.
	if max := lv.maxRequestBodySize; max > 0 && (s.declared > max || int64(h.ContentLength()) > max) {
		return fasthttp.StatusRequestEntityTooLarge, s
	}
	return 0, s
}

// checkRequestLine refuses the request lines nginx refuses, with its codes: a method of other
// characters than A-Z, "_" and "-" (400); a target that is neither origin-form nor
// absolute-form, such as "*" or CONNECT's authority-form, or whose authority has userinfo (400);
// an HTTP version other than 1.x (0.9: 400, 2.0 and later: 505, since HTTP/2 never comes in an
// HTTP/1 request line); and CONNECT (405). fasthttp has checked that the version has the form
// HTTP/d.d and that the target holds no control character or space. A request that came over
// HTTP/2 (overH2) has the version HTTP/2.0 (package h2).
func checkRequestLine(h *fasthttp.RequestHeader, overH2 bool) int {
	for _, c := range h.Method() {
		if (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return fasthttp.StatusBadRequest
		}
	}
	if !validTarget(h.RequestURI()) {
		return fasthttp.StatusBadRequest
	}
	switch p := h.Protocol(); {
	case overH2:
	case len(p) != len("HTTP/1.1"):
		return fasthttp.StatusBadRequest
	case p[5] == '0':
		return fasthttp.StatusBadRequest
	case p[5] != '1':
		return fasthttp.StatusHTTPVersionNotSupported
	}
	if h.IsConnect() {
		return fasthttp.StatusMethodNotAllowed
	}
	return 0
}

// validTarget reports whether uri is origin-form ("/...") or absolute-form
// (scheme "://" authority, then an optional path or query, not a fragment) without userinfo, as
// nginx parses a request target.
func validTarget(uri []byte) bool {
	if len(uri) > 0 && uri[0] == '/' {
		return true
	}
	i := bytes.Index(uri, []byte("://"))
	if i <= 0 {
		return false
	}
	for j, c := range uri[:i] {
		letter := 'a' <= c|0x20 && c|0x20 <= 'z'
		if !letter && (j == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	auth := uri[i+3:]
	if j := bytes.IndexAny(auth, "/?#"); j >= 0 {
		if auth[j] == '#' {
			return false // nginx: 400
		}
		auth = auth[:j]
	}
	return len(auth) > 0 && bytes.IndexByte(auth, '@') < 0
}

// headScan is what scanHead found in a raw header block.
type headScan struct {
	fields int
	folded bool
	// badTE: a Transfer-Encoding field whose value is not exactly "chunked".
	badTE bool
	// badName: a field line whose name is not an RFC 9110 token, or that has no colon.
	badName bool
	// fwd has the bit of every forwarding field setForwarded replaces that the head holds
	// (forwardingField); xff counts its X-Forwarded-For fields (-1: unknown).
	fwd uint8
	xff int
	// declared is the Content-Length value as sent, -1 when there is none or it is not a
	// number (fasthttp refuses those).
	declared int64
	// present has the bit (transport.FieldOf) of every field of interest the raw head holds.
	present transport.Fields
	// noRaw: the head was not read from the wire and has no raw form (a RequestCtx set up by
	// hand); nothing is known of its fields.
	noRaw bool
	// edited: plugins ran on the request after the scan and may have set fields it did not
	// see (proxy-rewrite's headers): the forwarding fields are looked for by name.
	edited bool
}

func (s headScan) has(f transport.Fields) bool { return s.present&f != 0 }

// rewrite is the set of fields that rewriting the head must look for: those present, or all of
// them when nothing is known.
func (s headScan) rewrite() transport.Fields {
	if s.noRaw {
		return transport.AllFields
	}
	return s.present
}

// scanHead walks the header lines exactly as the client sent them.
func scanHead(raw []byte) headScan {
	s := headScan{declared: -1}
	if len(raw) == 0 {
		s.noRaw, s.fwd, s.xff = true, fwdAll, -1
		return s
	}
	for len(raw) > 0 {
		var line []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			line, raw = raw, nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			s.folded = true
			continue
		}
		s.fields++
		i := bytes.IndexByte(line, ':')
		if i <= 0 || !validToken(line[:i]) {
			s.badName = true
			continue
		}
		f := transport.FieldOf(line[:i])
		s.present |= f
		switch f {
		case 0:
			s.fwd |= forwardingField(line[:i])
		case transport.FieldXForwardedFor:
			s.xff++
		case transport.FieldContentLength:
			s.declared = parseLength(bytes.Trim(line[i+1:], " \t"))
		}
		if f == transport.FieldTransferEncoding && !equalFoldChunked(bytes.Trim(line[i+1:], " \t")) {
			s.badTE = true
		}
	}
	return s
}

// equalFoldChunked reports whether v is "chunked" in any letter case: the one transfer coding
// the proxy accepts from a client, as nginx does.
func equalFoldChunked(v []byte) bool {
	const chunked = "chunked"
	if len(v) != len(chunked) {
		return false
	}
	for i := range v {
		if v[i]|0x20 != chunked[i] {
			return false
		}
	}
	return true
}

// tchar marks the characters of an RFC 9110 token (section 5.6.2).
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func validToken(b []byte) bool {
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return len(b) > 0
}

// parseLength parses a Content-Length value, -1 when it is not a decimal number (up to 18
// digits: more is refused by fasthttp anyway).
func parseLength(v []byte) int64 {
	if len(v) == 0 || len(v) > 18 {
		return -1
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
