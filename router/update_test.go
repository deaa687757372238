package router_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/zoneproxy/zoneproxy/router"
)

var modes = []router.Mode{router.ModeHostURI, router.ModeURI, router.ModeURIWithParameter}

func mustNew(tb testing.TB, routes []*router.Compiled, mode router.Mode) *router.Table {
	tb.Helper()
	tab, err := router.New(routes, mode)
	if err != nil {
		tb.Fatal(err)
	}
	return tab
}

func dump(tb testing.TB, tab *router.Table) string {
	tb.Helper()
	var b bytes.Buffer
	if err := tab.Dump(&b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// outcome is what Match says about one request, comparable.
type outcome struct {
	ok    bool
	value int
	uri   string
	host  string
}

func outcomes(tab *router.Table, ctxs []*fasthttp.RequestCtx) []outcome {
	out := make([]outcome, len(ctxs))
	for i, ctx := range ctxs {
		res, ok := tab.Match(ctx)
		out[i] = outcome{ok, res.Value, res.URI, res.Host}
	}
	return out
}

// routePool draws random routes over a small set of paths and hosts, so
// that routes collide on keys, priorities and uri lengths and the tie
// order matters.
type routePool struct {
	rnd   *rand.Rand
	value int
}

var (
	poolPaths = []string{"/", "/a", "/b", "/a/b", "/a/*", "/b/*", "/a/b*", "/a/b/*", "/*", "*",
		"/user/:id", "/user/:id/*", "/user/*", "/a/:x/c", "/files/*/meta", "/a:b", "/a*b"}
	poolHosts = []string{"a.com", "*.a.com", "*.com", "b.a.com", "*", "a.com:8080", "*.b.a.com", "c.com"}
)

func (p *routePool) route(id string, keyed bool) *router.Compiled {
	rnd := p.rnd
	r := router.Route{ID: id, Value: p.value}
	p.value++
	if keyed {
		r.Key = "/apisix/routes/" + id
	}
	if rnd.IntN(4) == 0 {
		for _, i := range rnd.Perm(len(poolPaths))[:1+rnd.IntN(3)] {
			r.URIs = append(r.URIs, poolPaths[i])
		}
	} else {
		r.URI = poolPaths[rnd.IntN(len(poolPaths))]
	}
	switch rnd.IntN(5) {
	case 0:
		r.Host = poolHosts[rnd.IntN(len(poolHosts))]
	case 1:
		for _, i := range rnd.Perm(len(poolHosts))[:1+rnd.IntN(3)] {
			r.Hosts = append(r.Hosts, poolHosts[i])
		}
	}
	if rnd.IntN(4) == 0 {
		r.Methods = []string{[]string{"GET", "POST"}[rnd.IntN(2)]}
	}
	r.Priority = []int{-1, 0, 0, 0, 0, 1, 5}[rnd.IntN(7)]
	if rnd.IntN(6) == 0 {
		r.Vars = json.RawMessage(`[["arg_v","==","1"]]`)
	}
	if rnd.IntN(8) == 0 {
		r.RemoteAddr = "10.0.0.0/8"
	}
	c, err := router.Compile(r)
	if err != nil {
		panic(fmt.Sprintf("pool route %+v: %v", r, err))
	}
	return c
}

// poolRequests is a request corpus covering the pool's hosts, paths,
// methods, vars and client addresses.
func poolRequests(tb testing.TB) []*fasthttp.RequestCtx {
	var ctxs []*fasthttp.RequestCtx
	hosts := []string{"a.com", "b.a.com", "x.b.a.com", "c.com", "a.com:8080", "q.org"}
	paths := []string{"/", "/a", "/b", "/a/b", "/a/bc", "/a/b/c", "/a/x/c", "/user/1", "/user/1/x",
		"/files/q/meta", "/a:b", "/azb", "/zzz", "/b/x?v=1"}
	for i, h := range hosts {
		for j, p := range paths {
			rq := req{target: p, host: h}
			if (i+j)%3 == 0 {
				rq.method = "POST"
			}
			if (i+j)%4 == 1 {
				rq.remote = "10.1.2.3"
			}
			ctxs = append(ctxs, rq.ctx(tb))
		}
	}
	return ctxs
}

// TestUpdateRandom applies random add / remove / replace batches with
// Update and compares each result with New of the same final route list,
// in every mode, with Key set (etcd key order) and unset (added routes
// last): same dump, same match for every request of a corpus, tree
// invariants held. Earlier tables must not change.
func TestUpdateRandom(t *testing.T) {
	ctxs := poolRequests(t)
	for _, mode := range modes {
		for _, keyed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/keyed=%v", mode, keyed), func(t *testing.T) {
				rnd := rand.New(rand.NewPCG(uint64(mode), 7))
				pool := &routePool{rnd: rnd}
				var live []*router.Compiled // the expected New argument
				ids := map[string]bool{}
				nextID := 0
				tab := mustNew(t, nil, mode)
				first, firstDump := tab, dump(t, tab)
				for step := 0; step < 150; step++ {
					var removed, added []*router.Compiled
					prev, prevOut := tab, outcomes(tab, ctxs)
					for op := 0; op < 1+rnd.IntN(3); op++ {
						switch k := rnd.IntN(10); {
						case k < 4 || len(live) < 3: // add a new route
							id := fmt.Sprint(rnd.IntN(40) * 25)
							for ids[id] {
								id = fmt.Sprint(nextID)
								nextID++
							}
							ids[id] = true
							added = append(added, pool.route(id, keyed))
						case k < 7: // remove one
							i := rnd.IntN(len(live))
							if slices.Contains(removed, live[i]) {
								continue
							}
							removed = append(removed, live[i])
							delete(ids, live[i].ID())
						default: // replace one: same id and key
							i := rnd.IntN(len(live))
							if slices.Contains(removed, live[i]) {
								continue
							}
							removed = append(removed, live[i])
							added = append(added, pool.route(live[i].ID(), keyed))
						}
					}
					next, err := tab.Update(removed, added)
					if err != nil {
						t.Fatalf("step %d: Update: %v", step, err)
					}
					live = slices.DeleteFunc(live, func(c *router.Compiled) bool { return slices.Contains(removed, c) })
					live = append(live, added...)
					if keyed {
						slices.SortStableFunc(live, func(a, b *router.Compiled) int { return strings.Compare(a.Key(), b.Key()) })
					}
					want := mustNew(t, live, mode)
					router.CheckInvariants(t, next)
					if next.Len() != len(live) || next.Mode() != mode {
						t.Fatalf("step %d: Len %d Mode %s, want %d %s", step, next.Len(), next.Mode(), len(live), mode)
					}
					if got, exp := dump(t, next), dump(t, want); got != exp {
						t.Fatalf("step %d: Update gives\n%s\nNew gives\n%s", step, got, exp)
					}
					if got, exp := outcomes(next, ctxs), outcomes(want, ctxs); !slices.Equal(got, exp) {
						for i := range got {
							if got[i] != exp[i] {
								t.Fatalf("step %d: request %s %s Host:%s: Update %+v, New %+v", step,
									ctxs[i].Method(), ctxs[i].RequestURI(), ctxs[i].Host(), got[i], exp[i])
							}
						}
					}
					if !slices.Equal(outcomes(prev, ctxs), prevOut) {
						t.Fatalf("step %d: Update changed the table it started from", step)
					}
					tab = next
				}
				if dump(t, first) != firstDump {
					t.Fatalf("the first table changed")
				}
			})
		}
	}
}

