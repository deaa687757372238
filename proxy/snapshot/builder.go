package snapshot

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
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

	entries  map[string]*entry // last good version of every key
	rejected map[string]int64  // key -> mod revision last rejected, so each version is logged once
	problems map[string]string // key -> why a valid route is not served, as of the last build
	handles  map[string]int    // route key -> stable router value
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
	}, nil
}

// Build decodes what changed in st, resolves references and compiles a new Snapshot. An error means
// that no Snapshot could be built at all; the caller keeps serving the previous one.
func (b *Builder) Build(st *cpclient.State) (*Snapshot, error) {
	start := time.Now()
	keys := st.Keys()
	b.update(st, keys)
	snap, err := b.assemble(st)
	if err != nil {
		return nil, err
	}
	snap.BuildDuration = time.Since(start)
	return snap, nil
}

// update brings entries in line with st: new and changed keys decoded, deleted keys dropped.
func (b *Builder) update(st *cpclient.State, keys []string) {
	// Deletions first, so that their router values are free for the routes added now.
	for key, e := range b.entries {
		if _, ok := st.KVs[key]; !ok {
			delete(b.entries, key)
			if e.kind == KindRoute {
				b.release(key)
			}
		}
	}
	for key := range b.rejected {
		if _, ok := st.KVs[key]; !ok {
			delete(b.rejected, key)
			if _, ok := b.entries[key]; !ok {
				b.release(key)
			}
		}
	}
	for _, key := range keys {
		kv := st.KVs[key]
		kind, id, ok := b.split(key)
		if !ok {
			continue
		}
		if e := b.entries[key]; e != nil && e.kv.ModRevision == kv.ModRevision {
			continue
		}
		if rev, ok := b.rejected[key]; ok && rev == kv.ModRevision {
			continue
		}
		e := &entry{kind: kind, id: id, kv: kv}
		if err := b.decode(e); err != nil {
			if errors.Is(err, errNotObject) {
				b.log.Debug("skipped a value that is not a JSON object", "key", key, "revision", kv.ModRevision)
				b.rejected[key] = kv.ModRevision
				continue
			}
			_, kept := b.entries[key]
			b.log.Warn("rejected configuration object", "key", key, "revision", kv.ModRevision,
				"reason", err.Error(), "kept_previous_version", kept)
			b.rejected[key] = kv.ModRevision
			if b.opts.OnReject != nil {
				b.opts.OnReject(kind)
			}
			continue
		}
		delete(b.rejected, key)
		b.entries[key] = e
	}
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
		Value:       b.handle(e.key()),
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
	byID := map[string]map[string]*entry{}
	var routeKeys []string
	for key, e := range b.entries {
		if e.obj == nil {
			continue
		}
		if byID[e.kind] == nil {
			byID[e.kind] = map[string]*entry{}
		}
		byID[e.kind][e.id] = e
		if e.kind == KindRoute {
			routeKeys = append(routeKeys, key)
		}
	}
	sort.Strings(routeKeys)

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
	var compiled []*router.Compiled
	for _, key := range routeKeys {
		e := b.entries[key]
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
		snap.Routes[b.handles[key]] = rt
		compiled = append(compiled, c)
	}
	b.reportProblems(problems)

	table, err := router.New(compiled, b.opts.Mode)
	if err != nil {
		return nil, fmt.Errorf("build the router: %w", err)
	}
	snap.Router = table
	for p := range pools {
		snap.Pools = append(snap.Pools, p)
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
