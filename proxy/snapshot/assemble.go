package snapshot

import (
	"fmt"
	"slices"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/prometheus"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// depKey names an object a route's resolution read: its service, upstream or plugin config.
type depKey struct{ kind, id string }

// resolution is what the routes resolved to, kept from one build to the next so that a build
// resolves again only the routes whose own object, or an object they read, changed.
type resolution struct {
	dirty   map[*entry]struct{}     // routes to resolve again (or just to drop)
	readers map[depKey]*readers     // object -> the routes whose resolution read it
	slots   routeSlots              // served routes by router value
	served  int                     // routes with a non-nil slot
	refs    map[*upstream.Pool]int  // pool -> routes using it (0: none since this build began)
	added   map[*upstream.Pool]bool // pools built during this build
	removed []*router.Compiled      // left the table since the last build
	adds    []*router.Compiled      // entered it
	// unused are the pools whose count of routes fell to 0 during this build: those still at 0
	// once the routes are resolved left the live set.
	unused []*upstream.Pool
	// delta is how the live set changed since the last Snapshot handed out (+1 entered, -1 left),
	// carried over a build that fails; handed tells whether a Snapshot was handed out yet (before
	// that, the first Snapshot's delta is Full and delta is not kept).
	delta  map[*upstream.Pool]int8
	handed bool
	table  *router.Table // the last table built
	// dropped holds the metric labels of routes resolved away, with the routes' handles, until a
	// route takes the labels back or a Snapshot hands them to metrics.Retire.
	dropped map[metrics.RouteLabels][]*metrics.RouteHandle
}

func newResolution() resolution {
	return resolution{
		dirty:   map[*entry]struct{}{},
		readers: map[depKey]*readers{},
		refs:    map[*upstream.Pool]int{},
		delta:   map[*upstream.Pool]int8{},
		dropped: map[metrics.RouteLabels][]*metrics.RouteHandle{},
	}
}

// readers are the routes whose resolution read one object.
type readers struct {
	routes map[*entry]struct{}
	// only is the deps of a route that read this object alone (most routes read one upstream):
	// those routes share it instead of holding a slice each.
	only []depKey
}

// invalidate marks a route entry that is being replaced or deleted for dropping at the next build.
func (b *Builder) invalidate(e *entry) {
	if e.kind() == KindRoute {
		b.res.dirty[e] = struct{}{}
	}
}

// invalidateDependents marks the routes that read the object kind/id for resolving again.
func (b *Builder) invalidateDependents(kind, id string) {
	if rs := b.res.readers[depKey{kind, id}]; rs != nil {
		for e := range rs.routes {
			b.res.dirty[e] = struct{}{}
		}
	}
}

// assemble resolves the routes that need it and compiles the Snapshot.
// smallDirty is the most routes a build may resolve again and keep its dirty map's buckets for
// the next build.
const smallDirty = 64

func (b *Builder) assemble(st *state.State) (*Snapshot, error) {
	r := &b.res
	r.added, r.removed, r.adds = map[*upstream.Pool]bool{}, r.removed[:0], r.adds[:0]
	r.slots.grow(b.next)
	// Drop the old resolutions first, then resolve the current entries: a replaced route's old and
	// new entries share a router value.
	dirty := make([]*entry, 0, len(r.dirty))
	for e := range r.dirty {
		dirty = append(dirty, e)
		b.unresolve(e)
	}
	if len(dirty) > smallDirty {
		// A map keeps its buckets when cleared: after a cold build of 10,000 routes, 300 KB held
		// for the few routes a later build sees change.
		r.dirty = map[*entry]struct{}{}
	} else {
		clear(r.dirty)
	}
	slices.SortFunc(dirty, func(x, y *entry) int { return compareKey(x, y.key()) })
	for _, e := range dirty {
		switch cur := b.entries[e.key()]; {
		case cur == e:
			b.resolve(e)
		case cur == nil:
			delete(b.problems, e.key()) // deleted: nothing to report any more
		}
	}
	for _, p := range r.unused {
		if n, ok := r.refs[p]; ok && n == 0 {
			delete(r.refs, p)
			r.changed(p, -1)
		}
	}
	clear(r.unused) // no pool held past the build
	r.unused = r.unused[:0]

	table, err := b.buildTable()
	if err != nil {
		r.table = nil // the next build starts the table afresh
		return nil, fmt.Errorf("build the router: %w", err)
	}
	r.table = table
	if b.consumersDirty {
		b.consumers, b.consumersDirty = b.buildConsumers(), false
	}
	if b.globalDirty {
		b.global, b.globalDirty = b.buildGlobal(), false
	}
	return &Snapshot{
		Global:         b.global,
		Consumers:      b.consumers,
		RetiredMetrics: b.retired(),
		Revision:       st.Revision,
		ClusterID:      st.ClusterID,
		Source:         st.Source,
		Endpoint:       st.Endpoint,
		Updated:        st.Updated,
		Built:          time.Now(),
		Router:         table,
		Routes:         r.slots.freeze(b.next),
		PoolDelta:      r.poolDelta(),
		KVs:            b.effectiveKVs(st),
		Counts: Counts{Routes: r.served, Services: len(b.byID[KindService]),
			Upstreams: len(b.byID[KindUpstream]), Consumers: b.consumers.Len()},
	}, nil
}

// changed notes that pool p entered (+1) or left (-1) the live set.
func (r *resolution) changed(p *upstream.Pool, by int8) {
	if !r.handed {
		return // the first Snapshot hands out the whole set
	}
	if r.delta[p] += by; r.delta[p] == 0 {
		delete(r.delta, p)
	}
}

// poolDelta hands out how the live set changed since the last Snapshot: the whole set the first
// time. It costs in proportion to the change, not to the live set, after the first time.
func (r *resolution) poolDelta() upstream.Delta {
	if !r.handed {
		r.handed = true
		d := upstream.Delta{Full: true, Added: make([]*upstream.Pool, 0, len(r.refs))}
		for p := range r.refs {
			d.Added = append(d.Added, p)
		}
		return d
	}
	var d upstream.Delta
	for p, by := range r.delta {
		if by > 0 {
			d.Added = append(d.Added, p)
		} else {
			d.Removed = append(d.Removed, p)
		}
	}
	if len(r.delta) > smallDirty {
		r.delta = map[*upstream.Pool]int8{} // a cleared map keeps its buckets
	} else {
		clear(r.delta)
	}
	return d
}

// retired hands out the metric labels that no route took back, and the handles of the routes
// that had them.
func (b *Builder) retired() metrics.Retirement {
	var out metrics.Retirement
	if len(b.res.dropped) == 0 {
		return out
	}
	for l, hs := range b.res.dropped {
		out.Labels = append(out.Labels, l)
		out.Handles = append(out.Handles, hs...)
	}
	b.res.dropped = map[metrics.RouteLabels][]*metrics.RouteHandle{}
	return out
}

// buildTable updates the last table with the routes that left and entered it (in time that depends
// on the change, not on the number of routes), or compiles a table from every served route in key
// order when there is no last table or the update fails.
func (b *Builder) buildTable() (*router.Table, error) {
	if prev := b.res.table; prev != nil {
		t, err := prev.Update(b.res.removed, b.res.adds)
		if err == nil {
			return t, nil
		}
		b.log.Warn("could not update the router table; building it afresh", "error", err)
	}
	compiled := make([]*router.Compiled, 0, b.res.served)
	for _, e := range b.routes {
		if e.resolved && e.rc != nil {
			compiled = append(compiled, e.rc)
		}
	}
	return router.New(compiled, b.opts.Mode)
}

// unresolve takes a route's last resolution out of the indexes.
func (b *Builder) unresolve(e *entry) {
	r := &b.res
	if !e.resolved {
		return
	}
	for _, d := range e.deps {
		if rs := r.readers[d]; rs != nil {
			delete(rs.routes, e)
			if len(rs.routes) == 0 {
				delete(r.readers, d)
			}
		}
	}
	if e.rt != nil {
		if p := e.rt.Pool; p != nil {
			if r.refs[p]--; r.refs[p] == 0 {
				r.unused = append(r.unused, p)
			}
		}
		if b.opts.Metrics != nil {
			l := e.rt.labels()
			r.dropped[l] = append(r.dropped[l], &e.rt.metrics)
		}
		if r.slots.get(int(e.handle)) == e.rt {
			r.slots.set(int(e.handle), nil)
			r.served--
		}
		r.removed = append(r.removed, e.rc)
	}
	e.resolved, e.rt, e.rc, e.deps = false, nil, nil, nil
}

// resolve joins a current route entry with the objects it names and puts it in the indexes.
func (b *Builder) resolve(e *entry) {
	r := &b.res
	ro := e.obj.(*routeObj)
	e.resolved = true
	if !ro.enabled {
		b.setProblem(e.key(), "")
		return
	}
	rt, c, why, deps := b.resolveRoute(e, ro)
	e.deps = deps
	for _, d := range deps {
		rs := r.readers[d]
		if rs == nil {
			rs = &readers{routes: map[*entry]struct{}{}, only: []depKey{d}}
			r.readers[d] = rs
		}
		rs.routes[e] = struct{}{}
		if len(deps) == 1 {
			e.deps = rs.only
		}
	}
	b.setProblem(e.key(), why)
	if rt == nil {
		return
	}
	// The same labels keep their series: nothing to retire. (The handle itself is made by the
	// route's first request.)
	delete(r.dropped, rt.labels())
	e.rt, e.rc = rt, c
	r.slots.set(int(e.handle), rt)
	r.served++
	r.adds = append(r.adds, c)
	if rt.Pool != nil {
		if _, live := r.refs[rt.Pool]; !live {
			r.changed(rt.Pool, +1)
		}
		r.refs[rt.Pool]++
	}
}

// setProblem records why a route is not served as configured, logging it when it is new.
func (b *Builder) setProblem(key, why string) {
	old, had := b.problems[key]
	switch {
	case why == "" && had:
		delete(b.problems, key)
		b.log.Info("route problem resolved", "key", key)
	case why != "" && old != why:
		b.problems[key] = why
		b.log.Warn("route not served as configured", "key", key, "reason", why)
	}
}

// resolveRoute joins a route with its service, plugin config and upstream. A nil Route means the
// route is not served; why says why (also set for a served route with a problem); deps are the
// objects read, found or not.
func (b *Builder) resolveRoute(e *entry, r *routeObj) (*Route, *router.Compiled, string, []depKey) {
	var deps []depKey
	var pcSet *plugin.Set
	var svc *serviceObj
	var svcEntry *entry
	// As APISIX: a route whose service or plugin config is missing still matches, and answers
	// 404 or 503 (apisix/init.lua, http_access_phase).
	if r.serviceID != "" {
		deps = append(deps, depKey{KindService, r.serviceID})
		if svcEntry = b.byID[KindService][r.serviceID]; svcEntry == nil {
			return &Route{ID: e.id(), ServiceID: r.serviceID, Status: 404, Unresolved: true}, e.compiled,
				fmt.Sprintf("service_id %q not found: the route answers 404", r.serviceID), deps
		}
		svc = svcEntry.obj.(*serviceObj)
	}
	if r.pluginConfigID() != "" {
		deps = append(deps, depKey{KindPluginConfig, r.pluginConfigID()})
		pce := b.byID[KindPluginConfig][r.pluginConfigID()]
		if pce == nil {
			return &Route{ID: e.id(), ServiceID: r.serviceID, Status: 503, Unresolved: true}, e.compiled,
				fmt.Sprintf("plugin_config_id %q not found: the route answers 503", r.pluginConfigID()), deps
		}
		pcSet = pce.obj.(*pluginSet).set
	}

	c := e.compiled
	if svc != nil && len(svc.doc.Hosts) > 0 && !r.ownHosts && r.match != nil {
		if e.inherited == nil || e.inherited.rev != svcEntry.kv.ModRevision {
			m := *r.match
			m.Host, m.Hosts = "", svc.doc.Hosts
			ic, err := router.Compile(m)
			if err != nil {
				return nil, nil, fmt.Sprintf("with the hosts of service %q: %v", r.serviceID, err), deps
			}
			e.inherited = &inheritedMatch{c: ic, rev: svcEntry.kv.ModRevision}
		}
		c = e.inherited.c
	}

	rt := &Route{ID: e.id(), ServiceID: r.serviceID, Timeout: r.timeout}
	// APISIX's precedence: route > plugin config > service, each winner's conf whole.
	var svcSet *plugin.Set
	if svc != nil {
		svcSet = svc.plugins
	}
	var own *plugin.Set
	if r.plugins != nil {
		own = r.plugins.set
	}
	rt.Plugins = plugin.Merge(svcSet, pcSet, own)
	if p, ok := rt.Plugins.Instance(prometheus.Name).(*prometheus.Conf); ok && p.PreferName {
		// APISIX's exporter: the names, where the route and its service have one.
		rt.named = &metrics.RouteLabels{Route: rt.ID, Service: rt.ServiceID}
		if r.name != "" {
			rt.named.Route = r.name
		}
		if svc != nil && svc.doc.Name != nil && *svc.doc.Name != "" {
			rt.named.Service = *svc.doc.Name
		}
	}
	rt.EnableWebsocket = r.enableWebsocket
	if !r.websocketPresent && svc != nil && svc.doc.Websocket != nil {
		rt.EnableWebsocket = *svc.doc.Websocket
	}

	// Precedence: route upstream_id > route upstream > service upstream_id > service upstream.
	var why string
	switch {
	case r.upstreamID != "":
		deps = append(deps, depKey{KindUpstream, r.upstreamID})
		why = b.poolByID(rt, r.upstreamID)
	case r.upstream != nil:
		rt.Pool, why = b.inlinePool(e, r.upstream)
	case svc != nil && svc.upstreamID != "":
		deps = append(deps, depKey{KindUpstream, svc.upstreamID})
		why = b.poolByID(rt, svc.upstreamID)
	case svc != nil && svc.upstream != nil:
		rt.Pool, why = b.inlinePool(svcEntry, svc.upstream)
	}
	if rt.Pool == nil && rt.Status == 0 {
		rt.Status = 503
	}
	return rt, c, why, deps
}

func (b *Builder) poolByID(rt *Route, upstreamID string) string {
	ue := b.byID[KindUpstream][upstreamID]
	if ue == nil {
		rt.Status = 502
		return fmt.Sprintf("upstream_id %q not found: the route answers 502", upstreamID)
	}
	if !b.usable(ue.pool) {
		p, err := b.opts.Registry.Pool(ue.key(), ue.obj.(*upstream.Spec))
		if err != nil {
			rt.Status = 502
			return fmt.Sprintf("upstream %q: %v", upstreamID, err)
		}
		ue.pool = p
		b.res.added[p] = true
	}
	rt.Pool = ue.pool
	return ""
}

// usable reports whether a pool cached on an entry may be used: it is live (the registry has not
// released it) or was built during this build.
func (b *Builder) usable(p *upstream.Pool) bool {
	if p == nil {
		return false
	}
	_, live := b.res.refs[p]
	return live || b.res.added[p]
}

func (b *Builder) inlinePool(owner *entry, spec *upstream.Spec) (*upstream.Pool, string) {
	if !b.usable(owner.inlinePool) {
		p, err := b.opts.Registry.Pool(owner.key()+"#upstream", spec)
		if err != nil {
			return nil, fmt.Sprintf("upstream: %v", err)
		}
		owner.inlinePool = p
		b.res.added[p] = true
	}
	return owner.inlinePool, ""
}
