package router_test

import (
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/router"
)

// TestConcurrentMatch shares one table (and its pooled vars sources)
// between workers that match at the same time (testutil.Concurrently: none
// finishes before every other has matched its share). A vars source shared
// by two requests shows as a wrong route here, and as a race under -race.
func TestConcurrentMatch(t *testing.T) {
	tab, ids := buildTable(t, `[
		{"id":"a","uri":"/x","vars":[["arg_u","==","a"]]},
		{"id":"b","uri":"/x","vars":[["http_x_u","==","b"]]},
		{"id":"c","uri":"/x*","host":"*.c.com"},
		{"id":"d","uri":"/x"}
	]`, "", router.ModeHostURI)
	reqs := []struct {
		req  req
		want string
	}{
		{req{target: "/x?u=a"}, "a"},
		{req{target: "/x", headers: []string{"X-U: b"}}, "b"},
		{req{target: "/x", host: "q.c.com"}, "c"},
		{req{target: "/x?u=z"}, "d"},
	}
	const workers = 8
	ctxs := make([]*fasthttp.RequestCtx, workers) // one request per worker, built here: ctx may call t.Fatal
	for w := range ctxs {
		ctxs[w] = reqs[w%len(reqs)].req.ctx(t)
	}
	testutil.Concurrently(workers, 5000, func(w, i int) bool {
		rq := reqs[w%len(reqs)]
		res, ok := tab.Match(ctxs[w])
		if !ok || ids[res.Value] != rq.want {
			got := "no route"
			if ok {
				got = ids[res.Value]
			}
			t.Errorf("match %d of %s under concurrency: %s, want %s", i, rq.req, got, rq.want)
			return false
		}
		return true
	})
}

// TestConcurrentUpdate matches on a table while other workers derive tables
// from it (and from each other) with Update, and matches on the derived
// tables while they are derived from in turn. An Update that wrote to a node
// it shares with its receiver shows as a wrong route on the receiver, and as
// a race under -race.
func TestConcurrentUpdate(t *testing.T) {
	routes := genRoutes(2000)
	compiled := compileAll(t, routes)
	base, err := router.New(compiled, router.ModeHostURI)
	if err != nil {
		t.Fatal(err)
	}
	// replaced[i] is route i with Value -1: the same match fields, so a table
	// that has it answers -1 where base answers i.
	replaced := make([]*router.Compiled, len(routes))
	for i, r := range routes {
		r.Value = -1
		if replaced[i], err = router.Compile(r); err != nil {
			t.Fatal(err)
		}
	}
	reqs := benchRequests(routes)
	const matchers, updaters = 4, 2
	ctxs := make([]*fasthttp.RequestCtx, matchers)
	for w := range ctxs {
		ctxs[w] = reqs[w%len(reqs)].req.ctx(t)
	}
	var latest atomic.Pointer[router.Table] // the newest derived table, matched while derived from
	latest.Store(base)
	type chain struct {
		tab  *router.Table
		next int // the next route this updater replaces
	}
	chains := make([]chain, updaters) // each owned by its updater
	testutil.Concurrently(matchers+updaters, 300, func(w, i int) bool {
		if w >= matchers { // updater u replaces routes u, u+7, u+14, … then starts again from base
			u := w - matchers
			c := &chains[u]
			if c.tab == nil || c.next >= len(compiled) {
				c.tab, c.next = base, u
			}
			tab, err := c.tab.Update([]*router.Compiled{compiled[c.next]}, []*router.Compiled{replaced[c.next]})
			if err != nil {
				t.Errorf("Update replacing route %d: %v", c.next, err)
				return false
			}
			c.tab, c.next = tab, c.next+7
			latest.Store(tab)
			return true
		}
		rq := reqs[w%len(reqs)]
		tab, derived := base, i%2 == 1
		if derived {
			tab = latest.Load()
		}
		res, ok := tab.Match(ctxs[w])
		// base answers exactly; a derived table may have replaced the route (-1).
		good := (rq.want < 0) != ok && (!ok || res.Value == rq.want || derived && res.Value == -1)
		if !good {
			t.Errorf("match %d of %s on the %s table: %+v, %v; want route %d",
				i, rq.req, map[bool]string{false: "base", true: "derived"}[derived], res, ok, rq.want)
			return false
		}
		return true
	})
}
