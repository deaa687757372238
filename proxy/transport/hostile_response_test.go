package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// nextResponse is what a scripted upstream answers to every request but the case's.
const nextResponse = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"

// scripted is a raw upstream on loopback: it numbers its connections, reads request heads (and
// Content-Length bodies) on each, and answers with what answer returns for the request's path,
// closing the connection after it when asked. It records the connection of every request.
type scripted struct {
	mu    sync.Mutex
	conns []net.Conn       // by number, from 1
	seen  map[string][]int // path → the connections it arrived on
	addr  string
}

func newScripted(t *testing.T, answer func(path string) (out string, closeAfter bool)) *scripted {
	t.Helper()
	s := &scripted{seen: map[string][]int{}, conns: []net.Conn{nil}}
	s.addr = rawBackend(t, nil, func(c net.Conn) {
		s.mu.Lock()
		s.conns = append(s.conns, c)
		id := len(s.conns) - 1
		s.mu.Unlock()
		br := bufio.NewReader(c)
		for {
			path, cl, err := readTarget(br)
			if err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, br, int64(cl)); err != nil {
				return
			}
			s.mu.Lock()
			s.seen[path] = append(s.seen[path], id)
			s.mu.Unlock()
			out, closeAfter := answer(path)
			if _, err := io.WriteString(c, out); err != nil || closeAfter {
				return
			}
		}
	})
	return s
}

// on returns the connections path arrived on.
func (s *scripted) on(path string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.seen[path]...)
}

// conn returns connection id.
func (s *scripted) conn(id int) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// readTarget reads one request head and returns its target and Content-Length.
func readTarget(br *bufio.Reader) (string, int, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", 0, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", 0, fmt.Errorf("bad request line %q", line)
	}
	cl, err := readRequestHead(br)
	return f[1], cl, err
}

// clientResult is what a client read for one request.
type clientResult struct {
	status   int    // 0: the connection closed (or failed) before a status line
	proto    string // the status line's protocol
	body     string // what arrived of the body
	complete bool   // the body arrived whole
	closed   bool   // the proxy closed the connection after this response
}

