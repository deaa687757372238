package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// inFlightPerP is how many requests the parallel benchmarks keep in flight per P (RunParallel's
// goroutines are inFlightPerP × GOMAXPROCS). With one per P, a P would idle whenever its
// request waits on loopback; several keep the Ps busy, as the harness' 50 connections do.
const inFlightPerP = 8

// The Parallel benchmarks are the hot path's under `-cpu 1,2` (issue 22's contention profile,
// bench/contention.sh): ns/op that grows from one P to two beyond halving, or cpu-ns/op that
// grows at all, is what two Ps pay that one does not, in shared state the requests touch or in
// the scheduler. cpu-ns/op is the process's CPU time per request, every goroutine included.

// BenchmarkRoundTripParallel is BenchmarkProxyRoundTrip's GET with inFlightPerP requests per P,
// without metrics and with them (the client connections' counters, which every request moves,
// and the route's series).
func BenchmarkRoundTripParallel(b *testing.B) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"plain", Options{}},
		{"metrics", Options{Metrics: m, CountAllRequests: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hp := newHotPath(b, tc.opts, fasthttp.MethodGet, nil)
			hp.roundTrip(b, hp.req, hp.resp)
			b.ReportAllocs()
			b.SetParallelism(inFlightPerP)
			b.ResetTimer()
			stop := testutil.ReportCPUPerOp(b)
			hp.roundTripParallel(b)
			stop()
		})
	}
}

// BenchmarkHandleParallel is BenchmarkHandleDirect's and BenchmarkPlugins' Handle on a prepared
// RequestCtx per goroutine: the plain route, limit-count (one local counter that every request
// of the route takes), and the prometheus plugin with metrics on (the route's metric children,
// shared by every request of the route).
func BenchmarkHandleParallel(b *testing.B) {
	up := fastBackend(b)
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    Options
		plugins string
	}{
		{"plain", Options{}, ""},
		{"limit-count-local", Options{}, `"plugins":{"limit-count":{"count":1000000000,"time_window":3600}}`},
		{"prometheus", Options{Metrics: m}, `"plugins":{"prometheus":{}}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := start(b, tc.opts, upstream.Options{}, "/apisix/routes/1", route("/api/*", tc.plugins, "", up))
			b.ReportAllocs()
			b.SetParallelism(inFlightPerP)
			b.ResetTimer()
			stop := testutil.ReportCPUPerOp(b)
			b.RunParallel(func(pb *testing.PB) {
				tmpl := benchRequest(nil) // its own: CopyTo may parse the source lazily
				var ctx fasthttp.RequestCtx
				ctx.Init(tmpl, benchClientAddr, nil)
				for pb.Next() {
					tmpl.CopyTo(&ctx.Request)
					ctx.Response.Reset()
					h.p.Handle(&ctx)
					if ctx.Response.StatusCode() != 200 {
						b.Errorf("status %d", ctx.Response.StatusCode())
						return
					}
				}
			})
			stop()
		})
	}
}
