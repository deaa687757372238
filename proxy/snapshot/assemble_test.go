package snapshot

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestOnlyAffectedRoutesAreResolvedAgain: a change to an upstream or a service resolves again the
// routes that read it, and only those (the others keep their Route values).
func TestOnlyAffectedRoutesAreResolvedAgain(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := stateOf(
		"/apisix/upstreams/1", up1, "/apisix/upstreams/2", up2,
		"/apisix/services/s", `{"upstream_id":"1","hosts":["a.example.com"]}`,
		"/apisix/routes/by-id", `{"uri":"/id","upstream_id":"1"}`,
		"/apisix/routes/by-service", `{"uri":"/svc","service_id":"s"}`,
		"/apisix/routes/other", `{"uri":"/other","upstream_id":"2"}`,
		"/apisix/routes/waits", `{"uri":"/waits","service_id":"later"}`,
	)
	s1 := build(t, b, st)
	other1 := match(t, s1, "GET", "h", "/other")

	st2 := with(st, "/apisix/upstreams/1", `{"nodes":{"127.0.0.1:1999":1}}`)
	st2.Previous, st2.Changed = st.Revision, []string{"/apisix/upstreams/1"}
	s2 := build(t, b, st2)
	if got := poolAddr(match(t, s2, "GET", "h", "/id")); got != "127.0.0.1:1999" {
		t.Errorf("route by upstream_id uses %s after the upstream changed", got)
	}
	if got := poolAddr(match(t, s2, "GET", "a.example.com", "/svc")); got != "127.0.0.1:1999" {
		t.Errorf("route through the service uses %s after the upstream changed", got)
	}
	if match(t, s2, "GET", "h", "/other") != other1 {
		t.Errorf("a route that reads neither was resolved again")
	}

	st3 := with(st2, "/apisix/services/s", `{"upstream_id":"2","hosts":["b.example.com"]}`,
		"/apisix/services/later", `{"upstream_id":"2"}`)
	st3.Previous, st3.Changed = st2.Revision, []string{"/apisix/services/s", "/apisix/services/later"}
	s3 := build(t, b, st3)
	if match(t, s3, "GET", "a.example.com", "/svc") != nil || poolAddr(match(t, s3, "GET", "b.example.com", "/svc")) != "127.0.0.1:1981" {
		t.Errorf("the service's new hosts and upstream are not used")
	}
	if r := match(t, s3, "GET", "h", "/waits"); r == nil || poolAddr(r) != "127.0.0.1:1981" {
		t.Errorf("a route whose service appeared later is not served by it: %+v", r)
	}

	st4 := with(st3, "/apisix/upstreams/2", "")
	st4.Previous, st4.Changed = st3.Revision, []string{"/apisix/upstreams/2"}
	s4 := build(t, b, st4)
	if r := match(t, s4, "GET", "h", "/other"); r == nil || r.Pool != nil || r.Status != 502 {
		t.Errorf("a route whose upstream was deleted: %+v, want 502", r)
	}
}

