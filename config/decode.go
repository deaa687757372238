package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// This file maps config.yaml's keys onto Config. Each section is a switch
// over its keys: a key zoneproxy reads, an APISIX key it ignores (recorded in
// Config.Ignored, with a warning when a non-default value changes
// behaviour), or an unknown key (a warning). To add a setting, add a field
// to the struct in config.go, its default to Default, a case here and its
// checks to validate.go.

func (d *decoder) root(c *Config, n *yaml.Node) {
	for _, f := range d.fields("", n) {
		switch f.key {
		case "apisix":
			d.apisix(c, f)
		case "deployment":
			d.deployment(c, f)
		case "plugin_attr":
			d.pluginAttr(c, f)
		case "plugins":
			d.strList(f.path, f.v, &c.Plugins)
		case "zoneproxy":
			d.zoneproxy(c, f)
		case "nginx_config":
			d.nginxConfig(c, f)
		case "stream_plugins", "graphql", "wasm", "xrpc", "ext-plugin", "http":
			d.ignore(f)
		case "discovery":
			d.ignoreUnless(f, nil)
		case "etcd":
			d.ignore(f)
			d.warnf("etcd (line %d) is APISIX 2.x syntax and is ignored; use deployment.etcd", f.k.Line)
		default:
			d.unknown(f)
		}
	}
}

func (d *decoder) apisix(c *Config, sec field) {
	a := &c.APISIX
	var nodeListen *field
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "node_listen":
			nodeListen = &f
		case "enable_ipv6":
			d.boolean(f.path, f.v, &a.EnableIPv6)
		case "status":
			d.listenAddr(f, &a.Status)
		case "ssl":
			d.ssl(c, f)
		case "router":
			d.router(c, f)
		case "enable_server_tokens":
			d.boolean(f.path, f.v, &a.EnableServerTokens)
		case "enable_http2":
			d.boolean(f.path, f.v, &a.EnableHTTP2)
		case "data_encryption":
			d.dataEncryption(c, f)
		case "delete_uri_tail_slash", "normalize_uri_like_servlet", "match_uri_encoded_slash",
			"show_upstream_status_in_response_header", "disable_upstream_healthcheck":
			d.ignoreUnless(f, false)
		case "proxy_mode":
			d.ignoreUnless(f, "http")
		case "stream_proxy", "proxy_protocol", "trusted_addresses":
			d.ignoreUnless(f, nil)
		case "enable_admin", "enable_dev_mode", "enable_reuseport",
			"extra_lua_path", "extra_lua_cpath", "lua_module_hook", "proxy_cache",
			"max_post_args_readable_size", "dns_resolver", "dns_resolver_valid",
			"resolver_timeout", "enable_resolv_search_opt", "enable_control", "control",
			"disable_sync_configuration_during_start", "worker_startup_time_threshold",
			"lru", "tracing", "events", "id":
			d.ignore(f)
		default:
			d.unknown(f)
		}
	}
	if nodeListen != nil {
		d.nodeListen(*nodeListen, defaultNodeListenPort, &a.NodeListen)
	}
	for _, l := range [][]ListenAddr{a.NodeListen, a.SSL.Listen} {
		for i := range l {
			if l[i].IPv6 {
				l[i].IPv6 = a.EnableIPv6
			}
		}
	}
}

// nodeListen decodes apisix.node_listen (or apisix.ssl.listen) into dst: a
// port, a list of ports, or a list of {ip, port} (ip defaults to 0.0.0.0,
// port to defPort). IPv6 is set on entries without an ip and corrected once
// enable_ipv6 is known.
func (d *decoder) nodeListen(f field, defPort int, dst *[]ListenAddr) {
	n := deref(f.v)
	if n == nil || isNull(n) {
		return
	}
	const want = "a port, a list of ports or a list of {ip, port}"
	errsBefore := len(d.errs)
	var out []ListenAddr
	add := func(a ListenAddr) {
		for i, b := range out {
			if b.IP == a.IP && b.Port == a.Port {
				out[i].IPv6 = b.IPv6 || a.IPv6
				return
			}
		}
		out = append(out, a)
	}
	port := func(path string, n *yaml.Node) {
		a := ListenAddr{IP: defaultListenIP, Port: -1, IPv6: true}
		d.integer(path, n, &a.Port)
		if a.Port != -1 {
			add(a)
		}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		d.lines[indexPath(f.path, 0)] = n.Line
		port(f.path, n)
	case yaml.SequenceNode:
		for i, e := range n.Content {
			p := indexPath(f.path, i)
			e = deref(e)
			if e == nil {
				continue
			}
			d.lines[p] = e.Line
			switch e.Kind {
			case yaml.ScalarNode:
				port(p, e)
			case yaml.MappingNode:
				a := ListenAddr{IP: defaultListenIP, Port: defPort, IPv6: true}
				for _, g := range d.fields(p, e) {
					switch g.key {
					case "ip":
						ip := ""
						d.str(g.path, g.v, &ip)
						if ip != "" {
							a.IP, a.IPv6 = trimBrackets(ip), false
						}
					case "port":
						d.integer(g.path, g.v, &a.Port)
					case "enable_http2":
						d.errorf(g.path, g.k, "port-level enable_http2 is no longer supported (APISIX 3.9); use apisix.enable_http2")
					case "enable_http3":
						d.ignoreUnless(g, false)
					default:
						d.unknown(g)
					}
				}
				add(a)
			default:
				d.errorf(p, e, "expected a port or {ip, port}, got %s", d.describe(e))
			}
		}
	default:
		d.errorf(f.path, n, "expected %s, got %s", want, d.describe(n))
		return
	}
	if len(d.errs) == errsBefore {
		*dst = out
	}
}

