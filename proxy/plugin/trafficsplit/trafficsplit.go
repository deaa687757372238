// Package trafficsplit is APISIX's traffic-split plugin (apache/apisix
// apisix/plugins/traffic-split.lua): in the access phase, priority 966, a request is sent to one
// of the weighted upstreams of the first rule it matches, instead of the route's upstream.
//
// Conf: rules[], each with match[] (each a `vars` expression; a rule matches when one of them
// does, or when it has no match) and weighted_upstreams[] (1 to 20 entries, default
// [{"weight":1}]): upstream_id, or an inline upstream, and weight (integer >= 0, default 1); an
// entry with neither stands for the route's own upstream. upstream_id wins over upstream, as in
// APISIX.
//
// The entries of a rule are picked by the roundrobin balancer's smooth weighted round robin
// (upstream.WeightedCycle: weights 3:1:1 give a b a c a, and again), an entry of weight 0
// never. APISIX uses lua-resty-balancer's roundrobin here, which interleaves by gcd instead of
// smoothly: the shares are the same, the order can differ.
//
// The plugin never forwards itself: it names its upstreams (plugin.UpstreamPicker); the
// snapshot builder resolves them into pools once per snapshot, as a route's own upstream (an
// inline upstream's pool is kept across snapshots while it is unchanged; health checks,
// retries and timeouts are the pool's), and the proxy forwards to the pool picked. As in
// APISIX, an upstream_id that does not exist does not reject the conf: a request that reaches
// its rule is answered 500 "failed to fetch upstream info by upstream id: <id>" (every
// upstream_id of the rules up to the one matched is checked).
//
// A traffic-split brought by a consumer or a global rule is not resolved with the route: it
// leaves the request on the route's upstream.
package trafficsplit

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Name and Priority are APISIX's.
const (
	Name     = "traffic-split"
	Priority = 966
)

// Plugin is traffic-split.
var Plugin plugin.Plugin = trafficSplit{}

type trafficSplit struct{}

func (trafficSplit) Name() string  { return Name }
func (trafficSplit) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	rules []rule
	refs  []plugin.UpstreamRef
}

type rule struct {
	match   []*expr.Expr // nil: the rule always matches
	entries []entry
	cycle   *upstream.WeightedCycle
}

// entry is one weighted upstream: ref indexes Conf.refs, -1 for the route's own upstream.
type entry struct {
	ref     int
	id      string // upstream_id
	missing []byte // the 500's body when the upstream_id does not exist
}

