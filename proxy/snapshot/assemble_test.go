package snapshot

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/zoneproxy/zoneproxy/cpclient"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestOnlyAffectedRoutesAreResolvedAgain: a change to an upstream or a service resolves again the
// routes that read it, and only those (the others keep their Route values).
func TestOnlyAffectedRoutesAreResolvedAgain(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := state(
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
	st := &cpclient.State{}
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
		next := &cpclient.State{KVs: st.KVs, Revision: st.Revision, Previous: st.Revision}
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
				next.KVs = next.KVs.With([]cpclient.KV{{Key: key, Value: []byte(value), ModRevision: next.Revision}}, nil)
			}
			next.Changed = append(next.Changed, key)
		}
		got := build(t, inc, next)
		want := build(t, newBuilder(t, &logs, false), &cpclient.State{KVs: next.KVs, Revision: next.Revision})
		for _, host := range []string{"x", "h0.example.com", "h1.example.com", "h2.example.com"} {
			for i := 0; i < 15; i++ {
				p := fmt.Sprintf("/r%d/x", i)
				g, w := match(t, got, "GET", host, p), match(t, want, "GET", host, p)
				if (g == nil) != (w == nil) || (g != nil && (g.Key != w.Key || g.Status != w.Status || poolAddr(g) != poolAddr(w))) {
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

// TestRouteMetricsHandles: a route keeps its metrics handle across changes that keep its labels;
// the live handles are listed (for metrics.Retain) only when one goes out of use.
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
	st := state("/apisix/upstreams/1", up1, "/apisix/routes/a", `{"uri":"/a","upstream_id":"1"}`,
		"/apisix/routes/b", `{"uri":"/b","upstream_id":"1"}`)
	s1 := build(t, b, st)
	ha := match(t, s1, "GET", "h", "/a").Metrics
	if ha == nil || ha.Labels() != (metrics.RouteLabels{Route: "a"}) {
		t.Fatalf("route a's handle %v", ha)
	}
	st2 := with(st, "/apisix/routes/a", `{"uri":"/a2","upstream_id":"1"}`)
	st2.Previous, st2.Changed = st.Revision, []string{"/apisix/routes/a"}
	s2 := build(t, b, st2)
	if got := match(t, s2, "GET", "h", "/a2").Metrics; got != ha {
		t.Errorf("a changed route with the same labels got a new handle")
	}
	if s2.RouteMetrics != nil {
		t.Errorf("handles listed although none went out of use")
	}
	st3 := with(st2, "/apisix/routes/b", "")
	st3.Previous, st3.Changed = st2.Revision, []string{"/apisix/routes/b"}
	s3 := build(t, b, st3)
	if len(s3.RouteMetrics) != 1 || s3.RouteMetrics[0] != ha {
		t.Errorf("after deleting b, live handles %v, want only a's", s3.RouteMetrics)
	}
}
