package snapshot

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// servedPools are the pools of the routes a Snapshot serves.
func servedPools(s *Snapshot) map[*upstream.Pool]bool {
	out := map[*upstream.Pool]bool{}
	for v := range s.Routes.Len() {
		if rt := s.Routes.At(v); rt != nil && rt.Pool != nil {
			out[rt.Pool] = true
		}
	}
	return out
}

// followDelta applies s's PoolDelta to live, the set the previous Snapshots' deltas gave, checking
// that it is one: pools enter once, only pools in the set leave, and the result is the set of
// pools that s serves.
func followDelta(t *testing.T, live map[*upstream.Pool]bool, s *Snapshot) map[*upstream.Pool]bool {
	t.Helper()
	d := s.PoolDelta
	if d.Full {
		if len(d.Removed) != 0 {
			t.Fatalf("a Full delta with %d removed", len(d.Removed))
		}
		live = map[*upstream.Pool]bool{}
	} else {
		live = maps.Clone(live)
	}
	for _, p := range d.Removed {
		if !live[p] {
			t.Fatalf("pool %s removed but not live", p.Key())
		}
		delete(live, p)
	}
	for _, p := range d.Added {
		if live[p] {
			t.Fatalf("pool %s added twice", p.Key())
		}
		live[p] = true
	}
	if want := servedPools(s); !maps.Equal(live, want) {
		t.Fatalf("the deltas give %d pools, the snapshot serves %d", len(live), len(want))
	}
	return live
}

func keysOf(ps []*upstream.Pool) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key())
	}
	slices.Sort(out)
	return out
}

// TestPoolDelta (issue 20 item 18): each Snapshot hands over the pools that entered and left the
// set in use, and nothing when it did not change.
func TestPoolDelta(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := stateOf(
		"/apisix/upstreams/1", up1,
		"/apisix/routes/a", `{"uri":"/a","upstream_id":"1"}`,
		"/apisix/routes/b", `{"uri":"/b","upstream_id":"1"}`,
		"/apisix/routes/inline", `{"uri":"/i","upstream":`+up2+`}`,
	)
	s := build(t, b, st)
	if d := s.PoolDelta; !d.Full || !slices.Equal(keysOf(d.Added), []string{"/apisix/routes/inline#upstream", "/apisix/upstreams/1"}) {
		t.Fatalf("first build: %+v, want every pool, Full", d)
	}
	live := followDelta(t, nil, s)
	poolA := match(t, s, "GET", "h", "/a").Pool

	next := func(kvs ...string) *Snapshot {
		t.Helper()
		n := with(st, kvs...)
		n.Previous = st.Revision
		for i := 0; i < len(kvs); i += 2 {
			n.Changed = append(n.Changed, kvs[i])
		}
		st = n
		s := build(t, b, n)
		live = followDelta(t, live, s)
		return s
	}
	tests := []struct {
		name          string
		kvs           []string
		added, remove []string
	}{
		{"a change that keeps the route's pool", []string{"/apisix/routes/a", `{"uri":"/a2","upstream_id":"1"}`}, nil, nil},
		{"one route's inline upstream changed", []string{"/apisix/routes/inline", `{"uri":"/i","upstream":` + up1 + `}`},
			[]string{"/apisix/routes/inline#upstream"}, []string{"/apisix/routes/inline#upstream"}},
		{"a route rejected: its last good version and pool stay", []string{"/apisix/routes/inline", `{"uri":`}, nil, nil},
		{"an upstream rejected: its last good pool stays", []string{"/apisix/upstreams/1", `{"nodes":"x"}`}, nil, nil},
		{"one of two routes on a pool left", []string{"/apisix/routes/b", ""}, nil, nil},
		{"the upstream moved to another key", []string{"/apisix/upstreams/2", up1, "/apisix/routes/a", `{"uri":"/a","upstream_id":"2"}`,
			"/apisix/upstreams/1", ""}, []string{"/apisix/upstreams/2"}, []string{"/apisix/upstreams/1"}},
		{"a route on a missing upstream", []string{"/apisix/routes/inline", `{"uri":"/i","upstream_id":"9"}`},
			nil, []string{"/apisix/routes/inline#upstream"}},
		{"nothing served any more", []string{"/apisix/routes/a", ""}, nil, []string{"/apisix/upstreams/2"}},
	}
	for _, tt := range tests {
		s := next(tt.kvs...)
		d := s.PoolDelta
		if d.Full || !slices.Equal(keysOf(d.Added), tt.added) || !slices.Equal(keysOf(d.Removed), tt.remove) {
			t.Errorf("%s: added %v, removed %v, full %v; want added %v, removed %v", tt.name,
				keysOf(d.Added), keysOf(d.Removed), d.Full, tt.added, tt.remove)
		}
		if tt.name == "an upstream rejected: its last good pool stays" {
			if got := match(t, s, "GET", "h", "/a2"); got == nil || got.Pool != poolA {
				t.Errorf("%s: route a serves %+v", tt.name, got)
			}
		}
	}

	// A new Builder over the same registry hands over its whole set again.
	b2, err := NewBuilder(Options{Registry: b.opts.Registry})
	if err != nil {
		t.Fatal(err)
	}
	if d := build(t, b2, stateOf("/apisix/upstreams/1", up1, "/apisix/routes/a", `{"uri":"/a","upstream_id":"1"}`)).PoolDelta; !d.Full || len(d.Added) != 1 {
		t.Errorf("a new Builder's first Snapshot: %+v, want Full with one pool", d)
	}
}

