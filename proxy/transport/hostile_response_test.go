package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
	if !r.complete || resp.Close {
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
