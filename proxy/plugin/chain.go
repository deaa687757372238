package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Registry is the set of plugins zoneproxy implements, by name. It is immutable once made.
type Registry struct {
	byName map[string]Plugin
}

// NewRegistry returns a registry of ps (proxy/plugin/builtin.All in production).
func NewRegistry(ps ...Plugin) *Registry {
	r := &Registry{byName: make(map[string]Plugin, len(ps))}
	for _, p := range ps {
		r.byName[p.Name()] = p
	}
	return r
}

// Lookup returns the plugin named name.
func (r *Registry) Lookup(name string) (Plugin, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// Names returns the names of the plugins implemented, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Entry is one compiled plugin conf in a Set or a Chain.
type Entry struct {
	name     string
	priority int
	auth     bool
	// _meta
	filter        *expr.Expr
	errorResponse []byte
	// the phases the instance takes part in
	inst    Instance
	rewrite Rewriter
	access  Accessor
	header  HeaderFilterer
	body    BodyFilterer
	encoder bool // body is an Encoder
	log     Logger
}

// Name is the plugin's name.
func (e *Entry) Name() string { return e.name }

// Instance is the compiled conf.
func (e *Entry) Instance() Instance { return e.inst }

// NewEntry wraps a compiled instance of p, for tests and for the builder.
func NewEntry(p Plugin, inst Instance) *Entry {
	e := &Entry{name: p.Name(), priority: p.Priority(), inst: inst}
	_, e.auth = p.(Auth)
	e.rewrite, _ = inst.(Rewriter)
	e.access, _ = inst.(Accessor)
	e.header, _ = inst.(HeaderFilterer)
	e.body, _ = inst.(BodyFilterer)
	_, e.encoder = inst.(Encoder)
	e.log, _ = inst.(Logger)
	return e
}

// Set is the compiled plugins of one object (route, service, plugin config, consumer, consumer
// group, global rule), by name. The nil *Set has none.
type Set struct {
	entries []*Entry // sorted by name
}

// Len is the number of plugins in s.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Names returns the names of the plugins in s, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.name
	}
	return out
}

// Policy is how CompileSet treats the plugins an object names.
type Policy struct {
	Registry *Registry
	// Enabled is the enabled set: config.yaml's plugins, or the control plane's /apisix/plugins.
	Enabled map[string]bool
	// IgnoreUnimplemented runs an object without the enabled plugins zoneproxy does not
	// implement (zoneproxy.unknown_plugins: ignore) instead of rejecting it.
	IgnoreUnimplemented bool
	// Keyring decrypts the EncryptFields of the consumer confs of authentication plugins; nil
	// leaves them as they are (apisix.data_encryption.enable_encrypt_fields: false).
	Keyring *keyring.Keyring
	// Decrypted, when set, is told of each field that did not decrypt (kept as it is, as
	// APISIX does: a plain value still works, a ciphertext no entry decrypts matches nothing).
	Undecrypted func(plugin, field string)
}

