package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// bodyUpstream serves the bodies the body-filter tests need:
//
//	/html        a small text/html page with an ETag (read whole by the proxy)
//	/stream?n=N  N bytes of text/html, chunked, 32 KiB a write; written counts what went out
//	/sized?n=N   the same with a Content-Length
//	/gz          a text/html page already gzip-encoded
//	anything else: fullEcho
type bodyUpstream struct {
	written atomic.Int64
}

const pageUnit = "<p>zoneproxy streams bodies</p>\n" // 32 bytes

func (u *bodyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("ETag", `"v1"`)
		_, _ = io.WriteString(w, strings.Repeat(pageUnit, 32))
	case "/stream", "/sized":
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		chunk := []byte(strings.Repeat(pageUnit, 1024))
		for left := n; left > 0; {
			k, err := w.Write(chunk[:min(left, len(chunk))])
			u.written.Add(int64(k))
			if err != nil {
				return
			}
			left -= k
		}
	case "/gz":
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gzipped(strings.Repeat(pageUnit, 32)))
	default:
		fullEcho(w, r)
	}
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

func ungzip(t *testing.T, b string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return string(out)
}

func newBodyHarness(t *testing.T, kvs ...string) (*pluginHarness, *bodyUpstream) {
	t.Helper()
	h := newPluginHarness(t, nil)
	u := &bodyUpstream{}
	h.up = backend(t, u)
	h.update(kvs...)
	return h, u
}

// TestResponseRewriteEndToEnd: status, headers and body of the upstream's answer, of a plugin's
// 401 and of the proxy's 502 are rewritten; Content-Length follows the new body.
func TestResponseRewriteEndToEnd(t *testing.T) {
	h, _ := newBodyHarness(t,
		"/apisix/routes/1", `{"uri":"/html","plugins":{"response-rewrite":{"status_code":203,"headers":{"add":["X-Add: $remote_addr"],"set":{"X-Set":"s","X-Uri":"$uri"},"remove":["ETag"]}}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/body/*","plugins":{"response-rewrite":{"body":"{\"ok\":true}\n","headers":{"set":{"X-Uri":"$uri"}}}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/sized","plugins":{"response-rewrite":{"filters":[{"regex":"streams","replace":"rewrites","scope":"global"}]}},"upstream":UPSTREAM}`,
		"/apisix/routes/4", `{"uri":"/auth","plugins":{"key-auth":{},"response-rewrite":{"body":"go away\n","vars":[["http_x_rewrite","==","yes"]]}},"upstream":UPSTREAM}`,
		"/apisix/routes/5", `{"uri":"/down","plugins":{"response-rewrite":{"status_code":200,"body":"fallback\n"}},"upstream":{"nodes":{"127.0.0.1:1":1},"retries":0}}`,
	)
	page := strings.Repeat(pageUnit, 32)
	resp, body := h.get("/html")
	if resp.StatusCode != 203 || body != page || resp.ContentLength != int64(len(page)) {
		t.Errorf("headers only: %d, %d bytes (Content-Length %d)", resp.StatusCode, len(body), resp.ContentLength)
	}
	if resp.Header.Get("X-Add") != "127.0.0.1" || resp.Header.Get("X-Set") != "s" || resp.Header.Get("Etag") != "" || resp.Header.Get("X-Uri") != "/html" {
		t.Errorf("headers: %v", resp.Header)
	}

	// A variable bringing CR LF into a value cannot split the response.
	resp, body = h.get("/body/a%0D%0AX-Injected:%201")
	if resp.StatusCode != 200 || body != "{\"ok\":true}\n" || resp.ContentLength != int64(len(body)) {
		t.Errorf("body: %d %q (Content-Length %d)", resp.StatusCode, body, resp.ContentLength)
	}
	if resp.Header.Get("X-Injected") != "" || resp.Header.Get("X-Uri") != "/body/a%0D%0AX-Injected: 1" {
		t.Errorf("hostile $uri: X-Uri %q, X-Injected %q", resp.Header.Get("X-Uri"), resp.Header.Get("X-Injected"))
	}

	// filters over a body that streams with a Content-Length: the length changes.
	n := 256 << 10
	resp, body = h.get("/sized?n=" + strconv.Itoa(n))
	want := strings.Repeat(strings.ReplaceAll(pageUnit, "streams", "rewrites"), n/len(pageUnit))
	if resp.StatusCode != 200 || body != want || resp.ContentLength == int64(n) {
		t.Errorf("filters: %d, %d bytes, Content-Length %d; want %d bytes", resp.StatusCode, len(body), resp.ContentLength, len(want))
	}

	// The plugin also rewrites the answer of another plugin (key-auth's 401), when vars match.
	if resp, body := h.get("/auth", "X-Rewrite", "yes"); resp.StatusCode != 401 || body != "go away\n" {
		t.Errorf("key-auth's 401: %d %q", resp.StatusCode, body)
	}
	if resp, body := h.get("/auth"); resp.StatusCode != 401 || !strings.Contains(body, "Missing API key") {
		t.Errorf("vars not matched: %d %q", resp.StatusCode, body)
	}
	// ... and the proxy's 502.
	if resp, body := h.get("/down"); resp.StatusCode != 200 || body != "fallback\n" {
		t.Errorf("proxy's 502: %d %q", resp.StatusCode, body)
	}

	// A regex that does not compile rejects the new version; the last good one keeps serving.
	h.update("/apisix/routes/3", `{"uri":"/sized","plugins":{"response-rewrite":{"filters":[{"regex":"(","replace":""}]}},"upstream":UPSTREAM}`)
	if resp, _ := h.get("/sized?n=64"); resp.StatusCode != 200 {
		t.Errorf("after a bad update: %d", resp.StatusCode)
	}
	if logs := h.logs.Take(); !strings.Contains(logs, `regex \"(\" validation failed`) {
		t.Errorf("logs\n%s\nwant the rejection", logs)
	}
}

