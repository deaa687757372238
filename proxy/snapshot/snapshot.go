package snapshot

import (
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/ssl"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Snapshot is one compiled configuration. It is immutable and safe for concurrent use.
type Snapshot struct {
	Revision  int64
	ClusterID uint64
	Source    state.Source
	Endpoint  string
	// Updated is when the configuration last changed (for the state file: when it was written).
	Updated time.Time
	// Built is when the Snapshot was built; BuildDuration how long it took.
	Built         time.Time
	BuildDuration time.Duration

	// Router finds the route of a request; Result.Value indexes Routes.
	Router *router.Table
	// Routes holds the served routes by router value.
	Routes Routes
	// SSL finds the certificate of a TLS handshake by SNI: the SSL objects (proxy/ssl). It is
	// the previous Snapshot's when no SSL object changed.
	SSL *ssl.Index
	// PoolDelta is how the set of upstream pools in use changed since the previous Snapshot of the
	// same Builder (a build that failed in between included), for upstream.Registry.Update,
	// health.Manager.Update and metrics.Metrics.UpdatePools after the swap; the first Snapshot of a
	// Builder hands out every pool, as a Full delta. It is empty when the set did not change, and
	// costs what the change costs, not what the set does.
	PoolDelta upstream.Delta
	// KVs is the configuration this Snapshot was built from, every rejected object replaced by its
	// last good version: what the state file stores.
	KVs    state.KVs
	Counts Counts
	// Global is the merged plugins of the global rules (nil: none), run before the route's in
	// every phase and on the 404 of a request no route matched.
	Global *plugin.Chain
	// Consumers is the consumer index the authentication plugins look consumers up in.
	Consumers *plugin.Consumers
	// RetiredMetrics is what this build took out of use in the route metrics (routes deleted or
	// relabelled; empty otherwise), for metrics.Metrics.Retire after the swap.
	RetiredMetrics metrics.Retirement
}

// Counts are the numbers of objects in a Snapshot.
type Counts struct {
	Routes, Services, Upstreams, Consumers int
}

// Route is what the proxy needs of a matched route.
type Route struct {
	ID        string
	ServiceID string
	// Pool is the upstream to forward to; when nil, Status is the answer, as APISIX gives it: 404
	// when the route's service does not exist, 502 for an upstream_id that does not exist, 503 for
	// a missing plugin config or no upstream at all.
	Pool *upstream.Pool
	// Plugins is the route's chain: its service's, plugin config's and own plugins merged
	// (nil: none).
	Plugins *plugin.Chain
	// Timeout is the route's own timeout, which wins over the upstream's.
	Timeout         *Timeout
	Status          int32
	EnableWebsocket bool
	// Unresolved is set when the route's service or plugin config does not exist: Status
	// answers before any plugin runs, global rules included (apisix/init.lua).
	Unresolved bool
	// metrics holds the route's metrics handle from its first request on (see Metrics).
	metrics metrics.RouteHandle
	// named is the route's metric labels under the prometheus plugin's prefer_name (the route's
	// and its service's names, where they have one); nil: the ids.
	named *metrics.RouteLabels
}

// Metrics returns the handle that counts the route's requests in m, nil when m is nil or the route
// was retired (deleted or relabelled) since. It is made at the route's first request and kept by
// later versions of the route with the same labels.
func (rt *Route) Metrics(m *metrics.Metrics) *metrics.RouteMetrics {
	if m == nil {
		return nil
	}
	return rt.metrics.Get(m, rt.labels())
}

func (rt *Route) labels() metrics.RouteLabels {
	if rt.named != nil {
		return *rt.named
	}
	return metrics.RouteLabels{Route: rt.ID, Service: rt.ServiceID}
}