func TestUpdate(t *testing.T) {
	a := mustCompile(t, router.Route{ID: "1", Key: "/apisix/routes/1", URI: "/x", Value: 1})
	b := mustCompile(t, router.Route{ID: "2", Key: "/apisix/routes/2", URI: "/x", Value: 2})
	b2 := mustCompile(t, router.Route{ID: "2", Key: "/apisix/routes/2", URI: "/x", Value: 22})
	c := mustCompile(t, router.Route{ID: "3", Key: "/apisix/routes/3", URI: "/x", Value: 3})
	h := mustCompile(t, router.Route{ID: "4", Key: "/apisix/routes/4", URI: "/x", Host: "*.h.com", Value: 4})
	u := mustCompile(t, router.Route{ID: "5", URI: "/x", Value: 5}) // no Key: sorts first
	base := mustNew(t, []*router.Compiled{a, b, c, h}, router.ModeHostURI)
	ctx := req{target: "/x", host: "q.h.com"}.ctx(t)
	plain := req{target: "/x"}.ctx(t)
	tests := []struct {
		name           string
		removed, added []*router.Compiled
		want           []int // values /x reaches without a host, by peeling winners off; then q.h.com's winner
		wantErr        string
	}{
		{name: "no change", want: []int{1, 2, 3, 4}},
		{name: "replace keeps key order", removed: []*router.Compiled{b}, added: []*router.Compiled{b2}, want: []int{1, 22, 3, 4}},
		{name: "remove first", removed: []*router.Compiled{a}, want: []int{2, 3, 4}},
		{name: "remove host route", removed: []*router.Compiled{h}, want: []int{1, 2, 3, 1}},
		{name: "add without key", added: []*router.Compiled{u}, want: []int{5, 1, 2, 3, 4}},
		{name: "add again", added: []*router.Compiled{a}, want: []int{1, 1, 2, 3, 4}},
		{name: "remove and add back", removed: []*router.Compiled{a}, added: []*router.Compiled{a}, want: []int{1, 2, 3, 4}},
		{name: "not in table", removed: []*router.Compiled{b2}, wantErr: `removed[0] (route "2"): not in the table`},
		{name: "removed twice", removed: []*router.Compiled{c, c}, wantErr: `removed[1] (route "3"): not in the table`},
		{name: "nil removed", removed: []*router.Compiled{nil}, wantErr: "removed[0] is nil"},
		{name: "nil added", added: []*router.Compiled{a, nil}, wantErr: "added[1] is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dump(t, base)
			tab, err := base.Update(tt.removed, tt.added)
			if dump(t, base) != before {
				t.Fatalf("Update changed its receiver")
			}
			if tt.wantErr != "" {
				if err == nil || tab != nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Update = %v, %v; want error %q", tab, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			router.CheckInvariants(t, tab)
			if want := base.Len() - len(tt.removed) + len(tt.added); tab.Len() != want || tab.Mode() != base.Mode() {
				t.Fatalf("Len %d, Mode %s; want %d, %s", tab.Len(), tab.Mode(), want, base.Mode())
			}
			res, ok := tab.Match(ctx)
			if !ok {
				t.Fatalf("no match for q.h.com")
			}
			hostWinner := res.Value
			// Peel: the winner for /x, then the winner once it is removed...
			var values []int
			for probe := tab; ; {
				res, ok := probe.Match(plain)
				if !ok {
					break
				}
				values = append(values, res.Value)
				next, err := probe.Update(findByValue(t, []*router.Compiled{a, b, b2, c, u}, res.Value), nil)
				if err != nil {
					t.Fatal(err)
				}
				probe = next
			}
			values = append(values, hostWinner)
			if !slices.Equal(values, tt.want) {
				t.Fatalf("match order %v, want %v", values, tt.want)
			}
		})
	}
}

