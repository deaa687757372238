package metrics

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RouteLabels are the labels of a route that do not vary per request.
type RouteLabels struct {
	// Route is the route's id (or its name, under the prometheus plugin's prefer_name).
	Route string
	// Service is the route's service_id ("" without one), or the service's name under prefer_name.
	Service string
}

// Source tells who produced a response: the response_source label of apisix_http_status.
type Source uint8

const (
	// SourceAPISIX is a response zoneproxy made up before proxying: no route, a plugin's
	// rejection, no upstream ("apisix"). It is the zero value.
	SourceAPISIX Source = iota
	// SourceNginx is an error zoneproxy answered because forwarding failed: refused, reset,
	// timed out ("nginx", the name APISIX gives errors of its proxy module).
	SourceNginx
	// SourceUpstream is a response the upstream sent ("upstream").
	SourceUpstream
)

// String returns the label value.
func (s Source) String() string {
	switch s {
	case SourceNginx:
		return "nginx"
	case SourceUpstream:
		return "upstream"
	default:
		return "apisix"
	}
}

// Sample is what one request contributes to the metrics. The proxy fills one on its stack; Observe
// keeps nothing of it, and copies its strings only the first time a combination is seen.
type Sample struct {
	// Code is the status sent to the client.
	Code int
	// Source is who produced the response.
	Source Source
	// MatchedURI and MatchedHost are the route patterns that matched (router.Result.URI and
	// Host); "" for Unmatched.
	MatchedURI, MatchedHost string
	// Consumer is the authenticated consumer's name, "" without one.
	Consumer string
	// Node is the host of the last upstream node tried (upstream.Node.Host, APISIX's
	// balancer_ip), "" when no node was picked. The upstream latency is recorded only with a node.
	Node string
	// Request is the whole request's time, from its first byte to its response's last;
	// Upstream the time spent on upstream tries. The apisix latency is their difference.
	Request, Upstream time.Duration
	// BytesIn is the request's size on the wire (request line, headers, body: nginx's
	// $request_length); BytesOut the response's (status line, headers, body: $bytes_sent).
	BytesIn, BytesOut int64
}

// Latency types, the index of a series' histograms.
const (
	latRequest = iota
	latUpstream
	latAPISIX
	numLatencies
)

func latencyType(i int) string {
	switch i {
	case latUpstream:
		return "upstream"
	case latAPISIX:
		return "apisix"
	default:
		return "request"
	}
}

// RouteMetrics records the requests of one route. Get one from Metrics.ForRoute or
// Metrics.Unmatched. A nil *RouteMetrics records nothing.
type RouteMetrics struct {
	m      *Metrics
	labels RouteLabels
	tab    atomic.Pointer[table]

	mu    sync.Mutex // guards inserts, nodes and the scrape bookkeeping of series
	nodes map[nodeKey]*nodeSeries
}

// Labels returns the route's labels.
func (rm *RouteMetrics) Labels() RouteLabels { return rm.labels }

// seriesKey identifies one apisix_http_status series of a route.
type seriesKey struct {
	code                         int
	source                       Source
	uri, host, consumer, nodeStr string
}

func (k *seriesKey) matches(s *Sample) bool {
	return k.code == s.Code && k.source == s.Source && k.nodeStr == s.Node &&
		k.uri == s.MatchedURI && k.host == s.MatchedHost && k.consumer == s.Consumer
}

// series counts one status series and points at the latency and bandwidth series it shares with
// the other status series of the same (consumer, node).
type series struct {
	key   seriesKey
	hash  uint64
	count atomic.Uint64
	node  *nodeSeries

	// Scrape bookkeeping, under RouteMetrics.mu.
	seen    uint64
	changed time.Time
}

type nodeKey struct{ consumer, node string }

// nodeSeries holds a route's latency histograms and bandwidth counters of one (consumer, node).
type nodeSeries struct {
	key     nodeKey
	lat     [numLatencies]histogram
	in, out atomic.Uint64
}

