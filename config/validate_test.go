package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// leaves flattens errors joined with errors.Join.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		env     map[string]string
		key     string
		line    int    // checked when not 0
		msgPart string // checked when not ""
	}{
		// nginx_config.http, zoneproxy.access_log, zoneproxy.limits
		{name: "body size not a size", src: "nginx_config: {http: {client_max_body_size: 1t}}", key: "nginx_config.http.client_max_body_size",
			msgPart: "expected a size"},
		{name: "negative body size", src: "nginx_config: {http: {client_max_body_size: -1}}", key: "nginx_config.http.client_max_body_size"},
		{name: "header timeout zero", src: "nginx_config: {http: {client_header_timeout: 0}}", key: "nginx_config.http.client_header_timeout"},
		{name: "access log enabled without a path", src: "nginx_config: {http: {enable_access_log: true, access_log: \"\"}}",
			key: "nginx_config.http.access_log"},
		{name: "access log format", src: "zoneproxy: {access_log: {format: xml}}", key: "zoneproxy.access_log.format"},
		{name: "access log field", src: "zoneproxy: {access_log: {fields: [time, colour]}}", key: "zoneproxy.access_log.fields[1]",
			msgPart: `"colour" is not one of`},
		{name: "access log buffer", src: "zoneproxy: {access_log: {buffer_lines: 0}}", key: "zoneproxy.access_log.buffer_lines"},
		{name: "header bytes too small", src: "zoneproxy: {limits: {max_header_bytes: 100}}", key: "zoneproxy.limits.max_header_bytes"},
		{name: "header count zero", src: "zoneproxy: {limits: {max_header_count: 0}}", key: "zoneproxy.limits.max_header_count"},
		{name: "memory limit", src: "zoneproxy: {memory_limit: lots}", key: "zoneproxy.memory_limit"},
		// nginx_config.http real-IP settings (issue 20 item 8)
		{name: "real_ip_header proxy_protocol", src: "nginx_config: {http: {real_ip_header: proxy_protocol}}",
			key: "nginx_config.http.real_ip_header", line: 1, msgPart: "PROXY protocol"},
		{name: "real_ip_header empty", src: "nginx_config: {http: {real_ip_header: ''}}", key: "nginx_config.http.real_ip_header",
			msgPart: "not a header name"},
		{name: "real_ip_header with a space", src: "nginx_config: {http: {real_ip_header: 'X Real IP'}}",
			key: "nginx_config.http.real_ip_header", msgPart: "not a header name"},
		{name: "real_ip_header a list", src: "nginx_config: {http: {real_ip_header: [X-Real-IP]}}",
			key: "nginx_config.http.real_ip_header", msgPart: "expected a string"},
		{name: "real_ip_recursive not a flag", src: "nginx_config: {http: {real_ip_recursive: maybe}}",
			key: "nginx_config.http.real_ip_recursive", msgPart: `expected "on" or "off"`},
		{name: "real_ip_from a string", src: "nginx_config: {http: {real_ip_from: 127.0.0.1}}",
			key: "nginx_config.http.real_ip_from", msgPart: "expected a list"},
		{name: "real_ip_from host name", src: "nginx_config:\n  http:\n    real_ip_from:\n      - 127.0.0.1\n      - lb.internal\n",
			key: "nginx_config.http.real_ip_from[1]", line: 5, msgPart: `"lb.internal" is not an IP address, a CIDR or "unix:"`},
		{name: "real_ip_from bad mask", src: "nginx_config: {http: {real_ip_from: [10.0.0.0/33]}}",
			key: "nginx_config.http.real_ip_from[0]", msgPart: "not an IP address"},
		{name: "real_ip_from zone", src: "nginx_config: {http: {real_ip_from: ['fe80::1%eth0']}}",
			key: "nginx_config.http.real_ip_from[0]"},
		{name: "real_ip_from a mapping entry", src: "nginx_config: {http: {real_ip_from: [{ip: 10.0.0.1}]}}",
			key: "nginx_config.http.real_ip_from[0]", msgPart: "expected an address"},
		// apisix
		{name: "node_listen port 0", src: "apisix: {node_listen: 0}", key: "apisix.node_listen[0].port", line: 1},
		{name: "node_listen port too big", src: "apisix:\n  node_listen:\n    - 9080\n    - 70000\n",
			key: "apisix.node_listen[1].port", line: 4, msgPart: "70000 is not a port between 1 and 65535"},
		{name: "node_listen port in mapping", src: "apisix: {node_listen: [{port: -1}]}", key: "apisix.node_listen[0].port"},
		{name: "node_listen bad ip", src: "apisix: {node_listen: [{ip: local, port: 80}]}", key: "apisix.node_listen[0].ip",
			msgPart: "not an IP address"},
		{name: "node_listen string", src: "apisix: {node_listen: '9080'}", key: "apisix.node_listen", msgPart: "expected an integer"},
		{name: "node_listen mapping", src: "apisix: {node_listen: {port: 1}}", key: "apisix.node_listen",
			msgPart: "a list of {ip, port}"},
		{name: "node_listen fractional", src: "apisix: {node_listen: [80.5]}", key: "apisix.node_listen[0]"},
		{name: "node_listen empty list", src: "apisix: {node_listen: []}", key: "apisix.node_listen"},
		{name: "node_listen port-level enable_http2", src: "apisix: {node_listen: [{port: 80, enable_http2: true}]}",
			key: "apisix.node_listen[0].enable_http2"},
		{name: "status port 0", src: "apisix:\n  status:\n    port: 0\n", key: "apisix.status.port", line: 3},
		{name: "status port string", src: "apisix: {status: {port: abc}}", key: "apisix.status.port", msgPart: `string "abc"`},
		{name: "status ip", src: "apisix: {status: {ip: 'not an ip'}}", key: "apisix.status.ip"},
		{name: "status not a mapping", src: "apisix: {status: 7085}", key: "apisix.status", msgPart: "expected a mapping"},
		{name: "status port taken by node_listen", src: "apisix: {node_listen: 7085}", key: "apisix.status.port",
			msgPart: "apisix.node_listen[0]"},
		{name: "prometheus port taken by status", src: "plugin_attr: {prometheus: {export_addr: {port: 7085}}}",
			key: "plugin_attr.prometheus.export_addr.port"},
		{name: "prometheus port taken by node_listen", src: "apisix: {node_listen: [9091]}",
			key: "plugin_attr.prometheus.export_addr.port"},
		{name: "prometheus port 0", src: "plugin_attr: {prometheus: {export_addr: {port: 0}}}",
			key: "plugin_attr.prometheus.export_addr.port"},
		{name: "prometheus export_uri", src: "plugin_attr: {prometheus: {export_uri: metrics}}",
			key: "plugin_attr.prometheus.export_uri"},
		{name: "prometheus enable_export_server", src: "plugin_attr: {prometheus: {enable_export_server: 2}}",
			key: "plugin_attr.prometheus.enable_export_server", msgPart: "expected a boolean"},
		{name: "router", src: "apisix: {router: {http: radixtree_host}}", key: "apisix.router.http",
			msgPart: `"radixtree_host" is not one of`},
		{name: "enable_server_tokens", src: "apisix: {enable_server_tokens: 'true'}", key: "apisix.enable_server_tokens"},
		{name: "ssl_trusted_certificate empty", src: "apisix: {ssl: {ssl_trusted_certificate: ''}}",
			key: "apisix.ssl.ssl_trusted_certificate"},
		{name: "ssl_trusted_certificate list", src: "apisix: {ssl: {ssl_trusted_certificate: [a]}}",
			key: "apisix.ssl.ssl_trusted_certificate", msgPart: "expected a string, got a list"},
		{name: "apisix not a mapping", src: "apisix: 5", key: "apisix", line: 1},
		{name: "merge of a scalar", src: "zoneproxy: {<<: 5}", key: "zoneproxy", msgPart: "merge key"},
		{name: "merge of a list of scalars", src: "zoneproxy: {<<: [a]}", key: "zoneproxy", msgPart: "merge key"},
		{name: "top level list", src: "- a\n- b\n", key: "", line: 1, msgPart: "expected a mapping"},
		{name: "yaml syntax", src: "apisix:\n  node_listen: [9080\n", key: "", msgPart: "invalid YAML"},

		// deployment
		{name: "role control_plane", src: "deployment: {role: control_plane}", key: "deployment.role",
			msgPart: "zoneproxy is a data plane"},
		{name: "role standalone", src: "deployment: {role: standalone}", key: "deployment.role"},
		{name: "role unknown", src: "deployment: {role: edge}", key: "deployment.role"},
		{name: "traditional json provider", src: "deployment: {role_traditional: {config_provider: json}}",
			key: "deployment.role_traditional.config_provider", msgPart: "only a provider of deployment.role data_plane"},
		{name: "traditional unknown provider", src: "deployment: {role_traditional: {config_provider: consul}}",
			key: "deployment.role_traditional.config_provider"},
		{name: "data plane without provider", src: "deployment: {role: data_plane}",
			key: "deployment.role_data_plane.config_provider", msgPart: "is required"},
		{name: "data plane xds provider", src: "deployment: {role: data_plane, role_data_plane: {config_provider: xds}}",
			key: "deployment.role_data_plane.config_provider"},
		{name: "host empty", src: "deployment: {etcd: {host: []}}", key: "deployment.etcd.host", msgPart: "at least one"},
		{name: "host not a list", src: "deployment: {etcd: {host: 'http://a:1'}}", key: "deployment.etcd.host",
			msgPart: "expected a list of strings"},
		{name: "host not a URL", src: "deployment:\n  etcd:\n    host:\n      - http://a:2379\n      - foo:2379\n",
			key: "deployment.etcd.host[1]", line: 5, msgPart: `"foo:2379" is not a URL with scheme http or https`},
		{name: "host with path", src: "deployment: {etcd: {host: ['http://a:2379/v3']}}", key: "deployment.etcd.host[0]"},
		{name: "host port 0", src: "deployment: {etcd: {host: ['http://a:0']}}", key: "deployment.etcd.host[0]"},
		{name: "host item mapping", src: "deployment: {etcd: {host: [{url: x}]}}", key: "deployment.etcd.host[0]"},
		{name: "prefix relative", src: "deployment: {etcd: {prefix: apisix}}", key: "deployment.etcd.prefix"},
		{name: "prefix trailing slash", src: "deployment: {etcd: {prefix: /apisix/}}", key: "deployment.etcd.prefix"},
		{name: "prefix slash", src: "deployment: {etcd: {prefix: /}}", key: "deployment.etcd.prefix"},
		{name: "timeout 0", src: "deployment: {etcd: {timeout: 0}}", key: "deployment.etcd.timeout", msgPart: "greater than zero"},
		{name: "timeout negative", src: "deployment: {etcd: {timeout: -1}}", key: "deployment.etcd.timeout"},
		{name: "timeout string", src: "deployment: {etcd: {timeout: soon}}", key: "deployment.etcd.timeout"},
		{name: "timeout overflow", src: "deployment: {etcd: {timeout: 1e300}}", key: "deployment.etcd.timeout",
			msgPart: "out of range"},
		{name: "timeout infinite", src: "deployment: {etcd: {timeout: .inf}}", key: "deployment.etcd.timeout"},
		{name: "watch_timeout 0", src: "deployment: {etcd: {watch_timeout: 0}}", key: "deployment.etcd.watch_timeout"},
		{name: "startup_retry 0", src: "deployment: {etcd: {startup_retry: 0}}", key: "deployment.etcd.startup_retry"},
		{name: "startup_retry fraction", src: "deployment: {etcd: {startup_retry: 1.5}}", key: "deployment.etcd.startup_retry",
			msgPart: "expected an integer"},
		{name: "startup_retry huge", src: "deployment: {etcd: {startup_retry: 99999999999}}", key: "deployment.etcd.startup_retry",
			msgPart: "out of range"},
		{name: "password without user", src: "deployment: {etcd: {password: x}}", key: "deployment.etcd.password"},
		{name: "cert without key", src: "deployment: {etcd: {tls: {cert: c.pem}}}", key: "deployment.etcd.tls.cert"},
		{name: "key without cert", src: "deployment: {etcd: {tls: {key: k.pem}}}", key: "deployment.etcd.tls.key"},
		{name: "tls verify", src: "deployment: {etcd: {tls: {verify: sometimes}}}", key: "deployment.etcd.tls.verify"},
		{name: "etcd not a mapping", src: "deployment: {etcd: [a]}", key: "deployment.etcd"},

		// plugins
		{name: "plugins not a list", src: "plugins: key-auth", key: "plugins"},
		{name: "plugins empty name", src: "plugins: [key-auth, '']", key: "plugins[1]"},
		{name: "plugins item list", src: "plugins: [[a]]", key: "plugins[0]"},

		// zoneproxy
		{name: "data_dir empty", src: "zoneproxy: {data_dir: ''}", key: "zoneproxy.data_dir"},
		{name: "failback_after negative", src: "zoneproxy: {failback_after: -1s}", key: "zoneproxy.failback_after",
			msgPart: "must not be negative"},
		{name: "probe_interval 0", src: "zoneproxy: {probe_interval: 0}", key: "zoneproxy.probe_interval"},
		{name: "probe_timeout word", src: "zoneproxy: {probe_timeout: fast}", key: "zoneproxy.probe_timeout",
			msgPart: `a duration such as "250ms"`},
		{name: "backoff_min 0", src: "zoneproxy: {backoff_min: 0s, backoff_max: 1s}", key: "zoneproxy.backoff_min"},
		{name: "backoff_max 0", src: "zoneproxy: {backoff_min: 0.5, backoff_max: 0}", key: "zoneproxy.backoff_max"},
		{name: "backoff_min above max", src: "zoneproxy: {backoff_min: 1m, backoff_max: 32s}", key: "zoneproxy.backoff_min",
			msgPart: "greater than zoneproxy.backoff_max"},
		{name: "ready_requires_control_plane", src: "zoneproxy: {ready_requires_control_plane: 1}",
			key: "zoneproxy.ready_requires_control_plane"},
		{name: "drain_delay negative", src: "zoneproxy: {drain_delay: -5}", key: "zoneproxy.drain_delay"},
		{name: "shutdown_timeout negative", src: "zoneproxy: {shutdown_timeout: -1ms}", key: "zoneproxy.shutdown_timeout"},
		{name: "log level", src: "zoneproxy: {log: {level: trace}}", key: "zoneproxy.log.level"},
		{name: "log format", src: "zoneproxy: {log: {format: xml}}", key: "zoneproxy.log.format"},
		{name: "log not a mapping", src: "zoneproxy: {log: debug}", key: "zoneproxy.log"},
		{name: "cp_transport", src: "zoneproxy: {cp_transport: quic}", key: "zoneproxy.cp_transport"},
		{name: "shrink_guard above 1", src: "zoneproxy: {shrink_guard: 1.5}", key: "zoneproxy.shrink_guard"},
		{name: "shrink_guard above 100%", src: "zoneproxy: {shrink_guard: 150%}", key: "zoneproxy.shrink_guard"},
		{name: "shrink_guard negative", src: "zoneproxy: {shrink_guard: -0.1}", key: "zoneproxy.shrink_guard"},
		{name: "shrink_guard word", src: "zoneproxy: {shrink_guard: half}", key: "zoneproxy.shrink_guard"},
		{name: "shrink_guard nan", src: "zoneproxy: {shrink_guard: .nan}", key: "zoneproxy.shrink_guard"},
		{name: "shrink_hold negative", src: "zoneproxy: {shrink_hold: -1s}", key: "zoneproxy.shrink_hold"},
		{name: "coalesce_window too long", src: "zoneproxy:\n  coalesce_window: 150ms\n", key: "zoneproxy.coalesce_window",
			line: 2, msgPart: "at most 100ms"},
		{name: "coalesce_window negative", src: "zoneproxy: {coalesce_window: -1ms}", key: "zoneproxy.coalesce_window"},
		{name: "unknown_plugins", src: "zoneproxy: {unknown_plugins: warn}", key: "zoneproxy.unknown_plugins"},
		{name: "zoneproxy not a mapping", src: "zoneproxy: [a]", key: "zoneproxy"},

		// environment
		{name: "undefined variable", src: "deployment:\n  etcd:\n    user: ${{ETCD_USER}}\n", key: "deployment.etcd.user",
			line: 3, msgPart: `can't find environment variable "ETCD_USER"`},
		{name: "undefined variable in list", src: "deployment: {etcd: {host: ['http://${{H}}:2379']}}",
			key: "deployment.etcd.host[0]"},
		{name: "undefined variable in key", src: "zoneproxy:\n  ${{K}}: 1s\n", key: "zoneproxy.${{K}}", line: 2},
		{name: "substituted value has wrong type", src: "zoneproxy: {drain_delay: '${{D}}'}", env: map[string]string{"D": "true"},
			key: "zoneproxy.drain_delay", msgPart: "got boolean true"},
		{name: "etcd host env malformed", src: "", env: map[string]string{envEtcdHost: `["http://a:1"`},
			key: envEtcdHost, msgPart: "not a JSON array"},
		{name: "etcd host env not an array", src: "", env: map[string]string{envEtcdHost: `"http://a:1"`}, key: envEtcdHost},
		{name: "etcd host env null", src: "", env: map[string]string{envEtcdHost: `null`}, key: envEtcdHost},
		{name: "etcd host env empty array", src: "", env: map[string]string{envEtcdHost: `[]`}, key: envEtcdHost,
			msgPart: "at least one"},
		{name: "etcd host env number", src: "", env: map[string]string{envEtcdHost: `[2379]`}, key: envEtcdHost + "[0]"},
		{name: "etcd host env bad URL", src: "", env: map[string]string{envEtcdHost: `["http://a:1", "a:1"]`},
			key: envEtcdHost + "[1]", msgPart: "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tt.src), env(tt.env))
			if err == nil {
				t.Fatalf("no error; config:\n%v", c)
			}
			if c != nil {
				t.Errorf("a config was returned with the error")
			}
			var first *Error
			if !errors.As(err, &first) {
				t.Fatalf("errors.As(%v) found no *Error", err)
			}
			all := leaves(err)
			if len(all) != 1 {
				t.Errorf("want one error, got %d: %v", len(all), err)
			}
			var e *Error
			for _, l := range all {
				if le, ok := l.(*Error); ok && le.Key == tt.key {
					e = le
				}
			}
			if e == nil {
				t.Fatalf("no error with key %q in: %v", tt.key, err)
			}
			if tt.key != "" && !strings.Contains(e.Error(), "config: "+tt.key) {
				t.Errorf("message %q does not name %q", e.Error(), tt.key)
			}
			if tt.line != 0 && e.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", e.Line, tt.line, e)
			}
			if tt.msgPart != "" && !strings.Contains(e.Error(), tt.msgPart) {
				t.Errorf("message %q does not contain %q", e.Error(), tt.msgPart)
			}
		})
	}
}