// TestResponseRewriteHugeBody: a body rewrite on a 1 GiB response neither buffers it nor reads
// it: filters hold max_resp_body_size and stop there, body stops at once. What the upstream
// managed to write (the socket buffers between it and the proxy) stays far below the body.
func TestResponseRewriteHugeBody(t *testing.T) {
	const gib = 1 << 30
	const bound = 64 << 20 // max_resp_body_size and the socket buffers, with room to spare
	h, u := newBodyHarness(t,
		"/apisix/routes/1", `{"uri":"/stream","plugins":{"response-rewrite":{"max_resp_body_size":1048576,"filters":[{"regex":"streams","replace":"rewrites"}]}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/sized","plugins":{"response-rewrite":{"body":"replaced\n"}},"upstream":UPSTREAM}`,
	)
	for _, tt := range []struct {
		path string
		want func(string) bool
	}{
		{"/stream?n=" + strconv.Itoa(gib), func(b string) bool {
			return len(b) == 1<<20+1 && strings.HasPrefix(b, "<p>zoneproxy rewrites bodies</p>\n<p>zoneproxy streams")
		}},
		{"/sized?n=" + strconv.Itoa(gib), func(b string) bool { return b == "replaced\n" }},
	} {
		t.Run(tt.path, func(t *testing.T) {
			u.written.Store(0)
			resp, body := h.get(tt.path)
			if resp.StatusCode != 200 || !tt.want(body) {
				t.Fatalf("%d, %d bytes: %.80q", resp.StatusCode, len(body), body)
			}
			t.Logf("the upstream wrote %d bytes of %d", u.written.Load(), int64(gib))
			// The proxy closed the upstream connection: the handler's writes fail and stop.
			if w := u.written.Load(); w > bound {
				t.Errorf("the upstream wrote %d bytes, want at most %d", w, bound)
			}
		})
	}
}