// CompileSet compiles the plugins map of one object. A plugin outside the enabled set is left
// out with a warning (APISIX: "skipping check schema for disabled or unknown plugin"), as is one
// with `_meta.disable: true` (silently); an enabled plugin zoneproxy does not implement, or an
// invalid conf, is an error that rejects the object. consumer compiles the consumer side of the
// authentication plugins into creds instead of the set.
func (pol *Policy) CompileSet(plugins map[string]json.RawMessage, env *Env, consumer bool) (set *Set, creds []Cred, warnings []string, err error) {
	names := make([]string, 0, len(plugins))
	for n := range plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		raw := plugins[name]
		if !pol.Enabled[name] {
			warnings = append(warnings, fmt.Sprintf("skipping check schema for disabled or unknown plugin [%s]", name))
			continue
		}
		conf, meta, err := splitMeta(raw)
		if errors.Is(err, errNotObject) {
			return nil, nil, warnings, fmt.Errorf("invalid plugin conf %s for plugin [%s]", compact(raw), name)
		}
		if err != nil {
			return nil, nil, warnings, checkError(name, err)
		}
		if meta != nil && meta.disable {
			continue
		}
		p, ok := pol.Registry.Lookup(name)
		if !ok {
			if pol.IgnoreUnimplemented {
				warnings = append(warnings, fmt.Sprintf("plugin [%s] is not implemented by zoneproxy: "+
					"running without it (zoneproxy.unknown_plugins: ignore)", name))
				continue
			}
			return nil, nil, warnings, fmt.Errorf("plugin [%s] is enabled but not implemented by zoneproxy: "+
				"the object is rejected so that it never serves without it", name)
		}
		if a, isAuth := p.(Auth); isAuth && consumer {
			conf = pol.decrypt(a, conf)
			key, c, err := a.CompileConsumer(conf)
			if err != nil {
				return nil, nil, warnings, checkError(name, err)
			}
			creds = append(creds, Cred{Plugin: name, Key: key, Conf: c})
			continue
		}
		inst, err := p.Compile(conf, env)
		if err != nil {
			return nil, nil, warnings, checkError(name, err)
		}
		e := NewEntry(p, inst)
		if meta != nil {
			if meta.priority != nil {
				e.priority = *meta.priority
			}
			e.filter, e.errorResponse = meta.filter, meta.errorResponse
		}
		if set == nil {
			set = &Set{}
		}
		set.entries = append(set.entries, e)
	}
	return set, creds, warnings, nil
}

// Cred is the consumer side of an authentication plugin, compiled: the key the plugin looks the
// consumer up by and the compiled conf.
type Cred struct {
	Plugin string
	Key    string
	Conf   any
}

func checkError(name string, err error) error {
	return fmt.Errorf("failed to check the configuration of plugin %s err: %w", name, err)
}

func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

var errNotObject = errors.New("not an object")

type meta struct {
	disable       bool
	priority      *int
	filter        *expr.Expr
	errorResponse []byte
}

// splitMeta parses a plugin conf: it must be a JSON object; its `_meta` is validated as
// APISIX's plugin_injected_schema has it and removed from the conf.
func splitMeta(raw []byte) (conf []byte, m *meta, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, nil, errNotObject
	}
	mraw, ok := fields["_meta"]
	if !ok {
		return raw, nil, nil
	}
	delete(fields, "_meta")
	conf, _ = json.Marshal(fields)
	m, err = parseMeta(mraw)
	if err != nil {
		return nil, nil, err
	}
	return conf, m, nil
}

func parseMeta(raw []byte) (*meta, error) {
	c, err := ParseConf(raw)
	if err != nil {
		return nil, metaError(err)
	}
	m := &meta{}
	if m.disable, err = c.Bool("disable", false); err != nil {
		return nil, metaError(err)
	}
	if c.Has("priority") {
		p, err := c.Int("priority", 0)
		if err != nil {
			return nil, metaError(err)
		}
		m.priority = &p
	}
	if f, ok := c.fields["filter"]; ok {
		if ty := JSONType(f); ty != "array" {
			return nil, metaError(wrongType("filter", "array", ty))
		}
		if m.filter, err = expr.Compile(f); err != nil {
			return nil, metaError(fmt.Errorf("property \"filter\" validation failed: %v", err))
		}
	}
	if er, ok := c.fields["error_response"]; ok {
		switch JSONType(er) {
		case "string":
			var s string
			_ = json.Unmarshal(er, &s)
			m.errorResponse = []byte(s)
		case "object":
			m.errorResponse = append([]byte(compact(er)), '\n')
		default:
			return nil, metaError(fmt.Errorf("property \"error_response\" validation failed: object matches none of the required"))
		}
	}
	return m, nil
}

func metaError(err error) error {
	return fmt.Errorf("property \"_meta\" validation failed: %w", err)
}

// Chain is the plugins of a request in run order: priority descending (ties by name). The nil
// *Chain runs nothing. A Chain is immutable.
type Chain struct {
	entries []*Entry
	phases  phases
	targets *Targets // the pools of its UpstreamPicker, resolved for a route (WithTargets)
}

