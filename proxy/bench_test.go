package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// fastBackend is a fasthttp upstream on loopback answering every request with a small body.
func fastBackend(tb testing.TB) string {
	return fixedBackend(tb, "text/plain", []byte("hello from the upstream"))
}

// fixedBackend is a fasthttp upstream on loopback answering every request with body, of
// contentType unless that is empty (fasthttp's default then).
func fixedBackend(tb testing.TB, contentType string, body []byte) string {
	tb.Helper()
	ln := testutil.Listen(tb)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if contentType != "" {
			ctx.SetContentType(contentType)
		}
		ctx.SetBody(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String()
}

// hotPath is a client, a Proxy and a fasthttp upstream, all on loopback, with a request ready.
type hotPath struct {
	client *fasthttp.HostClient
	req    *fasthttp.Request
	resp   *fasthttp.Response
}

func newHotPath(tb testing.TB, opts Options, method string, body []byte) *hotPath {
	h := start(tb, opts, upstream.Options{}, "/apisix/routes/1", route("/api/*", "", "", fastBackend(tb)))
	hp := &hotPath{
		client: &fasthttp.HostClient{Addr: h.addr, MaxConns: 1024},
		req:    fasthttp.AcquireRequest(),
		resp:   fasthttp.AcquireResponse(),
	}
	hp.resp.KeepBodyBuffer = true // as in TestHeldResponseAllocs (keepBodies)
	hp.req.SetRequestURI("http://" + h.addr + "/api/users?id=42")
	hp.req.Header.SetMethod(method)
	hp.req.Header.Set("X-Forwarded-For", "10.0.0.1")
	hp.req.Header.Set("Accept", "*/*")
	if body != nil {
		hp.req.SetBody(body)
	}
	tb.Cleanup(func() {
		fasthttp.ReleaseRequest(hp.req)
		fasthttp.ReleaseResponse(hp.resp)
	})
	return hp
}

// roundTrip sends the request through the proxy and checks the answer.
func (hp *hotPath) roundTrip(tb testing.TB, req *fasthttp.Request, resp *fasthttp.Response) {
	if err := hp.client.DoTimeout(req, resp, waitFor); err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), []byte("hello from the upstream")) {
		tb.Fatalf("got %d %q", resp.StatusCode(), resp.Body())
	}
}

// roundTripParallel sends hp's request through the proxy b.N times from b's parallel
// goroutines, each with its own request and response.
func (hp *hotPath) roundTripParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		hp.req.CopyTo(req)
		for pb.Next() {
			hp.roundTrip(b, req, resp)
		}
	})
}

// BenchmarkProxyRoundTrip: one request end to end through the proxy over loopback; the
// allocations counted are those of the whole process (client, proxy and upstream).
func BenchmarkProxyRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name, method string
		body         []byte
	}{
		{"GET", fasthttp.MethodGet, nil},
		{"POST 1KiB", fasthttp.MethodPost, []byte(strings.Repeat("b", 1024))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hp := newHotPath(b, Options{}, tc.method, tc.body)
			hp.roundTrip(b, hp.req, hp.resp)
			b.ReportAllocs()
			b.ResetTimer()
			hp.roundTripParallel(b)
		})
	}
}

// BenchmarkHandleDirect calls Handle on a prepared RequestCtx: the proxy's own cost, with the
// upstream on loopback and no client connection.
func BenchmarkHandleDirect(b *testing.B) {
	benchHandle(b, nil, "/apisix/routes/1", route("/api/*", "", "", fastBackend(b)))
}