// listenAddr decodes an {ip, port} mapping over the defaults in dst.
func (d *decoder) listenAddr(f field, dst *ListenAddr) {
	for _, g := range d.fields(f.path, f.v) {
		switch g.key {
		case "ip":
			ip := ""
			d.str(g.path, g.v, &ip)
			if ip != "" {
				dst.IP = trimBrackets(ip)
			}
		case "port":
			d.integer(g.path, g.v, &dst.Port)
		default:
			d.unknown(g)
		}
	}
}

func trimBrackets(ip string) string {
	if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
		return ip[1 : len(ip)-1]
	}
	return ip
}

func (d *decoder) ssl(c *Config, sec field) {
	s := &c.APISIX.SSL
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "ssl_trusted_certificate":
			d.str(f.path, f.v, &s.TrustedCertificate)
		case "enable":
			d.boolean(f.path, f.v, &s.Enable)
		case "listen":
			d.nodeListen(f, defaultSSLListenPort, &s.Listen)
		case "ssl_protocols":
			d.str(f.path, f.v, &s.Protocols)
		case "ssl_ciphers":
			d.str(f.path, f.v, &s.Ciphers)
			if _, skipped, err := ParseCiphers(s.Ciphers); err == nil && len(skipped) > 0 {
				d.warnf("%s (line %d): %s not implemented by Go's crypto/tls and left out (TLS 1.3 suites cannot be chosen in Go)",
					f.path, f.k.Line, strings.Join(skipped, ", "))
			}
		case "ssl_session_tickets":
			d.boolean(f.path, f.v, &s.SessionTickets)
		case "fallback_sni":
			d.str(f.path, f.v, &s.FallbackSNI)
		case "key_encrypt_salt":
			d.strOrList(f, &s.KeyEncryptSalt)
		case "ssl_session_cache", "ssl_session_timeout":
			d.ignore(f)
		default:
			d.unknown(f)
		}
	}
}

// dataEncryption decodes apisix.data_encryption.
func (d *decoder) dataEncryption(c *Config, sec field) {
	de := &c.APISIX.DataEncryption
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "enable_encrypt_fields":
			d.boolean(f.path, f.v, &de.EnableEncryptFields)
		case "keyring":
			if v := deref(f.v); v != nil && isNull(v) {
				de.Keyring = []string{} // keyring: null removes APISIX's default
				continue
			}
			d.strOrList(f, &de.Keyring)
		default:
			d.unknown(f)
		}
	}
}

// strOrList decodes a string or a list of strings into dst; null leaves dst unchanged.
func (d *decoder) strOrList(f field, dst *[]string) {
	if v := deref(f.v); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
		var s string
		d.str(f.path, v, &s)
		*dst = []string{s}
		return
	}
	d.strList(f.path, f.v, dst)
}

func (d *decoder) router(c *Config, sec field) {
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "http":
			s := string(c.APISIX.Router.HTTP)
			d.str(f.path, f.v, &s)
			c.APISIX.Router.HTTP = HTTPRouter(s)
		case "ssl":
			d.ignore(f)
		default:
			d.unknown(f)
		}
	}
}

