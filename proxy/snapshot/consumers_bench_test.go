package snapshot

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// consumerState is a configuration of one key-auth route and n consumers, half with their key in
// the consumer and half in a credential.
func consumerState(n int) *state.State {
	st := &state.State{}
	m := make(map[string]state.KV, n+2)
	add := func(k, v string) {
		st.Revision++
		m[k] = state.KV{Key: k, Value: []byte(v), ModRevision: st.Revision}
	}
	add("/apisix/routes/1", `{"uri":"/*","plugins":{"key-auth":{}},"upstream":{"nodes":{"127.0.0.1:1980":1}}}`)
	for i := range n {
		u := fmt.Sprintf("user%d", i)
		if i%2 == 0 {
			add("/apisix/consumers/"+u, fmt.Sprintf(`{"username":%q,"plugins":{"key-auth":{"key":"key-%d"}}}`, u, i))
			continue
		}
		add("/apisix/consumers/"+u, fmt.Sprintf(`{"username":%q}`, u))
		add("/apisix/consumers/"+u+"/credentials/c", fmt.Sprintf(`{"plugins":{"key-auth":{"key":"key-%d"}}}`, i))
	}
	st.KVs = state.NewKVs(m)
	return st
}

// BenchmarkConsumers measures, with 10,000 consumers: a cold build, a rebuild after one consumer
// changed, and the heap the built configuration holds per consumer.
//
//	go test -run x -bench Consumers -benchmem ./proxy/snapshot/
func BenchmarkConsumers(b *testing.B) {
	const n = 10_000
	st := consumerState(n)
	newBuilder := func() *Builder {
		bl, _ := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Logger: slog.New(slog.DiscardHandler)})
		return bl
	}
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := newBuilder().Build(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-change", func(b *testing.B) {
		bl := newBuilder()
		snap, err := bl.Build(st)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			st.Previous = st.Revision
			st.Revision++
			k := fmt.Sprintf("/apisix/consumers/user%d", (2*i)%n)
			st.KVs = st.KVs.With([]state.KV{{Key: k, ModRevision: st.Revision,
				Value: []byte(fmt.Sprintf(`{"username":"user%d","plugins":{"key-auth":{"key":"new-%d"}}}`, (2*i)%n, i))}}, nil)
			st.Changed = []string{k}
			if snap, err = bl.Build(st); err != nil {
				b.Fatal(err)
			}
		}
		runtime.KeepAlive(snap)
	})
	b.Run("memory", func(b *testing.B) {
		for range b.N {
			before := liveHeap()
			bl := newBuilder()
			snap, err := bl.Build(st)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(liveHeap()-before)/n, "B/consumer")
			runtime.KeepAlive(bl)
			runtime.KeepAlive(snap)
		}
	})
}
