//go:build unix

package metrics_test

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
)

// BenchmarkRoundTrip measures what metrics and the access log cost a proxied request: a client
// sends GETs to a minimal proxy that forwards each to an upstream, all over in-memory listeners,
// with nothing recorded ("bare"), with metrics (Conns, Observe) and with metrics and a combined
// access log written to io.Discard. Compare ns/op between the variants of one run; cpu-ns/op (the
// process' user and system CPU time per request, every goroutine included) is steadier than
// wall time on a busy machine.
func BenchmarkRoundTrip(b *testing.B) {
	variants := []struct {
		name         string
		metrics, log bool
	}{
		{"bare", false, false},
		{"metrics", true, false},
		{"metrics+accesslog", true, true},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			up := fasthttputil.NewInmemoryListener()
			upSrv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello, world") }}
			go upSrv.Serve(up) //nolint:errcheck // ends with Shutdown
			defer upSrv.Shutdown()
			upstream := &fasthttp.HostClient{Addr: "upstream", Dial: func(string) (net.Conn, error) { return up.Dial() }}

			m, err := metrics.New(metrics.Options{})
			if err != nil {
				b.Fatal(err)
			}
			rm := m.ForRoute(metrics.RouteLabels{Route: "1"})
			conns := m.Conns()
			var al *accesslog.Logger // nil: off
			if v.log {
				al, err = accesslog.New(accesslog.Options{Writer: io.Discard})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- al.Run(ctx) }()
				defer func() { cancel(); <-done; al.Close() }()
			}

			proxy := func(ctx *fasthttp.RequestCtx) {
				var start time.Time
				if v.metrics {
					conns.Enter(ctx)
					start = time.Now()
				}
				var resp fasthttp.Response
				err := upstream.Do(&ctx.Request, &resp)
				if err != nil {
					ctx.SetStatusCode(fasthttp.StatusBadGateway)
				} else {
					resp.CopyTo(&ctx.Response)
				}
				if !v.metrics {
					return
				}
				end := time.Now()
				s := metrics.Sample{Code: ctx.Response.StatusCode(), Source: metrics.SourceUpstream,
					MatchedURI: "/bench", Node: "10.0.0.1", Request: end.Sub(start), Upstream: end.Sub(start),
					BytesIn: int64(len(ctx.Request.Header.RawHeaders())), BytesOut: int64(len(ctx.Response.Body()))}
				rm.Observe(&s)
				if al != nil {
					var rec accesslog.Record
					rec.FromCtx(ctx)
					rec.Time, rec.RequestTime, rec.RouteID = end, end.Sub(start), "1"
					rec.UpstreamAddr, rec.UpstreamStatus, rec.UpstreamTime = []byte("10.0.0.1:80"), 200, end.Sub(start)
					al.Log(&rec)
				}
			}
			front := fasthttputil.NewInmemoryListener()
			srv := &fasthttp.Server{Handler: proxy}
			var ln net.Listener = front
			if v.metrics {
				srv.ConnState = conns.ConnState
				ln = conns.Listener(front)
			}
			go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
			defer srv.Shutdown()
			client := &fasthttp.HostClient{Addr: "proxy", Dial: func(string) (net.Conn, error) { return front.Dial() }}

			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var req fasthttp.Request
				var resp fasthttp.Response
				req.SetRequestURI("http://proxy/bench")
				req.Header.SetUserAgent("bench/1")
				for pb.Next() {
					if err := client.Do(&req, &resp); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			if al != nil {
				b.ReportMetric(float64(al.Dropped())/float64(b.N), "dropped/op")
			}
		})
	}
}

// cpuTime is the process' user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
