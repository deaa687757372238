package upstream

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// listenIPv6 listens on [::1]:0, skipping the test where the machine has no IPv6 loopback.
func listenIPv6(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("skipping: this machine has no IPv6 loopback ([::1]:0: %v)", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// TestIPv6Nodes sends a request to a real upstream on [::1] through the node's client, for every
// form in which APISIX accepts an IPv6 node (core.utils.parse_addr for the map form; the array
// form's host with or without brackets).
func TestIPv6Nodes(t *testing.T) {
	ln := listenIPv6(t)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("v6 " + ctx.RemoteIP().String()) }}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	tests := []struct {
		name, nodes string
	}{
		{"map form with brackets and port", `{"[::1]:` + port + `":1}`},
		{"array form, host in brackets", `[{"host":"[::1]","port":` + port + `,"weight":1}]`},
		{"array form, bare host", `[{"host":"::1","port":` + port + `,"weight":1}]`},
		{"beside an IPv4 node of weight 0", `{"[::1]:` + port + `":1,"127.0.0.1:1":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{ConnectTimeout: 5 * time.Second}), "k", `{"nodes":`+tt.nodes+`}`)
			n := p.Pick(requestCtx("192.0.2.1", "/"), nil)
			if n == nil || n.Addr != "[::1]:"+port || n.Host != "[::1]" {
				t.Fatalf("Pick = %v, want the node [::1]:%s", n, port)
			}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + n.HostHeader + "/")
			err := n.Client().DoTimeout(req, resp, 5*time.Second)
			n.Done(resp.StatusCode(), err, 0)
			if err != nil {
				t.Fatalf("request to %s: %v", n.Addr, err)
			}
			if got := string(resp.Body()); resp.StatusCode() != 200 || got != "v6 ::1" {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode(), got, "v6 ::1")
			}
		})
	}
}

// TestIPv6NodeAddrs checks the dial address of each IPv6 node form, the bare literal of the map
// form included (APISIX reads it as a host without a port).
func TestIPv6NodeAddrs(t *testing.T) {
	tests := []struct {
		name, upstream string
		addr, host     string
		port           int
	}{
		{"map form, brackets and port", `{"nodes":{"[::1]:1980":1}}`, "[::1]:1980", "[::1]", 1980},
		{"map form, brackets, no port", `{"nodes":{"[::1]":1}}`, "[::1]:80", "[::1]", 80},
		{"map form, bare literal", `{"nodes":{"::1":1}}`, "[::1]:80", "[::1]", 80},
		{"map form, bare literal, https", `{"scheme":"https","nodes":{"::1":1}}`, "[::1]:443", "[::1]", 443},
		{"array form, brackets", `{"nodes":[{"host":"[::1]","port":1980,"weight":1}]}`, "[::1]:1980", "[::1]", 1980},
		{"array form, bare", `{"nodes":[{"host":"::1","port":1980,"weight":1}]}`, "[::1]:1980", "[::1]", 1980},
		{"array form, no port", `{"nodes":[{"host":"2001:db8::1","weight":1}]}`, "[2001:db8::1]:80", "[2001:db8::1]", 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustPool(t, NewRegistry(Options{}), "k", tt.upstream).Nodes()[0]
			if n.Addr != tt.addr || n.Host != tt.host || n.Port != tt.port {
				t.Fatalf("node = %s (host %s, port %d), want %s (host %s, port %d)", n.Addr, n.Host, n.Port, tt.addr, tt.host, tt.port)
			}
		})
	}
}