// ask sends one request on c and reads the answer. An incomplete answer or one the proxy
// announced with Connection: close is followed by a read that must find the connection's end.
func ask(t *testing.T, c net.Conn, br *bufio.Reader, method, path, body string) clientResult {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	head := method + " " + path + " HTTP/1.1\r\nHost: upstream.test\r\n"
	if body != "" {
		head += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n"+body); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	req, _ := http.NewRequest(method, "http://upstream.test"+path, nil)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return clientResult{closed: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r := clientResult{status: resp.StatusCode, proto: resp.Proto, body: string(b), complete: err == nil}
	if !r.complete || (resp.Close && resp.ProtoAtLeast(1, 1)) {
		// Whatever the proxy said, it must close now: find the end (a deadline is a failure).
		_, err := br.ReadByte()
		r.closed = errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
		if !r.closed {
			t.Fatalf("the connection stayed open after an incomplete or closing answer: %v", err)
		}
	}
	return r
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func dialFront(t *testing.T, f *front) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// hostileCase is one upstream response of testdata/hostile-responses and what must come of it.
//
// The file format, one directive a line ('#' starts a comment):
//
//	response "<Go-quoted bytes>"   what the upstream writes (repeatable: appended)
//	repeat N "<Go-quoted bytes>"   the same, N times
//	close                          the upstream closes the connection after writing
//	method HEAD                    the request's method (default GET)
//	status N                       the status the client gets; 0: no status line at all
//	body "<Go-quoted bytes>"       the body the client gets (or, with cut, must start with)
//	cut                            the client connection is closed before the body is complete
//	reuse yes|no                   the next request goes over the same upstream connection
//	streamed-only / buffered-only  the expectation holds only when the body streams / is read whole
type hostileCase struct {
	name       string
	response   []byte
	closeAfter bool
	method     string
	status     int
	body       *string
	cut        bool
	reuse      bool
	mode       string // "", "streamed" or "buffered"
}

func parseHostileCase(name string, text []byte) (hostileCase, error) {
	hc := hostileCase{name: name, method: http.MethodGet, status: -1}
	reuseSet := false
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, arg, _ := strings.Cut(line, " ")
		var err error
		switch key {
		case "response":
			var s string
			s, err = strconv.Unquote(arg)
			hc.response = append(hc.response, s...)
		case "repeat":
			n, q, _ := strings.Cut(arg, " ")
			var k int
			var s string
			if k, err = strconv.Atoi(n); err == nil {
				s, err = strconv.Unquote(q)
				hc.response = append(hc.response, strings.Repeat(s, k)...)
			}
		case "close":
			hc.closeAfter = true
		case "method":
			hc.method = arg
		case "status":
			hc.status, err = strconv.Atoi(arg)
		case "body":
			var s string
			s, err = strconv.Unquote(arg)
			hc.body = &s
		case "cut":
			hc.cut = true
		case "reuse":
			hc.reuse, reuseSet = arg == "yes", true
		case "streamed-only":
			hc.mode = "streamed"
		case "buffered-only":
			hc.mode = "buffered"
		default:
			err = errors.New("unknown directive")
		}
		if err != nil {
			return hc, fmt.Errorf("%s:%d: %q: %v", name, i+1, line, err)
		}
	}
	if hc.status < 0 || !reuseSet || len(hc.response) == 0 {
		return hc, fmt.Errorf("%s: response, status and reuse are required", name)
	}
	return hc, nil
}

// TestHostileResponses runs the corpus of testdata/hostile-responses: every upstream response
// there, with the body read whole and streamed, gives the client what the case says, never
// waits for the read timeout, and the next request on the node gets its own answer ("next"),
// over the same upstream connection only when the case says so.
func TestHostileResponses(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile-responses/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		hc, err := parseHostileCase(strings.TrimSuffix(filepath.Base(file), ".txt"), text)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"buffered", "streamed"} {
			if hc.mode != "" && hc.mode != mode {
				continue
			}
			t.Run(hc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				runHostileCase(t, hc, mode)
			})
		}
	}
}

func runHostileCase(t *testing.T, hc hostileCase, mode string) {
	up := newScripted(t, func(path string) (string, bool) {
		if path == "/case" {
			return string(hc.response), hc.closeAfter
		}
		return nextResponse, false
	})
	opts := Options{MaxResponseHeaderBytes: 1024}
	if mode == "streamed" {
		opts.ResponseBufferSize = 1 // every body of 2 bytes or more streams
	}
	tr := New(opts)
	// The read timeout is long enough for loopback under -race and short enough that riding it
	// out shows: no case may.
	f := serveFront(t, tr, newPool(t, tr, nil, `"timeout":{"connect":5,"send":5,"read":5}`, up.addr))
	c, br := dialFront(t, f)
	start := time.Now()
	got := ask(t, c, br, hc.method, "/case", "")
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the answer took %v: the read timeout ran out", d)
	}
	if got.status != hc.status && !(hc.cut && got.status == 0) {
		t.Errorf("status %d, want %d (body %q)", got.status, hc.status, got.body)
	}
	if got.status != 0 && got.proto != "HTTP/1.1" {
		t.Errorf("status line protocol %q, want the proxy's own HTTP/1.1", got.proto)
	}
	switch {
	case hc.cut && got.status != 0 && got.complete:
		t.Errorf("the body arrived whole (%q); want it cut and the connection closed", got.body)
	case hc.cut && !got.closed:
		t.Errorf("the connection stayed open after a cut body")
	case !hc.cut && got.status != 0 && !got.complete:
		t.Errorf("the body was cut after %q", got.body)
	}
	if hc.body != nil && got.status != 0 {
		if hc.cut && !strings.HasPrefix(*hc.body, got.body) || !hc.cut && got.body != *hc.body {
			t.Errorf("body %q, want %q", got.body, *hc.body)
		}
	}

	if got.closed {
		c, br = dialFront(t, f)
	}
	next := ask(t, c, br, http.MethodGet, "/next", "")
	if next.status != 200 || next.body != "next" {
		t.Fatalf("the next request got %d %q, want 200 \"next\"", next.status, next.body)
	}
	caseConns, nextConns := up.on("/case"), up.on("/next")
	if len(caseConns) != 1 || len(nextConns) != 1 {
		t.Fatalf("the upstream saw /case on %v and /next on %v: a request was sent again", caseConns, nextConns)
	}
	if reused := caseConns[0] == nextConns[0]; reused != hc.reuse {
		t.Errorf("upstream connection reused: %v, want %v", reused, hc.reuse)
	}
}