// idPattern is APISIX's id_schema for a string id.
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9-_.]+$`)

func (trafficSplit) Compile(raw []byte, env *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	key := ""
	if env != nil {
		key = env.Key
	}
	rules, err := c.Objects("rules")
	if err != nil {
		return nil, err
	}
	conf := &Conf{}
	for i, rc := range rules {
		r, err := conf.compileRule(rc, key)
		if err != nil {
			return nil, fmt.Errorf("property \"rules\" validation failed: failed to validate item %d: %w", i+1, err)
		}
		conf.rules = append(conf.rules, r)
	}
	return conf, nil
}

func (conf *Conf) compileRule(c plugin.Conf, key string) (rule, error) {
	var r rule
	matches, err := c.Objects("match")
	if err != nil {
		return r, err
	}
	if c.Has("match") {
		r.match = []*expr.Expr{}
	}
	for i, m := range matches {
		v, ok := m.Raw("vars")
		if !ok {
			r.match = append(r.match, nil)
			continue
		}
		var arr []json.RawMessage
		if json.Unmarshal(v, &arr) != nil {
			return r, fmt.Errorf("property \"match\" validation failed: failed to validate item %d: property \"vars\" validation failed: wrong type: expected array", i+1)
		}
		e, err := expr.Compile(v)
		if err != nil {
			return r, fmt.Errorf("failed to validate the 'vars' expression: %v", err)
		}
		r.match = append(r.match, e)
	}
	ups, err := c.Objects("weighted_upstreams")
	if err != nil {
		return r, err
	}
	if !c.Has("weighted_upstreams") {
		ups = []plugin.Conf{{}}
	} else if len(ups) < 1 || len(ups) > 20 {
		return r, fmt.Errorf("property \"weighted_upstreams\" validation failed: expect array to have at least 1 items and at most 20 items, got %d", len(ups))
	}
	weights := make([]int, len(ups))
	for i, u := range ups {
		e, w, err := conf.compileEntry(u, key)
		if err != nil {
			return r, fmt.Errorf("property \"weighted_upstreams\" validation failed: failed to validate item %d: %w", i+1, err)
		}
		r.entries, weights[i] = append(r.entries, e), w
	}
	r.cycle = upstream.NewWeightedCycle(weights)
	return r, nil
}

func (conf *Conf) compileEntry(u plugin.Conf, key string) (entry, int, error) {
	e := entry{ref: -1}
	w, err := u.Int("weight", 1)
	if err != nil {
		return e, 0, err
	}
	if w < 0 {
		return e, 0, fmt.Errorf("property \"weight\" validation failed: expected %d to be at least 0", w)
	}
	if raw, ok := u.Raw("upstream_id"); ok {
		id, err := upstreamID(raw)
		if err != nil {
			return e, 0, err
		}
		e.ref, e.id = len(conf.refs), id
		e.missing = []byte("failed to fetch upstream info by upstream id: " + id)
		conf.refs = append(conf.refs, plugin.UpstreamRef{ID: id})
		if _, ok := u.Raw("upstream"); ok { // validated all the same
			if _, err := upstream.Parse(mustRaw(u, "upstream")); err != nil {
				return e, 0, fmt.Errorf("property \"upstream\" validation failed: %w", err)
			}
		}
		return e, w, nil
	}
	if raw, ok := u.Raw("upstream"); ok {
		spec, err := upstream.Parse(raw)
		if err != nil {
			return e, 0, fmt.Errorf("property \"upstream\" validation failed: %w", err)
		}
		e.ref = len(conf.refs)
		conf.refs = append(conf.refs, plugin.UpstreamRef{Spec: spec, Key: key + "#traffic-split#" + strconv.Itoa(e.ref)})
	}
	return e, w, nil
}

func mustRaw(c plugin.Conf, name string) json.RawMessage {
	v, _ := c.Raw(name)
	return v
}

// upstreamID reads APISIX's id_schema: a string of 1 to 64 characters of [a-zA-Z0-9-_.], or
// an integer.
func upstreamID(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if len(s) < 1 || len(s) > 64 || !idPattern.MatchString(s) {
			return "", fmt.Errorf("property \"upstream_id\" validation failed: object matches none of the required")
		}
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := n.Int64(); err == nil {
			return n.String(), nil
		}
	}
	return "", fmt.Errorf("property \"upstream_id\" validation failed: object matches none of the required")
}

// UpstreamRefs are the upstreams of every rule, in order.
func (conf *Conf) UpstreamRefs() []plugin.UpstreamRef { return conf.refs }

// Access picks the upstream of the first rule the request matches.
func (conf *Conf) Access(r *plugin.Request) plugin.Reply {
	t := r.Targets
	if t == nil || t.Owner != plugin.Instance(conf) {
		return plugin.Reply{}
	}
	// passed carries over from one rule to the next, as in APISIX: a rule with an empty match
	// list passes when the rule before it did not fail.
	passed := true
	for i := range conf.rules {
		ru := &conf.rules[i]
		for _, e := range ru.entries {
			if e.id != "" && t.Pools[e.ref] == nil {
				return plugin.Reply{Status: 500, Body: e.missing}
			}
		}
		if passed = ru.matches(r, passed); !passed {
			continue
		}
		k := ru.cycle.Next()
		if k < 0 {
			return plugin.Reply{}
		}
		r.PickUpstream(conf, ru.entries[k].ref)
		return plugin.Reply{}
	}
	return plugin.Reply{}
}

// matches reports whether one of the rule's match entries holds (no match: the rule holds);
// an empty match list gives passed back.
func (ru *rule) matches(r *plugin.Request, passed bool) bool {
	if ru.match == nil {
		return true
	}
	for _, e := range ru.match {
		if passed = e == nil || (r.Vars != nil && r.Vars.Eval(r.Ctx, e)); passed {
			return true
		}
	}
	return passed
}
