package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/ipset"
)

// Validate checks the values of c, as Parse does after decoding: ports,
// endpoint URLs, enumerations, durations and settings that go together. It
// returns nil, or one *Error per problem joined with errors.Join.
func (c *Config) Validate() error { return errors.Join(c.check(nil)...) }

type validator struct {
	lines map[string]int
	errs  []error
}

// line finds the line of key, or of its closest parent that has one.
func (v *validator) line(key string) int {
	for key != "" {
		if l, ok := v.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{Key: key, Line: v.line(key), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) listen(key string, a ListenAddr) {
	if net.ParseIP(a.IP) == nil {
		v.fail(key+".ip", "%q is not an IP address", a.IP)
	}
	v.port(key+".port", a.Port)
}

func (v *validator) port(key string, p int) {
	if p < 1 || p > 65535 {
		v.fail(key, "%d is not a port between 1 and 65535", p)
	}
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.fail(key, "must be greater than zero, got %v", d)
	}
}

func (v *validator) nonNegative(key string, d time.Duration) {
	if d < 0 {
		v.fail(key, "must not be negative, got %v", d)
	}
}

func (v *validator) oneOf(key, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.fail(key, "%q is not one of %s", got, strings.Join(allowed, ", "))
}

// check validates c; lines maps key paths to lines for the messages.
func (c *Config) check(lines map[string]int) []error {
	v := &validator{lines: lines}
	c.validateAPISIX(v)
	c.validateDeployment(v)
	c.validateAdmin(v)
	for i, p := range c.Plugins {
		if strings.TrimSpace(p) == "" {
			v.fail(indexPath("plugins", i), "a plugin name must not be empty")
		}
	}
	c.validatePrometheus(v)
	c.validatePorts(v)
	c.validateZoneproxy(v)
	return v.errs
}

func (c *Config) validateAPISIX(v *validator) {
	a := &c.APISIX
	if len(a.NodeListen) == 0 {
		v.fail("apisix.node_listen", "needs at least one address")
	}
	for i, l := range a.NodeListen {
		v.listen(indexPath("apisix.node_listen", i), l)
	}
	v.listen("apisix.status", a.Status)
	if strings.TrimSpace(a.SSL.TrustedCertificate) == "" {
		v.fail("apisix.ssl.ssl_trusted_certificate", `must be a file path or "system"`)
	}
	v.oneOf("apisix.router.http", string(a.Router.HTTP), string(RouterRadixtreeHostURI),
		string(RouterRadixtreeURI), string(RouterRadixtreeURIWithParameter))
	c.validateSSL(v)
}

// validateSSL checks the HTTPS listeners and the keyring.
func (c *Config) validateSSL(v *validator) {
	s := &c.APISIX.SSL
	if s.Enable {
		if len(s.Listen) == 0 {
			v.fail("apisix.ssl.listen", "needs at least one address while apisix.ssl.enable is true")
		}
		for i, l := range s.Listen {
			v.listen(indexPath("apisix.ssl.listen", i), l)
		}
	}
	if _, _, err := ParseProtocols(strings.Fields(s.Protocols)); err != nil {
		v.fail("apisix.ssl.ssl_protocols", "%v", err)
	}
	if _, _, err := ParseCiphers(s.Ciphers); err != nil {
		v.fail("apisix.ssl.ssl_ciphers", "%v", err)
	}
	if strings.ContainsAny(s.FallbackSNI, " \t/") {
		v.fail("apisix.ssl.fallback_sni", "%q is not a host name", s.FallbackSNI)
	}
	for i, k := range c.APISIX.DataEncryption.Keyring {
		if len(k) != 16 && len(k) != 32 {
			v.fail(indexPath("apisix.data_encryption.keyring", i), "must be 16 or 32 characters (AES-128 or AES-256), got %d", len(k))
		}
	}
	for i, k := range s.KeyEncryptSalt {
		if len(k) != 16 && len(k) != 32 {
			v.fail(indexPath("apisix.ssl.key_encrypt_salt", i), "must be 16 or 32 characters (AES-128 or AES-256), got %d", len(k))
		}
	}
}

func (c *Config) validateDeployment(v *validator) {
	d := &c.Deployment
	provider := func(key, got string) {
		switch {
		case got == ProviderEtcd, got == ProviderYAML:
		case got == ProviderJSON && d.Role == RoleDataPlane:
		case got == "":
			v.fail(key, "is required when deployment.role is %s", d.Role)
		case got == ProviderJSON:
			v.fail(key, "json is only a provider of deployment.role data_plane (file-driven standalone mode)")
		case got == "xds":
			v.fail(key, "xds is not supported; use etcd, yaml or json")
		default:
			v.fail(key, "%q is not one of etcd, yaml, json", got)
		}
	}
	switch d.Role {
	case RoleTraditional:
		provider("deployment.role_traditional.config_provider", d.RoleTraditional.ConfigProvider)
	case RoleDataPlane:
		provider("deployment.role_data_plane.config_provider", d.RoleDataPlane.ConfigProvider)
	case "control_plane":
		v.fail("deployment.role", "control_plane is not supported: zoneproxy is a data plane; use traditional or data_plane")
	case "standalone":
		v.fail("deployment.role", "standalone is not supported; use traditional or data_plane")
	default:
		v.fail("deployment.role", "%q is not one of traditional, data_plane", d.Role)
	}

	e := &d.Etcd
	hostKey := e.key()
	if len(e.Host) == 0 && d.Provider() == ProviderEtcd {
		v.fail(hostKey, "needs at least one endpoint")
	}
	for i, h := range e.Host {
		if _, err := ParseEndpoint(h); err != nil {
			v.fail(indexPath(hostKey, i), "%v", err)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") || strings.HasSuffix(e.Prefix, "/") {
		v.fail("deployment.etcd.prefix", `%q must start with "/" and must not end with "/"`, e.Prefix)
	}
	v.positive("deployment.etcd.timeout", e.Timeout)
	v.positive("deployment.etcd.watch_timeout", e.WatchTimeout)
	if e.StartupRetry < 1 {
		v.fail("deployment.etcd.startup_retry", "must be at least 1, got %d", e.StartupRetry)
	}
	v.nonNegative("deployment.etcd.resync_delay", e.ResyncDelay)
	v.nonNegative("deployment.etcd.health_check_timeout", e.HealthCheckTimeout)
	if e.Password != "" && e.User == "" {
		v.fail("deployment.etcd.password", "is set but deployment.etcd.user is not")
	}
	switch {
	case e.TLS.Cert != "" && e.TLS.Key == "":
		v.fail("deployment.etcd.tls.cert", "is set but deployment.etcd.tls.key is not")
	case e.TLS.Key != "" && e.TLS.Cert == "":
		v.fail("deployment.etcd.tls.key", "is set but deployment.etcd.tls.cert is not")
	}
}

func (c *Config) validatePrometheus(v *validator) {
	p := &c.Prometheus
	if !p.EnableExportServer {
		return
	}
	v.listen("plugin_attr.prometheus.export_addr", p.ExportAddr)
	if !strings.HasPrefix(p.ExportURI, "/") {
		v.fail("plugin_attr.prometheus.export_uri", `%q must start with "/"`, p.ExportURI)
	}
}

// validatePorts rejects a port used by two servers, as APISIX does
// (it compares ports only, whatever the IP).
func (c *Config) validatePorts(v *validator) {
	a := &c.APISIX
	for i, l := range a.NodeListen {
		if l.Port == a.Status.Port {
			v.fail("apisix.status.port", "port %d is also used by apisix.node_listen[%d]", l.Port, i)
		}
	}
	if a.SSL.Enable {
		for i, l := range a.SSL.Listen {
			key := indexPath("apisix.ssl.listen", i) + ".port"
			if l.Port == a.Status.Port {
				v.fail(key, "port %d is also used by apisix.status", l.Port)
			}
			for j, n := range a.NodeListen {
				if n.Port == l.Port {
					v.fail(key, "port %d is also used by apisix.node_listen[%d]", l.Port, j)
				}
			}
			if c.Prometheus.EnableExportServer && c.Prometheus.ExportAddr.Port == l.Port {
				v.fail(key, "port %d is also used by plugin_attr.prometheus.export_addr", l.Port)
			}
		}
	}
	if !c.Prometheus.EnableExportServer {
		return
	}
	p := c.Prometheus.ExportAddr.Port
	const key = "plugin_attr.prometheus.export_addr.port"
	if p == a.Status.Port {
		v.fail(key, "port %d is also used by apisix.status", p)
	}
	for i, l := range a.NodeListen {
		if l.Port == p {
			v.fail(key, "port %d is also used by apisix.node_listen[%d]", p, i)
		}
	}
}

func (c *Config) validateZoneproxy(v *validator) {
	z := &c.Zoneproxy
	if strings.TrimSpace(z.DataDir) == "" {
		v.fail("zoneproxy.data_dir", "must not be empty")
	}
	if c.Deployment.Standalone() == StandaloneFile && strings.TrimSpace(z.StandaloneFile) == "" {
		v.fail("zoneproxy.standalone_file", "must not be empty")
	}
	v.oneOf("zoneproxy.standalone_watch", z.StandaloneWatch, WatchInotify, WatchPoll)
	v.nonNegative("zoneproxy.failback_after", z.FailbackAfter)
	v.positive("zoneproxy.probe_interval", z.ProbeInterval)
	v.positive("zoneproxy.probe_timeout", z.ProbeTimeout)
	v.positive("zoneproxy.backoff_min", z.BackoffMin)
	v.positive("zoneproxy.backoff_max", z.BackoffMax)
	if z.BackoffMax > 0 && z.BackoffMin > z.BackoffMax {
		v.fail("zoneproxy.backoff_min", "%v is greater than zoneproxy.backoff_max (%v)", z.BackoffMin, z.BackoffMax)
	}
	v.nonNegative("zoneproxy.drain_delay", z.DrainDelay)
	v.nonNegative("zoneproxy.shutdown_timeout", z.ShutdownTimeout)
	switch z.Log.Level {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		v.fail("zoneproxy.log.level", "%v is not one of debug, info, warn, error", z.Log.Level)
	}
	v.oneOf("zoneproxy.log.format", string(z.Log.Format), string(LogText), string(LogJSON))
	v.oneOf("zoneproxy.cp_transport", string(z.CPTransport), string(TransportAuto), string(TransportGRPC), string(TransportHTTP))
	if math.IsNaN(z.ShrinkGuard) || z.ShrinkGuard < 0 || z.ShrinkGuard > 1 {
		v.fail("zoneproxy.shrink_guard", "must be between 0 and 1 (or 0%% and 100%%), got %v", z.ShrinkGuard)
	}
	v.nonNegative("zoneproxy.shrink_hold", z.ShrinkHold)
	v.nonNegative("zoneproxy.coalesce_window", z.CoalesceWindow)
	if z.CoalesceWindow > maxCoalesceWindow {
		v.fail("zoneproxy.coalesce_window", "must be at most %v, got %v", maxCoalesceWindow, z.CoalesceWindow)
	}
	v.oneOf("zoneproxy.unknown_plugins", string(z.UnknownPlugins), string(UnknownPluginsFail), string(UnknownPluginsIgnore))
	v.oneOf("zoneproxy.access_log.format", z.AccessLog.Format, "combined", "json")
	for i, f := range z.AccessLog.Fields {
		if !slices.Contains(AccessLogFields, f) {
			v.fail(indexPath("zoneproxy.access_log.fields", i), "%q is not one of %s", f, strings.Join(AccessLogFields, ", "))
		}
	}
	if z.AccessLog.BufferLines < 1 {
		v.fail("zoneproxy.access_log.buffer_lines", "must be at least 1, got %d", z.AccessLog.BufferLines)
	}
	for key, n := range map[string]int{"zoneproxy.limits.max_header_bytes": z.Limits.MaxHeaderBytes,
		"zoneproxy.limits.max_header_count": z.Limits.MaxHeaderCount, "zoneproxy.limits.max_uri_length": z.Limits.MaxURILength} {
		if n < 1 {
			v.fail(key, "must be at least 1, got %d", n)
		}
	}
	if z.Limits.MaxHeaderBytes > 0 && z.Limits.MaxHeaderBytes < 1024 {
		v.fail("zoneproxy.limits.max_header_bytes", "must be at least 1k, got %d", z.Limits.MaxHeaderBytes)
	}
	h := &c.HTTP
	if h.EnableAccessLog && strings.TrimSpace(h.AccessLog) == "" {
		v.fail("nginx_config.http.access_log", "must not be empty when enable_access_log is true")
	}
	v.positive("nginx_config.http.client_header_timeout", h.ClientHeaderTimeout)
	v.positive("nginx_config.http.client_body_timeout", h.ClientBodyTimeout)
	v.positive("nginx_config.http.send_timeout", h.SendTimeout)
	v.nonNegative("nginx_config.http.keepalive_timeout", h.KeepaliveTimeout)
	switch {
	case h.RealIPHeader == "proxy_protocol":
		// Ignoring it would make every client's address the load balancer's: a route's
		// remote_addrs allow-list would then admit everyone who comes through it.
		v.fail("nginx_config.http.real_ip_header", "proxy_protocol is not supported: zoneproxy does not accept the PROXY protocol; "+
			"use a header the load balancer sets, such as X-Forwarded-For")
	case !isToken(h.RealIPHeader):
		v.fail("nginx_config.http.real_ip_header", "%q is not a header name", h.RealIPHeader)
	}
	for i, p := range h.RealIPFrom {
		if !p.IsValid() {
			v.fail(indexPath("nginx_config.http.real_ip_from", i), "is not a valid address or CIDR")
		}
	}
}

// isToken reports whether s is an RFC 9110 token, the syntax of a header name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// AccessLogFields are the fields zoneproxy.access_log.fields may name.
var AccessLogFields = []string{"time", "remote_addr", "remote_user", "method", "uri", "protocol", "host",
	"status", "bytes", "request_time", "upstream_addr", "upstream_status", "upstream_response_time",
	"route_id", "request_id", "referer", "user_agent"}

func (c *Config) validateAdmin(v *validator) {
	a := &c.Deployment.Admin
	v.listen("deployment.admin.admin_listen", a.Listen)
	if _, err := ipset.Parse(a.Allow, ipset.Options{}); err != nil {
		v.fail("deployment.admin.allow_admin", "%v", err)
	}
	for i, k := range a.Keys {
		key := indexPath("deployment.admin.admin_key", i)
		if k.Name == "" {
			v.fail(key+".name", "is required")
		}
		v.oneOf(key+".role", k.Role, AdminRoleAdmin, AdminRoleViewer)
	}
	if a.KeyRequired && len(a.Keys) == 0 {
		v.fail("deployment.admin.admin_key", "needs at least one key when admin_key_required is true")
	}
}