func (d *decoder) deployment(c *Config, sec field) {
	dep := &c.Deployment
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "role":
			s := string(dep.Role)
			d.str(f.path, f.v, &s)
			dep.Role = Role(s)
		case "role_traditional":
			d.roleConfig(f, &dep.RoleTraditional)
		case "role_data_plane":
			d.roleConfig(f, &dep.RoleDataPlane)
		case "role_control_plane":
			d.ignore(f)
		case "admin":
			d.admin(&dep.Admin, f)
		case "etcd":
			d.etcd(c, f)
		case "certs":
			d.ignore(f)
			d.warnf("%s (line %d) is not used by zoneproxy; set deployment.etcd.tls and apisix.ssl.ssl_trusted_certificate instead",
				f.path, f.k.Line)
		case "fallback_cp":
			d.ignoreUnless(f, nil)
		default:
			d.unknown(f)
		}
	}
}

func (d *decoder) admin(a *Admin, sec field) {
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "admin_listen":
			d.listenAddr(f, &a.Listen)
		case "allow_admin":
			d.strList(f.path, f.v, &a.Allow)
		case "admin_key_required":
			d.boolean(f.path, f.v, &a.KeyRequired)
		case "admin_key":
			items, ok := d.list(f.path, f.v, "a list of {name, key, role}")
			if !ok {
				continue
			}
			a.Keys = a.Keys[:0]
			for i, item := range items {
				path := fmt.Sprintf("%s[%d]", f.path, i)
				k := AdminKey{Role: AdminRoleAdmin}
				for _, g := range d.fields(path, item) {
					switch g.key {
					case "name":
						d.str(g.path, g.v, &k.Name)
					case "key":
						d.str(g.path, g.v, &k.Key)
					case "role":
						d.str(g.path, g.v, &k.Role)
					default:
						d.unknown(g)
					}
				}
				a.Keys = append(a.Keys, k)
			}
		case "enable_admin_cors", "enable_admin_ui", "admin_api_version", "admin_listen_ipv6",
			"https_admin", "admin_api_mtls", "admin_ssl_cert", "admin_ssl_cert_key":
			d.ignore(f)
		default:
			d.unknown(f)
		}
	}
}

func (d *decoder) roleConfig(sec field, dst *RoleConfig) {
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "config_provider":
			d.str(f.path, f.v, &dst.ConfigProvider)
		default:
			d.unknown(f)
		}
	}
}

func (d *decoder) etcd(c *Config, sec field) {
	e := &c.Deployment.Etcd
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "host":
			d.strList(f.path, f.v, &e.Host)
		case "prefix":
			d.str(f.path, f.v, &e.Prefix)
		case "timeout":
			d.duration(f.path, f.v, &e.Timeout)
		case "watch_timeout":
			d.duration(f.path, f.v, &e.WatchTimeout)
		case "startup_retry":
			d.integer(f.path, f.v, &e.StartupRetry)
		case "resync_delay":
			d.apisixDefaultIfNegative(f, &e.ResyncDelay)
		case "health_check_timeout":
			d.apisixDefaultIfNegative(f, &e.HealthCheckTimeout)
		case "user":
			d.str(f.path, f.v, &e.User)
		case "password":
			s := string(e.Password)
			d.str(f.path, f.v, &s)
			e.Password = Secret(s)
		case "tls":
			d.etcdTLS(f, &e.TLS)
		case "use_grpc":
			d.ignore(f)
		default:
			d.unknown(f)
		}
	}
}

// apisixDefaultIfNegative decodes a duration that APISIX resets to its
// default when negative (resync_delay, health_check_timeout).
func (d *decoder) apisixDefaultIfNegative(f field, dst *time.Duration) {
	v := *dst
	d.duration(f.path, f.v, &v)
	if v < 0 {
		d.warnf("%s (line %d) is negative; the default %v is used, as in APISIX", f.path, f.k.Line, *dst)
		return
	}
	*dst = v
}

func (d *decoder) etcdTLS(sec field, dst *EtcdTLS) {
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "cert":
			d.str(f.path, f.v, &dst.Cert)
		case "key":
			d.str(f.path, f.v, &dst.Key)
		case "verify":
			d.boolean(f.path, f.v, &dst.Verify)
		case "sni":
			d.str(f.path, f.v, &dst.SNI)
		default:
			d.unknown(f)
		}
	}
}

func (d *decoder) pluginAttr(c *Config, sec field) {
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "prometheus":
			d.prometheus(c, f)
		case "redirect":
			d.redirect(c, f)
		default:
			d.ignore(f)
		}
	}
}

