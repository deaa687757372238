package snapshot

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

func bigState(n int) *state.State {
	st := &state.State{}
	m := make(map[string]state.KV, n+1)
	add := func(k, v string) {
		st.Revision++
		m[k] = state.KV{Key: k, Value: []byte(v), ModRevision: st.Revision}
	}
	add("/apisix/upstreams/1", `{"nodes":{"127.0.0.1:1980":1}}`)
	for i := 0; i < n; i++ {
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			add(fmt.Sprintf("/apisix/routes/%d", i), fmt.Sprintf(`{"uri":"/api/v1/items/%d","methods":["GET"],"upstream_id":"1"}`, i))
		case 6, 7, 8:
			add(fmt.Sprintf("/apisix/routes/%d", i), fmt.Sprintf(`{"uri":"/static/%d/*","upstream_id":"1"}`, i))
		default:
			add(fmt.Sprintf("/apisix/routes/%d", i), fmt.Sprintf(`{"uri":"/h/*","host":"h%d.example.com","upstream_id":"1"}`, i))
		}
	}
	st.KVs = state.NewKVs(m)
	return st
}

// BenchmarkBuild measures a cold build (everything decoded and compiled) and a rebuild after one
// route changed (everything else reused), at 10,000 and 40,000 routes.
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{10_000, 40_000} {
		st := bigState(n)
		st.Changed = nil
		b.Run(fmt.Sprintf("cold/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				bl, _ := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Logger: slog.New(slog.DiscardHandler)})
				if _, err := bl.Build(st); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("one-change/%d", n), func(b *testing.B) {
			bl, _ := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Logger: slog.New(slog.DiscardHandler)})
			if _, err := bl.Build(st); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st.Previous = st.Revision
				st.Revision++
				k := fmt.Sprintf("/apisix/routes/%d", i%n)
				st.KVs = st.KVs.With([]state.KV{{Key: k, ModRevision: st.Revision,
					Value: []byte(fmt.Sprintf(`{"uri":"/changed/%d","upstream_id":"1"}`, i))}}, nil)
				st.Changed = []string{k}
				if _, err := bl.Build(st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuiltMemory reports the heap that a built configuration of 10,000 routes holds, per
// route: the Builder's state and the Snapshot with its router, metrics on, no request served.
//
//	go test -run x -bench BuiltMemory ./proxy/snapshot/
func BenchmarkBuiltMemory(b *testing.B) {
	const n = 10_000
	st := bigState(n)
	st.Changed = nil
	for range b.N {
		m, err := metrics.New(metrics.Options{})
		if err != nil {
			b.Fatal(err)
		}
		before := liveHeap()
		bl, _ := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Metrics: m,
			Logger: slog.New(slog.DiscardHandler)})
		snap, err := bl.Build(st)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(liveHeap()-before)/n, "B/route")
		runtime.KeepAlive(bl)
		runtime.KeepAlive(snap)
	}
}

func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// BenchmarkBuiltMemoryPlugins reports the heap a built route holds with each plugin (5,000
// routes, each with the plugin's conf of its own, no request served), so that a plugin whose
// compiled conf grows stands out: limit-count, limit-req and limit-conn made 64 counter shards
// per route up front, 12 KB a route, before their tables made them as keys came.
//
//	go test -run x -bench BuiltMemoryPlugins ./proxy/snapshot/
func BenchmarkBuiltMemoryPlugins(b *testing.B) {
	const n = 5_000
	for _, bc := range []struct{ name, extra string }{
		{"none", ``},
		{"limit-count", `,"plugins":{"limit-count":{"count":100,"time_window":60,"key":"remote_addr","policy":"local"}}`},
		{"limit-req", `,"plugins":{"limit-req":{"rate":100,"burst":10,"key":"remote_addr"}}`},
		{"limit-conn", `,"plugins":{"limit-conn":{"conn":100,"burst":10,"default_conn_delay":0.1,"key":"remote_addr"}}`},
		{"key-auth", `,"plugins":{"key-auth":{}}`},
		{"jwt-auth", `,"plugins":{"jwt-auth":{}}`},
		{"proxy-rewrite", `,"plugins":{"proxy-rewrite":{"uri":"/x","headers":{"set":{"X-A":"$remote_addr"}}}}`},
		{"response-rewrite", `,"plugins":{"response-rewrite":{"headers":{"set":{"X-B":"1"}},"vars":[["status","==",200]]}}`},
		{"cors", `,"plugins":{"cors":{}}`},
		{"ip-restriction", `,"plugins":{"ip-restriction":{"whitelist":["10.0.0.0/8","192.168.0.0/16"]}}`},
		{"traffic-split", `,"plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[{"upstream_id":"1","weight":1},{"weight":1}]}]}}`},
		{"vars", `,"vars":[["http_x","==","y"],["arg_a","~~","^b"]]`},
		{"inline-upstream", `,"upstream":{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := &state.State{}
			m := make(map[string]state.KV, n+1)
			add := func(k, v string) {
				st.Revision++
				m[k] = state.KV{Key: k, Value: []byte(v), ModRevision: st.Revision}
			}
			add("/apisix/upstreams/1", `{"nodes":{"127.0.0.1:1980":1}}`)
			for i := range n {
				add(fmt.Sprintf("/apisix/routes/%d", i), fmt.Sprintf(`{"uri":"/api/v1/items/%d","upstream_id":"1"%s}`, i, bc.extra))
			}
			st.KVs = state.NewKVs(m)
			for range b.N {
				before := liveHeap()
				bl, _ := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Logger: slog.New(slog.DiscardHandler)})
				snap, err := bl.Build(st)
				if err != nil || len(bl.problems) != 0 {
					b.Fatalf("%v; problems %v", err, bl.problems)
				}
				b.ReportMetric(float64(liveHeap()-before)/n, "B/route")
				runtime.KeepAlive(bl)
				runtime.KeepAlive(snap)
			}
		})
	}
}
