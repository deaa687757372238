package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// checkRequest applies the limits and framing rules fasthttp leaves to its user. It returns the
// status to reject the request with, or 0. fasthttp itself rejects (400) duplicate
// Content-Length fields, unparsable lengths, repeated or unknown Transfer-Encodings, control
// characters, a missing or repeated Host and a head larger than its read buffer (431, see
// serverError).
func (p *Proxy) checkRequest(ctx *fasthttp.RequestCtx) int {
	h := &ctx.Request.Header
	if len(h.RequestURI()) > p.opts.MaxURILength {
		return fasthttp.StatusRequestURITooLong
	}
	s := scanHead(h.RawHeaders())
	switch {
	case s.folded:
		// obs-fold (RFC 9112 section 5.2): fasthttp would unfold it; nginx refuses it.
		return fasthttp.StatusBadRequest
	case s.contentLength && s.transferEncoding:
		// Both framings at once is the classic smuggling vector; fasthttp would let
		// Transfer-Encoding win, while another hop may not.
		return fasthttp.StatusBadRequest
	case s.fields > p.opts.MaxHeaderCount:
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	}
	if max := p.opts.MaxRequestBodySize; max > 0 && int64(h.ContentLength()) > max {
		return fasthttp.StatusRequestEntityTooLarge
	}
	return 0
}

// headScan is what scanHead found in a raw header block.
type headScan struct {
	fields                          int
	folded                          bool
	contentLength, transferEncoding bool
}

// scanHead walks the header lines exactly as the client sent them.
func scanHead(raw []byte) headScan {
	var s headScan
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
		switch line[0] | 0x20 {
		case 'c':
			s.contentLength = s.contentLength || hasFieldName(line, "content-length")
		case 't':
			s.transferEncoding = s.transferEncoding || hasFieldName(line, "transfer-encoding")
		}
	}
	return s
}

// hasFieldName reports whether line is a field named name (case-insensitive).
func hasFieldName(line []byte, name string) bool {
	if len(line) <= len(name) || line[len(name)] != ':' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := line[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