// histogram is one apisix_http_latency series: non-cumulative bucket counts (the last one is
// +Inf) and the sum in nanoseconds. Its count is the sum of its buckets.
type histogram struct {
	counts []atomic.Uint64
	sum    atomic.Uint64
}

func (h *histogram) observe(bounds []int64, d time.Duration) {
	ns := int64(d)
	if ns < 0 {
		ns = 0
	}
	i := 0
	for i < len(bounds) && ns > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(ns))
}

// table is an open-addressed hash table of series with linear probing. Readers probe it without
// locks; writers hold RouteMetrics.mu and replace it with a bigger copy before it is 3/4 full, so a
// probe always ends at an empty slot.
type table struct {
	slots []atomic.Pointer[series]
	mask  uint64
	n     int // series in the table, under RouteMetrics.mu
}

func newTable(size int) *table {
	return &table{slots: make([]atomic.Pointer[series], size), mask: uint64(size - 1)}
}

func (t *table) find(h uint64, s *Sample) *series {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		se := t.slots[i].Load()
		if se == nil {
			return nil
		}
		if se.hash == h && se.key.matches(s) {
			return se
		}
	}
}

func (t *table) put(se *series) {
	i := se.hash & t.mask
	for t.slots[i].Load() != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i].Store(se)
	t.n++
}

// each calls f for every series in the table.
func (t *table) each(f func(*series)) {
	for i := range t.slots {
		if se := t.slots[i].Load(); se != nil {
			f(se)
		}
	}
}

const initialSlots = 16

// emptyTable is the table of every route that has not served a request yet, most of them in a
// large configuration: it is never written to (insert grows it first), and it spares each route
// its own slots until it needs them.
var emptyTable = newTable(1)

func (m *Metrics) newRoute(l RouteLabels) *RouteMetrics {
	rm := &RouteMetrics{m: m, labels: l}
	rm.tab.Store(emptyTable)
	return rm
}

// Observe records one request. It does not allocate or lock once the sample's combination of code,
// source, matched uri and host, consumer and node has been recorded on this route.
func (rm *RouteMetrics) Observe(s *Sample) {
	if rm == nil {
		return
	}
	if s.Source > SourceUpstream { // unknown: it would print as "apisix" and collide with it
		c := *s
		c.Source = SourceAPISIX
		s = &c
	}
	h := rm.m.hash(s)
	se := rm.tab.Load().find(h, s)
	if se == nil {
		se = rm.insert(h, s)
	}
	se.count.Add(1)
	ns, bounds := se.node, rm.m.bounds
	ns.lat[latRequest].observe(bounds, s.Request)
	local := s.Request
	if s.Node != "" {
		ns.lat[latUpstream].observe(bounds, s.Upstream)
		local -= max(s.Upstream, 0)
	}
	// As APISIX: a negative difference (clocks measured apart) counts as 0.
	ns.lat[latAPISIX].observe(bounds, local)
	if s.BytesIn > 0 {
		ns.in.Add(uint64(s.BytesIn))
	}
	if s.BytesOut > 0 {
		ns.out.Add(uint64(s.BytesOut))
	}
}

// insert adds the series of s, the slow path of Observe.
func (rm *RouteMetrics) insert(h uint64, s *Sample) *series {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	t := rm.tab.Load()
	if se := t.find(h, s); se != nil {
		return se
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t = t.grown(max(len(t.slots)*2, initialSlots))
		rm.tab.Store(t)
	}
	// Clone: the caller's strings may alias request memory.
	se := &series{
		key: seriesKey{
			code:     s.Code,
			source:   s.Source,
			uri:      strings.Clone(s.MatchedURI),
			host:     strings.Clone(s.MatchedHost),
			consumer: strings.Clone(s.Consumer),
			nodeStr:  strings.Clone(s.Node),
		},
		hash:    h,
		changed: rm.m.now(),
	}
	nk := nodeKey{consumer: se.key.consumer, node: se.key.nodeStr}
	ns := rm.nodes[nk]
	if ns == nil {
		ns = &nodeSeries{key: nk}
		for i := range ns.lat {
			ns.lat[i].counts = make([]atomic.Uint64, len(rm.m.bounds)+1)
		}
		if rm.nodes == nil {
			rm.nodes = make(map[nodeKey]*nodeSeries)
		}
		rm.nodes[nk] = ns
	}
	se.node = ns
	t.put(se)
	return se
}