// TestIncrementalBuildsEqualFullBuilds applies random changes to routes, services, upstreams and
// plugin configs, builds each State incrementally, and compares every lookup of a request corpus
// with a full build of the same State.
func TestIncrementalBuildsEqualFullBuilds(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var logs bytes.Buffer
	inc := newBuilder(t, &logs, false)
	st := &state.State{}
	upstreamJSON := func() string {
		return fmt.Sprintf(`{"nodes":{"127.0.0.1:%d":1}}`, 2000+rng.IntN(5))
	}
	routeJSON := func(i int) string {
		target := []string{
			fmt.Sprintf(`"upstream_id":"%d"`, rng.IntN(4)),
			fmt.Sprintf(`"service_id":"s%d"`, rng.IntN(4)),
			`"upstream":` + upstreamJSON(),
			fmt.Sprintf(`"upstream_id":"%d","plugin_config_id":"p%d"`, rng.IntN(4), rng.IntN(3)),
		}[rng.IntN(4)]
		status := ""
		if rng.IntN(10) == 0 {
			status = `,"status":0`
		}
		return fmt.Sprintf(`{"uri":"/r%d/*",%s%s}`, i%15, target, status)
	}
	serviceJSON := func() string {
		hosts := ""
		if rng.IntN(2) == 0 {
			hosts = fmt.Sprintf(`,"hosts":["h%d.example.com"]`, rng.IntN(3))
		}
		return fmt.Sprintf(`{"upstream_id":"%d"%s}`, rng.IntN(4), hosts)
	}
	for step := 0; step < 300; step++ {
		next := &state.State{KVs: st.KVs, Revision: st.Revision, Previous: st.Revision}
		for n := 1 + rng.IntN(4); n > 0; n-- {
			var key, value string
			switch rng.IntN(4) {
			case 0:
				i := rng.IntN(30)
				key, value = fmt.Sprintf("/apisix/routes/%d", i), routeJSON(i)
			case 1:
				key, value = fmt.Sprintf("/apisix/services/s%d", rng.IntN(4)), serviceJSON()
			case 2:
				key, value = fmt.Sprintf("/apisix/upstreams/%d", rng.IntN(4)), upstreamJSON()
			default:
				key, value = fmt.Sprintf("/apisix/plugin_configs/p%d", rng.IntN(3)), `{"plugins":{}}`
			}
			next.Revision++
			if rng.IntN(4) == 0 {
				next.KVs = next.KVs.With(nil, []string{key})
			} else {
				next.KVs = next.KVs.With([]state.KV{{Key: key, Value: []byte(value), ModRevision: next.Revision}}, nil)
			}
			next.Changed = append(next.Changed, key)
		}
		got := build(t, inc, next)
		want := build(t, newBuilder(t, &logs, false), &state.State{KVs: next.KVs, Revision: next.Revision})
		for _, host := range []string{"x", "h0.example.com", "h1.example.com", "h2.example.com"} {
			for i := 0; i < 15; i++ {
				p := fmt.Sprintf("/r%d/x", i)
				g, w := match(t, got, "GET", host, p), match(t, want, "GET", host, p)
				if (g == nil) != (w == nil) || (g != nil && (g.ID != w.ID || g.Status != w.Status || poolAddr(g) != poolAddr(w))) {
					t.Fatalf("step %d, %s%s: incremental %+v, full %+v", step, host, p, g, w)
				}
			}
		}
		if got.Counts != want.Counts {
			t.Fatalf("step %d: counts %+v, full build %+v", step, got.Counts, want.Counts)
		}
		st = next
	}
}

// TestRouteMetricsHandles: a route's metrics handle is made by its first request, kept across
// changes that keep its labels, and retired with the labels when the route goes; a route added
// again starts afresh.
func TestRouteMetricsHandles(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	b, err := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	next := func(st *state.State, kvs ...string) (*state.State, *Snapshot) {
		n := with(st, kvs...)
		n.Previous = st.Revision
		for i := 0; i < len(kvs); i += 2 {
			n.Changed = append(n.Changed, kvs[i])
		}
		return n, build(t, b, n)
	}
	st := stateOf("/apisix/upstreams/1", up1, "/apisix/routes/a", `{"uri":"/a","upstream_id":"1"}`,
		"/apisix/routes/b", `{"uri":"/b","upstream_id":"1"}`, "/apisix/routes/c", `{"uri":"/c","upstream_id":"1"}`)
	s1 := build(t, b, st)
	ha := match(t, s1, "GET", "h", "/a").Metrics(m)
	if ha == nil || ha.Labels() != (metrics.RouteLabels{Route: "a"}) {
		t.Fatalf("route a's handle %v", ha)
	}
	hb := match(t, s1, "GET", "h", "/b").Metrics(m)
	if got := match(t, s1, "GET", "h", "/a").Metrics(m); got != ha {
		t.Errorf("a second request got another handle")
	}
	if got := match(t, s1, "GET", "h", "/a").Metrics(nil); got != nil {
		t.Errorf("with metrics off: %v, want nil", got)
	}

	st, s2 := next(st, "/apisix/routes/a", `{"uri":"/a2","upstream_id":"1"}`)
	if got := match(t, s2, "GET", "h", "/a2").Metrics(m); got != ha {
		t.Errorf("a changed route with the same labels got a new handle")
	}
	if r := s2.RetiredMetrics; len(r.Labels) != 0 {
		t.Errorf("retired %v although the labels stayed", r.Labels)
	}

	// b served requests, c none: both go.
	oldB, oldC := match(t, s2, "GET", "h", "/b"), match(t, s2, "GET", "h", "/c")
	st, s3 := next(st, "/apisix/routes/b", "", "/apisix/routes/c", "")
	r := s3.RetiredMetrics
	slices.SortFunc(r.Labels, func(x, y metrics.RouteLabels) int { return strings.Compare(x.Route, y.Route) })
	if want := []metrics.RouteLabels{{Route: "b"}, {Route: "c"}}; !slices.Equal(r.Labels, want) || len(r.Handles) != 2 {
		t.Fatalf("retired labels %v and %d handles, want %v and 2", r.Labels, len(r.Handles), want)
	}
	m.Retire(r)
	if got := oldC.Metrics(m); got != nil {
		t.Errorf("a request on the old snapshot made a handle for deleted route c: %v", got)
	}
	if got := oldB.Metrics(m); got != hb {
		t.Errorf("deleted route b's old version lost the handle it had: %v", got)
	}
	if got := match(t, s3, "GET", "h", "/a2").Metrics(m); got != ha {
		t.Errorf("route a lost its handle when others were retired")
	}

	_, s4 := next(st, "/apisix/routes/b", `{"uri":"/b","upstream_id":"1"}`)
	if got := match(t, s4, "GET", "h", "/b").Metrics(m); got == nil || got == hb {
		t.Errorf("route b added again: handle %v, want a new one (old %v)", got, hb)
	}
	if r := s4.RetiredMetrics; len(r.Labels) != 0 {
		t.Errorf("retired %v again", r.Labels)
	}
}

