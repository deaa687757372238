package snapshot

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/cpclient"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Kinds of objects under the prefix that the Builder decodes. Keys of other kinds (consumers, ssls,
// ...) are kept as they are, for the snapshot file, but not served yet.
const (
	KindRoute        = "routes"
	KindService      = "services"
	KindUpstream     = "upstreams"
	KindPluginConfig = "plugin_configs"
	KindGlobalRule   = "global_rules"
)

// Options configure a Builder.
type Options struct {
	// Prefix is the etcd key prefix (default "/apisix").
	Prefix string
	// Mode is the router flavour (apisix.router.http).
	Mode router.Mode
	// IgnoreUnknownPlugins runs a route whose plugins zoneproxy does not implement without them,
	// as APISIX does. By default such a route is rejected (fail closed).
	IgnoreUnknownPlugins bool
	// Registry holds the long-lived state of upstream nodes; required.
	Registry *upstream.Registry
	// Logger receives one line per rejected object (default: discarded).
	Logger *slog.Logger
	// OnReject, when set, is called once per rejected object version with its kind.
	OnReject func(kind string)
}

// supportedPlugins are the plugins zoneproxy implements. None yet: every other plugin named by a
// route, service or plugin config makes it fail closed unless IgnoreUnknownPlugins is set.
var supportedPlugins = map[string]bool{}

// Builder builds Snapshots from States, keeping the last good version of every object.
type Builder struct {
	opts Options
	log  *slog.Logger

	entries  map[string]*entry            // last good version of every key
	rejected map[string]int64             // key -> mod revision last rejected, so each version is logged once
	problems map[string]string            // key -> why a valid route is not served, as of the last build
	handles  map[string]int               // route key -> stable router value
	byID     map[string]map[string]*entry // kind -> id -> entry, for references
	routes   []*entry                     // route entries in key order (the router's tie order)
	// built and lastRevision tell whether a State's Changed list applies to what the Builder holds.
	built        bool
	lastRevision int64
	// live and building are the pools of the last snapshot and of the one being built: a cached
	// pool is reused only while it stays live, since Registry.Retain releases the others.
	live, building map[*upstream.Pool]bool
	free           []int // handles of deleted routes, for reuse
	next           int
}

// entry is the last good version of one key.
type entry struct {
	kind, id string
	kv       cpclient.KV
	obj      any // *routeObj, *serviceObj, *upstream.Spec, *pluginSet; nil for kinds not decoded

	// For routes: the match fields compiled with the route's own hosts, and a cache of them
	// compiled with the hosts of the service (keyed by that service's mod revision).
	handle       int // router value (routes)
	compiled     *router.Compiled
	inherited    *router.Compiled
	inheritedRev int64
	// For upstream specs: the pool built from it.
	pool *upstream.Pool
	// For routes and services with an inline upstream: the pool built from it.
	inlinePool *upstream.Pool
}

// NewBuilder returns a Builder.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.Registry == nil {
		return nil, errors.New("snapshot: Options.Registry is required")
	}
	if opts.Prefix == "" {
		opts.Prefix = "/apisix"
	}
	opts.Prefix = strings.TrimRight(opts.Prefix, "/")
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Builder{
		opts:     opts,
		log:      log.With("component", "config"),
		entries:  make(map[string]*entry),
		rejected: make(map[string]int64),
		problems: make(map[string]string),
		handles:  make(map[string]int),
		byID:     make(map[string]map[string]*entry),
	}, nil
}

// Build decodes what changed in st, resolves references and compiles a new Snapshot. An error means
// that no Snapshot could be built at all; the caller keeps serving the previous one.
//
// When st says which keys changed since the State this Builder built last, only those are looked
// at; otherwise every key is compared with what the Builder holds.
func (b *Builder) Build(st *cpclient.State) (*Snapshot, error) {
	start := time.Now()
	if st.Changed != nil && b.built && st.Previous == b.lastRevision {
		keys := slices.Clone(st.Changed)
		slices.Sort(keys)
		for _, key := range keys {
			if kv, ok := st.KVs[key]; ok {
				b.consider(kv)
			} else {
				b.forget(key)
			}
		}
	} else {
		b.updateAll(st)
	}
	b.built, b.lastRevision = true, st.Revision
	snap, err := b.assemble(st)
	if err != nil {
		return nil, err
	}
	snap.BuildDuration = time.Since(start)
	return snap, nil
}

