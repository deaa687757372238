package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/health"
	"github.com/zoneproxy/zoneproxy/lifecycle/memory"
	"github.com/zoneproxy/zoneproxy/proxy"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// benchApp is an app with what apply uses: proxy, registry, builder, health checks and metrics;
// no listener, no control-plane client, no state file (States from the state file are not saved).
func benchApp(b *testing.B) *app {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	a := &app{log: log, cfg: config.Default(), checksCtx: context.Background(), memory: memory.New(log)}
	var err error
	if a.metrics, err = metrics.New(metrics.Options{Logger: log}); err != nil {
		b.Fatal(err)
	}
	a.registerFingerprint()
	a.px = proxy.New(proxy.Options{Logger: log, Metrics: a.metrics})
	a.reg = upstream.NewRegistry(upstream.Options{Logger: log, Client: a.px.ConfigureClient})
	if a.builder, err = a.newBuilder(a.cfg); err != nil {
		b.Fatal(err)
	}
	a.checks = health.NewManager(log)
	b.Cleanup(a.checks.Close)
	return a
}

// benchNode is the address of node i: 10.0.0.0/8, never dialled.
func benchNode(i int) string { return fmt.Sprintf("10.%d.%d.%d:80", i>>16&255, i>>8&255, i&255) }

func benchRoute(i int, node string) []byte {
	return fmt.Appendf(nil, `{"uri":"/api/v1/r%d/*","methods":["GET"],"upstream":{"nodes":{%q:1}}}`, i, node)
}

// BenchmarkApplyOneChange measures what the control plane's apply does after one route of 40,000
// changed its upstream (issue 20 item 18): build the Snapshot, swap it in, and bring the upstream
// registry, the health checkers and the metrics' pool series in line. Every route has its own
// inline upstream on its own node address, so there are 40,000 pools and 40,000 node clients.
//
//	go test -run x -bench ApplyOneChange -benchtime 200x ./lifecycle/
func BenchmarkApplyOneChange(b *testing.B) {
	const n = 40_000
	a := benchApp(b)
	m := make(map[string]state.KV, n)
	st := &state.State{Source: state.SourceStateFile}
	for i := range n {
		st.Revision++
		k := fmt.Sprintf("/apisix/routes/%05d", i)
		m[k] = state.KV{Key: k, Value: benchRoute(i, benchNode(i)), ModRevision: st.Revision}
	}
	st.KVs = state.NewKVs(m)
	a.apply(context.Background(), st)
	if s := a.px.Snapshot(); s == nil || s.Counts.Routes != n {
		b.Fatalf("cold build: %+v", s)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := i * 7919 % n // spread over the routes
		next := *st
		next.Previous, next.Revision = st.Revision, st.Revision+1
		k := fmt.Sprintf("/apisix/routes/%05d", r)
		next.KVs = st.KVs.With([]state.KV{{Key: k, ModRevision: next.Revision,
			Value: benchRoute(r, fmt.Sprintf("10.200.%d.%d:80", i>>8&255, i&255))}}, nil)
		next.Changed = []string{k}
		st = &next
		a.apply(context.Background(), st)
		if a.px.Snapshot().Revision != st.Revision {
			b.Fatal("the change was not applied")
		}
	}
}
