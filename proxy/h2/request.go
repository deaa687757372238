package h2

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// takeHead checks a request's header list (RFC 9113 section 8.3.1: the pseudo-header fields a
// request needs; section 8.2.2: no connection-specific field) and keeps it for the handler.
// The framer has checked the field names (lowercase tokens), the values (no CR, LF or NUL)
// and the pseudo-header fields' order and uniqueness (blockReader).
func (st *Stream) takeHead(f *http2.MetaHeadersFrame) error {
	bad := func(name string) error { return streamError{st.id, http2.ErrCodeProtocol, name} }
	for _, hf := range f.Fields {
		if hf.IsPseudo() {
			switch hf.Name {
			case ":method":
				st.method = hf.Value
			case ":path":
				st.path = hf.Value
			case ":scheme":
				st.scheme = hf.Value
			case ":authority":
				st.authority = hf.Value
			default: // :protocol (no extended CONNECT here) or a response's :status
				return bad("bad_pseudo")
			}
			continue
		}
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return bad("connection_header")
		case "te":
			if hf.Value != "trailers" {
				return bad("connection_header")
			}
		case "content-length":
			n, err := strconv.ParseInt(hf.Value, 10, 64)
			if err != nil || n < 0 || (st.declared >= 0 && n != st.declared) {
				return bad("bad_content_length")
			}
			st.declared = n
		}
	}
	switch {
	case st.method == "" || !token(st.method):
		return bad("bad_path_method")
	case st.method == "CONNECT":
		if st.path != "" || st.scheme != "" || st.authority == "" {
			return bad("bad_connect")
		}
	case st.path == "" || st.scheme == "" || !visible(st.path):
		return bad("bad_path_method")
	}
	if f.StreamEnded() && st.declared > 0 {
		return bad("bad_content_length")
	}
	st.hasBody = !f.StreamEnded()
	st.fields = append(st.inline[:0], f.Fields...) // f.Fields is the reader's, reused
	return nil
}

// token reports a method of token characters only, as the request line needs.
func token(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

// visible reports a target without whitespace or control characters, which would break the
// request line.
func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// headBuf holds a request head written out as HTTP/1.1 and the reader fasthttp parses it from.
type headBuf struct {
	b  []byte
	br bytes.Reader
	r  *bufio.Reader
}

var (
	chunkedField = []byte("Transfer-Encoding: chunked\r\n")
	http20       = []byte("HTTP/2.0")
	errTooLarge  = errors.New("request head too large")
)

// readHead writes st's request head out as an HTTP/1.1 head and has fasthttp parse it into h,
// so that the handler sees raw header fields, counted and checked as on HTTP/1.1. The Host
// field is :authority (or the host field without one); cookie fields are joined into one
// (RFC 9113 section 8.2.3); a request with a body but no Content-Length is declared chunked.
func (s *Server) readHead(h *fasthttp.RequestHeader, st *Stream) error {
	hb := s.heads.Get().(*headBuf)
	defer s.heads.Put(hb)
	b := append(hb.b[:0], st.method...)
	b = append(b, ' ')
	if st.method == "CONNECT" {
		b = append(b, st.authority...)
	} else {
		b = append(b, st.path...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	host := st.authority
	if host == "" {
		for _, f := range st.fields {
			if f.Name == "host" {
				host = f.Value
				break
			}
		}
	}
	b = append(b, host...)
	b = append(b, "\r\n"...)
	cookies := 0
	for _, f := range st.fields {
		switch {
		case f.IsPseudo() || f.Name == "host":
			continue
		case f.Name == "cookie":
			cookies++
			continue
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	if cookies > 0 {
		b = append(b, "cookie: "...)
		n := 0
		for _, f := range st.fields {
			if f.Name == "cookie" {
				if n > 0 {
					b = append(b, "; "...)
				}
				b = append(b, f.Value...)
				n++
			}
		}
		b = append(b, "\r\n"...)
	}
	if st.hasBody && st.declared < 0 {
		b = append(b, chunkedField...)
	}
	b = append(b, "\r\n"...)
	hb.b = b
	if len(b) > s.opts.MaxHeaderBytes+len(chunkedField) {
		return errTooLarge
	}
	hb.br.Reset(b)
	hb.r.Reset(&hb.br)
	return h.Read(hb.r)
}