// TestUnsolicitedResponse (issue 20 item 3): bytes an upstream sends when no request is pending
// never reach a request. A response written while its connection sits idle in the pool, or
// written right behind the one asked for, would otherwise be read as the answer to the next
// request on that connection, whichever client sent it.
func TestUnsolicitedResponse(t *testing.T) {
	const poison = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"
	for _, tc := range []struct {
		name   string
		method string
		body   string
		behind bool // the poison comes in the same write as the first response
	}{
		{"GET, while idle", http.MethodGet, "", false},
		{"POST, while idle", http.MethodPost, "data", false},
		{"PUT, while idle", http.MethodPut, "data", false},
		{"GET, right behind the response", http.MethodGet, "", true},
		{"POST, right behind the response", http.MethodPost, "data", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newScripted(t, func(path string) (string, bool) {
				if path == "/first" && tc.behind {
					return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" + poison, false
				}
				if path == "/first" {
					return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", false
				}
				return nextResponse, false
			})
			tr := New(Options{})
			f := serveFront(t, tr, newPool(t, tr, nil, `"timeout":{"connect":5,"send":5,"read":5}`, up.addr))
			c1, br1 := dialFront(t, f)
			if got := ask(t, c1, br1, tc.method, "/first", tc.body); got.status != 200 || got.body != "first" {
				t.Fatalf("first request: %+v", got)
			}
			if !tc.behind {
				// The upstream's first connection is idle in the proxy's pool: write into it.
				if _, err := io.WriteString(up.conn(1), poison); err != nil {
					t.Fatal(err)
				}
				waitDelivered(t, up.conn(1))
			}
			// Another client.
			c2, br2 := dialFront(t, f)
			got := ask(t, c2, br2, tc.method, "/next", tc.body)
			if got.status != 200 || got.body != "next" {
				t.Fatalf("the next request got %d %q, want 200 \"next\" (the poison was delivered)", got.status, got.body)
			}
			if conns := up.on("/next"); len(conns) != 1 || conns[0] == 1 {
				t.Errorf("the next request went over connections %v: the poisoned one was reused", conns)
			}
		})
	}
}