// BenchmarkPlugins: a plain route and the same route with key-auth, then with jwt-auth (HS256,
// a token with exp), side by side (Handle on a prepared RequestCtx, as BenchmarkHandleDirect),
// with the process's CPU time per request (cpu-ns/op).
func BenchmarkPlugins(b *testing.B) {
	up := fastBackend(b)
	b.Run("plain", func(b *testing.B) {
		benchHandle(b, nil, "/apisix/routes/1", route("/api/*", "", "", up))
	})
	b.Run("key-auth", func(b *testing.B) {
		benchHandle(b, []string{"apikey", "auth-one"}, keyAuthKVs(up)...)
	})
	b.Run("jwt-auth", func(b *testing.B) {
		tok := jwtToken(b, "HS256", "jack-secret", fmt.Sprintf(`{"key":"jack-key","exp":%d}`, time.Now().Unix()+86400))
		benchHandle(b, []string{"Authorization", "Bearer " + tok}, jwtAuthKVs(up)...)
	})
	b.Run("proxy-rewrite+cors+request-id", func(b *testing.B) {
		benchHandle(b, []string{"Origin", "http://a.example"}, "/apisix/routes/1", route("/api/*", trafficPlugins, "", up))
	})
	b.Run("limit-count-local", func(b *testing.B) {
		benchHandle(b, nil, "/apisix/routes/1", route("/api/*", `"plugins":{"limit-count":{"count":1000000000,"time_window":3600}}`, "", up))
	})
	b.Run("traffic-split", func(b *testing.B) {
		// Every request matches the rule and is split 3:1 between an inline upstream and the
		// route's own (the same backend, so that the upstream's cost stays equal).
		benchHandle(b, []string{"X-Canary", "1"}, "/apisix/routes/1", route("/api/*",
			`"plugins":{"traffic-split":{"rules":[{"match":[{"vars":[["http_x_canary","==","1"]]}],`+
				`"weighted_upstreams":[{"upstream":{"nodes":{"`+up+`":1}},"weight":3},{"weight":1}]}]}}`, "", up))
	})
	b.Run("real-ip", func(b *testing.B) {
		benchHandle(b, []string{"X-Forwarded-For", "198.51.100.7, 192.0.2.1"}, "/apisix/routes/1", route("/api/*",
			`"plugins":{"real-ip":{"source":"http_x_forwarded_for","trusted_addresses":["192.0.2.0/24"],"recursive":true}}`, "", up))
	})
	b.Run("limit-count-rules", func(b *testing.B) {
		benchHandle(b, nil, "/apisix/routes/1", route("/api/*", `"plugins":{"limit-count":{"rules":[`+
			`{"count":1000000000,"time_window":3600,"key":"$remote_addr"},{"count":1000000000,"time_window":60,"key":"$remote_addr-$uri"}]}}`, "", up))
	})
	b.Run("limit-count-redis", func(b *testing.B) {
		host, port, _ := net.SplitHostPort(testutil.StartRedis(b).Addr)
		benchHandle(b, nil, "/apisix/routes/1", route("/api/*", `"plugins":{"limit-count":{"count":1000000000,"time_window":3600,`+
			`"policy":"redis","redis_host":"`+host+`","redis_port":`+port+`}}`, "", up))
	})
}

// jwtAuthKVs is a jwt-auth route to up and 1,000 consumers, one of which has key jack-key.
func jwtAuthKVs(up string) []string {
	kvs := []string{"/apisix/routes/1", route("/api/*", `"plugins":{"jwt-auth":{}}`, "", up),
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"jwt-auth":{"key":"jack-key","secret":"jack-secret"}}}`}
	for i := range 999 {
		kvs = append(kvs, fmt.Sprintf("/apisix/consumers/c%d", i), fmt.Sprintf(`{"username":"c%d","plugins":{"jwt-auth":{"key":"key-%d","secret":"s-%d"}}}`, i, i, i))
	}
	return kvs
}

// trafficPlugins is a route's proxy-rewrite (uri and a header from variables), cors and
// request-id.
const trafficPlugins = `"plugins":{"proxy-rewrite":{"uri":"/internal$uri","headers":{"set":{"X-Client":"$remote_addr"}}},` +
	`"cors":{"allow_origins":"http://a.example,http://b.example"},"request-id":{}}`

// keyAuthKVs is a key-auth route to up and 1,000 consumers, one of which has key auth-one.
func keyAuthKVs(up string) []string {
	kvs := []string{"/apisix/routes/1", route("/api/*", `"plugins":{"key-auth":{}}`, "", up),
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}`}
	for i := range 999 {
		kvs = append(kvs, fmt.Sprintf("/apisix/consumers/c%d", i), fmt.Sprintf(`{"username":"c%d","plugins":{"key-auth":{"key":"key-%d"}}}`, i, i))
	}
	return kvs
}

