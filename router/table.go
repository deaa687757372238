package router

import (
	"cmp"
	"fmt"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Table is an immutable routing table built by New, or derived from
// another by Update, from compiled routes. It is safe for concurrent use
// (Match takes no lock) and must not be copied; use it through the *Table
// New or Update returns.
type Table struct {
	mode   Mode
	routes int
	next   int // the build sequence number of the next added route (cand.seq)
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

// bucket is the sub-router of one host pattern (ModeHostURI). A bucket is
// immutable once its build has finished; Update replaces a bucket it
// changes with a new one sharing the untouched part of its tree.
type bucket struct {
	host  string // the pattern, lowercase: Result.Host
	paths tree[*cand]
}

// cand is one (route, path) candidate in a path tree.
type cand struct {
	route *Compiled
	seq   int   // the route's build sequence number (see compareCand)
	idx   int32 // index of the path in the route's uris
	hosts bool  // uri modes: the route's hosts filter the candidate
	check check // prefix candidates: the segment check
}

// check is what a prefix candidate must also pass besides the prefix match.
type check uint8

const (
	checkNone  check = iota
	checkRegex       // the path's segment regex (pathSpec.re)
	checkNever       // the segment regex does not compile: never matches
)

// spec is the candidate's path: its uri as configured (Result.URI) and its segment regex.
func (c *cand) spec() *pathSpec { return &c.route.paths[c.idx] }

// Result is what Match reports about the winning route.
type Result struct {
	Value int    // Route.Value of the winner
	URI   string // the route pattern that matched (e.g. "/api/*"), for metrics labels
	Host  string // the host pattern that matched ("" for host-less), for metrics labels
}

// New builds an immutable Table. Among candidates with the same path,
// priority and uri length, routes are tried by Route.Key (byte order),
// then in the order given: pass them in etcd key order, or set Key.
func New(routes []*Compiled, mode Mode) (*Table, error) {
	if mode < ModeHostURI || mode > ModeURIWithParameter {
		return nil, fmt.Errorf("router: invalid mode %d", int(mode))
	}
	for i, c := range routes {
		if c == nil {
			return nil, fmt.Errorf("router: routes[%d] is nil", i)
		}
	}
	t := &Table{mode: mode, routes: len(routes), next: len(routes), server: []byte(serverName)}
	b := newBuild(t)
	t.paths = newTree[*cand](b.own)
	for i, c := range routes {
		b.add(c, i)
	}
	b.finish()
	return t, nil
}

// Update returns a new Table equal to New(routes, t.Mode()), where routes
// is t's routes with removed taken out and added put in their place: the
// tie order of New (Route.Key, then order) holds, with each added route
// after every route of t and every earlier added route with the same Key.
// So with Key set to the etcd key the result is New of the routes in etcd
// key order; with Key unset, added routes come last, in the order given.
//
// removed lists routes of t by pointer; a route that is in t twice (the
// same *Compiled given twice) is removed once per entry, the one tried
// first going first. A new version of a route is a remove of the old
// *Compiled plus an add of the new one. Removals apply before additions.
// Update fails, returning nil, when an entry is nil or a removed route is
// not in t; with nothing to remove or add it returns t.
//
// t is not modified and stays valid for requests in flight. The new
// Table shares with t every host bucket, path subtree and exact-path
// shard the change does not touch, and holds no reference to t: t becomes
// garbage once dropped. The cost follows the change (the tree paths it
// touches, plus a word per shardAvg exact paths of a touched tree for the
// shard index), not the table's size.
func (t *Table) Update(removed, added []*Compiled) (*Table, error) {
	for i, c := range removed {
		if c == nil {
			return nil, fmt.Errorf("router: removed[%d] is nil", i)
		}
	}
	for i, c := range added {
		if c == nil {
			return nil, fmt.Errorf("router: added[%d] is nil", i)
		}
	}
	if len(removed) == 0 && len(added) == 0 {
		return t, nil
	}
	nt := &Table{
		mode:   t.mode,
		routes: t.routes - len(removed) + len(added),
		next:   t.next + len(added),
		hosts:  t.hosts,
		paths:  t.paths,
		server: t.server,
	}
	b := newBuild(nt)
	for i, c := range removed {
		if err := b.remove(c); err != nil {
			return nil, fmt.Errorf("router: removed[%d] (route %q): %w", i, c.id, err)
		}
	}
	for i, c := range added {
		b.add(c, t.next+i)
	}
	b.finish()
	return nt, nil
}

// compareCand is lua-resty-radixtree's sort_route: higher priority first,
// then the longer pattern; its sort is stable, so ties keep route order,
// which here is Route.Key, then the build sequence, then the route's own
// order of uris.
func compareCand(a, b *cand) int {
	if c := cmp.Compare(b.route.priority, a.route.priority); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.spec().path), len(a.spec().path)); c != 0 {
		return c
	}
	if c := strings.Compare(a.route.key, b.route.key); c != 0 {
		return c
	}
	if c := cmp.Compare(a.seq, b.seq); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
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

// Eval evaluates a vars expression against the request as a route's vars are evaluated (the
// same variables, read the same way): for the plugins' `_meta.filter`. It allocates nothing
// once warm and is safe for concurrent use.
func (t *Table) Eval(ctx *fasthttp.RequestCtx, e *expr.Expr) bool {
	m := matcher{t: t, ctx: ctx}
	m.init()
	ok := e.Eval(m.source())
	m.release()
	return ok
}

// AppendVar appends the value of the variable v for the request to dst, read as Eval reads it;
// ok is false when the variable is not set (Lua nil), true for a string, even empty (an
// argument without "=" is "true"). For the plugins' templates ($var in proxy-rewrite and
// redirect) and keys (limit-count's key); it allocates nothing once warm and is safe for concurrent use.
func (t *Table) AppendVar(dst []byte, ctx *fasthttp.RequestCtx, v *expr.Var) (_ []byte, ok bool) {
	switch v.Kind {
	case expr.VarRemoteAddr:
		// The variable read most (limit keys, proxy-rewrite's X-Client): read at once, without
		// the matcher's path and host and its pooled state, as reqVars reads it.
		m := matcher{ctx: ctx}
		return m.remoteAddr().AppendTo(dst), true
	case expr.VarURI:
		return append(dst, ctx.Path()...), true
	}
	m := matcher{t: t, ctx: ctx}
	m.init()
	switch val := m.source().Value(v); val.Kind {
	case expr.String:
		dst, ok = append(dst, val.S...), true
	case expr.True:
		dst, ok = append(dst, "true"...), true
	}
	m.release()
	return dst, ok
}
