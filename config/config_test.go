package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env returns a lookupEnv over a fixed map.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mustParse parses src with env m and fails the test on error.
func mustParse(t *testing.T, src string, m map[string]string) (*Config, []string) {
	t.Helper()
	c, warns, err := Parse([]byte(src), env(m))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c, warns
}

func TestShippedConfig(t *testing.T) {
	want := Default()
	want.APISIX.SSL.TrustedCertificate = ".devcp/ca.crt"
	want.Deployment.Etcd.Host = []string{"https://127.0.0.1:7943", "https://127.0.0.1:7944", "https://127.0.0.1:7945"}
	want.Deployment.Etcd.TLS.Cert = ".devcp/client.crt"
	want.Deployment.Etcd.TLS.Key = ".devcp/client.key"

	check := func(t *testing.T, c *Config, warns []string) {
		t.Helper()
		if len(warns) != 0 {
			t.Errorf("warnings: %q", warns)
		}
		if len(c.Ignored) != 0 {
			t.Errorf("ignored: %q", c.Ignored)
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got\n%v\nwant\n%v", c, want)
		}
	}
	t.Run("parse", func(t *testing.T) {
		c, warns := mustParse(t, string(readFile(t, filepath.Join("..", "config.yaml"))), nil)
		check(t, c, warns)
	})
	t.Run("load", func(t *testing.T) {
		if _, ok := os.LookupEnv(envEtcdHost); ok {
			t.Setenv(envEtcdHost, "")
			os.Unsetenv(envEtcdHost)
		}
		c, warns, err := Load(filepath.Join("..", "config.yaml"))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		// Load takes a relative data_dir from config.yaml's directory.
		if want := filepath.Join("..", ".zoneproxy"); c.Zoneproxy.DataDir != want {
			t.Errorf("data_dir %q, want %q", c.Zoneproxy.DataDir, want)
		}
		c.Zoneproxy.DataDir = want.Zoneproxy.DataDir
		check(t, c, warns)
	})
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

// TestLoadResolvesDataDir: a relative zoneproxy.data_dir is taken from the directory of
// config.yaml, whatever the working directory; an absolute one is kept.
func TestLoadResolvesDataDir(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"default", "", filepath.Join(dir, ".zoneproxy")},
		{"relative", "zoneproxy: {data_dir: state/here}", filepath.Join(dir, "state", "here")},
		{"dot relative", "zoneproxy: {data_dir: ../up}", filepath.Join(filepath.Dir(dir), "up")},
		{"absolute", "zoneproxy: {data_dir: /var/lib/zoneproxy}", "/var/lib/zoneproxy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, _, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Zoneproxy.DataDir != tt.want {
				t.Errorf("data_dir %q, want %q", c.Zoneproxy.DataDir, tt.want)
			}
		})
	}
}

