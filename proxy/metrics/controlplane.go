package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// modifyIndexKeys are the kinds APISIX reports in apisix_etcd_modify_indexes (exporter.lua,
// etcd_modify_index), besides max_modify_index and x_etcd_index.
func modifyIndexKeys() []string {
	return []string{"routes", "services", "ssls", "consumers", "global_rules", "upstreams",
		"stream_routes", "protos"}
}

// controlPlane holds the metrics that the control-plane client and the snapshot builder feed.
type controlPlane struct {
	endpointUp    *prometheus.GaugeVec
	failovers     *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	etcdReachable prometheus.Gauge
	modifyIndexes *prometheus.GaugeVec
	nodeInfo      *prometheus.GaugeVec

	mu       sync.Mutex // guards revision and updated
	revision int64
	updated  time.Time // zero until SetConfig
}

func (cp *controlPlane) init(prefix, hostname, version string) {
	cp.endpointUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zoneproxy_cp_endpoint_up",
		Help: "Whether a control-plane endpoint is healthy (1) or not (0)",
	}, []string{"endpoint"})
	cp.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zoneproxy_cp_failovers_total",
		Help: "Switches from one control-plane endpoint to another",
	}, []string{"from", "to"})
	cp.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zoneproxy_config_rejected_total",
		Help: "Configuration objects rejected, by kind",
	}, []string{"kind"})
	cp.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zoneproxy_config_reloads_total",
		Help: "Standalone configurations read (from the file, or pushed to the Admin API), by source and result (applied or failed)",
	}, []string{"source", "result"})
	cp.etcdReachable = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: prefix + "etcd_reachable",
		Help: "Config server etcd reachable from APISIX, 0 is unreachable",
	})
	cp.modifyIndexes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: prefix + "etcd_modify_indexes",
		Help: "Etcd modify index for APISIX keys",
	}, []string{"key"})
	cp.nodeInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: prefix + "node_info",
		Help: "Info of APISIX node",
	}, []string{"hostname", "version"})
	cp.nodeInfo.WithLabelValues(hostname, version).Set(1)
}

func (cp *controlPlane) collectors() []prometheus.Collector {
	return []prometheus.Collector{cp.endpointUp, cp.failovers, cp.rejected, cp.reloads, cp.etcdReachable,
		cp.modifyIndexes, cp.nodeInfo}
}

// SetEndpointUp records a control-plane endpoint's health. Its signature fits
// cpclient.Config.OnHealth.
func (m *Metrics) SetEndpointUp(endpoint string, up bool) {
	m.cp.endpointUp.WithLabelValues(endpoint).Set(b2f(up))
}

// Failover counts a switch of control-plane endpoint. Its signature fits cpclient.Config.OnSwitch:
// the first connection (from == "") and a switch to the same endpoint are not counted.
func (m *Metrics) Failover(from, to string) {
	if from == "" || from == to {
		return
	}
	m.cp.failovers.WithLabelValues(from, to).Inc()
}

// Rejected counts one rejected configuration object of a kind ("routes", "upstreams", ...). Its
// signature fits snapshot.Options.OnReject.
func (m *Metrics) Rejected(kind string) { m.cp.rejected.WithLabelValues(kind).Inc() }

// Reload counts one standalone configuration read from source ("file", "admin_api"): applied
// when ok, failed (the whole of it kept out, the last good one serving) otherwise.
func (m *Metrics) Reload(source string, ok bool) {
	result := "applied"
	if !ok {
		result = "failed"
	}
	m.cp.reloads.WithLabelValues(source, result).Inc()
}

// SetConfig records the revision of the configuration being served and when it last changed;
// zoneproxy_config_age_seconds is computed from updated at each scrape. Before the first call
// neither metric is exported.
func (m *Metrics) SetConfig(revision int64, updated time.Time) {
	m.cp.mu.Lock()
	defer m.cp.mu.Unlock()
	m.cp.revision, m.cp.updated = revision, updated
}

// SetEtcdReachable sets apisix_etcd_reachable: whether the control plane answers.
func (m *Metrics) SetEtcdReachable(ok bool) { m.cp.etcdReachable.Set(b2f(ok)) }

// SetModifyIndexes sets apisix_etcd_modify_indexes as APISIX does: byKind maps a kind
// ("routes", "services", "ssls", "consumers", "global_rules", "upstreams", "stream_routes",
// "protos") to the highest mod revision among its keys (absent kinds are 0, others ignored);
// max_modify_index is the highest of them and x_etcd_index is etcdIndex, the store's revision.
func (m *Metrics) SetModifyIndexes(byKind map[string]int64, etcdIndex int64) {
	var highest int64
	for _, k := range modifyIndexKeys() {
		v := byKind[k]
		highest = max(highest, v)
		m.cp.modifyIndexes.WithLabelValues(k).Set(float64(v))
	}
	m.cp.modifyIndexes.WithLabelValues("max_modify_index").Set(float64(highest))
	m.cp.modifyIndexes.WithLabelValues("x_etcd_index").Set(float64(etcdIndex))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// configCollector exports zoneproxy_config_revision and zoneproxy_config_age_seconds.
type configCollector struct{ m *Metrics }

func (c configCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.desc.configRevision
	ch <- c.m.desc.configAge
}

func (c configCollector) Collect(ch chan<- prometheus.Metric) {
	cp := &c.m.cp
	cp.mu.Lock()
	rev, updated := cp.revision, cp.updated
	cp.mu.Unlock()
	if updated.IsZero() {
		return
	}
	age := max(c.m.now().Sub(updated).Seconds(), 0)
	ch <- prometheus.MustNewConstMetric(c.m.desc.configRevision, prometheus.GaugeValue, float64(rev))
	ch <- prometheus.MustNewConstMetric(c.m.desc.configAge, prometheus.GaugeValue, age)
}
