package snapshot

import (
	"bytes"
	"slices"
	"testing"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestTrafficSplitTargets: the upstreams of a route's traffic-split are resolved into pools with
// the route: by upstream_id (resolved again when that upstream appears or changes) or inline,
// whose pool is kept across builds while the inline upstream is unchanged, and the pools enter
// and leave the live set (PoolDelta) with the route.
func TestTrafficSplitTargets(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	split := func(inline string) string {
		return `{"uri":"/s","upstream":` + up1 + `,"plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[` +
			`{"upstream_id":"9","weight":1},{"upstream":` + inline + `,"weight":1},{"weight":1}]}]}}}`
	}
	st := stateOf("/apisix/routes/1", split(up2))
	s := build(t, b, st)
	rt := match(t, s, "GET", "", "/s")
	if rt == nil || rt.Plugins.Targets() == nil || len(rt.Plugins.Targets().Pools) != 2 {
		t.Fatalf("route %+v", rt)
	}
	if rt.Plugins.Targets().Pools[0] != nil {
		t.Error("upstream 9 does not exist: want a nil pool")
	}
	inline := rt.Plugins.Targets().Pools[1]
	if inline == nil || inline.Nodes()[0].Addr != "127.0.0.1:1981" {
		t.Fatalf("inline pool %v", inline)
	}
	if !slices.Contains(s.PoolDelta.Added, inline) {
		t.Error("the inline pool is not in the first snapshot's live set")
	}

	// The upstream appears: the route is resolved again and picks it up; the inline pool is
	// the same one.
	st = with(st, "/apisix/upstreams/9", up1)
	s = build(t, b, st)
	rt = match(t, s, "GET", "", "/s")
	if rt.Plugins.Targets().Pools[0] == nil || rt.Plugins.Targets().Pools[1] != inline {
		t.Fatalf("after upstream 9: %v, inline kept %v", rt.Plugins.Targets().Pools, rt.Plugins.Targets().Pools[1] == inline)
	}

	// The route changes, not its inline upstream: same pool, and nothing leaves the live set.
	st = with(st, "/apisix/routes/1", split(up2)[:len(split(up2))-1]+`,"desc":"changed"}`)
	s = build(t, b, st)
	rt = match(t, s, "GET", "", "/s")
	if rt.Plugins.Targets().Pools[1] != inline {
		t.Error("route changed but not its inline upstream: the pool was made again")
	}
	if slices.Contains(s.PoolDelta.Removed, inline) {
		t.Error("the unchanged inline pool left the live set")
	}

	// The inline upstream changes: a new pool, the old one leaves the live set.
	st = with(st, "/apisix/routes/1", split(`{"nodes":{"127.0.0.1:1982":1}}`))
	s = build(t, b, st)
	rt = match(t, s, "GET", "", "/s")
	if p := rt.Plugins.Targets().Pools[1]; p == inline || p.Nodes()[0].Addr != "127.0.0.1:1982" {
		t.Errorf("changed inline upstream: pool %v", p.Nodes())
	}
	if !slices.Contains(s.PoolDelta.Removed, inline) {
		t.Error("the old inline pool did not leave the live set")
	}

	// The route goes: its pools leave the live set.
	p9, p := rt.Plugins.Targets().Pools[0], rt.Plugins.Targets().Pools[1]
	s = build(t, b, with(st, "/apisix/routes/1", ""))
	for _, want := range []*upstream.Pool{p9, p} {
		if !slices.Contains(s.PoolDelta.Removed, want) {
			t.Errorf("route deleted: pool %v still live", want.Nodes())
		}
	}
}
