package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// hangUp is an upstream that reads a request (head and declared body) and closes the connection
// without answering: the request was sent, nothing came back.
func hangUp(t *testing.T, accepted *atomic.Int64) string {
	return rawBackend(t, accepted, func(c net.Conn) {
		br := bufio.NewReader(c)
		cl, err := readRequestHead(br)
		if err == nil {
			_, _ = io.CopyN(io.Discard, br, int64(cl))
		}
	})
}

func TestRetryToHealthyNode(t *testing.T) {
	var aliveHits, hungHits atomic.Int64
	alive := backend(t, countRequests(&aliveHits, echo("alive")))
	hung := hangUp(t, &hungHits)
	dead := deadAddr(t)
	// The failing node has the higher priority, so every request tries it first.
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/refused", route("/refused", "", "", dead+"@1", alive),
		"/apisix/routes/hung", route("/hung", "", "", hung+"@1", alive),
	)
	tests := []struct {
		name, method, path string
		want               int    // status
		wantBody           string // prefix of the body
		wantAlive          int64  // tries that reached the healthy node
		wantStatus         string // X-APISIX-Upstream-Status
	}{
		// Nothing was sent to a refusing node: every method moves on.
		{"GET refused", http.MethodGet, "/refused", 200, "alive GET /refused", 1, ""},
		{"POST refused", http.MethodPost, "/refused", 200, "alive POST /refused host=" + h.addr + " body=5", 1, ""},
		{"PATCH refused", http.MethodPatch, "/refused", 200, "alive PATCH /refused", 1, ""},
		// The hanging node got the request: idempotent methods are retried...
		{"GET sent", http.MethodGet, "/hung", 200, "alive GET /hung", 1, ""},
		{"PUT sent", http.MethodPut, "/hung", 200, "alive PUT /hung host=" + h.addr + " body=5", 1, ""},
		{"DELETE sent", http.MethodDelete, "/hung", 200, "alive DELETE /hung", 1, ""},
		// ...POST and PATCH are not, once sent.
		{"POST sent", http.MethodPost, "/hung", 502, "<html>", 0, "502"},
		{"PATCH sent", http.MethodPatch, "/hung", 502, "<html>", 0, "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aliveHits.Store(0)
			req, _ := http.NewRequest(tt.method, h.base+tt.path, strings.NewReader("hello"))
			resp, body := do(t, req)
			if resp.StatusCode != tt.want || !strings.HasPrefix(body, tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.want, tt.wantBody)
			}
			if got := aliveHits.Load(); got != tt.wantAlive {
				t.Errorf("healthy node got %d requests, want %d", got, tt.wantAlive)
			}
			if got := resp.Header.Get("X-APISIX-Upstream-Status"); got != tt.wantStatus {
				t.Errorf("X-APISIX-Upstream-Status %q, want %q", got, tt.wantStatus)
			}
		})
	}
}

func TestUpstreamStatusHeader(t *testing.T) {
	var okHits, errHits atomic.Int64
	ok := backend(t, countRequests(&okHits, echo("ok")))
	failing := backend(t, countRequests(&errHits, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "upstream's own error page")
	}))
	dead1, dead2, dead3 := deadAddr(t), deadAddr(t), deadAddr(t)
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/1", route("/three-dead", "", "", dead1, dead2, dead3),
		"/apisix/routes/2", route("/one-dead", "", `"retries":2`, dead1),
		"/apisix/routes/3", route("/no-retries", "", `"retries":0`, dead1, dead2),
		"/apisix/routes/4", route("/dead-then-500", "", "", dead1+"@1", failing),
		"/apisix/routes/5", route("/500-first", "", "", failing+"@1", ok),
		"/apisix/routes/6", route("/dead-then-ok", "", "", dead1+"@1", ok),
	)
	tests := []struct {
		path       string
		want       int
		wantHeader string
		wantBody   string
	}{
		// retries defaults to nodes − 1: every node once.
		{"/three-dead", 502, "502, 502, 502", "<title>502 Bad Gateway</title>"},
		// A lone node is retried on itself.
		{"/one-dead", 502, "502, 502, 502", "<title>502 Bad Gateway</title>"},
		{"/no-retries", 502, "502", "<title>502 Bad Gateway</title>"},
		// The upstream's own 5xx is its answer: passed on, with every try listed.
		{"/dead-then-500", 500, "502, 500", "upstream's own error page"},
		// ...and never retried.
		{"/500-first", 500, "500", "upstream's own error page"},
		// The header appears only when the last status is a 5xx.
		{"/dead-then-ok", 200, "", "ok GET"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			okHits.Store(0)
			resp, body := get(t, h.base+tt.path)
			if resp.StatusCode != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, body, tt.want, tt.wantBody)
			}
			if got := resp.Header.Get("X-APISIX-Upstream-Status"); got != tt.wantHeader {
				t.Errorf("X-APISIX-Upstream-Status %q, want %q", got, tt.wantHeader)
			}
			if tt.path == "/500-first" && okHits.Load() != 0 {
				t.Errorf("a 500 was retried")
			}
		})
	}
}

