package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is the wire-level test kit: a strict HTTP/1.1 request parser, an upstream that
// records exactly what reached it, and a client that sends raw bytes and collects every answer.
// The tests built on it (harden_test.go, hostile_corpus_test.go, FuzzProxyBoundary) check what
// the upstream saw, request by request, against what the client framed.

// wireReq is one request as a strict parser read it off the wire.
type wireReq struct {
	Method, Target, Proto string
	Fields                [][2]string // name as sent, value without surrounding OWS, in order
	Body                  []byte      // de-chunked
	Chunked               bool
	Trailers              [][2]string
}

// values returns the values of the fields named name (any case), in order.
func (r *wireReq) values(name string) []string {
	var vs []string
	for _, f := range r.Fields {
		if strings.EqualFold(f[0], name) {
			vs = append(vs, f[1])
		}
	}
	return vs
}

func (r *wireReq) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Method, r.Target, r.Proto)
	for _, f := range r.Fields {
		fmt.Fprintf(&b, " | %s: %q", f[0], f[1])
	}
	fmt.Fprintf(&b, " | body %q", r.Body)
	return b.String()
}

// errWire is a strict parse failure.
var errWire = errors.New("malformed")

func wireErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errWire}, args...)...)
}

// isTchar reports an RFC 9110 token character.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// readLine reads one CRLF-terminated line, refusing a bare LF (unless lf: then a bare LF ends a
// line too, as nginx reads a client's head) or a CR inside it.
func readLine(br *bufio.Reader, lf bool) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if err == io.EOF && line == "" {
			return "", io.EOF
		}
		return "", wireErr("line %q cut short", line)
	}
	switch {
	case strings.HasSuffix(line, "\r\n"):
		line = line[:len(line)-2]
	case lf:
		line = line[:len(line)-1]
	default:
		return "", wireErr("bare LF in %q", line)
	}
	if strings.ContainsAny(line, "\r\x00") {
		return "", wireErr("CR or NUL in %q", line)
	}
	if len(line) > 64<<10 {
		return "", wireErr("line too long")
	}
	return line, nil
}

// readFields reads header (or trailer) fields up to the empty line, strictly: token names,
// no whitespace before the colon, no obs-fold, no control characters in values but HTAB (lf: as
// readLine).
func readFields(br *bufio.Reader, lf bool) ([][2]string, error) {
	var fs [][2]string
	for {
		line, err := readLine(br, lf)
		if err != nil {
			if err == io.EOF {
				return nil, wireErr("head cut short")
			}
			return nil, err
		}
		if line == "" {
			return fs, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, wireErr("obs-fold")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return nil, wireErr("bad field line %q", line)
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				return nil, wireErr("control character in %q", line)
			}
		}
		fs = append(fs, [2]string{name, value})
		if len(fs) > 1000 {
			return nil, wireErr("too many fields")
		}
	}
}

// readWireRequest reads one request strictly: HTTP/1.x request line, fields, and the body as
// RFC 9112 section 6 frames it, refusing every ambiguity (both framings, repeated or bad
// Content-Length, a Transfer-Encoding other than chunked). It returns io.EOF at a clean end.
func readWireRequest(br *bufio.Reader) (*wireReq, error) { return readRequestLines(br, false) }

// readClientRequest reads one request as readWireRequest does, but for a bare LF, which ends a
// line as CRLF does, and empty lines before the request line, which are skipped (RFC 9112
// section 2.2): nginx reads a client's head so (and so does the proxy), and forwards it with
// CRLF.
func readClientRequest(br *bufio.Reader) (*wireReq, error) { return readRequestLines(br, true) }

func readRequestLines(br *bufio.Reader, lf bool) (*wireReq, error) {
	line, err := readLine(br, lf)
	for lf && err == nil && line == "" {
		line, err = readLine(br, lf)
	}
	if err != nil {
		return nil, err
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || !isToken(parts[0]) || parts[1] == "" {
		return nil, wireErr("bad request line %q", line)
	}
	if parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0" {
		return nil, wireErr("bad version in %q", line)
	}
	r := &wireReq{Method: parts[0], Target: parts[1], Proto: parts[2]}
	if r.Fields, err = readFields(br, lf); err != nil {
		return nil, err
	}
	cls, tes := r.values("Content-Length"), r.values("Transfer-Encoding")
	switch {
	case len(cls) > 0 && len(tes) > 0:
		return nil, wireErr("both Content-Length and Transfer-Encoding")
	case len(tes) > 1 || len(tes) == 1 && !strings.EqualFold(tes[0], "chunked"):
		return nil, wireErr("Transfer-Encoding %q", tes)
	case len(tes) == 1 && r.Proto == "HTTP/1.0":
		return nil, wireErr("Transfer-Encoding in HTTP/1.0")
	case len(tes) == 1:
		r.Chunked = true
		return r, readChunked(br, r, lf)
	case len(cls) > 1:
		return nil, wireErr("Content-Length %q", cls)
	case len(cls) == 1:
		n, err := strconv.ParseUint(cls[0], 10, 40)
		if err != nil || cls[0][0] == '+' {
			return nil, wireErr("Content-Length %q", cls[0])
		}
		// Read as it comes, not into n bytes made first: a fuzzed length can be a terabyte.
		if r.Body, err = io.ReadAll(io.LimitReader(br, int64(n))); err != nil || uint64(len(r.Body)) != n {
			return nil, wireErr("body cut short")
		}
	}
	return r, nil
}