func TestSeveralErrors(t *testing.T) {
	src := "apisix: {node_listen: 0}\ndeployment: {etcd: {prefix: x, timeout: 0}}\nzoneproxy: {log: {format: xml}}\n"
	_, _, err := Parse([]byte(src), nil)
	want := []string{"apisix.node_listen[0].port", "deployment.etcd.prefix", "deployment.etcd.timeout", "zoneproxy.log.format"}
	all := leaves(err)
	if len(all) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(all), len(want), err)
	}
	for i, k := range want {
		t.Run(k, func(t *testing.T) {
			var e *Error
			if !errors.As(all[i], &e) || e.Key != k {
				t.Errorf("error %d = %v, want key %s", i, all[i], k)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"key and line", Error{Key: "a.b[1]", Line: 3, Msg: "bad"}, "config: a.b[1] (line 3): bad"},
		{"key", Error{Key: "a.b", Msg: "bad"}, "config: a.b: bad"},
		{"line", Error{Line: 7, Msg: "bad"}, "config: line 7: bad"},
		{"message only", Error{Msg: "bad"}, "config: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateHandBuilt(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		key    string
	}{
		{"defaults", func(*Config) {}, ""},
		{"negative resync_delay", func(c *Config) { c.Deployment.Etcd.ResyncDelay = -time.Second }, "deployment.etcd.resync_delay"},
		{"negative health_check_timeout", func(c *Config) { c.Deployment.Etcd.HealthCheckTimeout = -1 }, "deployment.etcd.health_check_timeout"},
		{"no node_listen", func(c *Config) { c.APISIX.NodeListen = nil }, "apisix.node_listen"},
		{"bad log level", func(c *Config) { c.Zoneproxy.Log.Level = 3 }, "zoneproxy.log.level"},
		{"empty role", func(c *Config) { c.Deployment.Role = "" }, "deployment.role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Key != tt.key {
				t.Fatalf("Validate = %v, want an *Error for %s", err, tt.key)
			}
		})
	}
}

func TestAdminValidation(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"bad cidr", "deployment:\n  admin:\n    allow_admin: [not-a-cidr]\n", "deployment.admin.allow_admin"},
		{"bad role", "deployment:\n  admin:\n    admin_key: [{name: a, key: k, role: root}]\n", "deployment.admin.admin_key[0].role"},
		{"no name", "deployment:\n  admin:\n    admin_key: [{key: k}]\n", "deployment.admin.admin_key[0].name"},
		{"bad port", "deployment:\n  admin:\n    admin_listen: {port: 70000}\n", "deployment.admin.admin_listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
