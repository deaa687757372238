package metrics

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// upstreams holds the live pools, read at scrape time for apisix_upstream_status.
type upstreams struct {
	pools atomic.Pointer[[]*upstream.Pool]
}

// SetPools gives the pools of the live snapshot (snapshot.Snapshot.Pools); call it after each
// swap. apisix_upstream_status then reports, at each scrape, every node of every pool with health
// checks: 1 when healthy, 0 when not, named by the upstream's etcd key ("/apisix/upstreams/1",
// or the route's or service's key for an inline upstream) as APISIX names it. The slice must not
// be modified afterwards.
func (m *Metrics) SetPools(pools []*upstream.Pool) { m.ups.pools.Store(&pools) }

type upstreamCollector struct{ m *Metrics }

func (c upstreamCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.desc.upstreamStatus }

func (c upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.m.ups.pools.Load()
	if p == nil {
		return
	}
	type key struct{ name, ip, port string }
	seen := make(map[key]bool)
	for _, pool := range *p {
		if pool == nil || pool.Spec().Checks == nil {
			continue
		}
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