// TestEchoEndToEnd: text around a streamed body, and a body replaced.
func TestEchoEndToEnd(t *testing.T) {
	h, _ := newBodyHarness(t,
		"/apisix/routes/1", `{"uri":"/stream","plugins":{"echo":{"before_body":"<before>","after_body":"<after>","headers":{"X-Echo":"1"}}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/html","plugins":{"echo":{"body":"echoed"}},"upstream":UPSTREAM}`,
	)
	n := 1 << 20
	resp, body := h.get("/stream?n=" + strconv.Itoa(n))
	if resp.StatusCode != 200 || resp.Header.Get("X-Echo") != "1" || body != "<before>"+strings.Repeat(pageUnit, n/len(pageUnit))+"<after>" {
		t.Errorf("around: %d, X-Echo %q, %d bytes", resp.StatusCode, resp.Header.Get("X-Echo"), len(body))
	}
	resp, body = h.get("/html")
	if body != "echoed" || resp.ContentLength != 6 || resp.Header.Get("Etag") != "" {
		t.Errorf("body: %q, Content-Length %d, ETag %q", body, resp.ContentLength, resp.Header.Get("Etag"))
	}
	// An HTTP/1.0 client gets the filtered body unframed, ended by the connection's close.
	status, raw := rawExchange(t, strings.TrimPrefix(h.base, "http://"), "GET /stream?n=100000 HTTP/1.0\r\n\r\n")
	_, got, _ := strings.Cut(raw, "\r\n\r\n")
	if status != 200 || got != "<before>"+strings.Repeat(pageUnit, 100000/len(pageUnit))+pageUnit[:100000%len(pageUnit)]+"<after>" ||
		strings.Contains(strings.ToLower(raw[:len(raw)-len(got)]), "transfer-encoding") {
		t.Errorf("HTTP/1.0: %d, %d bytes of body: %.200q", status, len(got), raw)
	}
	h.update("/apisix/routes/2", `{"uri":"/html","plugins":{"echo":{"headers":{"X":"1"}}},"upstream":UPSTREAM}`)
	if logs := h.logs.Take(); !strings.Contains(logs, "object matches none of the required") {
		t.Errorf("logs\n%s\nwant the rejection", logs)
	}
}