func (d *decoder) redirect(c *Config, sec field) {
	for _, f := range d.fields(sec.path, sec.v) {
		if f.key == "https_port" {
			d.integer(f.path, f.v, &c.Redirect.HTTPSPort)
			continue
		}
		d.unknown(f)
	}
}

func (d *decoder) prometheus(c *Config, sec field) {
	p := &c.Prometheus
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "export_uri":
			d.str(f.path, f.v, &p.ExportURI)
		case "enable_export_server":
			d.boolean(f.path, f.v, &p.EnableExportServer)
		case "export_addr":
			d.listenAddr(f, &p.ExportAddr)
		case "metric_prefix":
			d.ignoreUnless(f, defaultPrometheusMetricPrefix)
		case "refresh_interval", "metrics", "default_buckets",
			"llm_prompt_tokens_buckets", "llm_completion_tokens_buckets":
			d.ignore(f)
		default:
			d.unknown(f)
		}
	}
}

func (d *decoder) zoneproxy(c *Config, sec field) {
	z := &c.Zoneproxy
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "data_dir":
			d.str(f.path, f.v, &z.DataDir)
		case "standalone_file":
			d.str(f.path, f.v, &z.StandaloneFile)
		case "standalone_watch":
			d.str(f.path, f.v, &z.StandaloneWatch)
		case "failback_after":
			d.duration(f.path, f.v, &z.FailbackAfter)
		case "probe_interval":
			d.duration(f.path, f.v, &z.ProbeInterval)
		case "probe_timeout":
			d.duration(f.path, f.v, &z.ProbeTimeout)
		case "backoff_min":
			d.duration(f.path, f.v, &z.BackoffMin)
		case "backoff_max":
			d.duration(f.path, f.v, &z.BackoffMax)
		case "ready_requires_control_plane":
			d.boolean(f.path, f.v, &z.ReadyRequiresControlPlane)
		case "drain_delay":
			d.duration(f.path, f.v, &z.DrainDelay)
		case "shutdown_timeout":
			d.duration(f.path, f.v, &z.ShutdownTimeout)
		case "log":
			d.log(f, &z.Log)
		case "cp_transport":
			s := string(z.CPTransport)
			d.str(f.path, f.v, &s)
			z.CPTransport = Transport(s)
		case "shrink_guard":
			d.fraction(f.path, f.v, &z.ShrinkGuard)
		case "shrink_hold":
			d.duration(f.path, f.v, &z.ShrinkHold)
		case "coalesce_window":
			d.duration(f.path, f.v, &z.CoalesceWindow)
		case "unknown_plugins":
			s := string(z.UnknownPlugins)
			d.str(f.path, f.v, &s)
			z.UnknownPlugins = UnknownPlugins(s)
		case "access_log":
			for _, g := range d.fields(f.path, f.v) {
				switch g.key {
				case "format":
					d.str(g.path, g.v, &z.AccessLog.Format)
				case "fields":
					d.strList(g.path, g.v, &z.AccessLog.Fields)
				case "buffer_lines":
					d.integer(g.path, g.v, &z.AccessLog.BufferLines)
				default:
					d.unknown(g)
				}
			}
		case "limits":
			for _, g := range d.fields(f.path, f.v) {
				var n int64
				switch g.key {
				case "max_header_bytes":
					d.size(g.path, g.v, &n)
					z.Limits.MaxHeaderBytes = int(n)
				case "max_header_count":
					d.integer(g.path, g.v, &z.Limits.MaxHeaderCount)
				case "max_uri_length":
					d.size(g.path, g.v, &n)
					z.Limits.MaxURILength = int(n)
				default:
					d.unknown(g)
				}
			}
		case "metrics":
			for _, g := range d.fields(f.path, f.v) {
				switch g.key {
				case "count_all_requests":
					d.boolean(g.path, g.v, &z.Metrics.CountAllRequests)
				default:
					d.unknown(g)
				}
			}
		case "memory_limit":
			d.size(f.path, f.v, &z.MemoryLimit)
		default:
			d.unknown(f)
		}
	}
}

