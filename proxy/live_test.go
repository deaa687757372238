package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestUpdate: limits and the access log change on a running proxy for the next requests; the
// server's own settings are reported as fixed and keep their values.
func TestUpdate(t *testing.T) {
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", backend(t, echo("up"))))
	post := func(body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.base+"/x", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := do(t, req)
		return resp.StatusCode
	}
	if code := post(strings.Repeat("b", 100)); code != 200 {
		t.Fatalf("before Update: %d, want 200", code)
	}

	var out lockedBuffer
	l, err := accesslog.New(accesslog.Options{Writer: &out, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	fixed := h.p.Update(Options{MaxRequestBodySize: 10, MaxURILength: 64, AccessLog: l, MaxHeaderBytes: 1 << 20})
	if want := []string{"MaxHeaderBytes"}; !slices.Equal(fixed, want) {
		t.Errorf("Update reported %q as fixed, want %q", fixed, want)
	}
	if code := post(strings.Repeat("b", 100)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 100-byte body after the limit went to 10: %d, want 413", code)
	}
	if resp, _ := get(t, h.base+"/"+strings.Repeat("u", 100)); resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("a 100-byte URI after the limit went to 64: %d, want 414", resp.StatusCode)
	}
	if resp, _ := get(t, h.base+"/logged"); resp.StatusCode != 200 {
		t.Fatalf("GET /logged: %d", resp.StatusCode)
	}
	poll(t, "the access log line of /logged", func() bool {
		return slices.ContainsFunc(out.lines(), func(s string) bool { return strings.Contains(s, "GET /logged ") })
	})

	// Back to no access log and no limit.
	h.p.Update(Options{})
	if code := post(strings.Repeat("b", 100)); code != 200 {
		t.Errorf("after the limit was lifted: %d, want 200", code)
	}
	written := len(out.lines())
	if resp, _ := get(t, h.base+"/unlogged"); resp.StatusCode != 200 {
		t.Fatalf("GET /unlogged: %d", resp.StatusCode)
	}
	// The line of /unlogged would be queued before the response was sent; flush what is queued.
	cancel()
	<-done
	stopped = true
	for _, s := range out.lines()[written:] {
		if strings.Contains(s, "/unlogged") {
			t.Errorf("logged after the access log was turned off: %s", s)
		}
	}
}

// TestUpdateTimeouts: new client timeouts apply to the connections accepted afterwards; a
// connection of the replaced server gets its next request answered with "Connection: close" and
// closes after it, never while the client may be sending.
func TestUpdateTimeouts(t *testing.T) {
	h := start(t, Options{IdleTimeout: time.Hour}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", backend(t, echo("up"))))
	exchange := func(c net.Conn, br *bufio.Reader) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	old, oldBR := dial()
	if resp := exchange(old, oldBR); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before Update: %d, close %v", resp.StatusCode, resp.Close)
	}

	h.p.Update(Options{IdleTimeout: 100 * time.Millisecond})

	// The old connection serves one more request, says so, and closes.
	if resp := exchange(old, oldBR); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("on the replaced server's connection: %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	_ = old.SetReadDeadline(time.Now().Add(waitFor))
	if n, err := oldBR.ReadByte(); err != io.EOF {
		t.Errorf("the replaced server's connection stayed open (%v, %v)", n, err)
	}

	// A new connection has the new idle timeout: it is closed long before the old hour.
	c, br := dial()
	if resp := exchange(c, br); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("new connection: %d, close %v", resp.StatusCode, resp.Close)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle new connection: %v, want it closed by the new idle timeout", err)
	}
}
