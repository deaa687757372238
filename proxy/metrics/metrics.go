package metrics

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultPath is where APISIX serves its metrics (plugin_attr.prometheus.export_uri).
const DefaultPath = "/apisix/prometheus/metrics"

// defaultBuckets are APISIX's DEFAULT_BUCKETS for apisix_http_latency, in milliseconds.
func defaultBuckets() []float64 {
	return []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}
}

// Options configure a Metrics. The zero value is usable.
type Options struct {
	// Prefix replaces "apisix_" in the names of APISIX's metrics (plugin_attr.prometheus.
	// metric_prefix). zoneproxy's own metrics always start with "zoneproxy_".
	Prefix string
	// Buckets are the upper bounds of apisix_http_latency in milliseconds (plugin_attr.
	// prometheus.default_buckets); nil means APISIX's defaults, 1 ms to 60 s. They must be
	// positive and strictly increasing.
	Buckets []float64
	// Path is the APISIX metrics path Handler serves besides "/metrics" (plugin_attr.prometheus.
	// export_uri, default DefaultPath).
	Path string
	// Hostname and Version are the labels of apisix_node_info; Hostname defaults to os.Hostname().
	Hostname, Version string
	// Expire, when positive, drops a request series (status, latency, bandwidth) that has not
	// changed for that long, as APISIX's plugin_attr.prometheus.metrics.*.expire does. 0 keeps
	// series while their route is live.
	Expire time.Duration
	// Logger receives scrape errors (default: discarded).
	Logger *slog.Logger
	// Now is the clock, for tests (default time.Now).
	Now func() time.Time
}

// Metrics owns a Prometheus registry with every zoneproxy metric. It is safe for concurrent use.
type Metrics struct {
	reg  *prometheus.Registry
	log  *slog.Logger
	now  func() time.Time
	path string

	seed   maphash.Seed
	bounds []int64   // bucket upper bounds in nanoseconds, for Observe
	upper  []float64 // the same in milliseconds, for the exposition
	expire time.Duration

	desc descs

	mu        sync.Mutex // guards routes
	routes    map[RouteLabels]*RouteMetrics
	unmatched *RouteMetrics

	conns Conns
	cp    controlPlane
	ups   upstreams
}

// New returns a Metrics with a fresh registry holding APISIX's and zoneproxy's metrics, the Go
// runtime collector and the process collector.
func New(opts Options) (*Metrics, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "apisix_"
	}
	if !validPrefix(prefix) {
		return nil, fmt.Errorf("metrics: prefix %q: not a valid metric name prefix", opts.Prefix)
	}
	buckets := opts.Buckets
	if buckets == nil {
		buckets = defaultBuckets()
	}
	bounds, err := nanoBounds(buckets)
	if err != nil {
		return nil, err
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		log:    opts.Logger,
		now:    opts.Now,
		path:   opts.Path,
		seed:   maphash.MakeSeed(),
		bounds: bounds,
		upper:  append([]float64(nil), buckets...),
		expire: opts.Expire,
		desc:   newDescs(prefix),
		routes: make(map[RouteLabels]*RouteMetrics),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "metrics")
	if m.now == nil {
		m.now = time.Now
	}
	if m.path == "" {
		m.path = DefaultPath
	}
	if !strings.HasPrefix(m.path, "/") {
		return nil, fmt.Errorf("metrics: path %q: must start with /", opts.Path)
	}
	m.unmatched = m.newRoute(RouteLabels{})
	m.routes[RouteLabels{}] = m.unmatched
	m.cp.init(prefix, host, opts.Version)

	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpCollector{m},
		connsCollector{m},
		upstreamCollector{m},
		configCollector{m},
	}
	cs = append(cs, m.cp.collectors()...)
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: registering collectors: %w", err)
		}
	}
	return m, nil
}

// Registry is the registry every metric is on, for callers that add their own (an access log's
// drop counter, say).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format on Options.Path and on /metrics, for GET
// and HEAD; other paths get 404 and other methods 405.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{m.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	mux := http.NewServeMux()
	mux.Handle("GET "+m.path, h)
	if m.path != "/metrics" {
		mux.Handle("GET /metrics", h)
	}
	return mux
}

// promLogger adapts slog to promhttp's error logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Error("serving metrics", "error", fmt.Sprint(v...)) }

func validPrefix(p string) bool {
	for i, c := range p {
		ok := c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

func nanoBounds(buckets []float64) ([]int64, error) {
	if len(buckets) == 0 {
		return nil, fmt.Errorf("metrics: buckets: empty")
	}
	bounds := make([]int64, len(buckets))
	for i, b := range buckets {
		if !(b > 0) || math.IsInf(b, 0) || b*1e6 > math.MaxInt64/2 {
			return nil, fmt.Errorf("metrics: buckets[%d] = %v: not a positive finite number of milliseconds", i, b)
		}
		if i > 0 && b <= buckets[i-1] {
			return nil, fmt.Errorf("metrics: buckets[%d] = %v: not greater than the previous bucket", i, b)
		}
		// A duration of n ns falls in the bucket when n ms/1e6 <= b, that is n <= floor(b*1e6).
		bounds[i] = int64(math.Floor(b * 1e6))
	}
	return bounds, nil
}