// TestRoutesCostNoMetricsUntilServed: with metrics on, a build allocates what it does with them
// off: the routes' handles wait for their first requests.
func TestRoutesCostNoMetricsUntilServed(t *testing.T) {
	const n = 200
	st := bigState(n)
	newMetrics := func() *metrics.Metrics {
		m, err := metrics.New(metrics.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	build := func(m *metrics.Metrics) {
		b, err := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Build(st); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh Metrics each time, so that no handle is left from the run before.
	base := testing.AllocsPerRun(5, func() { newMetrics() })
	on := testing.AllocsPerRun(5, func() { build(newMetrics()) })
	off := testing.AllocsPerRun(5, func() { build(nil) })
	if extra := on - base - off; extra >= n/4 {
		t.Errorf("a build of %d routes allocates %.0f times more with metrics on", n, extra)
	}
}

// TestSingleDependencyIsShared: routes that read one object alone share one deps slice, which still
// ties them to it: a change of the object resolves them again.
func TestSingleDependencyIsShared(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := stateOf("/apisix/upstreams/1", up1, "/apisix/services/s", `{"upstream_id":"1"}`,
		"/apisix/routes/a", `{"uri":"/a","upstream_id":"1"}`, "/apisix/routes/b", `{"uri":"/b","upstream_id":"1"}`,
		"/apisix/routes/c", `{"uri":"/c","service_id":"s"}`)
	build(t, b, st)
	da, db, dc := b.entries["/apisix/routes/a"].deps, b.entries["/apisix/routes/b"].deps, b.entries["/apisix/routes/c"].deps
	if len(da) != 1 || len(db) != 1 || &da[0] != &db[0] {
		t.Errorf("routes a and b hold deps %v and %v, want one shared slice", da, db)
	}
	if want := []depKey{{KindService, "s"}, {KindUpstream, "1"}}; !slices.Equal(dc, want) {
		t.Errorf("route c's deps %v, want %v", dc, want)
	}
	oldA := b.entries["/apisix/routes/a"].rt
	st2 := with(st, "/apisix/upstreams/1", `{"nodes":{"127.0.0.1:1981":1},"type":"roundrobin"}`)
	st2.Previous, st2.Changed = st.Revision, []string{"/apisix/upstreams/1"}
	s2 := build(t, b, st2)
	for _, path := range []string{"/a", "/b", "/c"} {
		rt := match(t, s2, "GET", "h", path)
		if rt == nil || rt.Pool == nil || rt.Pool.Nodes()[0].Addr != "127.0.0.1:1981" {
			t.Errorf("%s after the upstream changed: %+v", path, rt)
		}
	}
	if b.entries["/apisix/routes/a"].rt == oldA {
		t.Errorf("route a was not resolved again")
	}
}