// readChunked reads a chunked body and its trailers into r (lf: as readLine).
func readChunked(br *bufio.Reader, r *wireReq, lf bool) error {
	var body bytes.Buffer
	for {
		line, err := readLine(br, lf)
		if err != nil {
			if err == io.EOF {
				return wireErr("chunked body cut short")
			}
			return err
		}
		size, _, _ := strings.Cut(line, ";")
		if size == "" || len(size) > 10 {
			return wireErr("chunk size %q", line)
		}
		n, err := strconv.ParseUint(size, 16, 40)
		if err != nil {
			return wireErr("chunk size %q", line)
		}
		if n == 0 {
			r.Body = body.Bytes()
			if r.Body == nil {
				r.Body = []byte{}
			}
			r.Trailers, err = readFields(br, lf)
			return err
		}
		if _, err := io.CopyN(&body, br, int64(n)); err != nil {
			return wireErr("chunk cut short")
		}
		if crlf, err := readLine(br, lf); err != nil || crlf != "" {
			return wireErr("no CRLF after a chunk")
		}
	}
}

// recorder is an upstream on loopback that records every request it receives, parsed strictly,
// and answers each "200 ok" on a keep-alive connection. Bytes it cannot parse are recorded as
// garbage and end the connection: a proxy that frames what it forwards never causes any.
type recorder struct {
	addr string

	mu      sync.Mutex
	reqs    []*wireReq
	garbage []string
	conns   int
}

func newRecorder(t testing.TB) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: ln.Addr().String()}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
			go r.serve(c)
		}
	}()
	return r
}

func (r *recorder) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(c)
	for {
		// Between requests a pooled connection may end in any way (the proxy's close, or this
		// connection's deadline, which long fuzzing outlives): no byte of a request, no garbage.
		if _, err := br.Peek(1); err != nil {
			return
		}
		req, err := readWireRequest(br)
		if err == io.EOF {
			return
		}
		if err != nil {
			rest, _ := io.ReadAll(io.LimitReader(br, int64(br.Buffered())))
			r.mu.Lock()
			r.garbage = append(r.garbage, err.Error()+" before "+strconv.Quote(string(rest)))
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

// take returns what was recorded since the last take and forgets it.
func (r *recorder) take() ([]*wireReq, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs, garbage := r.reqs, r.garbage
	r.reqs, r.garbage = nil, nil
	return reqs, garbage
}

// sendRaw writes raw to addr on a new connection, half-closes it, and reads every answer until
// the proxy closes the connection. It returns the status of each answer (a 100 Continue
// skipped) and the whole text.
func sendRaw(t testing.TB, addr, raw string) ([]int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Logf("write: %v", err) // the proxy may close before reading it all
	}
	_ = c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	return statusesOf(b), string(b)
}

// statusesOf parses the status of every response in a raw answer stream.
func statusesOf(b []byte) []int {
	var codes []int
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return codes
		}
		proto, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		code, err := strconv.Atoi(strings.SplitN(rest, " ", 2)[0])
		if !strings.HasPrefix(proto, "HTTP/1.") || err != nil {
			return codes
		}
		cl, chunked := 0, false
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return append(codes, code)
			}
			h = strings.TrimRight(h, "\r\n")
			if h == "" {
				break
			}
			k, v, _ := strings.Cut(h, ":")
			switch strings.ToLower(k) {
			case "content-length":
				cl, _ = strconv.Atoi(strings.TrimSpace(v))
			case "transfer-encoding":
				chunked = true
			}
		}
		if code == 100 {
			continue
		}
		codes = append(codes, code)
		if chunked {
			var wr wireReq
			if readChunked(br, &wr, false) != nil {
				return codes
			}
			continue
		}
		if _, err := br.Discard(cl); err != nil {
			return codes
		}
	}
}
