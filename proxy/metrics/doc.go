// Package metrics exports zoneproxy's Prometheus metrics under the names, label names, label
// values and histogram buckets of APISIX's prometheus plugin (apisix/plugins/prometheus/
// exporter.lua, APISIX 3.17+), plus zoneproxy's own control-plane metrics, the Go runtime and
// the process collectors, on a registry of its own (never the global default). (client_golang
// writes labels in name order where APISIX writes them in declaration order; Prometheus does not
// care.) One name differs on purpose: nginx's apisix_nginx_http_current_connections is
// apisix_http_current_connections here.
//
// Per request the proxy fills a Sample and records it into a RouteMetrics handle. A route finds
// its handle through its RouteHandle, which looks it up by the route's labels at the route's first
// request (ForRoute): a route that serves nothing costs nothing, and a changed route with the same
// labels keeps its handle, and so its counters. Requests that match no route record into
// Unmatched. After each snapshot swap the builder hands the labels no route has any more to
// Retire, and their series disappear from the next scrape. Observe neither allocates nor locks
// once a (code, node, matched uri/host, consumer, source) combination has been seen on a route: a
// per-route open-addressed table of atomic pointers finds the series, and the counters are
// atomics. The first request of a new combination takes the route's mutex and allocates its
// series. Everything is turned into Prometheus metrics at scrape time.
//
// Metrics exported (prefix "apisix_" by default, Options.Prefix as plugin_attr.prometheus.
// metric_prefix):
//
//   - apisix_http_status{code,route,matched_uri,matched_host,service,consumer,node,request_type,
//     request_llm_model,llm_model,response_source} counter
//   - apisix_http_latency{type=request|upstream|apisix,route,service,consumer,node,request_type,
//     request_llm_model,llm_model} histogram in milliseconds, buckets 1 … 60000
//   - apisix_bandwidth{type=ingress|egress,route,service,consumer,node,request_type,
//     request_llm_model,llm_model} counter in bytes
//   - apisix_http_current_connections{state=active|accepted|handled|reading|writing|waiting} and
//     apisix_http_requests_total, gauges fed by Conns
//   - apisix_etcd_reachable, apisix_etcd_modify_indexes{key}, apisix_node_info{hostname,version},
//     apisix_upstream_status{name,ip,port}
//   - zoneproxy_cp_endpoint_up{endpoint}, zoneproxy_cp_failovers_total{from,to},
//     zoneproxy_config_revision, zoneproxy_config_age_seconds, zoneproxy_config_rejected_total{kind}
//   - go_* and process_* from client_golang's collectors
//
// request_type is always "traditional_http" and request_llm_model and llm_model are always empty:
// zoneproxy has no AI plugins. Handler serves the registry on Options.Path (default
// "/apisix/prometheus/metrics") and on "/metrics".
//
// Concurrency: every method of Metrics, RouteMetrics and Conns is safe for concurrent use.
// Observe, Conns.ConnState and Conns.Enter are meant for the request path; the control-plane
// setters take a mutex and belong to the control-plane goroutines (they never block for long).
// The package starts no goroutines.
package metrics
