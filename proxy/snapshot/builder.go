package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
	"github.com/zoneproxy/zoneproxy/proxy/ssl"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Kinds of objects under the prefix that the Builder decodes (and those of consumers.go, and
// KindSSL). Keys of other kinds are kept as they are, for the state file, but not served yet.
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
	// Plugins are the plugins zoneproxy implements (default: builtin.All).
	Plugins *plugin.Registry
	// Enabled is config.yaml's plugins list; nil means APISIX's default list. The control
	// plane's <prefix>/plugins key, when present, replaces it, as on an APISIX data plane. An
	// object naming a plugin outside the enabled set is served without it (one warning per
	// object version).
	Enabled []string
	// IgnoreUnknownPlugins runs an object naming an enabled plugin that zoneproxy does not
	// implement without it (zoneproxy.unknown_plugins: ignore). By default such an object is
	// rejected (fail closed): a route with an authentication plugin never serves without it.
	IgnoreUnknownPlugins bool
	// PlainFields turns the decryption of plugin fields off
	// (apisix.data_encryption.enable_encrypt_fields: false); SSL keys are still decrypted.
	PlainFields bool
	// Registry holds the long-lived state of upstream nodes; required.
	Registry *upstream.Registry
	// Logger receives one line per rejected object (default: discarded).
	Logger *slog.Logger
	// OnReject, when set, is called once per rejected object version with its kind.
	OnReject func(kind string)
	// Metrics, when set, gives every served route its metric handle.
	Metrics *metrics.Metrics
	// Keyring decrypts the private keys of SSL objects and the plugin fields the control plane
	// stores encrypted (apisix.data_encryption.keyring); nil means APISIX's default keyring.
	Keyring *keyring.Keyring
}

// Builder builds Snapshots from States, keeping the last good version of every object.
type Builder struct {
	opts Options
	log  *slog.Logger

	entries  map[string]*entry            // last good version of every key
	rejected map[string]rejection         // key -> version last rejected, so each version is logged once
	problems map[string]string            // key -> why a valid route is not served, as of the last build
	byID     map[string]map[string]*entry // kind -> id -> entry, for references
	routes   []*entry                     // route entries in key order (the router's tie order)
	// built and lastRevision tell whether a State's Changed list applies to what the Builder holds.
	built        bool
	lastRevision int64
	free         []int // handles of deleted routes, for reuse
	next         int

	res resolution // what the routes resolved to, kept across builds (assemble.go)

	// Plugins: how objects' plugins compile, the enabled set in force (sorted) and the epoch,
	// which moves when the enabled set changes so that every object is compiled again.
	policy  plugin.Policy
	enabled []string
	epoch   uint32
	// pluginsRejected is the mod revision of the <prefix>/plugins value last rejected.
	pluginsRejected int64
	store           *plugin.Store
	// Consumers, credentials (by key) and global rules; the index and the global chain are
	// made again only after one of them changed.
	creds          map[string]*entry
	consumersDirty bool
	globalDirty    bool
	metadataDirty  bool
	metadata       *plugin.Metadata
	consumers      *plugin.Consumers
	global         *plugin.Chain
	dupsLogged     map[string]bool
	ssl            *ssl.Index // the SNI index of the last build (ssls.go)
	sslDirty       bool       // an SSL object changed since
	caPools        caPools    // parsed client.ca pools, shared by the SSL objects that hold the same
}

// rejection is the version of a key last rejected: its mod revision and the epoch.
type rejection struct {
	rev   int64
	epoch uint32
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
	handle   int32  // router value (routes)
	epoch    uint32 // the Builder's epoch when decoded

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
	if opts.Plugins == nil {
		opts.Plugins = builtin.Registry()
	}
	if opts.Keyring == nil {
		kr, err := keyring.New(keyring.Default)
		if err != nil {
			return nil, fmt.Errorf("snapshot: APISIX's default keyring: %w", err)
		}
		opts.Keyring = kr
	}
	b := &Builder{
		opts:     opts,
		log:      log.With("component", "config"),
		entries:  make(map[string]*entry),
		rejected: make(map[string]rejection),
		problems: make(map[string]string),
		byID:     make(map[string]map[string]*entry),
		res:      newResolution(),
		creds:    make(map[string]*entry),
		store:    &plugin.Store{},

		consumersDirty: true,
		globalDirty:    true,
		metadataDirty:  true,
	}
	b.policy = plugin.Policy{Registry: opts.Plugins, IgnoreUnimplemented: opts.IgnoreUnknownPlugins,
		Undecrypted: func(p, f string) {
			b.log.Warn("a consumer's plugin field did not decrypt with the keyring: kept as it is", "plugin", p, "field", f)
		}}
	if !opts.PlainFields {
		b.policy.Keyring = b.opts.Keyring
	}
	b.setEnabled(opts.Enabled, "config.yaml")
	return b, nil
}

