package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/bench/upstream"
)

// An upstream of another implementation (net/http) than the proxy's parser, so that the two do not
// share a mistake.
func newUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16) // larger than any socket buffer
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) { w.Write(upstream.JSON(100)) })
	withLength := func(b []byte) http.HandlerFunc { // net/http would chunk a body this large
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Write(b)
		}
	}
	mux.Handle("/64k", withLength(upstream.JSON(64<<10)))
	mux.Handle("/big", withLength(big))
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 5 { // no Content-Length and a flush per part: net/http sends chunks
			fmt.Fprintf(w, "part %d %s;", i, strings.Repeat("x", i*1000))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	})
	mux.HandleFunc("/head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func newProxy(t *testing.T, up string, loops int) string {
	t.Helper()
	s, err := start("127.0.0.1:0", up, loops)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s.addr
}

// want is a request and the body its response must carry, byte for byte.
type want struct {
	method, path, headers, body string
	status                      int
	respBody                    []byte
	chunked                     bool
}

func get(path string, body []byte) want {
	return want{method: "GET", path: path, status: 200, respBody: body}
}

func (w want) request() string {
	h := w.headers
	if w.body != "" && !strings.Contains(h, "Transfer-Encoding") {
		h += fmt.Sprintf("Content-Length: %d\r\n", len(w.body))
	}
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: test\r\n%s\r\n%s", w.method, w.path, h, w.body)
}

// check reads one response and compares it with w.
func (w want) check(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: w.method})
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", w.method, w.path, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", w.method, w.path, err)
	}
	if resp.StatusCode != w.status {
		t.Fatalf("%s %s: status %d, want %d", w.method, w.path, resp.StatusCode, w.status)
	}
	if !bytes.Equal(b, w.respBody) {
		t.Fatalf("%s %s: body of %d bytes differs from the upstream's %d", w.method, w.path, len(b), len(w.respBody))
	}
	if chunked := len(resp.TransferEncoding) > 0; chunked != w.chunked {
		t.Fatalf("%s %s: chunked %v, want %v", w.method, w.path, chunked, w.chunked)
	}
	return resp
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

func chunkedWant() want {
	var b []byte
	for i := range 5 {
		b = fmt.Appendf(b, "part %d %s;", i, strings.Repeat("x", i*1000))
	}
	w := get("/chunked", b)
	w.chunked = true
	return w
}

func TestProxy(t *testing.T) {
	up := newUpstream(t)
	addr := newProxy(t, up.Listener.Addr().String(), 2)
	small, large := upstream.JSON(100), upstream.JSON(64<<10)
	post := want{method: "POST", path: "/echo", body: strings.Repeat("b", 70000), status: 200,
		respBody: []byte(strings.Repeat("b", 70000))}
	postChunked := want{method: "POST", path: "/echo", headers: "Transfer-Encoding: chunked\r\n",
		body: "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", status: 200, respBody: []byte("hello world")}
	head := want{method: "HEAD", path: "/head", status: 200}

	for _, tc := range []struct {
		name  string
		reqs  []want
		batch bool // write every request at once (pipelined) before reading any response
	}{
		{"keep-alive", []want{get("/small", small), get("/64k", large), chunkedWant(), head, post, postChunked, get("/small", small)}, false},
		{"pipelined", []want{get("/small", small), chunkedWant(), get("/64k", large), head, post, postChunked, get("/small", small)}, true},
		{"64 KiB", []want{get("/64k", large), get("/64k", large)}, false},
		{"chunked", []want{chunkedWant(), chunkedWant()}, false},
		{"4 MiB, client slower than the upstream", []want{get("/big", bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)), get("/small", small)}, true},
		{"upstream closes after its response", []want{get("/close", []byte("bye")), get("/small", small), get("/close", []byte("bye")), get("/small", small)}, false},
		{"not found", []want{{method: "GET", path: "/nothing", status: 404, respBody: []byte("404 page not found\n")}, get("/small", small)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, addr)
			if tc.batch {
				var all strings.Builder
				for _, w := range tc.reqs {
					all.WriteString(w.request())
				}
				if _, err := io.WriteString(c, all.String()); err != nil {
					t.Fatal(err)
				}
			}
			for _, w := range tc.reqs {
				if !tc.batch {
					if _, err := io.WriteString(c, w.request()); err != nil {
						t.Fatal(err)
					}
				}
				if resp := w.check(t, br); resp.Close {
					t.Fatalf("%s: the proxy closes a keep-alive connection", w.path)
				}
			}
			if br.Buffered() > 0 {
				t.Fatalf("%d bytes after the last response", br.Buffered())
			}
		})
	}
}

