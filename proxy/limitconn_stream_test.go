package proxy

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestLimitConnHeldWhileStreaming: a limit-conn slot is held until a streamed response body has
// been sent to its end (nginx's log phase comes after the last byte), and given back when the
// client goes away in the middle of it.
func TestLimitConnHeldWhileStreaming(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	up := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream": // the first chunk, then the rest once released: chunked, so streamed
			_, _ = io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			<-release
			_, _ = io.WriteString(w, "rest\n")
		case "/endless": // a chunk every 10ms until the proxy goes away
			for r.Context().Err() == nil {
				if _, err := io.WriteString(w, strings.Repeat("x", 1024)+"\n"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
			}
		}
	}))
	h := newPluginHarness(t, nil,
		"/apisix/routes/1", `{"uris":["/stream","/endless","/fast"],"plugins":{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}},`+
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
	open := func(path string) (*http.Response, *bufio.Reader) {
		resp, err := client.Get(h.base + path)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || line == "" {
			t.Fatalf("%s: first chunk %q %v", path, line, err)
		}
		return resp, br
	}

	resp, br := open("/stream")
	if st := fast(); st != 503 {
		t.Fatalf("while a body streams: %d, want 503 (its slot held)", st)
	}
	once.Do(func() { close(release) })
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "rest\n" {
		t.Fatalf("the rest of the body: %q %v", rest, err)
	}
	_ = resp.Body.Close()
	testutil.WaitFor(t, "the slot given back after the body's end", 10*time.Second, func() bool { return fast() == 200 })

	resp, _ = open("/endless")
	if st := fast(); st != 503 {
		t.Fatalf("while an endless body streams: %d, want 503", st)
	}
	_ = resp.Body.Close() // the client goes away mid-body
	testutil.WaitFor(t, "the slot given back after the client left", 10*time.Second, func() bool { return fast() == 200 })
}
