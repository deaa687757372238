//go:build !race

package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestRoundTripAllocs: after warm-up, a small GET through the proxy allocates nothing, counted
// over the whole process: the client, the proxy (routing, picking, forwarding, the upstream
// connection) and the upstream.
func TestRoundTripAllocs(t *testing.T) {
	hp := newHotPath(t, Options{}, fasthttp.MethodGet, nil)
	for i := 0; i < 100; i++ {
		hp.roundTrip(t, hp.req, hp.resp)
	}
	if allocs := testing.AllocsPerRun(500, func() { hp.roundTrip(t, hp.req, hp.resp) }); allocs != 0 {
		t.Errorf("%v allocations per proxied GET, want 0", allocs)
	}
}

// TestHandleAllocs: Handle itself, on a prepared RequestCtx: a proxied GET and a 404, with and
// without metrics and the access log.
func TestHandleAllocs(t *testing.T) {
	t.Run("plain", func(t *testing.T) { handleAllocs(t, Options{}) })
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := accesslog.New(accesslog.Options{Format: accesslog.FormatJSON, Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = l.Run(ctx) }()
	defer func() { cancel(); _ = l.Close() }()
	t.Run("metrics and access log", func(t *testing.T) {
		handleAllocs(t, Options{Metrics: m, AccessLog: l, CountAllRequests: true})
	})
	// The prometheus plugin: its log phase keeps the plugin Request to the end of the request.
	t.Run("prometheus plugin", func(t *testing.T) {
		up := fastBackend(t)
		h := start(t, Options{Metrics: m, AccessLog: l}, upstream.Options{},
			append(keyAuthKVs(up), "/apisix/routes/2", route("/prom/*", `"plugins":{"prometheus":{},"key-auth":{}}`, "", up),
				"/apisix/global_rules/1", `{"plugins":{"prometheus":{}}}`)...)
		handleAllocsOn(t, h, []allocCase{
			{"route and global rule", "/prom/x", []string{"apikey", "auth-one"}, 200},
			{"401", "/prom/x", nil, 401},
			{"global rule, no route", "/nothing", nil, 404},
		})
	})
}

// TestPluginAllocs: a key-auth route allocates nothing per request, whether the key is right or
// wrong, and neither does a 404 under a global rule.
func TestPluginAllocs(t *testing.T) {
	up := fastBackend(t)
	kvs := append(keyAuthKVs(up), "/apisix/global_rules/1", `{"plugins":{"key-auth":{"header":"global-key","anonymous_consumer":"jack"}}}`)
	handleAllocsOn(t, start(t, Options{}, upstream.Options{}, kvs...), []allocCase{
		{"key-auth", "/api/users?id=42", []string{"apikey", "auth-one"}, 200},
		{"key-auth, wrong key", "/api/users?id=42", []string{"apikey", "nope"}, 401},
		{"key-auth, key in the query", "/api/users?id=42&apikey=auth-one", nil, 200},
		{"global rule, no route", "/nothing", nil, 404},
	})
}

type allocCase struct {
	name, uri string
	headers   []string
	want      int
}

func handleAllocs(t *testing.T, opts Options) {
	h := start(t, opts, upstream.Options{}, "/apisix/routes/1", route("/api/*", "", "", fastBackend(t)))
	handleAllocsOn(t, h, []allocCase{
		{"proxied", "/api/users?id=42", nil, 200},
		{"no route", "/nothing", nil, 404},
	})
}

// keepBodies has resp keep its body buffer from one request to the next, as the contexts of a
// fasthttp server do. A RequestCtx set up by hand and a client's Response give it back to
// fasthttp's pool at every Reset, and that pool drops buffers larger than the sizes it has
// seen most (it calibrates on its traffic): after other tests of smaller bodies, with
// -shuffle, every request then allocated its body's buffer again.
func keepBodies(resp *fasthttp.Response) { resp.KeepBodyBuffer = true }

func handleAllocsOn(t *testing.T, h *harness, tests []allocCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tmpl fasthttp.Request
			tmpl.Header.SetMethod(fasthttp.MethodGet)
			tmpl.SetRequestURI(tt.uri)
			tmpl.Header.SetHost("api.example.com")
			tmpl.Header.Set("X-Forwarded-For", "10.0.0.1")
			for i := 0; i+1 < len(tt.headers); i += 2 {
				tmpl.Header.Set(tt.headers[i], tt.headers[i+1])
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}, nil)
			keepBodies(&ctx.Response)
			run := func() {
				tmpl.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				h.p.Handle(&ctx)
				if ctx.Response.StatusCode() != tt.want {
					t.Fatalf("status %d, want %d", ctx.Response.StatusCode(), tt.want)
				}
			}
			for i := 0; i < 100; i++ {
				run()
			}
			if allocs := testing.AllocsPerRun(500, run); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}

