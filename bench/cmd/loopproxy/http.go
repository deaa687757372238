package main

import (
	"bytes"
	"errors"
)

// maxHead bounds a request or response head, as zoneproxy's max_header_bytes does.
const maxHead = 32 << 10

var (
	errIncomplete = errors.New("incomplete head")
	errHeadTooBig = errors.New("head larger than 32 KiB")
	errBadHead    = errors.New("malformed head")
	errBadChunk   = errors.New("malformed chunked body")
)

// bodyKind is how a message's body is delimited (RFC 9112 section 6).
type bodyKind uint8

const (
	bodyNone       bodyKind = iota // no body
	bodyLength                     // Content-Length bytes
	bodyChunked                    // chunked transfer coding, up to the last chunk and its trailer
	bodyUntilClose                 // a response without length: everything until the upstream closes
)

type chunkState uint8

const (
	chSize      chunkState = iota // hex digits of a chunk size
	chExt                         // the rest of a size line, up to CR
	chSizeLF                      // LF ending a size line
	chData                        // chunk data
	chDataCR                      // CR after chunk data
	chDataLF                      // LF after chunk data
	chTrailer                     // the start of a trailer line: CR ends the body
	chTrailerIn                   // inside a trailer field line, up to CR
	chTrailerLF                   // LF ending a trailer field line
	chEndLF                       // the LF of the last, empty, line
)

// body tracks where a body being relayed ends. The bytes themselves are relayed as they came (the
// chunked framing included): only the end is looked for, so that the next message on the
// connection is neither cut nor swallowed.
type body struct {
	kind  bodyKind
	left  int64 // bodyLength: bytes to go; bodyChunked: bytes of the current chunk's data to go
	st    chunkState
	size  int64 // the chunk size being read
	digit bool  // a size line had at least one digit
	line  int   // length of the current size or trailer line, bounded by maxHead
}

