package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestLimitConnHeldWhileStreamingHTTP10: an HTTP/1.0 client gets a body of unknown length
// unframed, ended by the connection's close (sent on the hijacked connection); its limit-conn
// slot is held until that body's end as for HTTP/1.1, not given back when the handler returns.
func TestLimitConnHeldWhileStreamingHTTP10(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	up := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			return
		}
		// The first piece, then the rest once released: chunked to the proxy, so of unknown length.
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "rest\n")
	}))
	h := newPluginHarness(t, nil,
		"/apisix/routes/1", `{"uris":["/stream","/fast"],"plugins":{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}},`+
			`"upstream":{"type":"roundrobin","nodes":{"`+up+`":1}}}`,
	)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(client.CloseIdleConnections)
	fast := func() int {
		resp, err := client.Get(h.base + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /stream HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != -1 || len(resp.TransferEncoding) != 0 {
		t.Fatalf("HTTP/1.0 response: %d, Content-Length %d, Transfer-Encoding %v; want 200, unframed",
			resp.StatusCode, resp.ContentLength, resp.TransferEncoding)
	}
	body := bufio.NewReader(resp.Body)
	if line, err := body.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first piece %q %v", line, err)
	}
	if st := fast(); st != 503 {
		t.Fatalf("while the HTTP/1.0 body streams: %d, want 503 (its slot held)", st)
	}
	once.Do(func() { close(release) })
	if rest, err := io.ReadAll(body); err != nil || string(rest) != "rest\n" {
		t.Fatalf("the rest of the body, to the connection's close: %q %v", rest, err)
	}
	testutil.WaitFor(t, "the slot given back after the body's end", 10*time.Second, func() bool { return fast() == 200 })
}