// setEnabled makes names (nil: APISIX's default list) the enabled set; it reports whether the
// set changed, in which case every object is compiled again at the next consider.
func (b *Builder) setEnabled(names []string, source string) bool {
	if names == nil {
		names = plugin.DefaultEnabled
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	if b.policy.Enabled != nil && slices.Equal(sorted, b.enabled) {
		return false
	}
	b.enabled, b.policy.Enabled = sorted, plugin.EnabledSet(sorted)
	b.epoch++
	if b.built {
		b.log.Info("enabled plugins changed: compiling every object again", "source", source, "plugins", len(sorted))
	}
	return true
}

// refreshEnabled reads the control plane's <prefix>/plugins key: when present it replaces
// config.yaml's list. It reports whether the enabled set changed.
func (b *Builder) refreshEnabled(st *state.State) bool {
	kv, ok := st.KVs.Get(b.opts.Prefix + pluginsKey)
	if !ok {
		return b.setEnabled(b.opts.Enabled, "config.yaml")
	}
	names, err := plugin.ParseEnabledKey(kv.Value)
	if err != nil {
		if b.pluginsRejected != kv.ModRevision {
			b.pluginsRejected = kv.ModRevision
			b.log.Warn("rejected configuration object", "key", kv.Key, "revision", kv.ModRevision,
				"reason", err.Error(), "kept_previous_version", true)
		}
		return false
	}
	b.pluginsRejected = 0
	return b.setEnabled(names, kv.Key)
}

// Build decodes what changed in st, resolves references and compiles a new Snapshot. An error means
// that no Snapshot could be built at all; the caller keeps serving the previous one.
//
// When st says which keys changed since the State this Builder built last, only those are looked
// at; otherwise every key is compared with what the Builder holds.
func (b *Builder) Build(st *state.State) (*Snapshot, error) {
	start := time.Now()
	reenable := b.refreshEnabled(st)
	if !reenable && st.Changed != nil && b.built && st.Previous == b.lastRevision {
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
	if e := b.entries[key]; e != nil && e.kv.ModRevision == kv.ModRevision && e.epoch == b.epoch {
		return
	}
	if r, ok := b.rejected[key]; ok && r.rev == kv.ModRevision && r.epoch == b.epoch {
		return
	}
	e := newEntry(kv, kind, id)
	e.epoch = b.epoch
	if err := b.decode(e); err != nil {
		b.rejected[key] = rejection{rev: kv.ModRevision, epoch: b.epoch}
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
	b.touch(e.kind())
	if e.kind() == KindCredential {
		b.creds[key] = e
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
		b.touch(e.kind())
		delete(b.creds, key)
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

// touch marks the consumer index or the global chain for making again when an object of kind
// changed.
func (b *Builder) touch(kind string) {
	switch kind {
	case KindConsumer, KindCredential, KindConsumerGroup:
		b.consumersDirty = true
	case KindGlobalRule:
		b.globalDirty = true
	case KindPluginMetadata:
		b.metadataDirty = true
	}
}

// split parses "<prefix>/<kind>/<id>", and "<prefix>/consumers/<username>/credentials/<id>" into
// kind "credentials". Directory placeholders (empty id) are not objects.
func (b *Builder) split(key string) (kind, id string, ok bool) {
	rest, found := strings.CutPrefix(key, b.opts.Prefix+"/")
	if !found {
		return "", "", false
	}
	kind, id, found = strings.Cut(rest, "/")
	if kind == KindConsumer && strings.Contains(id, "/") {
		id, ok = splitCredential(id)
		return KindCredential, id, ok
	}
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
		case KindRoute, KindService, KindUpstream, KindPluginConfig, KindGlobalRule, KindConsumer,
			KindCredential, KindConsumerGroup, KindSSL, KindPluginMetadata:
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
		var plugins map[string]json.RawMessage
		if r, match, plugins, err = decodeRoute(v); err == nil {
			var set *plugin.Set
			if set, err = b.compilePlugins(e, plugins); err == nil {
				if set != nil {
					if r.plugins == nil {
						r.plugins = &routePlugins{}
					}
					r.plugins.set = set
				}
				err = b.compileRoute(e, r, match)
			}
			e.obj = r
		}
		if err != nil && fresh {
			b.free = append(b.free, int(e.handle)) // no version of the route holds it
		}
	case KindService:
		var s *serviceObj
		if s, err = decodeService(v); err == nil {
			if s.plugins, err = b.compilePlugins(e, s.doc.Plugins); err == nil {
				err = b.checkService(s)
			}
			s.doc.Plugins = nil
			e.obj = s
		}
	case KindUpstream:
		var u *upstream.Spec
		if u, err = upstream.Parse(v); err == nil {
			e.obj = u
		}
	case KindPluginConfig, KindGlobalRule, KindConsumerGroup:
		var plugins map[string]json.RawMessage
		if plugins, err = decodePluginSet(v, e.kind() != KindGlobalRule); err == nil {
			p := &pluginSet{}
			if p.set, err = b.compilePlugins(e, plugins); err == nil {
				e.obj = p
			}
		}
	case KindConsumer:
		var c *consumerObj
		var plugins map[string]json.RawMessage
		if c, plugins, err = decodeConsumer(v); err == nil {
			if c.set, c.creds, err = b.compileConsumerPlugins(e, plugins); err == nil {
				e.obj = c
			}
		}
	case KindCredential:
		var plugins map[string]json.RawMessage
		if plugins, err = decodeCredential(v); err == nil {
			var set *plugin.Set
			var creds []plugin.Cred
			if set, creds, err = b.compileConsumerPlugins(e, plugins); err == nil {
				switch {
				case set.Len() > 0:
					err = fmt.Errorf("plugins: %w, not %s", errNotAuth, set.Names()[0])
				case len(creds) == 1:
					e.obj = &credentialObj{username: b.credentialUser(e.key()), cred: &creds[0]}
				default: // nothing in force (disabled, or not enabled): nothing to index
					e.obj = &credentialObj{username: b.credentialUser(e.key())}
				}
			}
		}
	case KindSSL:
		e.obj, err = b.decodeSSL(e, v)
	case KindPluginMetadata:
		var m *metadataObj
		if m, err = b.decodeMetadata(e); err == nil {
			e.obj = m
		}
	}
	return err
}

// compilePlugins compiles the plugins of an object (see plugin.Policy.CompileSet), logging the
// plugins left out, once per object version.
func (b *Builder) compilePlugins(e *entry, plugins map[string]json.RawMessage) (*plugin.Set, error) {
	set, _, warnings, err := b.policy.CompileSet(plugins, &plugin.Env{Key: e.key(), Store: b.store}, false)
	b.warnPlugins(e, warnings)
	if err != nil {
		return nil, fieldError("plugins", "%v", err)
	}
	return set, nil
}

// compileConsumerPlugins compiles the plugins of a consumer or a credential: the consumer side
// of the authentication plugins, and the other plugins as any object's.
func (b *Builder) compileConsumerPlugins(e *entry, plugins map[string]json.RawMessage) (*plugin.Set, []plugin.Cred, error) {
	set, creds, warnings, err := b.policy.CompileSet(plugins, &plugin.Env{Key: e.key(), Store: b.store}, true)
	b.warnPlugins(e, warnings)
	if err != nil {
		return nil, nil, fieldError("plugins", "%v", err)
	}
	return set, creds, nil
}

func (b *Builder) warnPlugins(e *entry, warnings []string) {
	for _, w := range warnings {
		b.log.Warn("plugin not run", "key", e.key(), "revision", e.kv.ModRevision, "reason", w)
	}
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return i
		}
	}
	return -1
}

// compileRoute validates the route's match fields and compiles them with its own hosts.
func (b *Builder) compileRoute(e *entry, r *routeObj, match router.Route) error {
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

// checkService validates the service's hosts (as the router will use them).
func (b *Builder) checkService(s *serviceObj) error {
	if len(s.doc.Hosts) > 0 {
		if _, err := router.Compile(router.Route{URI: "/", Hosts: s.doc.Hosts}); err != nil {
			return err
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