func TestConnectionClose(t *testing.T) {
	up := newUpstream(t)
	addr := newProxy(t, up.Listener.Addr().String(), 1)
	for _, tc := range []struct{ name, req string }{
		{"HTTP/1.1 with Connection: close", "GET /small HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"},
		{"HTTP/1.0", "GET /small HTTP/1.0\r\nHost: test\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // the upstream connection stays open for the next
				c, br := dial(t, addr)
				// Another request after the one that asked for close must not be answered.
				if _, err := io.WriteString(c, tc.req+"GET /small HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp := get("/small", upstream.JSON(100)).check(t, br)
				if !resp.Close {
					t.Fatal("no Connection: close in the response")
				}
				if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
					t.Fatalf("after the response: %q, %v; want the connection closed", rest, err)
				}
			}
		})
	}
}

func TestRefused(t *testing.T) {
	up := newUpstream(t)
	addr := newProxy(t, up.Listener.Addr().String(), 1)
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"Content-Length and Transfer-Encoding", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two different lengths", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"bad chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
		{"head too large", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHead) + "\r\n\r\n", 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, addr)
			io.WriteString(c, tc.req)
			if tc.status != 0 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
			}
			if _, err := io.ReadAll(br); err != nil {
				t.Fatalf("want the connection closed, got %v", err)
			}
		})
	}
}

// TestUpstreamClosesIdle: keep-alive connections the upstream closes while they sit in the pool
// are not used for the next request (or the request is sent again on a new one).
func TestUpstreamClosesIdle(t *testing.T) {
	up := newUpstream(t)
	addr := newProxy(t, up.Listener.Addr().String(), 1)
	c, br := dial(t, addr)
	w := get("/small", upstream.JSON(100))
	for range 5 {
		io.WriteString(c, w.request())
		w.check(t, br)
		up.CloseClientConnections()
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	addr := newProxy(t, dead, 1)
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
}

// TestChunkFraming: the end of a chunked body is found however its bytes are split between reads,
// and nothing after it is taken.
func TestChunkFraming(t *testing.T) {
	const msg = "4\r\nWiki\r\n5;a=b\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n"
	for _, split := range []int{1, 2, 3, 7, len(msg)} {
		b := body{kind: bodyChunked}
		n, done := 0, false
		for i := 0; i < len(msg) && !done; i += split {
			piece := msg[i:min(i+split, len(msg))]
			p := piece
			if i+split >= len(msg) {
				p += "GET /next HTTP/1.1\r\n" // the next message follows in the same read
			}
			k, end, err := b.consume([]byte(p))
			if err != nil {
				t.Fatalf("split %d at %d: %v", split, i, err)
			}
			if k != len(piece) {
				t.Fatalf("split %d at %d: %d bytes of %d taken", split, i, k, len(piece))
			}
			n, done = n+k, end
		}
		if !done || n != len(msg) {
			t.Fatalf("split %d: end found %v after %d bytes, want after %d", split, done, n, len(msg))
		}
	}
	for _, bad := range []string{"x\r\n", "\r\n", "5\nhello", "3\r\nabcX\r\n", "1\r\na\r\n0\r\nT\n"} {
		b := body{kind: bodyChunked}
		if _, _, err := b.consume([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
