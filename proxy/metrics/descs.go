package metrics

import "github.com/prometheus/client_golang/prometheus"

// Constant label values of APISIX's request metrics: zoneproxy serves no AI requests.
const (
	requestType     = "traditional_http"
	requestLLMModel = ""
	llmModel        = ""
)

// descs are the descriptions of the metrics that the package's own collectors emit.
type descs struct {
	status, latency, bandwidth *prometheus.Desc
	connections, requests      *prometheus.Desc
	upstreamStatus             *prometheus.Desc
	configRevision, configAge  *prometheus.Desc
}

// newDescs builds the descriptions with APISIX's names, help texts and label order
// (exporter.lua, metric_label_map).
func newDescs(prefix string) descs {
	return descs{
		status: prometheus.NewDesc(prefix+"http_status",
			"HTTP status codes per service in APISIX",
			[]string{"code", "route", "matched_uri", "matched_host", "service", "consumer", "node",
				"request_type", "request_llm_model", "llm_model", "response_source"}, nil),
		latency: prometheus.NewDesc(prefix+"http_latency",
			"HTTP request latency in milliseconds per service in APISIX",
			[]string{"type", "route", "service", "consumer", "node",
				"request_type", "request_llm_model", "llm_model"}, nil),
		bandwidth: prometheus.NewDesc(prefix+"bandwidth",
			"Total bandwidth in bytes consumed per service in APISIX",
			[]string{"type", "route", "service", "consumer", "node",
				"request_type", "request_llm_model", "llm_model"}, nil),
		connections: prometheus.NewDesc(prefix+"http_current_connections",
			"Number of HTTP connections", []string{"state"}, nil),
		requests: prometheus.NewDesc(prefix+"http_requests_total",
			"The total number of client requests since APISIX started", nil, nil),
		upstreamStatus: prometheus.NewDesc(prefix+"upstream_status",
			"Upstream status from health check", []string{"name", "ip", "port"}, nil),
		configRevision: prometheus.NewDesc("zoneproxy_config_revision",
			"Control-plane revision of the configuration being served", nil, nil),
		configAge: prometheus.NewDesc("zoneproxy_config_age_seconds",
			"Seconds since the configuration being served last changed", nil, nil),
	}
}
