package snapshot

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/ssl"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Kinds of objects under the prefix that the Builder decodes (and KindSSL). Keys of other kinds
// (consumers, ...) are kept as they are, for the state file, but not served yet.
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
	// Metrics, when set, gives every served route its metric handle.
	Metrics *metrics.Metrics
	// Keyring decrypts the private keys of SSL objects; nil reads plaintext PEM keys only.
	Keyring *keyring.Keyring
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
	byID     map[string]map[string]*entry // kind -> id -> entry, for references
	routes   []*entry                     // route entries in key order (the router's tie order)
	// built and lastRevision tell whether a State's Changed list applies to what the Builder holds.
	built        bool
	lastRevision int64
	free         []int // handles of deleted routes, for reuse
	next         int

	res resolution // what the routes resolved to, kept across builds (assemble.go)

	ssl      *ssl.Index // the SNI index of the last build (ssls.go)
	sslDirty bool       // an SSL object changed since
}

// entry is the last good version of one key. There is one per route, so its size counts: 160
// bytes (TestEntrySize); its kind and id are read from its key.
type entry struct {
	kv  state.KV
	obj any // *routeObj, *serviceObj, *upstream.Spec, *pluginSet; nil for kinds not decoded

	idAt    int32 // kv.Key[idAt:] is the id, and the kindLen bytes before its "/" the kind
	kindLen uint8 // 0 for a kind name longer than 255 bytes (none that is decoded)
	// For routes: whether rt, rc and deps are the route's resolution (see below).
	resolved bool
	handle   int32 // router value (routes)

	// For routes: the match fields compiled with the route's own hosts, and a cache of them
	// compiled with the hosts of the service.
	compiled  *router.Compiled
	inherited *inheritedMatch // nil until the route inherits its service's hosts
	// For upstream specs: the pool built from it.
	pool *upstream.Pool
	// For routes and services with an inline upstream: the pool built from it.
	inlinePool *upstream.Pool

	// For routes: what the route resolved to at the last build (see assemble.go).
	rt   *Route           // nil when the route is not served
	rc   *router.Compiled // the compiled match fields in the table
	deps []depKey         // the objects the resolution read
}

// inheritedMatch is a route's match fields compiled with the hosts of its service, as of the
// service's mod revision rev.
type inheritedMatch struct {
	c   *router.Compiled
	rev int64
}

// newEntry returns the entry of kv, whose key split into kind and id.
func newEntry(kv state.KV, kind, id string) *entry {
	e := &entry{kv: kv, idAt: int32(len(kv.Key) - len(id))}
	if len(kind) <= 255 {
		e.kindLen = uint8(len(kind))
	}
	return e
}

func (e *entry) key() string  { return e.kv.Key }
func (e *entry) id() string   { return e.kv.Key[e.idAt:] }
func (e *entry) kind() string { return e.kv.Key[int(e.idAt)-1-int(e.kindLen) : e.idAt-1] }

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
		byID:     make(map[string]map[string]*entry),
		res:      newResolution(),
	}, nil
}

