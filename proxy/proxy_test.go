package proxy

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNotFound(t *testing.T) {
	base, _ := serveProxy(t)
	resp, body := get(t, base+"/nothing/here")
	if resp.StatusCode != 404 || body != `{"error_msg":"404 Route Not Found"}`+"\n" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if s := resp.Header.Get("Server"); s != "zoneproxy" {
		t.Errorf("Server %q", s)
	}
}

func TestForwardedAndHopHeaders(t *testing.T) {
	addr := backend(t, echo("a"))
	base, _ := serveProxy(t, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/echo","upstream":{"nodes":{%q:1}}}`, addr))
	req, _ := http.NewRequest(http.MethodGet, base+"/echo?q=1", nil)
	req.Host = "api.example.com:8080"
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("X-Real-IP", "6.6.6.6")
	req.Header.Set("X-Forwarded-Proto", "spoofed")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "hop-by-hop, named by Connection")
	req.Header.Set("Proxy-Connection", "keep-alive")
	resp, body := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	for _, want := range []string{
		"a GET /echo?q=1 host=api.example.com:8080",
		// The peer, 127.0.0.1, is in APISIX's default real_ip_from, so its X-Real-IP is the
		// client address (TestRealIP has the untrusted peer, whose X-Real-IP is ignored).
		"X-Forwarded-For=10.0.0.1, 6.6.6.6",
		"X-Real-Ip=6.6.6.6",
		"X-Forwarded-Proto=http",
		"X-Forwarded-Host=api.example.com:8080", // the Host as sent, port kept (APISIX's $http_host)
		"X-Forwarded-Port=8080",                 // the port the Host names
		"Forwarded=\n",
		"X-Hop=\n",
		"Proxy-Connection=\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("upstream saw\n%s\nwant %q", body, want)
		}
	}
	if resp.Header.Get("X-Backend") != "a" {
		t.Errorf("response header from the upstream lost")
	}
	if resp.Header.Get("X-Secret-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop response headers reached the client: %v", resp.Header)
	}
}

func TestErrorStatuses(t *testing.T) {
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	dead := deadAddr(t)
	base, _ := serveProxy(t,
		"/apisix/routes/refused", fmt.Sprintf(`{"uri":"/refused","upstream":{"nodes":{%q:1}}}`, dead),
		"/apisix/routes/slow", fmt.Sprintf(`{"uri":"/slow","timeout":{"connect":1,"send":1,"read":0.2},"upstream":{"nodes":{%q:1}}}`, slow),
		"/apisix/routes/none", `{"uri":"/none","plugins":{}}`,
		"/apisix/routes/dangling", `{"uri":"/dangling","upstream_id":"404"}`,
	)
	tests := []struct {
		path  string
		code  int
		title string
	}{
		{"/refused", 502, "502 Bad Gateway"},
		{"/slow", 504, "504 Gateway Time-out"},
		{"/none", 503, "503 Service Temporarily Unavailable"},
		{"/dangling", 502, "502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, base+tt.path)
			if resp.StatusCode != tt.code || !strings.Contains(body, "<title>"+tt.title+"</title>") {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tt.code, tt.title)
			}
			if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "dial") {
				t.Errorf("error body leaks internals: %q", body)
			}
		})
	}
}

func TestRetryOnRefusedNode(t *testing.T) {
	alive := backend(t, echo("alive"))
	dead := deadAddr(t)
	base, _ := serveProxy(t, "/apisix/routes/1",
		fmt.Sprintf(`{"uri":"/r","upstream":{"nodes":[{"host":"127.0.0.1","port":%s,"weight":1},{"host":"127.0.0.1","port":%s,"weight":1}]}}`,
			strings.Split(dead, ":")[1], strings.Split(alive, ":")[1]))
	for i := 0; i < 10; i++ {
		resp, body := get(t, base+"/r")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "alive") {
			t.Fatalf("request %d: %d %q, want every request retried to the live node", i, resp.StatusCode, body)
		}
	}
}

func TestNoSnapshotYet(t *testing.T) {
	p := New(Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	defer ln.Close()
	resp, _ := get(t, "http://"+ln.Addr().String()+"/x")
	if resp.StatusCode != 503 {
		t.Errorf("status %d before any snapshot, want 503", resp.StatusCode)
	}
}
