package transport

import (
	"bufio"
	"bytes"
	"errors"
	"time"

	"github.com/valyala/fasthttp"
)

// Failures of a response head, all nginx's invalid_header: the try fails with a 502, is not
// retried, and the connection is closed.
var (
	errBadStatusLine = errors.New("upstream sent an invalid status line")
	errBadHead       = errors.New("upstream sent an invalid response head")
	errBadFraming    = errors.New("upstream sent Content-Length with Transfer-Encoding, or a transfer coding other than chunked")
	errHeadTooLarge  = errors.New("upstream response head too large")
	errInterimStorm  = errors.New("upstream sent too many interim responses")
)

// maxInterim bounds the interim (1xx) responses skipped before the final one: each re-arms the
// read timeout, so an upstream sending them without end would hold the request for ever.
const maxInterim = 16

// headReadSize bounds each read of a response head on a plain TCP connection whose last
// response had a body at least the head buffer's size, as nginx reads a head into
// proxy_buffer_size (a page) and the body into other buffers. A read into the whole head buffer
// (max_response_header_bytes) also brings in up to that much of the body, which is then copied
// from there: 16 KiB of each 64 KiB response, 3 % of the proxy's CPU in the 64k bench row. After
// smaller responses the head is read with the whole buffer's room: a response of a few KiB then
// comes in one read, where a bounded one would take two. A head longer than this takes more reads.
const headReadSize = 4 << 10

// headInfo is what the transport learns of a response head in its own pass over it, before
// fasthttp parses it: where it ends, and what fasthttp would let through that nginx does not.
type headInfo struct {
	n         int  // the head's length, its empty line included
	bareLF    bool // a line ends in LF alone
	http10    bool // the upstream spoke HTTP/1.0: nginx never keeps such a connection
	status    int
	cl, te    int  // how many Content-Length and Transfer-Encoding fields
	teChunked bool // the Transfer-Encoding value is chunked
}

// scanHead finds the end of the response head at the start of b, taking a bare LF for a line end
// as nginx does, and checks its status line as nginx's ngx_http_parse_status_line does
// ("HTTP/" major "." minor, major from 1, three digits of status), with a status from 100. ok is
// false when b does not hold the whole head yet.
func scanHead(b []byte) (hi headInfo, ok bool, err error) {
	line, rest, ok := cutLine(b, &hi)
	if !ok {
		return hi, false, nil
	}
	if hi.status, hi.http10, err = statusLine(line); err != nil {
		return hi, false, err
	}
	for {
		if line, rest, ok = cutLine(rest, &hi); !ok {
			return hi, false, nil
		}
		if len(line) == 0 {
			hi.n = len(b) - len(rest)
			return hi, true, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: nginx refuses it from an upstream.
			return hi, false, errBadHead
		}
		switch line[0] | 0x20 {
		case 'c', 't':
			name, value, found := bytes.Cut(line, []byte{':'})
			if !found {
				continue // fasthttp refuses it
			}
			switch FieldOf(name) {
			case FieldContentLength:
				hi.cl++
			case FieldTransferEncoding:
				hi.te++
				hi.teChunked = EqualFoldLower(bytes.TrimSpace(value), "chunked")
			}
		}
	}
}

// cutLine cuts the first line off b, without its line end (CRLF or a bare LF, noted in hi).
func cutLine(b []byte, hi *headInfo) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line, rest = b[:i], b[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	} else {
		hi.bareLF = true
	}
	return line, rest, true
}

// statusLine checks a status line as nginx does and returns its status.
func statusLine(line []byte) (status int, http10 bool, err error) {
	if status, ok := plainStatusLine(line); ok {
		return status, false, nil
	}
	return parseStatusLine(line)
}

// plainStatusLine takes the status line nearly every upstream writes, "HTTP/1.1 ddd" and then a
// space or nothing, with a status from 100, at a glance; ok is false for any other, which
// parseStatusLine reads. (TestPlainStatusLine holds the two to the same answers.)
func plainStatusLine(line []byte) (status int, ok bool) {
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return 0, false
	}
	c0, c1, c2 := line[9]-'0', line[10]-'0', line[11]-'0' // a byte below '0' wraps past 9
	if c0 < 1 || c0 > 9 || c1 > 9 || c2 > 9 {
		return 0, false
	}
	return int(c0)*100 + int(c1)*10 + int(c2), true
}