// TestBareLFResponse (issue 20 item 6): a response head whose lines end in a bare LF is
// delivered at once, as nginx delivers it, instead of waiting for a CRLF CRLF that never comes.
func TestBareLFResponse(t *testing.T) {
	for _, tc := range []struct{ name, response, body string }{
		{"all bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "ok"},
		{"CRLF lines, bare LF end", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok", "ok"},
		{"bare LF lines, CRLF end", "HTTP/1.1 200 OK\nX-A: 1\n\r\nok", "ok"},
		{"chunked", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\r\nok\r\n0\r\n\r\n", "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newScripted(t, func(path string) (string, bool) {
				if path == "/case" {
					return tc.response, strings.Contains(tc.name, "CRLF end")
				}
				return nextResponse, false
			})
			tr := New(Options{})
			// A read timeout far above what loopback needs: a stall shows as a 504.
			f := serveFront(t, tr, newPool(t, tr, nil, `"timeout":{"connect":5,"send":5,"read":3}`, up.addr))
			c, br := dialFront(t, f)
			got := ask(t, c, br, http.MethodGet, "/case", "")
			if got.status != 200 || got.body != tc.body || !got.complete {
				t.Fatalf("got %+v, want 200 %q", got, tc.body)
			}
		})
	}
}

// TestResponseStatusLine: the status line the client gets is the proxy's own (HTTP/1.1 whatever
// the upstream spoke), and a status line nginx would not take as one is a 502, never passed on:
// a status below 100 (fasthttp would read 000 as 200), a protocol that is not HTTP/1 or more.
func TestResponseStatusLine(t *testing.T) {
	for _, tc := range []struct {
		name, response string
		status         int
	}{
		{"HTTP/1.0 upstream", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200},
		{"HTTP/1.1 upstream", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201},
		{"status 000", "HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok", 502},
		{"status 099", "HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok", 502},
		{"HTTP/0.0", "HTTP/0.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 502},
		{"HTTP/0.9", "HTTP/0.9 200 OK\r\nContent-Length: 2\r\n\r\nok", 502},
		{"Content-Length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 502},
		{"chunked and Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 502},
		{"Transfer-Encoding gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", 502},
		{"HTTP/1.0 Transfer-Encoding gzip", "HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newScripted(t, func(string) (string, bool) { return tc.response, true })
			tr := New(Options{})
			f := serveFront(t, tr, newPool(t, tr, nil, `"timeout":{"connect":5,"send":5,"read":5}`, up.addr))
			c, br := dialFront(t, f)
			got := ask(t, c, br, http.MethodGet, "/case", "")
			if got.status != tc.status || got.proto != "HTTP/1.1" {
				t.Fatalf("got %s %d %q, want HTTP/1.1 %d", got.proto, got.status, got.body, tc.status)
			}
		})
	}
}

// TestCutBodyAfterHead (issue 20 item 16): a response whose body the upstream cuts short
// reaches the client as nginx passes it: the status, the head and what arrived of the body,
// then the client connection closes. The try answered: it is not retried. (A streamed body
// reaches the client as the server's writer flushes it: a body cut within its first few KiB may
// close the connection before anything was flushed, which tells the client no less.)
func TestCutBodyAfterHead(t *testing.T) {
	for _, tc := range []struct {
		name, response, arrived string
		bufferSize              int
	}{
		{"buffered Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: 1\r\n\r\nshort", "short", 0},
		{"buffered, nothing arrived", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10\r\n\r\n", "", 0},
		{"streamed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "", 1},
		{"streamed chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newScripted(t, func(string) (string, bool) { return tc.response, true })
			tr := New(Options{ResponseBufferSize: tc.bufferSize})
			f := serveFront(t, tr, newPool(t, tr, nil, `"timeout":{"connect":5,"send":5,"read":5}`, up.addr))
			c, br := dialFront(t, f)
			got := ask(t, c, br, http.MethodGet, "/case", "")
			want, _ := strconv.Atoi(tc.response[9:12])
			if tc.bufferSize > 0 && got.status == 0 && got.closed {
				return // streamed: nothing flushed yet when the body broke
			}
			if got.status != want || got.complete || !got.closed || !strings.HasPrefix(got.body, tc.arrived) {
				t.Fatalf("got %+v, want status %d, %q of the body, then the connection closed", got, want, tc.arrived)
			}
			if got.proto != "HTTP/1.1" {
				t.Errorf("protocol %q", got.proto)
			}
			if n := len(up.on("/case")); n != 1 {
				t.Errorf("the upstream got the request %d times", n)
			}
		})
	}
	t.Run("outcome", func(t *testing.T) {
		up := newScripted(t, func(string) (string, bool) { return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true })
		tr := New(Options{})
		pool := newPool(t, tr, nil, `"timeout":{"connect":5,"send":5,"read":5}`, up.addr)
		var ctx fasthttp.RequestCtx
		ctx.Init2(clientConn{}, nil, false)
		ctx.Request.SetRequestURI("/cut")
		ctx.Request.Header.SetHost("upstream.test")
		r := Request{Timeouts: Timeouts{Connect: waitFor, Send: waitFor, Read: waitFor}}
		node := pool.Pick(&ctx, nil)
		o := tr.Try(&ctx, &r, node, time.Now())
		if !o.Answered || o.Retry || o.Status != 200 {
			t.Fatalf("outcome %+v, want answered with 200, not to be retried", o)
		}
		if n := node.InFlight(); n != 0 {
			t.Errorf("%d tries in flight", n)
		}
	})
}