// TestRealIPAllocs (issue 20 item 8): a client address taken from the real-IP header of a
// trusted peer allocates nothing either: X-Real-IP, and X-Forwarded-For walked recursively.
func TestRealIPAllocs(t *testing.T) {
	tests := []struct {
		name          string
		realIP        *RealIP
		peer          net.IP
		header, value string
		route         string // matches the address from the header only
	}{
		{"X-Real-IP", nil, net.IPv4(127, 0, 0, 1), "X-Real-IP", "203.0.113.7", `"remote_addrs":["203.0.113.0/24"]`},
		{"X-Forwarded-For recursive", &RealIP{Header: "X-Forwarded-For", From: prefixes("192.0.2.0/24", "10.0.0.0/8"), Recursive: true},
			net.IPv4(192, 0, 2, 1), "X-Forwarded-For", "198.51.100.1, 2001:db8::7, 10.0.0.1", `"remote_addrs":["2001:db8::/32"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, Options{RealIP: tt.realIP}, upstream.Options{}, "/apisix/routes/1", route("/api/*", tt.route, "", fastBackend(t)))
			var tmpl fasthttp.Request
			tmpl.Header.SetMethod(fasthttp.MethodGet)
			tmpl.SetRequestURI("/api/users")
			tmpl.Header.SetHost("api.example.com")
			tmpl.Header.Set(tt.header, tt.value)
			var ctx fasthttp.RequestCtx
			ctx.Init(&tmpl, &net.TCPAddr{IP: tt.peer, Port: 5555}, nil)
			keepBodies(&ctx.Response)
			run := func() {
				tmpl.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				h.p.Handle(&ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("status %d, want 200 (the route matches the address from %s only)", ctx.Response.StatusCode(), tt.header)
				}
				if !ctx.RemoteIP().Equal(tt.peer) {
					t.Fatalf("the request kept the address %v after Handle, want the peer's %v", ctx.RemoteIP(), tt.peer)
				}
			}
			for i := 0; i < 100; i++ {
				run()
			}
			if allocs := testing.AllocsPerRun(500, run); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}

// TestHeldResponseAllocs: a response larger than fasthttp's write buffer, whose head and body
// the hold sends in one writev (holdwrite.go), allocates nothing either.
func TestHeldResponseAllocs(t *testing.T) {
	body := heldBody()
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/api/*", "", "", fixedBackend(t, "", body)))
	client := &fasthttp.HostClient{Addr: h.addr}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	keepBodies(resp)
	req.SetRequestURI("http://" + h.addr + "/api/large")
	do := func() {
		if err := client.DoTimeout(req, resp, waitFor); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), body) {
			t.Fatalf("got %d and %d bytes, want 200 and %d", resp.StatusCode(), len(resp.Body()), len(body))
		}
	}
	for range 100 {
		do()
	}
	if allocs := testing.AllocsPerRun(300, do); allocs != 0 {
		t.Errorf("%v allocations per proxied GET of 16 KiB, want 0", allocs)
	}
}
