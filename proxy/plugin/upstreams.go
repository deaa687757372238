package plugin

import "github.com/zoneproxy/zoneproxy/upstream"

// UpstreamRef is an upstream a plugin may send a request to instead of the route's own
// (traffic-split's weighted_upstreams): an upstream object by id, or an inline upstream.
type UpstreamRef struct {
	// ID is the upstream_id ("" for an inline upstream).
	ID string
	// Spec is the inline upstream, compiled with the conf; Key is the registry key of its pool
	// ("/apisix/routes/1#traffic-split#0"), stable while the conf is, so that its pool, health
	// and balancer are kept across snapshots while the upstream is unchanged.
	Spec *upstream.Spec
	Key  string
}

// UpstreamPicker is implemented by an instance that picks the upstream of a request among its
// UpstreamRefs (traffic-split). The snapshot builder resolves the refs of the picker of a
// route's chain into pools (Targets), once per snapshot, as it resolves the route's own
// upstream: they are health-checked and retried as any pool, and the proxy forwards to the one
// the picker chose (Request.PickUpstream), with the same code as to the route's.
type UpstreamPicker interface {
	UpstreamRefs() []UpstreamRef
}

// Targets are the refs of a route's UpstreamPicker resolved for one snapshot: Pools[i] is the
// pool of ref i, nil when its upstream_id does not exist (or its inline upstream could not be
// built). Immutable once made.
type Targets struct {
	Owner Instance
	Pools []*upstream.Pool
}

// Picker returns the instance of c that picks upstreams, nil when there is none. Only a
// route's chain is looked at: a picker a consumer or a global rule brings is not resolved.
func (c *Chain) Picker() UpstreamPicker {
	if c == nil {
		return nil
	}
	for _, e := range c.entries {
		if p, ok := e.inst.(UpstreamPicker); ok {
			return p
		}
	}
	return nil
}

// WithTargets returns a copy of c carrying t, the resolved upstreams of its picker, for the
// requests of one route (the builder makes a route's chain anew for each resolution).
func (c *Chain) WithTargets(t *Targets) *Chain {
	if c == nil {
		return nil
	}
	cc := *c
	cc.targets = t
	return &cc
}

// Targets returns what WithTargets gave c, nil when none.
func (c *Chain) Targets() *Targets {
	if c == nil {
		return nil
	}
	return c.targets
}

// PickUpstream makes the pool of ref i of the request's Targets the one the request is
// forwarded to; -1 keeps the route's own upstream. owner is the picking instance: a pick by an
// instance the Targets were not resolved for is ignored.
func (r *Request) PickUpstream(owner Instance, i int) {
	if r.Targets == nil || r.Targets.Owner != owner || i < 0 || i >= len(r.Targets.Pools) {
		r.picked = nil
		return
	}
	r.picked = r.Targets.Pools[i]
}

// PickedUpstream returns the pool a plugin picked for the request, nil for the route's own.
func (r *Request) PickedUpstream() *upstream.Pool { return r.picked }
