package transport

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// waitFor is the generous deadline for anything a test waits on (other builds share the CPU).
const waitFor = 20 * time.Second

// poll waits for cond, failing the test after waitFor.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, waitFor, cond)
}

// newPool compiles an upstream of the nodes at addrs (weight 1 each) with the extra upstream
// fields upExtra (JSON members without braces, may be empty), in a registry whose clients the
// transport configures, then hook.
func newPool(tb testing.TB, tr *Transport, hook func(*fasthttp.HostClient), upExtra string, addrs ...string) *upstream.Pool {
	tb.Helper()
	reg := upstream.NewRegistry(upstream.Options{Client: func(c *fasthttp.HostClient) {
		tr.ConfigureClient(c)
		if hook != nil {
			hook(c)
		}
	}})
	var nodes []string
	for _, a := range addrs {
		nodes = append(nodes, fmt.Sprintf("%q:1", a))
	}
	js := `{"nodes":{` + strings.Join(nodes, ",") + `}`
	if upExtra != "" {
		js += "," + upExtra
	}
	spec, err := upstream.Parse([]byte(js + "}"))
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := reg.Pool("/apisix/upstreams/1", spec)
	if err != nil {
		tb.Fatal(err)
	}
	return pool
}

// front is the transport alone in front of an upstream: a fasthttp server on loopback whose
// handler tries every request once on a node of pool, with the pool's timeouts and
// keepalive_pool. No routing, no header rewriting, no retries: a try that does not answer is a
// 502 (504 on a timeout). Request bodies are read whole by the server.
type front struct {
	tr   *Transport
	pool *upstream.Pool
	addr string // host:port
	base string // http://host:port
}

func serveFront(tb testing.TB, tr *Transport, pool *upstream.Pool) *front {
	tb.Helper()
	f := &front{tr: tr, pool: pool}
	var reqs sync.Pool
	reqs.New = func() any { return new(Request) }
	c, s, r := pool.Timeouts()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		req := reqs.Get().(*Request)
		defer func() { req.Reset(); reqs.Put(req) }()
		req.Body = ctx.Request.Body()
		req.Timeouts = Timeouts{Connect: c, Send: s, Read: r}
		req.Keepalive = &pool.Spec().KeepalivePool
		req.HTTP10 = !ctx.Request.Header.IsHTTP11()
		ctx.Request.Header.ResetConnectionClose()
		node := pool.Pick(ctx, nil)
		o := tr.Try(ctx, req, node, time.Now())
		if !o.Answered {
			ctx.Response.Reset()
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
			if o.Timeout {
				ctx.SetStatusCode(fasthttp.StatusGatewayTimeout)
			}
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	f.addr = ln.Addr().String()
	f.base = "http://" + f.addr
	return f
}

// echo answers with the request's method, target and body size.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s body=%d\n", r.Method, r.RequestURI, len(body))
}

// rawBackend accepts connections and hands each to fn, counting them.
func rawBackend(tb testing.TB, accepted *atomic.Int64, fn func(c net.Conn)) string {
	tb.Helper()
	return testutil.RawBackend(tb, accepted, waitFor, fn)
}

// readRequestHead reads one request head from br and returns its Content-Length (0 if none).
var readRequestHead = testutil.ReadRequestHead

func do(tb testing.TB, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := (&http.Client{Timeout: waitFor}).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(tb testing.TB, url string) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return do(tb, req)
}