// updateAll brings the entries in line with st by comparing every key.
func (b *Builder) updateAll(st *cpclient.State) {
	// Deletions first, so that their router values are free for the routes added now.
	for key := range b.entries {
		if _, ok := st.KVs[key]; !ok {
			b.forget(key)
		}
	}
	for key := range b.rejected {
		if _, ok := st.KVs[key]; !ok {
			b.forget(key)
		}
	}
	for _, key := range st.Keys() {
		b.consider(st.KVs[key])
	}
}

// consider decodes kv if it is new or changed, keeping the previous version of a rejected object.
func (b *Builder) consider(kv cpclient.KV) {
	key := kv.Key
	kind, id, ok := b.split(key)
	if !ok {
		return
	}
	if e := b.entries[key]; e != nil && e.kv.ModRevision == kv.ModRevision {
		return
	}
	if rev, ok := b.rejected[key]; ok && rev == kv.ModRevision {
		return
	}
	e := &entry{kind: kind, id: id, kv: kv}
	if err := b.decode(e); err != nil {
		b.rejected[key] = kv.ModRevision
		if errors.Is(err, errNotObject) {
			b.log.Debug("skipped a value that is not a JSON object", "key", key, "revision", kv.ModRevision)
			return
		}
		_, kept := b.entries[key]
		b.log.Warn("rejected configuration object", "key", key, "revision", kv.ModRevision,
			"reason", err.Error(), "kept_previous_version", kept)
		if b.opts.OnReject != nil {
			b.opts.OnReject(kind)
		}
		return
	}
	delete(b.rejected, key)
	b.set(e)
}

func compareKey(x *entry, k string) int { return strings.Compare(x.key(), k) }

// set makes e the entry of its key and keeps the indexes in step.
func (b *Builder) set(e *entry) {
	key := e.key()
	b.entries[key] = e
	if e.obj == nil {
		return
	}
	if b.byID[e.kind] == nil {
		b.byID[e.kind] = map[string]*entry{}
	}
	b.byID[e.kind][e.id] = e
	if e.kind == KindRoute {
		if i, found := slices.BinarySearchFunc(b.routes, key, compareKey); found {
			b.routes[i] = e
		} else {
			b.routes = slices.Insert(b.routes, i, e)
		}
	}
}

// forget drops key: its entry, its rejection and its router value.
func (b *Builder) forget(key string) {
	delete(b.rejected, key)
	if e := b.entries[key]; e != nil {
		delete(b.entries, key)
		if m := b.byID[e.kind]; m != nil && m[e.id] == e {
			delete(m, e.id)
		}
		if e.kind == KindRoute {
			if i, found := slices.BinarySearchFunc(b.routes, key, compareKey); found {
				b.routes = slices.Delete(b.routes, i, i+1)
			}
		}
	}
	b.release(key)
}

// split parses "<prefix>/<kind>/<id>". Directory placeholders (empty id) are not objects.
func (b *Builder) split(key string) (kind, id string, ok bool) {
	rest, found := strings.CutPrefix(key, b.opts.Prefix+"/")
	if !found {
		return "", "", false
	}
	kind, id, found = strings.Cut(rest, "/")
	if !found || id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return kind, id, true
}

var errNotObject = errors.New("not a JSON object")

func (b *Builder) decode(e *entry) error {
	v := e.kv.Value
	if i := firstNonSpace(v); i < 0 || v[i] != '{' {
		switch e.kind {
		case KindRoute, KindService, KindUpstream, KindPluginConfig, KindGlobalRule:
			if string(v) == "init_dir" || len(v) == 0 {
				return errNotObject
			}
			return errors.New("value is not a JSON object")
		}
		return errNotObject
	}
	var err error
	switch e.kind {
	case KindRoute:
		var r *routeObj
		e.handle = b.handle(e.key())
		if r, err = decodeRoute(v); err == nil {
			err = b.compileRoute(e, r)
			e.obj = r
		}
	case KindService:
		var s *serviceObj
		if s, err = decodeService(v); err == nil {
			err = b.checkService(s)
			e.obj = s
		}
	case KindUpstream:
		var u *upstream.Spec
		if u, err = upstream.Parse(v); err == nil {
			e.obj = u
		}
	case KindPluginConfig:
		var p *pluginSet
		if p, err = decodePluginSet(v, true); err == nil {
			err = b.checkPlugins(p.plugins)
			e.obj = p
		}
	case KindGlobalRule:
		var p *pluginSet
		if p, err = decodePluginSet(v, false); err == nil {
			err = b.checkPlugins(p.plugins)
			e.obj = p
		}
	}
	return err
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return i
		}
	}
	return -1
}