// TestPoolDeltaSpansFailedBuild: a build that fails hands over nothing, and the next Snapshot's
// delta covers both builds.
func TestPoolDeltaSpansFailedBuild(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := stateOf("/apisix/routes/a", `{"uri":"/a","upstream":`+up1+`}`, "/apisix/routes/b", `{"uri":"/b","upstream":`+up1+`}`)
	s1 := build(t, b, st)
	live := followDelta(t, nil, s1)
	oldA := match(t, s1, "GET", "h", "/a").Pool

	st2 := with(st, "/apisix/routes/a", `{"uri":"/a","upstream":`+up2+`}`)
	st2.Previous, st2.Changed = st.Revision, []string{"/apisix/routes/a"}
	b.opts.Mode, b.res.table = router.Mode(99), nil // the router cannot be built
	if _, err := b.Build(st2); err == nil {
		t.Fatal("the build with a broken router succeeded")
	}
	b.opts.Mode = router.ModeHostURI
	st3 := with(st2, "/apisix/routes/b", "")
	st3.Previous, st3.Changed = st2.Revision, []string{"/apisix/routes/b"}
	s3 := build(t, b, st3)
	live = followDelta(t, live, s3)
	d := s3.PoolDelta
	if len(d.Added) != 1 || d.Added[0] != match(t, s3, "GET", "h", "/a").Pool ||
		len(d.Removed) != 2 || !slices.Contains(d.Removed, oldA) {
		t.Errorf("after a failed build: added %v, removed %v; want a's new pool in, a's old and b's out",
			keysOf(d.Added), keysOf(d.Removed))
	}
	if len(live) != 1 {
		t.Errorf("%d pools live, want 1", len(live))
	}
}

// TestPoolDeltaFollowsRandomChanges: over random changes of routes, services and upstreams, with
// rejected objects and re-lists (a State without its changed keys: every key compared), the deltas
// always add up to the pools the Snapshot serves, and the registry, told each delta, keeps holding
// every served pool.
func TestPoolDeltaFollowsRandomChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 18))
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	reg := b.opts.Registry
	st := &state.State{}
	upstreamJSON := func() string {
		if rng.IntN(8) == 0 {
			return `{"nodes":"rejected"}`
		}
		return fmt.Sprintf(`{"nodes":{"127.0.0.1:%d":1}}`, 2000+rng.IntN(5))
	}
	routeJSON := func(i int) string {
		target := []string{
			fmt.Sprintf(`"upstream_id":"%d"`, rng.IntN(4)),
			fmt.Sprintf(`"service_id":"s%d"`, rng.IntN(4)),
			`"upstream":` + upstreamJSON(),
		}[rng.IntN(3)]
		return fmt.Sprintf(`{"uri":"/r%d/*",%s}`, i, target)
	}
	var live map[*upstream.Pool]bool
	for step := range 300 {
		next := &state.State{KVs: st.KVs, Revision: st.Revision, Previous: st.Revision}
		for n := 1 + rng.IntN(4); n > 0; n-- {
			var key, value string
			switch rng.IntN(3) {
			case 0:
				i := rng.IntN(20)
				key, value = fmt.Sprintf("/apisix/routes/%d", i), routeJSON(i)
			case 1:
				key, value = fmt.Sprintf("/apisix/services/s%d", rng.IntN(4)), fmt.Sprintf(`{"upstream_id":"%d"}`, rng.IntN(4))
			default:
				key, value = fmt.Sprintf("/apisix/upstreams/%d", rng.IntN(4)), upstreamJSON()
			}
			next.Revision++
			if rng.IntN(5) == 0 {
				next.KVs = next.KVs.With(nil, []string{key})
			} else {
				next.KVs = next.KVs.With([]state.KV{{Key: key, Value: []byte(value), ModRevision: next.Revision}}, nil)
			}
			next.Changed = append(next.Changed, key)
		}
		if rng.IntN(10) == 0 {
			next.Changed = nil // a re-list: every key compared
		}
		s := build(t, b, next)
		live = followDelta(t, live, s)
		reg.Update(s.PoolDelta)
		for p := range live {
			if again, err := reg.Pool(p.Key(), p.Spec()); err != nil || again != p {
				t.Fatalf("step %d: the registry no longer holds live pool %s", step, p.Key())
			}
		}
		st = next
	}
}
