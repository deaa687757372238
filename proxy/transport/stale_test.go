package transport

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestStaleKeepAlive: an upstream that closes its keep-alive connections right after answering
// (without saying so) leaves dead connections in the pool. A request that meets one is sent again
// on a fresh connection within the same try, which is not a retry in APISIX's sense: one try
// answers (the front makes exactly one per request, as a lone node with retries 0 would).
func TestStaleKeepAlive(t *testing.T) {
	var conns, closed atomic.Int64
	addr := rawBackend(t, &conns, func(c net.Conn) {
		defer closed.Add(1)
		br := bufio.NewReader(c)
		cl, err := readRequestHead(br)
		if err != nil {
			return
		}
		_, _ = io.CopyN(io.Discard, br, int64(cl))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// This closes the connection the proxy believes is kept alive.
		_ = c.Close()
	})
	tr := New(Options{})
	h := serveFront(t, tr, newPool(t, tr, nil, `"retries":0`, addr))
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			// The pooled connection is dead before the request arrives (the client may see the
			// response before the upstream got round to closing): a POST that finds one
			// in flight cannot be told from one the upstream still reads.
			poll(t, "the upstream closing its connection", func() bool { return closed.Load() == conns.Load() })
			before := conns.Load()
			req, _ := http.NewRequest(method, h.base+"/", strings.NewReader("body"))
			resp, body := do(t, req)
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
			}
			if got := conns.Load() - before; got != 1 {
				t.Errorf("%d new upstream connections, want 1", got)
			}
		})
	}
}
