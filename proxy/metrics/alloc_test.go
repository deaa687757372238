//go:build !race

package metrics_test

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/metrics"
)

func TestZeroAllocs(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	rm := m.ForRoute(metrics.RouteLabels{Route: "1"})
	c := m.Conns()
	ctx, nc := countedCtx(t, c)
	c.ConnState(nc, fasthttp.StateNew)
	s := benchSample()
	unproxied := metrics.Sample{Code: 404, Request: ms}

	tests := []struct {
		name string
		f    func()
	}{
		{"Observe", func() { rm.Observe(&s) }},
		{"Observe unmatched", func() { m.Unmatched().Observe(&unproxied) }},
		{"Conns", func() {
			c.ConnState(nc, fasthttp.StateActive)
			c.Enter(ctx)
			c.ConnState(nc, fasthttp.StateIdle)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f() // the first sample of a combination allocates its series
			if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
		})
	}
}