// compileRoute validates the route's match fields and plugins and compiles them with its own hosts.
func (b *Builder) compileRoute(e *entry, r *routeObj) error {
	if err := b.checkPlugins(r.plugins); err != nil {
		return err
	}
	c, err := router.Compile(b.matchRoute(e, r, nil))
	if err != nil {
		return err
	}
	e.compiled = c
	return nil
}

// checkService validates the service's hosts (as the router will use them) and its plugins.
func (b *Builder) checkService(s *serviceObj) error {
	if err := b.checkPlugins(s.plugins); err != nil {
		return err
	}
	if len(s.doc.Hosts) > 0 {
		if _, err := router.Compile(router.Route{URI: "/", Hosts: s.doc.Hosts}); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) checkPlugins(names []string) error {
	if b.opts.IgnoreUnknownPlugins {
		return nil
	}
	for _, n := range names {
		if !supportedPlugins[n] {
			return fieldError("plugins", "plugin %q is not supported by zoneproxy (the object is rejected "+
				"so that it never serves without it; zoneproxy.unknown_plugins: ignore runs it without)", n)
		}
	}
	return nil
}

// matchRoute is the router's view of a route; hosts, when not nil, replace the route's own.
func (b *Builder) matchRoute(e *entry, r *routeObj, hosts []string) router.Route {
	d := r.doc
	m := router.Route{
		ID:          e.id,
		URIs:        d.URIs,
		Hosts:       d.Hosts,
		Methods:     d.Methods,
		RemoteAddrs: d.RemoteAddrs,
		Vars:        d.Vars,
		Priority:    r.priority,
		Value:       e.handle,
	}
	if d.URI != nil {
		m.URI = *d.URI
	}
	if d.Host != nil {
		m.Host = *d.Host
	}
	if d.RemoteAddr != nil {
		m.RemoteAddr = *d.RemoteAddr
	}
	if hosts != nil {
		m.Host, m.Hosts = "", hosts
	}
	return m
}

func (e *entry) key() string { return e.kv.Key }

// handle returns the stable router value of a route key. Values are small integers reused after a
// route is deleted, so that Snapshot.Routes stays a dense slice.
func (b *Builder) handle(key string) int {
	if h, ok := b.handles[key]; ok {
		return h
	}
	var h int
	if n := len(b.free); n > 0 {
		h, b.free = b.free[n-1], b.free[:n-1]
	} else {
		h = b.next
		b.next++
	}
	b.handles[key] = h
	return h
}

func (b *Builder) release(key string) {
	if h, ok := b.handles[key]; ok {
		delete(b.handles, key)
		b.free = append(b.free, h)
	}
}

// assemble resolves references between the current entries and compiles the Snapshot.
func (b *Builder) assemble(st *cpclient.State) (*Snapshot, error) {
	byID := b.byID
	snap := &Snapshot{
		Revision:  st.Revision,
		ClusterID: st.ClusterID,
		Source:    st.Source,
		Endpoint:  st.Endpoint,
		Updated:   st.Updated,
		Built:     time.Now(),
		Routes:    make([]*Route, b.next),
		KVs:       b.effectiveKVs(st),
	}
	b.building = map[*upstream.Pool]bool{}
	pools := b.building
	problems := map[string]string{}
	compiled := make([]*router.Compiled, 0, len(b.routes))
	for _, e := range b.routes {
		key := e.key()
		r := e.obj.(*routeObj)
		if !r.enabled {
			continue
		}
		rt, c, why := b.resolveRoute(e, r, byID)
		if why != "" {
			problems[key] = why
		}
		if rt == nil {
			continue
		}
		if rt.Pool != nil {
			pools[rt.Pool] = true
		}
		snap.Routes[e.handle] = rt
		compiled = append(compiled, c)
	}
	b.reportProblems(problems)

	table, err := router.New(compiled, b.opts.Mode)
	if err != nil {
		return nil, fmt.Errorf("build the router: %w", err)
	}
	snap.Router = table
	snap.PoolsChanged = len(pools) != len(b.live) || b.live == nil
	for p := range pools {
		snap.Pools = append(snap.Pools, p)
		if !snap.PoolsChanged && !b.live[p] {
			snap.PoolsChanged = true
		}
	}
	b.live, b.building = pools, nil
	snap.Counts = Counts{Routes: len(compiled), Services: len(byID[KindService]), Upstreams: len(byID[KindUpstream])}
	return snap, nil
}

// resolveRoute joins a route with its service, plugin config and upstream. A nil Route means the
// route is not served; why says why (also set for a served route with a problem).
func (b *Builder) resolveRoute(e *entry, r *routeObj, byID map[string]map[string]*entry) (*Route, *router.Compiled, string) {
	var svc *serviceObj
	var svcEntry *entry
	// As APISIX: a route whose service or plugin config is missing still matches, and answers
	// 404 or 503 (apisix/init.lua, http_access_phase).
	if r.serviceID != "" {
		if svcEntry = byID[KindService][r.serviceID]; svcEntry == nil {
			return &Route{Key: e.key(), ID: e.id, ServiceID: r.serviceID, Status: 404}, e.compiled,
				fmt.Sprintf("service_id %q not found: the route answers 404", r.serviceID)
		}
		svc = svcEntry.obj.(*serviceObj)
	}
	if r.pluginConfigID != "" && byID[KindPluginConfig][r.pluginConfigID] == nil {
		return &Route{Key: e.key(), ID: e.id, ServiceID: r.serviceID, Status: 503}, e.compiled,
			fmt.Sprintf("plugin_config_id %q not found: the route answers 503", r.pluginConfigID)
	}

	c := e.compiled
	if svc != nil && len(svc.doc.Hosts) > 0 && r.doc.Host == nil && r.doc.Hosts == nil {
		if e.inherited == nil || e.inheritedRev != svcEntry.kv.ModRevision {
			ic, err := router.Compile(b.matchRoute(e, r, svc.doc.Hosts))
			if err != nil {
				return nil, nil, fmt.Sprintf("with the hosts of service %q: %v", r.serviceID, err)
			}
			e.inherited, e.inheritedRev = ic, svcEntry.kv.ModRevision
		}
		c = e.inherited
	}

	rt := &Route{Key: e.key(), ID: e.id, ServiceID: r.serviceID, Timeout: r.doc.Timeout}
	if r.doc.Name != nil {
		rt.Name = *r.doc.Name
	}
	rt.EnableWebsocket = r.enableWebsocket
	if !r.websocketPresent && svc != nil && svc.doc.Websocket != nil {
		rt.EnableWebsocket = *svc.doc.Websocket
	}

	// Precedence: route upstream_id > route upstream > service upstream_id > service upstream.
	var why string
	switch {
	case r.upstreamID != "":
		why = b.poolByID(rt, r.upstreamID, byID)
	case r.upstream != nil:
		rt.Pool, why = b.inlinePool(e, r.upstream)
	case svc != nil && svc.upstreamID != "":
		why = b.poolByID(rt, svc.upstreamID, byID)
	case svc != nil && svc.upstream != nil:
		rt.Pool, why = b.inlinePool(svcEntry, svc.upstream)
	}
	if rt.Pool == nil && rt.Status == 0 {
		rt.Status = 503
	}
	return rt, c, why
}

func (b *Builder) poolByID(rt *Route, upstreamID string, byID map[string]map[string]*entry) string {
	ue := byID[KindUpstream][upstreamID]
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
	}
	rt.Pool = ue.pool
	return ""
}

