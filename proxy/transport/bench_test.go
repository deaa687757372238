package transport

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// fastBackend is a fasthttp upstream on loopback answering every request with a small body.
func fastBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("hello from the upstream")
	}}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// direct is a Transport, a node on a fasthttp upstream and a prepared RequestCtx: Try alone,
// with no client connection.
type direct struct {
	tr   *Transport
	pool *upstream.Pool
	tmpl fasthttp.Request
	ctx  fasthttp.RequestCtx
	req  Request
	body []byte
}

func newDirect(tb testing.TB, method string, body []byte) *direct {
	d := &direct{tr: New(Options{}), body: body}
	d.pool = newPool(tb, d.tr, nil, "", fastBackend(tb))
	d.tmpl.Header.SetMethod(method)
	d.tmpl.SetRequestURI("/api/users?id=42")
	d.tmpl.Header.SetHost("api.example.com")
	d.tmpl.Header.Set("Accept", "*/*")
	if body != nil {
		d.tmpl.Header.SetContentLength(len(body))
	}
	d.ctx.Init(&d.tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}, nil)
	return d
}

// try makes one try, as the proxy does, and checks the answer.
func (d *direct) try(tb testing.TB) {
	d.tmpl.CopyTo(&d.ctx.Request)
	d.ctx.Response.Reset()
	d.req.Body = d.body
	d.req.Timeouts = Timeouts{Connect: waitFor, Send: waitFor, Read: waitFor}
	d.req.Keepalive = &d.pool.Spec().KeepalivePool
	node := d.pool.Pick(&d.ctx, nil)
	o := d.tr.Try(&d.ctx, &d.req, node, time.Now())
	d.req.Reset()
	if !o.Answered || d.ctx.Response.StatusCode() != 200 || string(d.ctx.Response.Body()) != "hello from the upstream" {
		tb.Fatalf("outcome %+v, got %d %q", o, d.ctx.Response.StatusCode(), d.ctx.Response.Body())
	}
}

// BenchmarkTry: one try on a fasthttp upstream over loopback, on a pooled connection: the
// transport's own cost plus the upstream's (the allocations counted are the whole process's).
func BenchmarkTry(b *testing.B) {
	for _, tc := range []struct {
		name, method string
		body         []byte
	}{
		{"GET", fasthttp.MethodGet, nil},
		{"POST 1KiB", fasthttp.MethodPost, []byte(strings.Repeat("b", 1024))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := newDirect(b, tc.method, tc.body)
			d.try(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d.try(b)
			}
		})
	}
}