func TestSpecSample(t *testing.T) {
	c, warns := mustParse(t, string(readFile(t, filepath.Join("testdata", "spec-sample.yaml"))), nil)
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	e := c.Deployment.Etcd
	tests := []struct {
		name      string
		got, want any
	}{
		{"host", e.Host, []string{
			"https://dp-manager.az-a.internal:7943",
			"https://dp-manager.az-b.internal:7943",
			"https://dp-manager.az-c.internal:7943",
		}},
		{"prefix", e.Prefix, "/apisix"},
		{"timeout", e.Timeout, 30 * time.Second},
		{"watch_timeout", e.WatchTimeout, 50 * time.Second},
		{"startup_retry", e.StartupRetry, 2},
		{"resync_delay", e.ResyncDelay, 5 * time.Second},
		{"health_check_timeout", e.HealthCheckTimeout, 10 * time.Second},
		{"tls", e.TLS, EtcdTLS{Cert: "/path/client.crt", Key: "/path/client.key", Verify: true}},
		{"user", e.User, ""},
		{"node_listen", c.APISIX.NodeListen, []ListenAddr{{IP: "0.0.0.0", Port: 9080, IPv6: true}}},
		{"status", c.APISIX.Status, ListenAddr{IP: "127.0.0.1", Port: 7085}},
		{"ca", c.APISIX.SSL.TrustedCertificate, "/path/ca.crt"},
		{"prometheus", c.Prometheus.ExportAddr, ListenAddr{IP: "127.0.0.1", Port: 9091}},
		{"provider", c.Deployment.Provider(), "etcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestAPISIXConfig(t *testing.T) {
	src := string(readFile(t, filepath.Join("testdata", "apisix-config.yaml")))
	c, warns := mustParse(t, src, nil)
	if len(warns) != 0 {
		t.Errorf("a real APISIX config should load without warnings, got %q", warns)
	}
	e := c.Deployment.Etcd
	tests := []struct {
		name      string
		got, want any
	}{
		{"node_listen", c.APISIX.NodeListen, []ListenAddr{
			{IP: "0.0.0.0", Port: 9080, IPv6: true},
			{IP: "127.0.0.2", Port: 9082},
		}},
		{"status", c.APISIX.Status, ListenAddr{IP: "0.0.0.0", Port: 7085}},
		{"router", c.APISIX.Router.HTTP, RouterRadixtreeURI},
		{"server_tokens", c.APISIX.EnableServerTokens, false},
		{"real_ip_header", c.HTTP.RealIPHeader, "X-Real-IP"},
		{"real_ip_from", c.HTTP.RealIPFrom, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		{"real_ip_from unix:", c.HTTP.RealIPFromUnix, true},
		{"ca", c.APISIX.SSL.TrustedCertificate, "/usr/local/apisix/conf/cert/etcd-ca.pem"},
		{"ssl ciphers", c.APISIX.SSL.CipherSuites(), []uint16{0xc02b, 0xc02f}},
		{"keyring", c.KeyringEntries(), []string{"qeddd145sfvddff3"}},
		{"http2", c.APISIX.EnableHTTP2, true},
		{"role", c.Deployment.Role, RoleDataPlane},
		{"provider", c.Deployment.Provider(), "etcd"},
		{"host defaults to port 2379", e.Host, []string{
			"https://etcd-0.etcd.svc:2379", "https://etcd-1.etcd.svc:2379", "https://etcd-2.etcd.svc:2379",
		}},
		{"user", e.User, "apisix"},
		{"password default", string(e.Password), "change-me"},
		{"tls", e.TLS, EtcdTLS{
			Cert:   "/usr/local/apisix/conf/cert/etcd-client.pem",
			Key:    "/usr/local/apisix/conf/cert/etcd-client-key.pem",
			Verify: true, SNI: "etcd.svc",
		}},
		{"plugins", len(c.Plugins), 10},
		{"prometheus", c.Prometheus.ExportAddr, ListenAddr{IP: "0.0.0.0", Port: 9091}},
		{"zoneproxy defaults", c.Zoneproxy, Default().Zoneproxy},
		{"admin", c.Deployment.Admin, Admin{
			Listen: ListenAddr{IP: "0.0.0.0", Port: 9180}, Allow: []string{"127.0.0.0/24"}, KeyRequired: true,
			Keys: []AdminKey{{Name: "admin", Role: AdminRoleAdmin}},
		}},
		{"ignored", c.Ignored, []string{
			"apisix.control", "apisix.delete_uri_tail_slash",
			"apisix.disable_sync_configuration_during_start", "apisix.enable_admin",
			"apisix.enable_control", "apisix.enable_dev_mode",
			"apisix.enable_resolv_search_opt", "apisix.enable_reuseport", "apisix.extra_lua_cpath",
			"apisix.extra_lua_path", "apisix.lru", "apisix.normalize_uri_like_servlet",
			"apisix.proxy_cache", "apisix.proxy_mode", "apisix.resolver_timeout",
			"apisix.router.ssl", "apisix.show_upstream_status_in_response_header",
			"graphql", "nginx_config.enable_cpu_affinity", "nginx_config.error_log",
			"nginx_config.error_log_level", "nginx_config.event", "nginx_config.http.access_log_format",
			"nginx_config.http.upstream",
			"nginx_config.http_configuration_snippet", "nginx_config.main_configuration_snippet", "nginx_config.meta",
			"nginx_config.worker_processes", "nginx_config.worker_rlimit_nofile", "nginx_config.worker_shutdown_timeout",
			"plugin_attr.log-rotate", "plugin_attr.opentelemetry",
			"plugin_attr.prometheus.metric_prefix", "plugin_attr.prometheus.refresh_interval",
			"stream_plugins",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	t.Run("password from environment", func(t *testing.T) {
		c, _ := mustParse(t, src, map[string]string{"ETCD_PASSWORD": "from-env"})
		if got := string(c.Deployment.Etcd.Password); got != "from-env" {
			t.Errorf("password = %q", got)
		}
	})
}

func TestEmptyDocumentIsDefault(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# only a comment\n", "---\n"} {
		t.Run(fmt.Sprintf("%q", src), func(t *testing.T) {
			c, warns := mustParse(t, src, nil)
			if len(warns) != 0 {
				t.Errorf("warnings: %q", warns)
			}
			if !reflect.DeepEqual(c, Default()) {
				t.Errorf("got\n%v\nwant the defaults", c)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestRealIP (issue 20 item 8): nginx_config.http.real_ip_header, real_ip_recursive and
// real_ip_from, with APISIX's defaults (apisix/cli/config.lua) and the forms APISIX's
// config.yaml takes.
func TestRealIP(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		name      string
		src       string
		header    string
		recursive bool
		from      []netip.Prefix
		unix      bool
		warn      string // a warning that must come, "" for none
	}{
		{name: "defaults", src: "", header: "X-Real-IP", from: []netip.Prefix{pfx("127.0.0.1/32")}, unix: true},
		{name: "APISIX's example", src: "real_ip_header: X-Real-IP\nreal_ip_recursive: \"off\"\nreal_ip_from:\n  - 127.0.0.1\n  - \"unix:\"\n",
			header: "X-Real-IP", from: []netip.Prefix{pfx("127.0.0.1/32")}, unix: true},
		{name: "X-Forwarded-For recursive from CIDRs", src: "real_ip_header: X-Forwarded-For\nreal_ip_recursive: \"on\"\n" +
			"real_ip_from: [10.0.0.0/8, '2001:db8::/32', '::1']\n",
			header: "X-Forwarded-For", recursive: true,
			from: []netip.Prefix{pfx("10.0.0.0/8"), pfx("2001:db8::/32"), pfx("::1/128")}},
		{name: "flag as a boolean", src: "real_ip_recursive: true\n", header: "X-Real-IP", recursive: true,
			from: []netip.Prefix{pfx("127.0.0.1/32")}, unix: true},
		{name: "flag ON unquoted", src: "real_ip_recursive: ON\n", header: "X-Real-IP", recursive: true,
			from: []netip.Prefix{pfx("127.0.0.1/32")}, unix: true},
		{name: "a list replaces the default", src: "real_ip_from: [192.0.2.1]\n", header: "X-Real-IP",
			from: []netip.Prefix{pfx("192.0.2.1/32")}},
		{name: "empty list trusts none", src: "real_ip_from: []\n", header: "X-Real-IP", from: []netip.Prefix{}},
		{name: "null trusts none", src: "real_ip_from: ~\n", header: "X-Real-IP", from: []netip.Prefix{}},
		{name: "low bits masked", src: "real_ip_from: [10.1.2.3/8]\n", header: "X-Real-IP",
			from: []netip.Prefix{pfx("10.0.0.0/8")}, warn: "low address bits of 10.1.2.3/8 are meaningless"},
		{name: "IPv4-mapped never matches", src: "real_ip_from: ['::ffff:10.0.0.1']\n", header: "X-Real-IP",
			from: []netip.Prefix{pfx("::ffff:10.0.0.1/128")}, warn: "IPv4-mapped"},
		{name: "another header", src: "real_ip_header: CF-Connecting-IP\n", header: "CF-Connecting-IP",
			from: []netip.Prefix{pfx("127.0.0.1/32")}, unix: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := ""
			if tt.src != "" {
				src = "nginx_config:\n  http:\n" + indent(tt.src, "    ")
			}
			c, warns := mustParse(t, src, nil)
			h := c.HTTP
			if h.RealIPHeader != tt.header || h.RealIPRecursive != tt.recursive || !reflect.DeepEqual(h.RealIPFrom, tt.from) ||
				h.RealIPFromUnix != tt.unix {
				t.Errorf("got header %q recursive %v from %v unix %v", h.RealIPHeader, h.RealIPRecursive, h.RealIPFrom, h.RealIPFromUnix)
			}
			joined := strings.Join(warns, "\n")
			if (tt.warn == "") != (len(warns) == 0) || !strings.Contains(joined, tt.warn) {
				t.Errorf("warnings %q, want one with %q", warns, tt.warn)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	// zoneproxy -t prints the effective settings.
	c, _ := mustParse(t, "nginx_config: {http: {real_ip_header: X-Forwarded-For, real_ip_recursive: 'on', real_ip_from: [10.0.0.0/8, '::1', 'unix:']}}", nil)
	for _, want := range []string{"nginx_config.http.real_ip_header: X-Forwarded-For\n", "nginx_config.http.real_ip_recursive: on\n",
		"nginx_config.http.real_ip_from: [10.0.0.0/8 ::1 unix:]\n"} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, c)
		}
	}
	if s := Default().String(); !strings.Contains(s, "nginx_config.http.real_ip_from: [127.0.0.1 unix:]\n") ||
		!strings.Contains(s, "nginx_config.http.real_ip_recursive: off\n") {
		t.Errorf("defaults print as\n%s", s)
	}
}

// indent prefixes every line of s with p.
func indent(s, p string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = p + l
		}
	}
	return strings.Join(lines, "")
}

func TestNodeListenForms(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []ListenAddr
	}{
		{"int", "apisix: {node_listen: 8080}", []ListenAddr{{IP: "0.0.0.0", Port: 8080, IPv6: true}}},
		{"list of ints", "apisix: {node_listen: [8080, 8081]}",
			[]ListenAddr{{IP: "0.0.0.0", Port: 8080, IPv6: true}, {IP: "0.0.0.0", Port: 8081, IPv6: true}}},
		{"list of ip port", "apisix: {node_listen: [{ip: 127.0.0.1, port: 8080}, {port: 8081}, {ip: '[::1]'}]}",
			[]ListenAddr{{IP: "127.0.0.1", Port: 8080}, {IP: "0.0.0.0", Port: 8081, IPv6: true}, {IP: "::1", Port: 9080}}},
		{"duplicates dropped", "apisix: {node_listen: [8080, 8080, {port: 8080}]}",
			[]ListenAddr{{IP: "0.0.0.0", Port: 8080, IPv6: true}}},
		{"enable_ipv6 false", "apisix: {enable_ipv6: false, node_listen: [8080, {port: 8081}]}",
			[]ListenAddr{{IP: "0.0.0.0", Port: 8080}, {IP: "0.0.0.0", Port: 8081}}},
		{"enable_ipv6 false default listen", "apisix: {enable_ipv6: false}",
			[]ListenAddr{{IP: "0.0.0.0", Port: 9080}}},
		{"null keeps default", "apisix: {node_listen: ~}", []ListenAddr{{IP: "0.0.0.0", Port: 9080, IPv6: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustParse(t, tt.src, nil)
			if !reflect.DeepEqual(c.APISIX.NodeListen, tt.want) {
				t.Errorf("got %+v, want %+v", c.APISIX.NodeListen, tt.want)
			}
		})
	}
	t.Run("ListenAddrs", func(t *testing.T) {
		c, _ := mustParse(t, "apisix: {node_listen: [8080, {ip: '::1', port: 8081}]}", nil)
		want := []string{"0.0.0.0:8080", "[::1]:8081"}
		if got := c.ListenAddrs(); !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

func TestValues(t *testing.T) {
	tests := []struct {
		name string
		src  string
		got  func(*Config) any
		want any
	}{
		{"fractional seconds", "deployment: {etcd: {timeout: 2.5}}",
			func(c *Config) any { return c.Deployment.Etcd.Timeout }, 2500 * time.Millisecond},
		{"go duration in APISIX key", "deployment: {etcd: {watch_timeout: 1m}}",
			func(c *Config) any { return c.Deployment.Etcd.WatchTimeout }, time.Minute},
		{"zoneproxy seconds", "zoneproxy: {failback_after: 3}",
			func(c *Config) any { return c.Zoneproxy.FailbackAfter }, 3 * time.Second},
		{"zoneproxy quoted seconds", "zoneproxy: {drain_delay: '0.5'}",
			func(c *Config) any { return c.Zoneproxy.DrainDelay }, 500 * time.Millisecond},
		{"zoneproxy go string", "zoneproxy: {probe_interval: 100ms}",
			func(c *Config) any { return c.Zoneproxy.ProbeInterval }, 100 * time.Millisecond},
		{"shrink_guard percent", "zoneproxy: {shrink_guard: 25%}",
			func(c *Config) any { return c.Zoneproxy.ShrinkGuard }, 0.25},
		{"shrink_guard fraction", "zoneproxy: {shrink_guard: 1}",
			func(c *Config) any { return c.Zoneproxy.ShrinkGuard }, 1.0},
		{"coalesce_window at the limit", "zoneproxy: {coalesce_window: 100ms}",
			func(c *Config) any { return c.Zoneproxy.CoalesceWindow }, 100 * time.Millisecond},
		{"count all requests", "zoneproxy: {metrics: {count_all_requests: true}}",
			func(c *Config) any { return c.Zoneproxy.Metrics.CountAllRequests }, true},
		{"log level", "zoneproxy: {log: {level: debug, format: json}}",
			func(c *Config) any { return c.Zoneproxy.Log }, Log{Level: slog.LevelDebug, Format: LogJSON}},
		{"yaml 1.1 boolean", "apisix: {enable_server_tokens: off}",
			func(c *Config) any { return c.APISIX.EnableServerTokens }, false},
		{"tls verify false", "deployment: {etcd: {tls: {verify: false}}}",
			func(c *Config) any { return c.Deployment.Etcd.TLS.Verify }, false},
		{"null tls keeps defaults", "deployment: {etcd: {tls: }}",
			func(c *Config) any { return c.Deployment.Etcd.TLS }, EtcdTLS{Verify: true}},
		{"numeric password kept as written", "deployment: {etcd: {user: root, password: 007}}",
			func(c *Config) any { return string(c.Deployment.Etcd.Password) }, "007"},
		{"ipv6 endpoint", "deployment: {etcd: {host: ['http://[::1]']}}",
			func(c *Config) any { return c.Deployment.Etcd.Host }, []string{"http://[::1]:2379"}},
		{"empty plugins list", "plugins: []",
			func(c *Config) any { return c.Plugins }, []string{}},
		{"no plugins key", "apisix: {}",
			func(c *Config) any { return c.Plugins == nil }, true},
		{"data plane", "deployment: {role: data_plane, role_data_plane: {config_provider: etcd}}",
			func(c *Config) any { return c.Deployment.Provider() }, "etcd"},
		{"prometheus off frees its port", "apisix: {node_listen: 9091}\nplugin_attr: {prometheus: {enable_export_server: false}}",
			func(c *Config) any { return c.Prometheus.EnableExportServer }, false},
		{"anchors and merge keys", "x: &t {verify: false}\ndeployment: {etcd: {tls: {<<: *t, sni: a.b}}}",
			func(c *Config) any { return c.Deployment.Etcd.TLS }, EtcdTLS{Verify: false, SNI: "a.b"}},
		{"explicit key wins over merge", "x: &t {verify: false}\ndeployment: {etcd: {tls: {verify: true, <<: *t}}}",
			func(c *Config) any { return c.Deployment.Etcd.TLS.Verify }, true},
		{"only the first document", "zoneproxy: {drain_delay: 1s}\n---\nzoneproxy: {drain_delay: 2s}\n",
			func(c *Config) any { return c.Zoneproxy.DrainDelay }, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustParse(t, tt.src, nil)
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	const pw = "pa55-w0rd-XYZ"
	c, _ := mustParse(t, "deployment: {etcd: {user: root, password: "+pw+"}}", nil)
	if string(c.Deployment.Etcd.Password) != pw {
		t.Fatalf("password not decoded: %q", string(c.Deployment.Etcd.Password))
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "config", c, "etcd", c.Deployment.Etcd)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String":        c.String(),
		"%v":            fmt.Sprintf("%v", c),
		"%+v":           fmt.Sprintf("%+v", c),
		"%#v":           fmt.Sprintf("%#v", c),
		"%+v of struct": fmt.Sprintf("%+v", *c),
		"%#v of etcd":   fmt.Sprintf("%#v", c.Deployment.Etcd),
		"%s of secret":  fmt.Sprintf("%s", c.Deployment.Etcd.Password),
		"%q of secret":  fmt.Sprintf("%q", c.Deployment.Etcd.Password),
		"%x of secret":  fmt.Sprintf("%x", c.Deployment.Etcd.Password),
		"slog":          logged.String(),
		"json":          string(js),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
				t.Errorf("password printed: %s", out)
			}
			if !strings.Contains(out, redacted) {
				t.Errorf("no %q in %s", redacted, out)
			}
		})
	}
	t.Run("empty secret prints empty", func(t *testing.T) {
		if got := fmt.Sprint(Secret("")); got != "" {
			t.Errorf("got %q", got)
		}
	})
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		in, url, addr string
		wantErr       string
	}{
		{in: "http://127.0.0.1:2379", url: "http://127.0.0.1:2379", addr: "127.0.0.1:2379"},
		{in: "https://dp.az-a.internal", url: "https://dp.az-a.internal:2379", addr: "dp.az-a.internal:2379"},
		{in: "https://h:", url: "https://h:2379", addr: "h:2379"},
		{in: "http://[fe80::1]:7943", url: "http://[fe80::1]:7943", addr: "[fe80::1]:7943"},
		{in: "foo:2379", wantErr: "is not a URL with scheme http or https"},
		{in: "ftp://h:21", wantErr: "is not a URL with scheme http or https"},
		{in: "HTTP://h:1", wantErr: "is not a URL with scheme http or https"},
		{in: "http://h:1/", wantErr: "without path"},
		{in: "http://u:p@h:1", wantErr: "without path"},
		{in: "http://h:1?x", wantErr: "without path"},
		{in: "http://", wantErr: "has no host"},
		{in: "http://:1", wantErr: "has no host"},
		{in: "http://h_1:1", wantErr: "host name"},
		{in: "http://h:0", wantErr: "between 1 and 65535"},
		{in: "http://h:65536", wantErr: "between 1 and 65535"},
		{in: "http://h:+1", wantErr: "not a number"},
		{in: "http://h:1:2", wantErr: "not a number"},
		{in: "http://[1.2.3.4]:1", wantErr: "not an IPv6 address"},
		{in: "http://[::1", wantErr: "missing ']'"},
		{in: "http://[::1]x", wantErr: "after the IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := ParseEndpoint(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.URL() != tt.url || e.Addr() != tt.addr {
				t.Errorf("got %s %s, want %s %s", e.URL(), e.Addr(), tt.url, tt.addr)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "apisix-config.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAliasBomb checks that a document whose aliases would expand to 2^40
// nodes is handled without expanding them.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 ['${{X:=x}}', '${{X:=x}}']\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%d, *l%d]\n", i, i, i-1, i-1)
	}
	b.WriteString("plugins: *l0\nnginx_config: *l40\n")
	c, warns := mustParse(t, b.String(), nil)
	if want := []string{"x", "x"}; !reflect.DeepEqual(c.Plugins, want) {
		t.Errorf("plugins = %q, want %q", c.Plugins, want)
	}
	if len(warns) != 41 {
		t.Errorf("want 41 unknown-key warnings, got %d", len(warns))
	}
}

func TestHTTPLimitsAndAccessLog(t *testing.T) {
	c, warnings, err := Parse([]byte(`
nginx_config:
  worker_processes: auto
  http:
    enable_access_log: true
    access_log: /dev/stdout
    client_max_body_size: 10m
    client_header_timeout: 5s
    client_body_timeout: 7
    send_timeout: 1m
    keepalive_timeout: 0
zoneproxy:
  access_log: {format: json, fields: [time, status, route_id], buffer_lines: 100}
  limits: {max_header_bytes: 64k, max_header_count: 50, max_uri_length: 2048}
  memory_limit: 64M
`), nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Parse: %v %v", err, warnings)
	}
	h, z := c.HTTP, c.Zoneproxy
	if !h.EnableAccessLog || h.AccessLog != "/dev/stdout" || h.ClientMaxBodySize != 10<<20 || h.ClientHeaderTimeout != 5*time.Second ||
		h.ClientBodyTimeout != 7*time.Second || h.SendTimeout != time.Minute || h.KeepaliveTimeout != 0 {
		t.Errorf("HTTP = %+v", h)
	}
	if z.AccessLog.Format != "json" || strings.Join(z.AccessLog.Fields, ",") != "time,status,route_id" || z.AccessLog.BufferLines != 100 {
		t.Errorf("AccessLog = %+v", z.AccessLog)
	}
	if z.Limits != (Limits{MaxHeaderBytes: 64 << 10, MaxHeaderCount: 50, MaxURILength: 2048}) || z.MemoryLimit != 64<<20 {
		t.Errorf("Limits = %+v, memory limit %d", z.Limits, z.MemoryLimit)
	}
	if !slices.Contains(c.Ignored, "nginx_config.worker_processes") {
		t.Errorf("nginx_config.worker_processes not listed as ignored: %v", c.Ignored)
	}
	d := Default()
	if d.HTTP.EnableAccessLog || d.HTTP.ClientMaxBodySize != 0 || d.HTTP.SendTimeout != 10*time.Second ||
		d.Zoneproxy.AccessLog.Format != "combined" || d.Zoneproxy.Limits.MaxURILength != 8<<10 {
		t.Errorf("defaults: %+v %+v", d.HTTP, d.Zoneproxy.AccessLog)
	}
}
