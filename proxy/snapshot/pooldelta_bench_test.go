package snapshot

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// BenchmarkBuildOneChangeOwnPools measures a rebuild after one route changed its upstream when
// each of 40,000 routes has its own inline upstream, so 40,000 pools are live (issue 20 item 18):
// the builder's pool accounting must cost what the change does, not what the live set does.
//
//	go test -run x -bench BuildOneChangeOwnPools ./proxy/snapshot/
func BenchmarkBuildOneChangeOwnPools(b *testing.B) {
	const n = 40_000
	route := func(i int, node string) []byte {
		return fmt.Appendf(nil, `{"uri":"/api/v1/r%d/*","upstream":{"nodes":{%q:1}}}`, i, node)
	}
	st := &state.State{}
	m := make(map[string]state.KV, n)
	for i := range n {
		st.Revision++
		k := fmt.Sprintf("/apisix/routes/%05d", i)
		m[k] = state.KV{Key: k, Value: route(i, fmt.Sprintf("10.%d.%d.%d:80", i>>16, i>>8&255, i&255)), ModRevision: st.Revision}
	}
	st.KVs = state.NewKVs(m)
	bl, _ := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Logger: slog.New(slog.DiscardHandler)})
	if _, err := bl.Build(st); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := i * 7919 % n
		next := &state.State{KVs: st.KVs, Previous: st.Revision, Revision: st.Revision + 1}
		k := fmt.Sprintf("/apisix/routes/%05d", r)
		next.KVs = st.KVs.With([]state.KV{{Key: k, ModRevision: next.Revision,
			Value: route(r, fmt.Sprintf("10.200.%d.%d:80", i>>8&255, i&255))}}, nil)
		next.Changed = []string{k}
		st = next
		if _, err := bl.Build(st); err != nil {
			b.Fatal(err)
		}
	}
}
