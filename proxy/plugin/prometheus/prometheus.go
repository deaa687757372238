// Package prometheus is APISIX's prometheus plugin (apache/apisix apisix/plugins/prometheus.lua):
// it marks the requests that go into apisix_http_status, apisix_http_latency and
// apisix_bandwidth. APISIX counts only the requests whose route, service, consumer or global
// rule carries the plugin (a global rule with it counts every request, 404s included); the
// metrics themselves are proxy/metrics', recorded by the proxy when the request ends
// (zoneproxy.metrics.count_all_requests counts every request without the plugin).
//
// Conf: prefer_name (false): the route and service labels are their names where they have one
// (the snapshot builder reads it when it labels a route's metrics). Phase: log, priority 500. The log phase sets Request.Counted;
// it allocates nothing.
package prometheus

import (
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Name and Priority are APISIX's.
const (
	Name     = "prometheus"
	Priority = 500
)

// Plugin is prometheus.
var Plugin plugin.Plugin = prom{}

type prom struct{}

func (prom) Name() string  { return Name }
func (prom) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	PreferName bool
}

func (prom) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	var conf Conf
	if conf.PreferName, err = c.Bool("prefer_name", false); err != nil {
		return nil, err
	}
	return &conf, nil
}

// Log marks the request as counted.
func (*Conf) Log(r *plugin.Request) { r.Counted = true }
