package router

import (
	"cmp"
	"fmt"
	"regexp"
	"sync"

	"github.com/valyala/fasthttp"
)

// Table is an immutable routing table built by New from compiled routes.
// It is safe for concurrent use (Match takes no lock) and must not be
// copied; use it through the *Table New returns.
type Table struct {
	mode   Mode
	routes int
	// hosts holds ModeHostURI's host buckets: exact hosts by name,
	// wildcard ones as prefix candidates keyed by the reversed suffix (a
	// suffix of the host is a prefix of the reversed host). nil when no
	// route has a host.
	hosts *tree[*bucket]
	// paths holds the routes without a host (ModeHostURI) or all routes.
	paths tree[*cand]

	server []byte    // nginx's $host when the request has none
	vars   sync.Pool // *reqVars
}

// bucket is the sub-router of one host pattern (ModeHostURI).
type bucket struct {
	host  string // the pattern, lowercase: Result.Host
	paths tree[*cand]
}

// cand is one (route, path) candidate in a path tree.
type cand struct {
	route *Compiled
	path  string         // the route's uri as configured: Result.URI
	re    *regexp.Regexp // prefix candidates: segment check, nil = none
	never bool           // prefix candidate whose segment regex does not compile
	hosts bool           // uri modes: the route's hosts filter the candidate
}

// Result is what Match reports about the winning route.
type Result struct {
	Value int    // Route.Value of the winner
	URI   string // the route pattern that matched (e.g. "/api/*"), for metrics labels
	Host  string // the host pattern that matched ("" for host-less), for metrics labels
}

// New builds an immutable Table. The order of routes is the tie order
// among routes with the same path and priority: pass them in etcd key order.
func New(routes []*Compiled, mode Mode) (*Table, error) {
	if mode < ModeHostURI || mode > ModeURIWithParameter {
		return nil, fmt.Errorf("router: invalid mode %d", int(mode))
	}
	t := &Table{mode: mode, routes: len(routes), server: []byte(serverName)}
	var buckets map[string]*bucket
	var order []*bucket
	for i, c := range routes {
		if c == nil {
			return nil, fmt.Errorf("router: routes[%d] is nil", i)
		}
		if mode != ModeHostURI || c.hosts == nil {
			t.addPaths(&t.paths, c, mode != ModeHostURI && c.hosts != nil)
			continue
		}
		if buckets == nil {
			buckets = make(map[string]*bucket)
			t.hosts = &tree[*bucket]{}
		}
		for _, h := range c.hosts {
			b := buckets[h.text]
			if b == nil {
				b = &bucket{host: h.text}
				buckets[h.text] = b
				order = append(order, b)
				if h.wildcard {
					t.hosts.insert(reverse(h.suffix), false, b)
				} else {
					t.hosts.insert(h.text, true, b)
				}
			}
			t.addPaths(&b.paths, c, false)
		}
	}
	t.paths.finish(compareCand)
	for _, b := range order {
		b.paths.finish(compareCand)
	}
	if t.hosts != nil {
		t.hosts.finish(func(a, b *bucket) int { return 0 })
	}
	t.vars.New = func() any { return new(reqVars) }
	return t, nil
}

func (t *Table) addPaths(tr *tree[*cand], c *Compiled, filterHosts bool) {
	for i := range c.paths {
		p := &c.paths[i]
		key, prefix := p.key(t.mode)
		cd := &cand{route: c, path: p.path, hosts: filterHosts}
		if prefix {
			cd.re, cd.never = p.check(t.mode)
		}
		tr.insert(key, !prefix, cd)
	}
}

// compareCand is lua-resty-radixtree's sort_route: higher priority first,
// then the longer pattern; the sort is stable, so ties keep route order.
func compareCand(a, b *cand) int {
	if c := cmp.Compare(b.route.priority, a.route.priority); c != 0 {
		return c
	}
	return cmp.Compare(len(b.path), len(a.path))
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// Len returns the number of routes the table was built from.
func (t *Table) Len() int { return t.routes }

// Mode returns the router mode the table was built for.
func (t *Table) Mode() Mode { return t.mode }

// Match finds the route for a request. It takes no lock and, for a
// request that reaches no route with vars, allocates nothing. The result
// holds no reference to ctx.
func (t *Table) Match(ctx *fasthttp.RequestCtx) (Result, bool) {
	m := matcher{t: t, ctx: ctx}
	ok := m.init() && m.run()
	m.release()
	if !ok {
		return Result{}, false
	}
	return m.result(), true
}
