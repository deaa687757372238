package metrics_test

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
)

func benchSample() metrics.Sample {
	return metrics.Sample{Code: 200, Source: metrics.SourceUpstream, MatchedURI: "/api/v1/*",
		MatchedHost: "api.example.com", Node: "10.0.0.1", Request: 3 * ms, Upstream: 2 * ms,
		BytesIn: 350, BytesOut: 1200}
}

func BenchmarkObserve(b *testing.B) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rm := m.ForRoute(metrics.RouteLabels{Route: "1", Service: "s"})
	b.Run("serial", func(b *testing.B) {
		s := benchSample()
		b.ReportAllocs()
		for b.Loop() {
			rm.Observe(&s)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		defer testutil.ReportCPUPerOp(b)()
		b.RunParallel(func(pb *testing.PB) {
			s := benchSample()
			for pb.Next() {
				rm.Observe(&s)
			}
		})
	})
	// Each goroutine on its own node and status: the contention of a route with several nodes.
	b.Run("parallel-spread", func(b *testing.B) {
		var id atomic.Int32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			s := benchSample()
			s.Node = "10.0.1." + strconv.Itoa(int(id.Add(1)))
			for pb.Next() {
				rm.Observe(&s)
			}
		})
	})
}

// onceListener hands out one connection, then blocks until closed.
type onceListener struct {
	c    net.Conn
	done chan struct{}
}

func (l *onceListener) Accept() (net.Conn, error) {
	if c := l.c; c != nil {
		l.c = nil
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}
func (l *onceListener) Close() error   { close(l.done); return nil }
func (l *onceListener) Addr() net.Addr { return &net.TCPAddr{} }

// countedCtx returns a RequestCtx on a connection accepted through c.Listener.
func countedCtx(tb testing.TB, c *metrics.Conns) (*fasthttp.RequestCtx, net.Conn) {
	a, b := net.Pipe()
	tb.Cleanup(func() { a.Close(); b.Close() })
	ln := c.Listener(&onceListener{c: a, done: make(chan struct{})})
	nc, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init2(nc, nil, false)
	return &ctx, nc
}

func BenchmarkConns(b *testing.B) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	c := m.Conns()
	ctx, nc := countedCtx(b, c)
	c.ConnState(nc, fasthttp.StateNew)
	b.ReportAllocs()
	for b.Loop() {
		c.ConnState(nc, fasthttp.StateActive)
		c.Enter(ctx)
		c.ConnState(nc, fasthttp.StateIdle)
	}
}

// BenchmarkConnsParallel is BenchmarkConns from RunParallel's goroutines, each on its own
// connection. A request moves only its connection's state and count, summed at collection, so
// that under -cpu 2 no counter's cache line moves between cores with every request, as the
// shared gauges' did before (issue 22's contention profile, bench/contention.sh).
func BenchmarkConnsParallel(b *testing.B) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	c := m.Conns()
	b.ReportAllocs()
	defer testutil.ReportCPUPerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx, nc := countedCtx(b, c)
		c.ConnState(nc, fasthttp.StateNew)
		for pb.Next() {
			c.ConnState(nc, fasthttp.StateActive)
			c.Enter(ctx)
			c.ConnState(nc, fasthttp.StateIdle)
		}
	})
}