// TestGzipEndToEnd: a page read whole and a body that streams are compressed for a client that
// accepts gzip, in one piece with echo's output; never twice; never for a client that does not.
func TestGzipEndToEnd(t *testing.T) {
	h, _ := newBodyHarness(t,
		"/apisix/routes/1", `{"uris":["/html","/stream","/gz"],"plugins":{"gzip":{"vary":true}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/sized","plugins":{"gzip":{},"echo":{"after_body":"<end>"}},"upstream":UPSTREAM}`,
	)
	page := strings.Repeat(pageUnit, 32)
	resp, body := h.get("/html", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("Etag") != `W/"v1"` {
		t.Fatalf("page: %v", resp.Header)
	}
	if got := ungzip(t, body); got != page || resp.ContentLength != int64(len(body)) {
		t.Errorf("page: %d bytes after gunzip, Content-Length %d of %d", len(got), resp.ContentLength, len(body))
	}
	n := 2 << 20
	resp, body = h.get("/stream?n="+strconv.Itoa(n), "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != -1 {
		t.Errorf("stream: Content-Encoding %q, Content-Length %d", resp.Header.Get("Content-Encoding"), resp.ContentLength)
	}
	if got := ungzip(t, body); got != strings.Repeat(pageUnit, n/len(pageUnit)) || len(body) > n/10 {
		t.Errorf("stream: %d bytes compressed, %d after gunzip", len(body), len(got))
	}
	if resp, body := h.get("/html"); resp.Header.Get("Content-Encoding") != "" || body != page {
		t.Errorf("no Accept-Encoding: %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
	// Already encoded upstream: left as it is.
	if _, body := h.get("/gz", "Accept-Encoding", "gzip"); ungzip(t, body) != page {
		t.Error("an encoded body was compressed again")
	}
	// gzip compresses echo's output, Content-Length gone.
	n = 128 << 10
	resp, body = h.get("/sized?n="+strconv.Itoa(n), "Accept-Encoding", "gzip")
	if got := ungzip(t, body); got != strings.Repeat(pageUnit, n/len(pageUnit))+"<end>" || resp.ContentLength != -1 {
		t.Errorf("with echo: %d bytes after gunzip, Content-Length %d", len(got), resp.ContentLength)
	}
}

// TestFaultInjectionEndToEnd: an abort answers without the upstream; a delay holds its own
// request only: requests to another route, and to the same one, are answered meanwhile.
func TestFaultInjectionEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/abort","plugins":{"fault-injection":{"abort":{"http_status":418,"body":"teapot for $remote_addr\n","headers":{"X-Fault":"yes"},"vars":[[["arg_x","==","1"]]]}}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/slow","plugins":{"fault-injection":{"delay":{"duration":3,"vars":[[["http_x_slow","==","1"]]]}}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/fast","upstream":UPSTREAM}`,
	)
	before := h.hits.Load()
	resp, body := h.get("/abort?x=1")
	if resp.StatusCode != 418 || body != "teapot for 127.0.0.1\n" || resp.Header.Get("X-Fault") != "yes" || h.hits.Load() != before {
		t.Errorf("abort: %d %q, X-Fault %q, upstream called %v", resp.StatusCode, body, resp.Header.Get("X-Fault"), h.hits.Load() != before)
	}
	if resp, body := h.get("/abort?x=2"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /abort?x=2") {
		t.Errorf("vars not matched: %d %q", resp.StatusCode, body)
	}

	// The delayed request goes through a listener of its own, which tells when the proxy has
	// read it.
	ln := &readSignal{Listener: testutil.Listen(t), read: make(chan struct{})}
	go func() { _ = h.p.Serve(ln) }()
	var slowDone atomic.Bool
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/slow", nil)
		req.Header.Set("X-Slow", "1")
		resp, err := (&http.Client{Timeout: waitFor}).Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("delayed request: %d", resp.StatusCode)
			}
		}
		slowDone.Store(true)
		errc <- err
	}()
	select {
	case <-ln.read:
	case <-time.After(waitFor):
		t.Fatal("the delayed request never reached the proxy")
	}
	// While the delayed request waits, other requests (to the same route, unmatched by the
	// delay's vars, and to another) are served.
	for _, p := range []string{"/fast", "/slow", "/fast"} {
		if resp, _ := h.get(p); resp.StatusCode != 200 {
			t.Errorf("%s during the delay: %d", p, resp.StatusCode)
		}
	}
	if slowDone.Load() {
		t.Error("the delayed request ended before the others: the delay did not apply")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("delayed request answered after %v, want at least the 3s delay", d)
	}
	h.update("/apisix/routes/2", `{"uri":"/slow","plugins":{"fault-injection":{"delay":{"duration":-1}}},"upstream":UPSTREAM}`)
	if logs := h.logs.Take(); !strings.Contains(logs, `property \"duration\" validation failed: expected -1 to be at least 0`) {
		t.Errorf("logs\n%s\nwant the rejection", logs)
	}
}

// readSignal is a listener whose connections close read once they have read something.
type readSignal struct {
	net.Listener
	read chan struct{}
	once sync.Once
}

func (l *readSignal) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &signalConn{Conn: c, l: l}, nil
}

type signalConn struct {
	net.Conn
	l *readSignal
}

func (c *signalConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.l.once.Do(func() { close(c.l.read) })
	}
	return n, err
}

// TestFaultInjectionDelayShutdown: a delay far longer than the test does not hold a graceful
// shutdown: the delayed request is let go and answered, and Shutdown returns.
func TestFaultInjectionDelayShutdown(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/slow","plugins":{"fault-injection":{"delay":{"duration":3600}}},"upstream":UPSTREAM}`,
	)
	ln := &readSignal{Listener: testutil.Listen(t), read: make(chan struct{})}
	go func() { _ = h.p.Serve(ln) }()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Timeout: waitFor}).Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	select {
	case <-ln.read:
	case <-time.After(waitFor):
		t.Fatal("the delayed request never reached the proxy")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := h.p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if r := <-done; r.err != nil || r.status != 200 {
		t.Fatalf("delayed request after shutdown: %d %v", r.status, r.err)
	}
}