// Build decodes what changed in st, resolves references and compiles a new Snapshot. An error means
// that no Snapshot could be built at all; the caller keeps serving the previous one.
//
// When st says which keys changed since the State this Builder built last, only those are looked
// at; otherwise every key is compared with what the Builder holds.
func (b *Builder) Build(st *state.State) (*Snapshot, error) {
	start := time.Now()
	if st.Changed != nil && b.built && st.Previous == b.lastRevision {
		keys := slices.Clone(st.Changed)
		slices.Sort(keys)
		for _, key := range keys {
			if kv, ok := st.KVs.Get(key); ok {
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
	snap.SSL = b.sslIndex()
	snap.BuildDuration = time.Since(start)
	return snap, nil
}

// updateAll brings the entries in line with st by comparing every key.
func (b *Builder) updateAll(st *state.State) {
	// Deletions first, so that their router values are free for the routes added now.
	for key := range b.entries {
		if !st.KVs.Has(key) {
			b.forget(key)
		}
	}
	for key := range b.rejected {
		if !st.KVs.Has(key) {
			b.forget(key)
		}
	}
	for _, key := range st.Keys() {
		kv, _ := st.KVs.Get(key)
		b.consider(kv)
	}
}

// consider decodes kv if it is new or changed, keeping the previous version of a rejected object.
func (b *Builder) consider(kv state.KV) {
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
	e := newEntry(kv, kind, id)
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
	if old := b.entries[key]; old != nil {
		b.invalidate(old)
	}
	b.entries[key] = e
	if e.obj == nil {
		return
	}
	b.sslDirty = b.sslDirty || e.kind() == KindSSL
	if e.kind() != KindRoute { // routes are never looked up by id
		if b.byID[e.kind()] == nil {
			b.byID[e.kind()] = map[string]*entry{}
		}
		b.byID[e.kind()][e.id()] = e
		b.invalidateDependents(e.kind(), e.id())
	}
	if e.kind() == KindRoute {
		b.res.dirty[e] = struct{}{}
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
		b.invalidate(e)
		b.sslDirty = b.sslDirty || e.kind() == KindSSL
		if m := b.byID[e.kind()]; m != nil && m[e.id()] == e {
			delete(m, e.id())
			b.invalidateDependents(e.kind(), e.id())
		}
		if e.kind() == KindRoute {
			if i, found := slices.BinarySearchFunc(b.routes, key, compareKey); found {
				b.routes = slices.Delete(b.routes, i, i+1)
			}
			b.free = append(b.free, int(e.handle))
		}
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
		switch e.kind() {
		case KindRoute, KindService, KindUpstream, KindPluginConfig, KindGlobalRule, KindSSL:
			if string(v) == "init_dir" || len(v) == 0 {
				return errNotObject
			}
			return errors.New("value is not a JSON object")
		}
		return errNotObject
	}
	var err error
	switch e.kind() {
	case KindRoute:
		var r *routeObj
		var match router.Route
		var fresh bool
		var h int
		h, fresh = b.handle(e.key())
		e.handle = int32(h)
		var plugins []string
		if r, match, plugins, err = decodeRoute(v); err == nil {
			err = b.compileRoute(e, r, match, plugins)
			e.obj = r
		}
		if err != nil && fresh {
			b.free = append(b.free, int(e.handle)) // no version of the route holds it
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
	case KindSSL:
		e.obj, err = b.decodeSSL(e, v)
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
func (b *Builder) compileRoute(e *entry, r *routeObj, match router.Route, plugins []string) error {
	if err := b.checkPlugins(plugins); err != nil {
		return err
	}
	match.ID, match.Value, match.Key = e.id(), int(e.handle), e.key()
	c, err := router.Compile(match)
	if err != nil {
		return err
	}
	e.compiled = c
	if r.serviceID != "" && !r.ownHosts {
		r.match = &match
	}
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

// handle returns the stable router value of a route key: its current entry's, or a new one
// (fresh). Values are small integers reused after a route is deleted, so that Snapshot.Routes
// stays a dense slice.
func (b *Builder) handle(key string) (h int, fresh bool) {
	if e := b.entries[key]; e != nil && e.kind() == KindRoute {
		return int(e.handle), false
	}
	if n := len(b.free); n > 0 {
		h, b.free = b.free[n-1], b.free[:n-1]
	} else {
		h = b.next
		b.next++
	}
	return h, true
}

// effectiveKVs is the State with every rejected object replaced by its last good version (or left
// out): what the state file stores, so that a restart serves what was served.
func (b *Builder) effectiveKVs(st *state.State) state.KVs {
	if len(b.rejected) == 0 {
		return st.KVs
	}
	var set []state.KV
	var del []string
	for k := range b.rejected {
		if !st.KVs.Has(k) {
			continue
		}
		if e := b.entries[k]; e != nil {
			set = append(set, e.kv)
		} else {
			del = append(del, k)
		}
	}
	return st.KVs.With(set, del)
}