// grown returns a copy of t with size slots.
func (t *table) grown(size int) *table {
	nt := newTable(size)
	t.each(nt.put)
	return nt
}

// hash mixes the fields of a seriesKey. Collisions only cost a comparison.
func (m *Metrics) hash(s *Sample) uint64 {
	h := uint64(s.Code)<<8 | uint64(s.Source)
	h = mix(h, m.str(s.Node))
	h = mix(h, m.str(s.MatchedURI))
	h = mix(h, m.str(s.MatchedHost))
	return mix(h, m.str(s.Consumer))
}

func (m *Metrics) str(s string) uint64 {
	if s == "" {
		return 0
	}
	return maphash.String(m.seed, s)
}

func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + h<<6 + h>>2
	return h * 0xbf58476d1ce4e5b9
}

// ForRoute returns the handle of the route with labels l: the same handle until Retire forgets
// the labels, so that its counters carry over snapshot builds. The proxy gets it through a
// route's RouteHandle, which calls it at the route's first request.
func (m *Metrics) ForRoute(l RouteLabels) *RouteMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.forRoute(l)
}

func (m *Metrics) forRoute(l RouteLabels) *RouteMetrics {
	rm := m.routes[l]
	if rm == nil {
		rm = m.newRoute(l)
		m.routes[l] = rm
	}
	return rm
}

// Unmatched is the handle for requests that match no route (every route label empty).
func (m *Metrics) Unmatched() *RouteMetrics { return m.unmatched }

// RouteHandle is where a configured route keeps its metrics handle. The handle is looked up (or
// made) by the route's first request, not when the route is built: a route that serves no request
// costs nothing here (1.4 MB at 10,000 routes), and it has no series to scrape either, as in
// APISIX. The zero value is ready for use; it must not be copied after first use.
type RouteHandle struct {
	rm      atomic.Pointer[RouteMetrics]
	retired bool // guarded by Metrics.mu: Retire forgot the route's labels
}

// Get returns the handle of the route with labels l, which are the same at every call. Once the
// handle is known it is an atomic load; the first call takes m's mutex. It returns nil, which
// records nothing, for a route Retire retired: a request still running on an older snapshot must
// not bring back the series of a route that is gone.
func (h *RouteHandle) Get(m *Metrics, l RouteLabels) *RouteMetrics {
	if rm := h.rm.Load(); rm != nil {
		return rm
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h.retired {
		return nil
	}
	if rm := h.rm.Load(); rm != nil {
		return rm
	}
	rm := m.forRoute(l)
	h.rm.Store(rm)
	return rm
}

// Retirement is what a configuration change took out of use: the labels that no route has any
// more, and the handles of the routes that had them.
type Retirement struct {
	Labels  []RouteLabels
	Handles []*RouteHandle
}

// Retire forgets r's labels, whose series leave the next scrape (a later route with the same
// labels starts from zero), and retires r's handles, so that they make no handle any more. Requests
// still running on an older snapshot may record into a forgotten handle; those samples are lost.
// Call it after the snapshot swap that took them out of use.
func (m *Metrics) Retire(r Retirement) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range r.Handles {
		h.retired = true
	}
	for _, l := range r.Labels {
		if rm := m.routes[l]; rm != nil && rm != m.unmatched {
			delete(m.routes, l)
		}
	}
}

// liveRoutes returns the handles to scrape.
func (m *Metrics) liveRoutes() []*RouteMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*RouteMetrics, 0, len(m.routes))
	for _, rm := range m.routes {
		out = append(out, rm)
	}
	return out
}