type phases struct{ rewrite, access, header, body, log bool }

// Len is the number of plugins in c.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.entries)
}

// Names returns the plugins of c in run order.
func (c *Chain) Names() []string {
	if c == nil {
		return nil
	}
	out := make([]string, len(c.entries))
	for i, e := range c.entries {
		out[i] = e.name
	}
	return out
}

// Instance returns the compiled conf of the plugin name in c, or nil when c has no such plugin.
func (c *Chain) Instance(name string) Instance {
	if c == nil {
		return nil
	}
	for _, e := range c.entries {
		if e.name == name {
			return e.inst
		}
	}
	return nil
}

// HasHeaderFilter and HasLog tell whether a plugin of c takes part in those phases, so that the
// proxy calls them only then. A body filter runs in the header filter phase (BodyFilterer).
func (c *Chain) HasHeaderFilter() bool { return c != nil && (c.phases.header || c.phases.body) }
func (c *Chain) HasLog() bool          { return c != nil && c.phases.log }

// Merge makes the chain of sets, a later set's conf of a plugin winning over an earlier one's
// whole (APISIX merges service < plugin config < route < consumer group < consumer, each
// winner's conf taken as it is). It returns nil when no set has a plugin.
func Merge(sets ...*Set) *Chain {
	var out []*Entry
	for i := len(sets) - 1; i >= 0; i-- {
		if sets[i] == nil {
			continue
		}
		for _, e := range sets[i].entries {
			if !slices.ContainsFunc(out, func(x *Entry) bool { return x.name == e.name }) {
				out = append(out, e)
			}
		}
	}
	return newChain(out)
}

// MergeGlobal makes the chain of the global rules, in the order given. A plugin in more than one
// rule is dropped from all of them, as APISIX does (3.15+); dups names those.
func MergeGlobal(sets ...*Set) (c *Chain, dups []string) {
	count := map[string]int{}
	for _, s := range sets {
		if s != nil {
			for _, e := range s.entries {
				count[e.name]++
			}
		}
	}
	var out []*Entry
	for _, s := range sets {
		if s == nil {
			continue
		}
		for _, e := range s.entries {
			if count[e.name] > 1 {
				if !slices.Contains(dups, e.name) {
					dups = append(dups, e.name)
				}
				continue
			}
			out = append(out, e)
		}
	}
	slices.Sort(dups)
	return newChain(out), dups
}

func newChain(es []*Entry) *Chain {
	if len(es) == 0 {
		return nil
	}
	slices.SortStableFunc(es, order)
	c := &Chain{entries: es}
	for _, e := range es {
		c.phases.rewrite = c.phases.rewrite || e.rewrite != nil
		c.phases.access = c.phases.access || e.access != nil
		c.phases.header = c.phases.header || e.header != nil
		c.phases.body = c.phases.body || e.body != nil
		c.phases.log = c.phases.log || e.log != nil
	}
	return c
}

func order(x, y *Entry) int {
	if x.priority != y.priority {
		if x.priority > y.priority {
			return -1
		}
		return 1
	}
	return strings.Compare(x.name, y.name)
}

// decrypt replaces the encrypted fields of a consumer conf by their plaintext.
func (pol *Policy) decrypt(a Auth, conf []byte) []byte {
	fields := a.EncryptFields()
	if pol.Keyring == nil || len(fields) == 0 {
		return conf
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(conf, &m) != nil {
		return conf
	}
	changed := false
	for _, f := range fields {
		var s string
		if raw, ok := m[f]; !ok || json.Unmarshal(raw, &s) != nil {
			continue
		}
		pt, err := pol.Keyring.Decrypt(s)
		if err != nil {
			if pol.Undecrypted != nil {
				pol.Undecrypted(a.Name(), f)
			}
			continue
		}
		m[f], _ = json.Marshal(pt)
		changed = true
	}
	if !changed {
		return conf
	}
	out, _ := json.Marshal(m)
	return out
}