// slowBackend answers after delay, or when the proxy gives up on it.
func slowBackend(t *testing.T, hits *atomic.Int64, delay time.Duration) string {
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		tm := time.NewTimer(delay)
		defer tm.Stop()
		select {
		case <-tm.C:
			_, _ = io.WriteString(w, "slow but there")
		case <-r.Context().Done():
		}
	}))
}

func TestReadTimeout(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	slow1, slow2, slow3 := slowBackend(t, &hits, waitFor), slowBackend(t, &hits, waitFor), slowBackend(t, &hits, waitFor)
	timeout := `"timeout":{"connect":2,"send":2,"read":0.3}`
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/1", route("/one", timeout, "", slow1),
		"/apisix/routes/2", route("/three", timeout, "", slow1, slow2, slow3),
		// The first try takes 0.3 s, past retry_timeout: no retry, and APISIX's 502.
		"/apisix/routes/3", route("/bounded", timeout, `"retry_timeout":0.1`, slow1, slow2, slow3),
		// A POST is not retried after a timeout either: it was sent.
		"/apisix/routes/4", route("/post", timeout, "", slow1, slow2),
	)
	tests := []struct {
		name, method, path string
		want               int
		wantHeader         string
		wantHits           int64
	}{
		{"single node", http.MethodGet, "/one", 504, "504", 1},
		{"every node times out", http.MethodGet, "/three", 504, "504, 504, 504", 3},
		{"retry_timeout", http.MethodGet, "/bounded", 502, "504", 1},
		{"POST", http.MethodPost, "/post", 504, "504", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			began := time.Now()
			req, _ := http.NewRequest(tt.method, h.base+tt.path, strings.NewReader("x"))
			resp, body := do(t, req)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d %q, want %d", resp.StatusCode, body, tt.want)
			}
			if got := resp.Header.Get("X-APISIX-Upstream-Status"); got != tt.wantHeader {
				t.Errorf("X-APISIX-Upstream-Status %q, want %q", got, tt.wantHeader)
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("%d tries reached an upstream, want %d", got, tt.wantHits)
			}
			if d := time.Since(began); d > waitFor/2 {
				t.Errorf("took %v: the read timeout did not cut the try", d)
			}
		})
	}
}

// TestStreamedBodyNotReplayed: a body too large to buffer streams to the upstream; once a byte of
// it left, even a PUT cannot go to another node.
func TestStreamedBodyNotReplayed(t *testing.T) {
	var okHits atomic.Int64
	ok := backend(t, countRequests(&okHits, echo("ok")))
	var hungHits atomic.Int64
	hung := hangUp(t, &hungHits)
	h := start(t, Options{RequestBufferSize: 1024}, upstream.Options{},
		"/apisix/routes/1", route("/", "", "", hung+"@1", ok))
	tests := []struct {
		name     string
		size     int
		want     int
		wantOK   int64
		wantHung int64
	}{
		{"buffered body replayed", 1000, 200, 1, 1},
		{"streamed body not replayed", 100 << 10, 502, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			okHits.Store(0)
			hungHits.Store(0)
			req, _ := http.NewRequest(http.MethodPut, h.base+"/", strings.NewReader(strings.Repeat("x", tt.size)))
			resp, body := do(t, req)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d %q, want %d", resp.StatusCode, body, tt.want)
			}
			if okHits.Load() != tt.wantOK || hungHits.Load() != tt.wantHung {
				t.Errorf("healthy node %d, hanging node %d tries; want %d, %d", okHits.Load(), hungHits.Load(), tt.wantOK, tt.wantHung)
			}
		})
	}
}

// TestPassiveHealthFed: every try is reported to the node, so passive checks see failures: a
// node that refused tcp_failures times is skipped by the next requests.
func TestPassiveHealthFed(t *testing.T) {
	var hits atomic.Int64
	alive := backend(t, countRequests(&hits, echo("alive")))
	dead := deadAddr(t)
	checks := `"checks":{"active":{"type":"tcp"},"passive":{"unhealthy":{"tcp_failures":2,"http_statuses":[500]}}}`
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/", "", checks, dead+"@1", alive))
	nodes := h.p.Snapshot().PoolDelta.Added[0].Nodes()
	for i := 0; i < 2; i++ {
		resp, body := get(t, h.base+"/")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	for _, n := range nodes {
		if want := n.Addr != dead; n.Healthy() != want {
			t.Errorf("node %s healthy=%v, want %v", n.Addr, n.Healthy(), want)
		}
	}
}
