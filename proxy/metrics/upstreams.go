package metrics

import (
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// upstreams holds the live pools that have health checks, read at scrape time for
// apisix_upstream_status.
type upstreams struct {
	mu    sync.Mutex
	pools map[*upstream.Pool]struct{}
}

// SetPools gives all the pools of the live snapshot; UpdatePools is its incremental form. At
// each scrape, apisix_upstream_status then reports every node of every pool with health checks: 1
// when healthy, 0 when not, named by the upstream's etcd key ("/apisix/upstreams/1", or the
// route's or service's key for an inline upstream) as APISIX names it.
func (m *Metrics) SetPools(pools []*upstream.Pool) {
	set := make(map[*upstream.Pool]struct{})
	for _, p := range pools {
		if p != nil && p.Spec().Checks != nil {
			set[p] = struct{}{}
		}
	}
	m.ups.mu.Lock()
	m.ups.pools = set
	m.ups.mu.Unlock()
}

// UpdatePools applies a change of the live pools (snapshot.Snapshot.PoolDelta) after each swap,
// in time proportional to the change; a Full one is SetPools(d.Added).
func (m *Metrics) UpdatePools(d upstream.Delta) {
	if d.Full {
		m.SetPools(d.Added)
		return
	}
	m.ups.mu.Lock()
	defer m.ups.mu.Unlock()
	if m.ups.pools == nil {
		m.ups.pools = make(map[*upstream.Pool]struct{})
	}
	for _, p := range d.Removed {
		delete(m.ups.pools, p)
	}
	for _, p := range d.Added {
		if p != nil && p.Spec().Checks != nil {
			m.ups.pools[p] = struct{}{}
		}
	}
}

// checked lists the pools with health checks, for one scrape.
func (u *upstreams) checked() []*upstream.Pool {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*upstream.Pool, 0, len(u.pools))
	for p := range u.pools {
		out = append(out, p)
	}
	return out
}

type upstreamCollector struct{ m *Metrics }

func (c upstreamCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.desc.upstreamStatus }

func (c upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ name, ip, port string }
	seen := make(map[key]bool)
	for _, pool := range c.m.ups.checked() {
		name, _, _ := strings.Cut(pool.Key(), "#")
		for _, n := range pool.Nodes() {
			k := key{name, n.Host, strconv.Itoa(n.Port)}
			if seen[k] {
				continue
			}
			seen[k] = true
			ch <- prometheus.MustNewConstMetric(c.m.desc.upstreamStatus, prometheus.GaugeValue,
				b2f(n.Healthy()), k.name, k.ip, k.port)
		}
	}
}
