package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpCollector turns the live routes' counters into apisix_http_status, apisix_http_latency and
// apisix_bandwidth at scrape time.
type httpCollector struct{ m *Metrics }

func (c httpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.desc.status
	ch <- c.m.desc.latency
	ch <- c.m.desc.bandwidth
}

func (c httpCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := m.now()
	for _, rm := range m.liveRoutes() {
		statuses, nodes := rm.scrape(now, m.expire, len(m.bounds))
		l := rm.labels
		for _, st := range statuses {
			k := st.key
			ch <- prometheus.MustNewConstMetric(m.desc.status, prometheus.CounterValue, float64(st.count),
				strconv.Itoa(k.code), l.Route, k.uri, k.host, l.Service, k.consumer, k.nodeStr,
				requestType, requestLLMModel, llmModel, k.source.String())
		}
		for i := range nodes {
			np := &nodes[i]
			k := np.key
			for typ := range numLatencies {
				buckets := make(map[float64]uint64, len(m.upper))
				var cum uint64
				for b, upper := range m.upper {
					cum += np.counts[typ][b]
					buckets[upper] = cum
				}
				cum += np.counts[typ][len(m.upper)]
				if cum == 0 {
					continue // never observed: APISIX has no upstream series for requests not proxied
				}
				ch <- prometheus.MustNewConstHistogram(m.desc.latency, cum, float64(np.sums[typ])/1e6, buckets,
					latencyType(typ), l.Route, l.Service, k.consumer, k.node, requestType, requestLLMModel, llmModel)
			}
			ch <- prometheus.MustNewConstMetric(m.desc.bandwidth, prometheus.CounterValue, float64(np.in),
				"ingress", l.Route, l.Service, k.consumer, k.node, requestType, requestLLMModel, llmModel)
			ch <- prometheus.MustNewConstMetric(m.desc.bandwidth, prometheus.CounterValue, float64(np.out),
				"egress", l.Route, l.Service, k.consumer, k.node, requestType, requestLLMModel, llmModel)
		}
	}
}

type statusPoint struct {
	key   seriesKey
	count uint64
}

type nodePoint struct {
	key     nodeKey
	counts  [numLatencies][]uint64
	sums    [numLatencies]uint64
	in, out uint64
}

// scrape reads the route's counters. With expire > 0 it first drops the series that have not
// changed for that long, and the latency and bandwidth series no remaining status series uses.
func (rm *RouteMetrics) scrape(now time.Time, expire time.Duration, nbounds int) ([]statusPoint, []nodePoint) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	t := rm.tab.Load()
	if t.n == 0 {
		return nil, nil // never served, or everything expired
	}
	statuses := make([]statusPoint, 0, t.n)
	used := make(map[*nodeSeries]bool, len(rm.nodes))
	var expired map[*series]bool
	t.each(func(se *series) {
		c := se.count.Load()
		switch {
		case c != se.seen:
			se.seen, se.changed = c, now
		case expire > 0 && now.Sub(se.changed) >= expire:
			if expired == nil {
				expired = make(map[*series]bool)
			}
			expired[se] = true
			return
		}
		statuses = append(statuses, statusPoint{key: se.key, count: c})
		used[se.node] = true
	})
	if expired != nil {
		rm.dropExpired(t, expired, used)
	}
	nodes := make([]nodePoint, 0, len(used))
	for ns := range used {
		np := nodePoint{key: ns.key, in: ns.in.Load(), out: ns.out.Load()}
		for typ := range ns.lat {
			h := &ns.lat[typ]
			np.counts[typ] = make([]uint64, nbounds+1)
			for b := range h.counts {
				np.counts[typ][b] = h.counts[b].Load()
			}
			np.sums[typ] = h.sum.Load()
		}
		nodes = append(nodes, np)
	}
	return statuses, nodes
}

// dropExpired replaces t with a table without the expired series, and forgets the node series
// that no remaining series uses. rm.mu is held.
func (rm *RouteMetrics) dropExpired(t *table, expired map[*series]bool, used map[*nodeSeries]bool) {
	remaining := t.n - len(expired)
	if remaining == 0 {
		rm.tab.Store(emptyTable)
		rm.nodes = nil
		return
	}
	size := initialSlots
	for (remaining+1)*4 > size*3 {
		size *= 2
	}
	nt := newTable(size)
	t.each(func(se *series) {
		if !expired[se] {
			nt.put(se)
		}
	})
	rm.tab.Store(nt)
	for k, ns := range rm.nodes {
		if !used[ns] {
			delete(rm.nodes, k)
		}
	}
}