// consume returns how many bytes at the start of p belong to the body and whether the body ends
// with them.
func (b *body) consume(p []byte) (int, bool, error) {
	switch b.kind {
	case bodyNone:
		return 0, true, nil
	case bodyUntilClose:
		return len(p), false, nil
	case bodyLength:
		n := int64(len(p))
		if n > b.left {
			n = b.left
		}
		b.left -= n
		return int(n), b.left == 0, nil
	}
	i := 0
	for i < len(p) {
		if b.st == chData {
			n := int64(len(p) - i)
			if n > b.left {
				n = b.left
			}
			i += int(n)
			if b.left -= n; b.left == 0 {
				b.st = chDataCR
			}
			continue
		}
		c := p[i]
		i++
		if b.line++; b.line > maxHead {
			return i, false, errBadChunk
		}
		switch b.st {
		case chSize:
			switch d := unhex(c); {
			case d >= 0:
				if b.size > 1<<40 {
					return i, false, errBadChunk
				}
				b.size, b.digit = b.size<<4|int64(d), true
			case !b.digit:
				return i, false, errBadChunk
			case c == '\r':
				b.st = chSizeLF
			case c == ';' || c == ' ' || c == '\t':
				b.st = chExt
			default:
				return i, false, errBadChunk
			}
		case chExt:
			if c == '\r' {
				b.st = chSizeLF
			} else if c == '\n' {
				return i, false, errBadChunk
			}
		case chSizeLF:
			if c != '\n' {
				return i, false, errBadChunk
			}
			b.line = 0
			if b.size == 0 {
				b.st = chTrailer
			} else {
				b.st, b.left = chData, b.size
			}
			b.size, b.digit = 0, false
		case chDataCR:
			if c != '\r' {
				return i, false, errBadChunk
			}
			b.st = chDataLF
		case chDataLF:
			if c != '\n' {
				return i, false, errBadChunk
			}
			b.st, b.line = chSize, 0
		case chTrailer:
			if c == '\r' {
				b.st = chEndLF
			} else if c == '\n' {
				return i, false, errBadChunk
			} else {
				b.st = chTrailerIn
			}
		case chTrailerIn:
			if c == '\r' {
				b.st = chTrailerLF
			} else if c == '\n' {
				return i, false, errBadChunk
			}
		case chTrailerLF:
			if c != '\n' {
				return i, false, errBadChunk
			}
			b.st, b.line = chTrailer, 0
		case chEndLF:
			if c != '\n' {
				return i, false, errBadChunk
			}
			return i, true, nil
		}
	}
	return i, false, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

var crlfcrlf = []byte("\r\n\r\n")

// headEnd returns the length of the head at the start of p (through its blank line), searching from
// *scan on, where an earlier call with a prefix of p left off; errIncomplete when p holds no whole
// head yet.
func headEnd(p []byte, scan *int) (int, error) {
	from := max(*scan-3, 0)
	if i := bytes.Index(p[from:], crlfcrlf); i >= 0 {
		*scan = 0
		if from+i+4 > maxHead {
			return 0, errHeadTooBig
		}
		return from + i + 4, nil
	}
	*scan = len(p)
	if len(p) >= maxHead {
		return 0, errHeadTooBig
	}
	return 0, errIncomplete
}

// field is a header field the proxy looks at; every other field is relayed as it came.
type field uint8

const (
	fieldOther field = iota
	fieldContentLength
	fieldTransferEncoding
	fieldConnection
	fieldHop // Keep-Alive, Proxy-Connection, Upgrade, TE: hop-by-hop, dropped
)

func classify(name []byte) field {
	switch len(name) {
	case 2:
		if bytes.EqualFold(name, []byte("TE")) {
			return fieldHop
		}
	case 7:
		if bytes.EqualFold(name, []byte("Upgrade")) {
			return fieldHop
		}
	case 10:
		if bytes.EqualFold(name, []byte("Connection")) {
			return fieldConnection
		}
		if bytes.EqualFold(name, []byte("Keep-Alive")) {
			return fieldHop
		}
	case 14:
		if bytes.EqualFold(name, []byte("Content-Length")) {
			return fieldContentLength
		}
	case 16:
		if bytes.EqualFold(name, []byte("Proxy-Connection")) {
			return fieldHop
		}
	case 17:
		if bytes.EqualFold(name, []byte("Transfer-Encoding")) {
			return fieldTransferEncoding
		}
	}
	return fieldOther
}

// head is what the proxy needs from a request or response head.
type head struct {
	body    body
	close   bool // the sender closes, or asks for the connection to be closed, after this message
	status  int  // responses: the status code
	isHead  bool // requests: the method is HEAD (its response has no body)
	dropped bool // a hop-by-hop field was left out of out
}

// parseHead parses the head h (through its blank line) of a request (request true) or a response,
// and appends it to out without its hop-by-hop fields. A request with both Content-Length and
// Transfer-Encoding, or with conflicting lengths, is refused: either would let the two sides
// disagree on where the body ends.
func parseHead(h []byte, request bool, out []byte) (head, []byte, error) {
	var r head
	eol := bytes.Index(h, []byte("\r\n"))
	first := h[:eol]
	out = append(out, h[:eol+2]...)
	var http10 bool
	if request {
		sp := bytes.LastIndexByte(first, ' ')
		if sp <= 0 || bytes.IndexByte(first, ' ') == sp {
			return r, out, errBadHead
		}
		switch string(first[sp+1:]) {
		case "HTTP/1.1":
		case "HTTP/1.0":
			http10 = true
		default:
			return r, out, errBadHead
		}
		r.isHead = bytes.HasPrefix(first, []byte("HEAD "))
	} else {
		if len(first) < 12 || !bytes.HasPrefix(first, []byte("HTTP/1.")) || first[8] != ' ' {
			return r, out, errBadHead
		}
		http10 = first[7] == '0'
		for _, c := range first[9:12] {
			if c < '0' || c > '9' {
				return r, out, errBadHead
			}
			r.status = r.status*10 + int(c-'0')
		}
	}
	keepAlive := false
	length, chunked, te := int64(-1), false, false
	rest := h[eol+2 : len(h)-2]
	for len(rest) > 0 {
		eol = bytes.Index(rest, []byte("\r\n"))
		line := rest[:eol]
		rest = rest[eol+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.IndexByte(line, '\n') >= 0 || line[colon-1] == ' ' || line[colon-1] == '\t' {
			return r, out, errBadHead
		}
		value := bytes.TrimSpace(line[colon+1:])
		switch classify(line[:colon]) {
		case fieldContentLength:
			n, ok := parseLength(value)
			if !ok || (length >= 0 && n != length) {
				return r, out, errBadHead
			}
			length = n
		case fieldTransferEncoding:
			te = true
			chunked = hasFinalChunked(value)
		case fieldConnection:
			r.dropped = true
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				if bytes.EqualFold(tok, []byte("close")) {
					r.close = true
				} else if bytes.EqualFold(tok, []byte("keep-alive")) {
					keepAlive = true
				}
			}
			continue
		case fieldHop:
			r.dropped = true
			continue
		}
		out = append(out, line...)
		out = append(out, '\r', '\n')
	}
	out = append(out, '\r', '\n')
	if http10 && !keepAlive {
		r.close = true
	}
	switch {
	case te && length >= 0 && request:
		return r, out, errBadHead
	case te && chunked:
		r.body.kind = bodyChunked
	case te && request: // a request body that is not chunked last has no end we could find
		return r, out, errBadHead
	case te:
		r.body.kind = bodyUntilClose
	case length > 0:
		r.body.kind, r.body.left = bodyLength, length
	case length == 0 || request:
		r.body.kind = bodyNone
	default:
		r.body.kind = bodyUntilClose
	}
	return r, out, nil
}

func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// hasFinalChunked reports whether the last transfer coding of a Transfer-Encoding value is chunked.
func hasFinalChunked(v []byte) bool {
	if i := bytes.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return bytes.EqualFold(bytes.TrimSpace(v), []byte("chunked"))
}

// responseHasBody reports whether a response to a request has a body at all (RFC 9112 section 6.3).
func responseHasBody(isHead bool, status int) bool {
	return !isHead && status >= 200 && status != 204 && status != 304
}
