package router

import (
	"bytes"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// matcher is the state of one Match call. It lives on Match's stack; the
// only heap object a match may take is a pooled *reqVars, when a candidate
// has vars.
type matcher struct {
	t    *Table
	ctx  *fasthttp.RequestCtx
	path []byte // nginx's $uri (see path.go)
	host []byte // nginx's $host
	vars *reqVars

	win     *cand  // the winning candidate
	winHost string // its host pattern (bucket or route), for Result.Host

	method     uint16
	methodDone bool
	addr       netip.Addr
	addrDone   bool
}

// init computes the path and host. It fails when nginx would reject the
// path (see PathRejected).
func (m *matcher) init() bool {
	raw := m.ctx.URI().PathOriginal()
	m.path = m.ctx.Path()
	// When fasthttp left the path as sent and it has no '%', it has no
	// "//" and no dot segment either: nginx accepts it unchanged.
	if (!bytes.Equal(raw, m.path) || bytes.IndexByte(raw, '%') >= 0) && pathRejected(raw) {
		return false
	}
	// fasthttp lowercases the URI host when it parses the request
	// (TestHostIsLowercase pins it), as nginx's $host is.
	m.host = nginxHost(m.ctx.Host())
	if len(m.host) == 0 {
		m.host = m.t.server
	}
	return true
}

// release returns the pooled variables; nothing of the request stays in
// them.
func (m *matcher) release() {
	if m.vars != nil {
		m.vars.reset()
		m.t.vars.Put(m.vars)
		m.vars = nil
	}
}

// run finds the winner; see result.
func (m *matcher) run() bool {
	if m.t.hosts != nil && m.matchHosts() {
		return true
	}
	return m.matchPaths(&m.t.paths, "")
}

// result is the Result of a successful run.
func (m *matcher) result() Result {
	return Result{Value: int(m.win.route.value), URI: m.win.spec().path, Host: m.winHost}
}

// matchHosts tries the host buckets of ModeHostURI: the exact host, then
// wildcard hosts from the longest suffix to the shortest, each bucket a
// complete sub-router; the first bucket with a matching route wins.
func (m *matcher) matchHosts() bool {
	hosts := m.t.hosts
	for _, b := range hosts.exact.get(m.host) {
		if m.matchPaths(&b.paths, b.host) {
			return true
		}
	}
	if len(hosts.root.kids()) == 0 && len(hosts.root.starts) == 0 {
		return false // no wildcard host
	}
	for stop := (*node[*bucket])(nil); ; {
		var tl trail[*bucket]
		hosts.collectReversed(m.host, stop, &tl)
		for i := tl.n - 1; i >= tl.first(); i-- {
			for _, b := range tl.at(i).starts {
				if m.matchPaths(&b.paths, b.host) {
					return true
				}
			}
		}
		if stop = tl.rest(); stop == nil {
			return false
		}
	}
}

// matchPaths is one lua-resty-radixtree match: candidates of the exact path
// first, then those of every prefix from the longest to the shortest, each
// list in priority order; the first candidate whose conditions hold wins.
// host is the bucket's host pattern ("" outside ModeHostURI buckets).
func (m *matcher) matchPaths(tr *tree[*cand], host string) bool {
	for _, c := range tr.exact.get(m.path) {
		if m.accept(c, false, host) {
			return true
		}
	}
	for stop := (*node[*cand])(nil); ; {
		var tl trail[*cand]
		tr.collect(m.path, stop, &tl)
		for i := tl.n - 1; i >= tl.first(); i-- {
			for _, c := range tl.at(i).starts {
				if m.accept(c, true, host) {
					return true
				}
			}
		}
		if stop = tl.rest(); stop == nil {
			return false
		}
	}
}

// accept checks a candidate's conditions, cheapest first, and records it
// as the winner when they hold. In the uri modes the route host pattern
// that matched becomes the result's host.
func (m *matcher) accept(c *cand, prefix bool, host string) bool {
	r := c.route
	if r.methods != 0 && r.methods&m.methodBit() == 0 {
		return false
	}
	if r.remote != nil && !r.remote.Contains(m.remoteAddr()) {
		return false
	}
	if c.hosts {
		matched := false
		raw := m.ctx.Request.Header.Host()
		for i := range r.hosts {
			if r.hosts[i].match(m.host, raw) {
				host, matched = r.hosts[i].text, true
				break
			}
		}
		if !matched {
			return false
		}
	}
	if prefix && c.check != checkNone && (c.check == checkNever || !c.spec().re.Match(m.path)) {
		return false
	}
	if r.vars != nil && !r.vars.Eval(m.source()) {
		return false
	}
	m.win, m.winHost = c, host
	return true
}

func (m *matcher) methodBit() uint16 {
	if !m.methodDone {
		m.method, m.methodDone = methodBit(m.ctx.Method()), true
	}
	return m.method
}

// remoteAddr is the client address, IPv4-mapped IPv6 unmapped.
func (m *matcher) remoteAddr() netip.Addr {
	if !m.addrDone {
		a, _ := netip.AddrFromSlice(m.ctx.RemoteIP())
		m.addr, m.addrDone = a.Unmap(), true
	}
	return m.addr
}

// source returns the request's variables for vars, from a pool.
func (m *matcher) source() *reqVars {
	if m.vars == nil {
		v := m.t.vars.Get().(*reqVars)
		v.ctx, v.path, v.host, v.addr = m.ctx, m.path, m.host, m.remoteAddr()
		m.vars = v
	}
	return m.vars
}