// nginxConfig reads the nginx_config.http settings that apply to zoneproxy's own server; the rest
// of nginx_config (workers, buffers, lua settings, ...) is listed as ignored.
func (d *decoder) nginxConfig(c *Config, sec field) {
	if v := deref(sec.v); v == nil || v.Kind != yaml.MappingNode {
		d.ignore(sec) // not APISIX's shape; nothing in it is ours
		return
	}
	for _, f := range d.fields(sec.path, sec.v) {
		if f.key != "http" {
			d.ignore(f)
			continue
		}
		h := &c.HTTP
		for _, g := range d.fields(f.path, f.v) {
			switch g.key {
			case "enable_access_log":
				d.boolean(g.path, g.v, &h.EnableAccessLog)
			case "access_log":
				d.str(g.path, g.v, &h.AccessLog)
			case "client_max_body_size":
				d.size(g.path, g.v, &h.ClientMaxBodySize)
			case "client_header_timeout":
				d.duration(g.path, g.v, &h.ClientHeaderTimeout)
			case "client_body_timeout":
				d.duration(g.path, g.v, &h.ClientBodyTimeout)
			case "send_timeout":
				d.duration(g.path, g.v, &h.SendTimeout)
			case "keepalive_timeout":
				d.duration(g.path, g.v, &h.KeepaliveTimeout)
			case "real_ip_header":
				d.str(g.path, g.v, &h.RealIPHeader)
			case "real_ip_recursive":
				d.onOff(g.path, g.v, &h.RealIPRecursive)
			case "real_ip_from":
				d.realIPFrom(g, h)
			case "access_log_format":
				if s := deref(g.v); s != nil && s.Kind == yaml.ScalarNode && !strings.HasPrefix(s.Value, "$remote_addr - $remote_user [$time_local]") {
					d.warnf("%s (line %d): zoneproxy writes nginx's combined format or JSON (zoneproxy.access_log.format), not a custom log_format", g.path, g.k.Line)
				}
				d.ignore(g)
			default:
				d.ignore(g)
			}
		}
	}
}

// realIPFrom decodes real_ip_from: a list of IPv4 or IPv6 addresses or CIDRs, and "unix:", as
// nginx's set_real_ip_from takes them. Host names, which nginx would resolve once at start, are
// refused. A null value trusts no peer: in APISIX it removes the default list, and with it every
// set_real_ip_from line.
func (d *decoder) realIPFrom(f field, h *HTTP) {
	if n := deref(f.v); n == nil || isNull(n) {
		h.RealIPFrom, h.RealIPFromUnix = []netip.Prefix{}, false
		return
	}
	const want = `a list of addresses, CIDRs or "unix:"`
	items, ok := d.list(f.path, f.v, want)
	if !ok {
		return
	}
	from, unix, good := []netip.Prefix{}, false, true
	for i, it := range items {
		p := indexPath(f.path, i)
		s := deref(it)
		if s == nil || s.Kind != yaml.ScalarNode || isNull(s) {
			if s == nil {
				s = it
			}
			d.errorf(p, s, "expected an address, a CIDR or \"unix:\", got %s", d.describe(s))
			good = false
			continue
		}
		d.lines[p] = s.Line
		if s.Value == "unix:" {
			unix = true
			continue
		}
		pfx, err := parseTrusted(s.Value)
		if err != nil {
			d.errorf(p, s, "%v", err)
			good = false
			continue
		}
		if m := pfx.Masked(); m != pfx {
			// nginx: "low address bits of ... are meaningless", and the mask applies.
			d.warnf("%s (line %d): low address bits of %s are meaningless; %s is used", p, s.Line, s.Value, m)
			pfx = m
		}
		if pfx.Addr().Is4In6() {
			d.warnf("%s (line %d): %s is an IPv4-mapped IPv6 address, which never matches a peer (as in nginx); write the IPv4 form",
				p, s.Line, s.Value)
		}
		from = append(from, pfx)
	}
	if good {
		h.RealIPFrom, h.RealIPFromUnix = from, unix
	}
}

// parseTrusted parses one real_ip_from entry other than "unix:": an address or a CIDR.
func parseTrusted(s string) (netip.Prefix, error) {
	v := strings.TrimSpace(s)
	if strings.Contains(v, "/") {
		if p, err := netip.ParsePrefix(v); err == nil {
			return p, nil
		}
	} else if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not an IP address, a CIDR or \"unix:\" (host names are not resolved)", s)
}

func (d *decoder) log(sec field, dst *Log) {
	for _, f := range d.fields(sec.path, sec.v) {
		switch f.key {
		case "level":
			s := ""
			d.str(f.path, f.v, &s)
			if s == "" {
				continue
			}
			lvl, ok := parseLevel(s)
			if !ok {
				d.errorf(f.path, f.v, "%q is not one of debug, info, warn, error", s)
				continue
			}
			dst.Level = lvl
		case "format":
			s := string(dst.Format)
			d.str(f.path, f.v, &s)
			dst.Format = LogFormat(s)
		default:
			d.unknown(f)
		}
	}
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}
