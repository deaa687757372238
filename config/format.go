package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// setting is one line of the printed configuration.
type setting struct {
	key   string
	value string
}

// settings lists the effective configuration under APISIX's key names, with
// the etcd password redacted.
func (c *Config) settings() []setting {
	a, e, p, z := &c.APISIX, &c.Deployment.Etcd, &c.Prometheus, &c.Zoneproxy
	listen := make([]string, 0, len(a.NodeListen))
	for _, l := range a.NodeListen {
		s := l.String()
		if l.IPv6 {
			s += " [::]:" + strconv.Itoa(l.Port)
		}
		listen = append(listen, s)
	}
	plugins := "(APISIX's default list)"
	if c.Plugins != nil {
		plugins = "[" + strings.Join(c.Plugins, " ") + "]"
	}
	str := func(v any) string { return fmt.Sprint(v) }
	return []setting{
		{"apisix.node_listen", "[" + strings.Join(listen, " ") + "]"},
		{"apisix.status", a.Status.String()},
		{"apisix.ssl.ssl_trusted_certificate", a.SSL.TrustedCertificate},
		{"apisix.router.http", string(a.Router.HTTP)},
		{"apisix.enable_server_tokens", str(a.EnableServerTokens)},
		{"deployment.role", string(c.Deployment.Role)},
		{"deployment.config_provider", c.Deployment.Provider()},
		{"deployment.etcd.host", "[" + strings.Join(e.Host, " ") + "]"},
		{"deployment.etcd.prefix", e.Prefix},
		{"deployment.etcd.timeout", str(e.Timeout)},
		{"deployment.etcd.watch_timeout", str(e.WatchTimeout)},
		{"deployment.etcd.startup_retry", str(e.StartupRetry)},
		{"deployment.etcd.resync_delay", str(e.ResyncDelay)},
		{"deployment.etcd.health_check_timeout", str(e.HealthCheckTimeout)},
		{"deployment.etcd.user", e.User},
		{"deployment.etcd.password", e.Password.String()},
		{"deployment.etcd.tls.cert", e.TLS.Cert},
		{"deployment.etcd.tls.key", e.TLS.Key},
		{"deployment.etcd.tls.verify", str(e.TLS.Verify)},
		{"deployment.etcd.tls.sni", e.TLS.SNI},
		{"plugins", plugins},
		{"plugin_attr.prometheus.enable_export_server", str(p.EnableExportServer)},
		{"plugin_attr.prometheus.export_addr", p.ExportAddr.String()},
		{"plugin_attr.prometheus.export_uri", p.ExportURI},
		{"plugin_attr.redirect.https_port", str(c.Redirect.HTTPSPort)},
		{"nginx_config.http.real_ip_header", c.HTTP.RealIPHeader},
		{"nginx_config.http.real_ip_recursive", onOff(c.HTTP.RealIPRecursive)},
		{"nginx_config.http.real_ip_from", realIPFrom(&c.HTTP)},
		{"zoneproxy.data_dir", z.DataDir},
		{"zoneproxy.failback_after", str(z.FailbackAfter)},
		{"zoneproxy.probe_interval", str(z.ProbeInterval)},
		{"zoneproxy.probe_timeout", str(z.ProbeTimeout)},
		{"zoneproxy.backoff_min", str(z.BackoffMin)},
		{"zoneproxy.backoff_max", str(z.BackoffMax)},
		{"zoneproxy.ready_requires_control_plane", str(z.ReadyRequiresControlPlane)},
		{"zoneproxy.drain_delay", str(z.DrainDelay)},
		{"zoneproxy.shutdown_timeout", str(z.ShutdownTimeout)},
		{"zoneproxy.log.level", strings.ToLower(z.Log.Level.String())},
		{"zoneproxy.log.format", string(z.Log.Format)},
		{"zoneproxy.cp_transport", string(z.CPTransport)},
		{"zoneproxy.shrink_guard", str(z.ShrinkGuard)},
		{"zoneproxy.shrink_hold", str(z.ShrinkHold)},
		{"zoneproxy.coalesce_window", str(z.CoalesceWindow)},
		{"zoneproxy.unknown_plugins", string(z.UnknownPlugins)},
		{"zoneproxy.metrics.count_all_requests", str(z.Metrics.CountAllRequests)},
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// realIPFrom prints real_ip_from as a list, an address without its /32 or /128.
func realIPFrom(h *HTTP) string {
	out := make([]string, 0, len(h.RealIPFrom)+1)
	for _, p := range h.RealIPFrom {
		if p.IsSingleIP() {
			out = append(out, p.Addr().String())
		} else {
			out = append(out, p.String())
		}
	}
	if h.RealIPFromUnix {
		out = append(out, "unix:")
	}
	return "[" + strings.Join(out, " ") + "]"
}

// String prints the effective configuration, one "key: value" per line,
// with the etcd password redacted.
func (c *Config) String() string {
	var b strings.Builder
	for _, s := range c.settings() {
		b.WriteString(s.key)
		b.WriteString(": ")
		b.WriteString(s.value)
		b.WriteByte('\n')
	}
	return b.String()
}

// GoString makes %#v print String's redacted form too.
func (c *Config) GoString() string { return c.String() }

// LogValue makes a *Config log as a group of its settings, with the etcd
// password redacted.
func (c *Config) LogValue() slog.Value {
	s := c.settings()
	attrs := make([]slog.Attr, 0, len(s))
	for _, kv := range s {
		attrs = append(attrs, slog.String(kv.key, kv.value))
	}
	return slog.GroupValue(attrs...)
}