func findByValue(t *testing.T, cs []*router.Compiled, v int) []*router.Compiled {
	t.Helper()
	for _, c := range cs {
		if c.Value() == v {
			return []*router.Compiled{c}
		}
	}
	t.Fatalf("no route with value %d", v)
	return nil
}

func mustCompile(tb testing.TB, r router.Route) *router.Compiled {
	tb.Helper()
	c, err := router.Compile(r)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestUpdateErrorWraps pins that a failed Update wraps its
// cause: callers log it with the route.
func TestUpdateErrorWraps(t *testing.T) {
	tab := mustNew(t, nil, router.ModeURI)
	c := mustCompile(t, router.Route{ID: "9", URI: "/"})
	_, err := tab.Update([]*router.Compiled{c}, nil)
	if err == nil || errors.Unwrap(err) == nil {
		t.Fatalf("Update error %v does not wrap its cause", err)
	}
}

// TestUpdateSharing replaces one route of a generated table and counts the
// tree nodes, shards and buckets the new table does not share with the
// old: a few paths' worth, not the table.
func TestUpdateSharing(t *testing.T) {
	routes := genRoutes(10000)
	compiled := compileAll(t, routes)
	for _, mode := range modes {
		tab := mustNew(t, compiled, mode)
		for _, i := range []int{0, 1, 7, 20, 5000, 9999} { // host, exact, prefix, exact host, ...
			t.Run(fmt.Sprintf("%s/route %d", mode, i), func(t *testing.T) {
				r := routes[i]
				r.Value = -1
				c := mustCompile(t, r)
				next, err := tab.Update([]*router.Compiled{compiled[i]}, []*router.Compiled{c})
				if err != nil {
					t.Fatal(err)
				}
				router.CheckInvariants(t, next)
				// A path of a few nodes, a shard, a bucket and the host
				// tree's path: 7 at most in these tables.
				if n := router.Fresh(tab, next); n > 16 {
					t.Fatalf("%d objects not shared after replacing one route", n)
				}
			})
		}
	}
}

// TestUpdateChainMemory runs 1,000 Updates, each dropping the table
// before, and checks that the heap does not grow with them: an old table
// becomes garbage once dropped.
func TestUpdateChainMemory(t *testing.T) {
	routes := genRoutes(10000)
	compiled := compileAll(t, routes)
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	start := heap()
	tab := mustNew(t, compiled, router.ModeHostURI)
	size := heap() - start
	// Each step replaces a different route by a new version of it.
	rnd := rand.New(rand.NewPCG(3, 4))
	var churn uint64
	base := heap()
	for step := 0; step < 1000; step++ {
		i := rnd.IntN(len(routes))
		r := routes[i]
		r.Value = -step
		c := mustCompile(t, r)
		var ms0, ms1 runtime.MemStats
		if step == 0 {
			runtime.ReadMemStats(&ms0)
		}
		next, err := tab.Update([]*router.Compiled{compiled[i]}, []*router.Compiled{c})
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			runtime.ReadMemStats(&ms1)
			churn = ms1.TotalAlloc - ms0.TotalAlloc
		}
		compiled[i], tab = c, next
	}
	grown := int64(heap()) - int64(base)
	t.Logf("table %d KiB, one Update allocates %d KiB, heap grew %d KiB over 1,000", size>>10, churn>>10, grown>>10)
	// Retaining the old tables would hold about 1,000 x churn.
	if limit := int64(size / 4); grown > limit {
		t.Fatalf("heap grew %d KiB over 1,000 Updates (limit %d KiB): old tables are retained", grown>>10, limit>>10)
	}
	if churn*1000 < size/2 {
		t.Logf("note: churn too small for the check to discriminate")
	}
	runtime.KeepAlive(tab)
}