// parseStatusLine is statusLine for any line.
func parseStatusLine(line []byte) (status int, http10 bool, err error) {
	const prefix = "HTTP/"
	if len(line) < len(prefix) || string(line[:len(prefix)]) != prefix {
		return 0, false, errBadStatusLine
	}
	p := line[len(prefix):]
	major, p := digits(p)
	if len(major) == 0 || len(major) > 3 || major[0] == '0' || len(p) == 0 || p[0] != '.' {
		return 0, false, errBadStatusLine
	}
	minor, p := digits(p[1:])
	if len(minor) == 0 || len(minor) > 3 || len(p) == 0 || p[0] != ' ' {
		return 0, false, errBadStatusLine
	}
	p = bytes.TrimLeft(p, " ")
	code, p := digits(p)
	if len(code) != 3 || (len(p) > 0 && p[0] != ' ') {
		// nginx also takes "403.1" (IIS); fasthttp does not: a 502 either way is safe.
		return 0, false, errBadStatusLine
	}
	status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if status < 100 {
		return 0, false, errBadStatusLine
	}
	http10 = string(major) == "1" && len(bytes.TrimLeft(minor, "0")) == 0
	return status, http10, nil
}

// digits splits the leading ASCII digits off b.
func digits(b []byte) (d, rest []byte) {
	i := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return b[:i], b[i:]
}

// readHead reads the response head into resp, skipping interim 1xx responses other than 101 (at
// most maxInterim of them), and returns the final status. The head is the client's to be: its
// status line is the proxy's own HTTP/1.1, whatever the upstream spoke, and an HTTP/1.0 head is
// marked Connection: close (nginx keeps no HTTP/1.0 upstream connection). A head nginx would
// refuse fails: an invalid status line, obs-fold, Content-Length with Transfer-Encoding, a
// transfer coding other than chunked.
func (t *Transport) readHead(resp *fasthttp.Response, br *bufio.Reader, uc upConn, read time.Duration) (int, error) {
	for interim := 0; ; interim++ {
		if interim > maxInterim {
			return 0, errInterimStorm
		}
		hi, err := t.readOneHead(&resp.Header, br)
		if err != nil {
			return 0, err
		}
		if hi.status >= 200 || hi.status == fasthttp.StatusSwitchingProtocols {
			return hi.status, nil
		}
		_ = uc.conn.SetReadDeadline(time.Now().Add(read))
	}
}

// readOneHead reads one head into h: found by scanHead, parsed by fasthttp, checked.
func (t *Transport) readOneHead(h *fasthttp.ResponseHeader, br *bufio.Reader) (headInfo, error) {
	var hi headInfo
	for {
		b, err := br.Peek(max(br.Buffered(), 1))
		if err != nil {
			return hi, noEOF(err)
		}
		var ok bool
		if hi, ok, err = scanHead(b); err != nil || ok {
			if err != nil {
				return hi, err
			}
			break
		}
		if br.Buffered() >= br.Size() {
			return hi, errHeadTooLarge
		}
		// Wait for more: at least one byte beyond what is buffered.
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return hi, noEOF(err)
		}
	}
	if hi.bareLF {
		if err := t.parseBareLF(h, br, hi.n); err != nil {
			return hi, err
		}
	} else {
		before := br.Buffered()
		if err := h.Read(br); err != nil {
			return hi, err
		}
		if before-br.Buffered() != hi.n {
			// fasthttp and scanHead disagree on where the head ends: never guess.
			return hi, errBadHead
		}
	}
	switch {
	case h.StatusCode() != hi.status:
		return hi, errBadStatusLine
	case hi.te > 0 && (hi.cl > 0 || hi.te > 1 || !hi.teChunked):
		return hi, errBadFraming
	case hi.te > 0 && h.ContentLength() != -1:
		// fasthttp ignores Transfer-Encoding in an HTTP/1.0 head; nginx decodes the chunks.
		h.SetContentLength(-1)
	}
	h.SetProtocol(nil) // the client gets the proxy's HTTP/1.1
	if hi.http10 {
		h.SetConnectionClose()
	}
	return hi, nil
}

// bareLFHead parses a head whose lines end in bare LFs, which fasthttp does not take as an end of
// the head: a copy with CRLF line ends.
type bareLFHead struct {
	buf []byte
	r   bytes.Reader
	br  *bufio.Reader
}

// parseBareLF parses the n bytes of head at the start of br into h, then discards them. It is
// the path of broken upstreams only.
func (t *Transport) parseBareLF(h *fasthttp.ResponseHeader, br *bufio.Reader, n int) error {
	b, err := br.Peek(n)
	if err != nil {
		return noEOF(err)
	}
	x, _ := t.bareLF.Get().(*bareLFHead)
	if x == nil {
		x = &bareLFHead{br: bufio.NewReaderSize(nil, 2*t.opts.MaxResponseHeaderBytes+2)}
	}
	defer t.bareLF.Put(x)
	x.buf = x.buf[:0]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		x.buf = append(append(x.buf, line...), '\r', '\n')
		b = b[i+1:]
	}
	x.r.Reset(x.buf)
	x.br.Reset(&x.r)
	err = h.Read(x.br)
	x.br.Reset(nil)
	if err != nil {
		return err
	}
	_, err = br.Discard(n)
	return err
}