func (b *Builder) usable(p *upstream.Pool) bool {
	return p != nil && (b.live[p] || b.building[p])
}

func (b *Builder) inlinePool(owner *entry, spec *upstream.Spec) (*upstream.Pool, string) {
	if !b.usable(owner.inlinePool) {
		p, err := b.opts.Registry.Pool(owner.key()+"#upstream", spec)
		if err != nil {
			return nil, fmt.Sprintf("upstream: %v", err)
		}
		owner.inlinePool = p
	}
	return owner.inlinePool, ""
}

// reportProblems logs problems that are new since the last build, so that a dangling reference is
// said once, not on every build.
func (b *Builder) reportProblems(now map[string]string) {
	for key, why := range now {
		if b.problems[key] != why {
			b.log.Warn("route not served as configured", "key", key, "reason", why)
		}
	}
	for key := range b.problems {
		if _, ok := now[key]; !ok {
			if _, exists := b.entries[key]; exists {
				b.log.Info("route problem resolved", "key", key)
			}
		}
	}
	b.problems = now
}

// effectiveKVs is the State with every rejected object replaced by its last good version (or left
// out): what the snapshot file stores, so that a restart serves what was served.
func (b *Builder) effectiveKVs(st *cpclient.State) map[string]cpclient.KV {
	if len(b.rejected) == 0 {
		return st.KVs
	}
	kvs := make(map[string]cpclient.KV, len(st.KVs))
	for k, kv := range st.KVs {
		if _, bad := b.rejected[k]; bad {
			if e := b.entries[k]; e != nil {
				kvs[k] = e.kv
			}
			continue
		}
		kvs[k] = kv
	}
	return kvs
}
