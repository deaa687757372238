package transport

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestUpstreamRequestOneWrite: a request whose body is buffered reaches the upstream in one write,
// head and body together, both on connections the transport dialled (sendWait) and on others. The
// upstream's first read holds the head and the body (all of a small one, the start of a large
// one, which may span segments); two writes would often leave the body for a second read.
func TestUpstreamRequestOneWrite(t *testing.T) {
	var whole, split atomic.Int64
	addr := rawBackend(t, nil, func(c net.Conn) {
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got := buf[:n]
			i := bytes.Index(got, []byte("\r\n\r\n"))
			if i < 0 {
				split.Add(1)
				return
			}
			cl := 0
			if _, v, ok := strings.Cut(strings.ToLower(string(got[:i])), "\r\ncontent-length: "); ok {
				v, _, _ = strings.Cut(v, "\r\n")
				cl, _ = strconv.Atoi(v)
			}
			switch {
			case len(got) > i+4+cl, cl > 0 && len(got) == i+4:
				// More than one request, or the head alone: the body came in another write.
				split.Add(1)
				return
			case len(got) < i+4+cl:
				// A large body may span several segments, the rest arriving a moment later;
				// that it began in the head's read is what shows that they were written together.
				if _, err := io.ReadFull(c, buf[:i+4+cl-len(got)]); err != nil {
					return
				}
			}
			whole.Add(1)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	// plainConns hides the transport's own connection type, as another dialler would.
	plainConns := func(c *fasthttp.HostClient) {
		dial := c.DialTimeout
		c.DialTimeout = func(addr string, timeout time.Duration) (net.Conn, error) {
			conn, err := dial(addr, timeout)
			if err != nil {
				return nil, err
			}
			return struct{ net.Conn }{conn}, nil
		}
	}
	for _, dialler := range []struct {
		name string
		hook func(*fasthttp.HostClient)
	}{
		{"transport's connections", nil},
		{"other connections", plainConns},
	} {
		tr := New(Options{})
		h := serveFront(t, tr, newPool(t, tr, dialler.hook, "", addr))
		tests := []struct {
			name, method string
			body         int
		}{
			{"GET", http.MethodGet, 0},
			{"POST 1 KiB", http.MethodPost, 1 << 10},
			{"PUT 60 KiB", http.MethodPut, 60 << 10},
		}
		for _, tt := range tests {
			t.Run(dialler.name+"/"+tt.name, func(t *testing.T) {
				whole.Store(0)
				split.Store(0)
				const requests = 20
				for i := 0; i < requests; i++ {
					req, _ := http.NewRequest(tt.method, h.base+"/", strings.NewReader(strings.Repeat("b", tt.body)))
					resp, body := do(t, req)
					if resp.StatusCode != 200 || body != "ok" {
						t.Fatalf("got %d %q", resp.StatusCode, body)
					}
				}
				if whole.Load() != requests || split.Load() != 0 {
					t.Errorf("%d requests arrived whole in one read, %d split; want all %d whole", whole.Load(), split.Load(), requests)
				}
			})
		}
	}
}

// TestIdleUpstreamConnReadFirst: a pooled connection idle for longer than maxWaitIdle is read
// before the transport waits for the response, so that an upstream that half-closed it while idle
// (a FIN, no reset to come) is found out at once and the request goes on a fresh connection.
func TestIdleUpstreamConnReadFirst(t *testing.T) {
	var conns atomic.Int64
	addr := rawBackend(t, &conns, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// Half-close: whatever comes next is read and never answered.
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
	tr := New(Options{})
	tr.maxWaitIdle = time.Nanosecond
	h := serveFront(t, tr, newPool(t, tr, nil, `"timeout":{"connect":5,"send":5,"read":60}`, addr))
	for i := 0; i < 3; i++ {
		began := time.Now()
		resp, body := get(t, h.base+"/")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: got %d %q", i, resp.StatusCode, body)
		}
		if d := time.Since(began); d > 20*time.Second {
			t.Errorf("request %d took %v: it waited on a half-closed connection", i, d)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d upstream connections, want 3", got)
	}
}