// benchRequest is the request the Handle benchmarks send: a GET of /api/users?id=42 with the
// given header names and values.
//
// The request is read from its wire form, as the server reads a client's: the proxy's checks and
// header rewrite work from the raw head (scanHead), and a head set up by hand has none, which
// sends them down the path for a head they know nothing of (every hop-by-hop and forwarding
// field looked up and deleted: about 6,000 instructions a request more, by callgrind).
func benchRequest(headers []string) *fasthttp.Request {
	var built fasthttp.Request
	built.Header.SetMethod(fasthttp.MethodGet)
	built.SetRequestURI("/api/users?id=42")
	built.Header.SetHost("api.example.com")
	for i := 0; i+1 < len(headers); i += 2 {
		built.Header.Set(headers[i], headers[i+1])
	}
	tmpl := &fasthttp.Request{}
	if err := tmpl.Read(bufio.NewReader(strings.NewReader(built.String()))); err != nil {
		panic(fmt.Sprintf("benchRequest: %v", err))
	}
	if len(tmpl.Header.RawHeaders()) == 0 {
		panic("benchRequest: the template has no raw head")
	}
	return tmpl
}

// benchClientAddr is the client address of the Handle benchmarks' RequestCtx.
var benchClientAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}

func benchHandle(b *testing.B, headers []string, kvs ...string) {
	h := start(b, Options{}, upstream.Options{}, kvs...)
	tmpl := benchRequest(headers)
	var ctx fasthttp.RequestCtx
	ctx.Init(tmpl, benchClientAddr, nil)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := testutil.ProcessCPU(b)
	for i := 0; i < b.N; i++ {
		tmpl.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		h.p.Handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
	// The process's CPU time per request (the proxy, the upstream and the kernel's loopback
	// work for both): what a plugin adds to it is what bench/ measures in requests per
	// CPU-second, and on a shared machine it moves less than ns/op.
	b.ReportMetric(float64(testutil.ProcessCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkPluginPhases: what a route's plugins add to a proxied request in user space, without
// the loopback round trip that makes BenchmarkPlugins' ns/op noisy: the proxy's plugin calls
// (runPlugins, the header filter on the upstream's answer, endPlugins, releasePlugins) around
// a stand-in for the upstream's answer, and both heads serialised (the headers the plugins add
// are bytes to write). The plugins are bench/'s limitcount and rewrite scenarios'; plain is
// the same work for a route without plugins: subtract it. cpu-ns/op is the CPU time of the
// benchmark's thread per op, steadier than ns/op when the machine is shared.
func BenchmarkPluginPhases(b *testing.B) {
	for _, tt := range []struct{ name, plugins string }{
		{"plain", ""},
		{"limit-count-local", `"plugins":{"limit-count":{"count":1000000000,"time_window":3600}}`},
		{"proxy-rewrite+cors+request-id", `"plugins":{"proxy-rewrite":{"uri":"/bench","headers":{"set":{"X-Client":"$remote_addr"}}},` +
			`"cors":{},"request-id":{}}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			h := start(b, Options{}, upstream.Options{}, "/apisix/routes/1", route("/api/*", tt.plugins, "", "127.0.0.1:1"))
			s := h.p.snap.Load()
			var tmpl fasthttp.Request
			tmpl.Header.SetMethod(fasthttp.MethodGet)
			tmpl.SetRequestURI("/api/users?id=42")
			tmpl.Header.SetHost("api.example.com")
			var ctx fasthttp.RequestCtx
			ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}, nil)
			var head []byte
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0, cpuOK := threadCPU()
			for b.Loop() {
				tmpl.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				m, ok := s.Router.Match(&ctx)
				if !ok {
					b.Fatal("no route")
				}
				rt := s.Routes.At(m.Value)
				ob := observation{rt: rt, match: m}
				var pr *plugin.Request
				if rt.Plugins != nil {
					pr, _ = h.p.runPlugins(&ctx, s, rt, &ob)
				}
				head = ctx.Request.Header.AppendBytes(head[:0])
				// The upstream's answer replaces the head, as the transport's read does.
				ctx.Response.Header.Reset()
				ctx.Response.Header.SetContentType("text/plain")
				ctx.Response.SetBodyString("hello from the upstream")
				if pr != nil {
					headerFilter(&ctx, pr)
				}
				if ob.plug != nil {
					h.p.endPlugins(&ob)
					h.p.releasePlugins(&ob)
				}
				head = ctx.Response.Header.AppendBytes(head[:0])
			}
			if cpu1, ok := threadCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
