package health

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// describeCheckers renders a Manager's checkers: per key, the check it runs and the pool it
// probes through (by index in pools).
func describeCheckers(m *Manager, pools map[*upstream.Pool]int) string {
	var sb strings.Builder
	running := m.running()
	for _, key := range slices.Sorted(maps.Keys(running)) {
		c := running[key]
		fmt.Fprintf(&sb, "%s: pool %d, exited %v\n", key, pools[c.pool.Load()], c.exited())
	}
	return sb.String()
}

// TestUpdateMatchesSync (issue 20 item 18) drives two Managers through the same random changes of
// the live pools, one told the whole set (Sync), the other only the change (Update), and compares
// their checkers: the same keys, the same checks, probing through the same pools. Changes mix
// weight-only edits (checker kept), node changes (restarted), upstreams without active checks,
// upstreams leaving, and a delta that spans two builds.
func TestUpdateMatchesSync(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 18))
	r := upstream.NewRegistry(upstream.Options{})
	// Probes never fire: an interval unit of an hour.
	full := NewManager(nil, WithIntervalUnit(time.Hour))
	inc := NewManager(nil, WithIntervalUnit(time.Hour))
	t.Cleanup(full.Close)
	t.Cleanup(inc.Close)
	ctx := context.Background()
	poolIndex := map[*upstream.Pool]int{}
	specs := []string{
		`{"nodes":{"127.0.0.1:9":1,"127.0.0.2:9":1},` + fastChecks + `}`,
		`{"nodes":{"127.0.0.1:9":3,"127.0.0.2:9":1},` + fastChecks + `}`, // weights only
		`{"nodes":{"127.0.0.1:9":1},` + fastChecks + `}`,
		`{"nodes":{"127.0.0.3:9":1}}`, // no checks
	}
	live := map[string]*upstream.Pool{}
	built := map[string]*upstream.Pool{}
	for step := range 300 {
		for range 1 + rng.IntN(2) {
			key := fmt.Sprintf("/apisix/upstreams/%d", rng.IntN(5))
			if rng.IntN(4) == 0 {
				delete(built, key)
				continue
			}
			p := pool(t, r, key, specs[rng.IntN(len(specs))])
			if _, ok := poolIndex[p]; !ok {
				poolIndex[p] = len(poolIndex)
			}
			built[key] = p
		}
		if rng.IntN(5) == 0 {
			continue // not applied: the next delta spans two builds
		}
		var all []*upstream.Pool
		var d upstream.Delta
		for key, p := range built {
			all = append(all, p)
			if live[key] != p {
				d.Added = append(d.Added, p)
			}
		}
		for key, p := range live {
			if built[key] != p {
				d.Removed = append(d.Removed, p)
			}
		}
		live = maps.Clone(built)
		full.Sync(ctx, all)
		inc.Update(ctx, d)
		if got, want := describeCheckers(inc, poolIndex), describeCheckers(full, poolIndex); got != want {
			t.Fatalf("step %d: after Update\n%s\nafter Sync\n%s", step, got, want)
		}
	}
}

// TestUpdateKeepsRestartsAndStops: the checker of an upstream whose weights changed is kept, one
// whose nodes changed restarted, one whose upstream left stopped; the other upstreams' checkers are
// not touched; a checker whose context ended is restarted by the next Update, as by Sync.
func TestUpdateKeepsRestartsAndStops(t *testing.T) {
	s := startServer(t)
	r := upstream.NewRegistry(upstream.Options{})
	m := newManager(t)
	ctx := context.Background()
	p1 := pool(t, r, "k", `{"nodes":{"`+s.addr+`":1,"127.0.0.1:9":1},`+fastChecks+`}`)
	other := pool(t, r, "other", `{"nodes":{"`+s.addr+`":1},`+fastChecks+`}`)
	plain := pool(t, r, "plain", `{"nodes":{"`+s.addr+`":1}}`)
	m.Update(ctx, upstream.Delta{Full: true, Added: []*upstream.Pool{p1, other, plain}})
	c1, cOther := m.running()["k"], m.running()["other"]
	if len(m.running()) != 2 || c1 == nil || cOther == nil {
		t.Fatalf("running = %v, want checkers for k and other only", m.running())
	}
	testutil.WaitFor(t, "probes", waitTimeout, func() bool { return s.hits.Load() >= 2 })

	p2 := pool(t, r, "k", `{"nodes":{"`+s.addr+`":5,"127.0.0.1:9":1},`+fastChecks+`}`) // weights only
	m.Update(ctx, upstream.Delta{Added: []*upstream.Pool{p2}, Removed: []*upstream.Pool{p1}})
	if c := m.running()["k"]; c != c1 || c.pool.Load() != p2 {
		t.Fatal("a weight-only change restarted the checker, or it does not probe through the new pool")
	}
	p3 := pool(t, r, "k", `{"nodes":{"`+s.addr+`":5},`+fastChecks+`}`) // a node left
	m.Update(ctx, upstream.Delta{Added: []*upstream.Pool{p3}, Removed: []*upstream.Pool{p2}})
	if c3 := m.running()["k"]; c3 == c1 || c3 == nil {
		t.Fatal("a node change kept the old checker")
	}
	if m.running()["other"] != cOther {
		t.Fatal("an unchanged upstream's checker was replaced")
	}
	testutil.WaitFor(t, "the replaced checker to exit", waitTimeout, c1.exited)

	m.Update(ctx, upstream.Delta{Removed: []*upstream.Pool{other, plain}})
	if _, ok := m.running()["other"]; ok || len(m.running()) != 1 {
		t.Fatalf("running = %v after other left", m.running())
	}

	m.Update(ctx, upstream.Delta{Removed: []*upstream.Pool{p3}})
	if len(m.running()) != 0 {
		t.Fatalf("running = %v after every upstream left", m.running())
	}
	cctx, cancel := context.WithCancel(ctx)
	m.Sync(cctx, []*upstream.Pool{p3, other})
	cancel()
	testutil.WaitFor(t, "checkers to stop with their context", waitTimeout, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.exited) == 2
	})
	m.Update(ctx, upstream.Delta{Removed: []*upstream.Pool{other}})
	if c := m.running()["k"]; c == nil || c.exited() {
		t.Fatal("Update did not restart a checker whose context ended")
	}
	if _, ok := m.running()["other"]; ok {
		t.Fatal("a checker whose upstream left was restarted")
	}
	m.Close()
	m.Update(ctx, upstream.Delta{Added: []*upstream.Pool{other}}) // after Close: no effect
	if len(m.running()) != 0 {
		t.Fatal("Update after Close started a checker")
	}
}
