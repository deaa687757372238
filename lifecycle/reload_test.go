package lifecycle

import (
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/proxy"
)

// TestKeepRestartOnly: each setting only a restart can change is reported when it changed and
// keeps its running value; settings that apply live are left as the new file has them.
func TestKeepRestartOnly(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.Config)
		want   []string
	}{
		{"nothing", func(*config.Config) {}, nil},
		{"node_listen", func(c *config.Config) { c.APISIX.NodeListen = []config.ListenAddr{{IP: "0.0.0.0", Port: 9081}} },
			[]string{"apisix.node_listen"}},
		{"ssl listen", func(c *config.Config) { c.APISIX.SSL.Listen = []config.ListenAddr{{IP: "127.0.0.1", Port: 8443}} },
			[]string{"apisix.ssl.listen"}},
		{"ssl enable", func(c *config.Config) { c.APISIX.SSL.Enable = false }, []string{"apisix.ssl.enable"}},
		{"status", func(c *config.Config) { c.APISIX.Status.Port = 7086 }, []string{"apisix.status"}},
		{"server tokens", func(c *config.Config) { c.APISIX.EnableServerTokens = !c.APISIX.EnableServerTokens },
			[]string{"apisix.enable_server_tokens"}},
		{"prometheus", func(c *config.Config) { c.Prometheus.ExportAddr.Port = 9092 }, []string{"plugin_attr.prometheus"}},
		{"prefix", func(c *config.Config) { c.Deployment.Etcd.Prefix = "/other" }, []string{"deployment.etcd.prefix"}},
		{"data_dir", func(c *config.Config) { c.Zoneproxy.DataDir = "/elsewhere" }, []string{"zoneproxy.data_dir"}},
		{"max_header_bytes", func(c *config.Config) { c.Zoneproxy.Limits.MaxHeaderBytes *= 2 },
			[]string{"zoneproxy.limits.max_header_bytes"}},
		{"provider", func(c *config.Config) { c.Deployment.RoleTraditional.ConfigProvider = config.ProviderYAML },
			[]string{"deployment.role/config_provider"}},
		{"role", func(c *config.Config) {
			c.Deployment.Role, c.Deployment.RoleDataPlane.ConfigProvider = config.RoleDataPlane, config.ProviderYAML
		}, []string{"deployment.role/config_provider"}},
		{"standalone_file", func(c *config.Config) { c.Zoneproxy.StandaloneFile = "/etc/apisix.yaml" },
			[]string{"zoneproxy.standalone_file"}},
		{"two at once", func(c *config.Config) { c.APISIX.Status.Port = 7086; c.Zoneproxy.DataDir = "/elsewhere" },
			[]string{"apisix.status", "zoneproxy.data_dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur, next := config.Default(), config.Default()
			tt.change(next)
			// Live settings changed alongside: they must stay as the new file has them.
			next.Zoneproxy.Log.Level = slog.LevelDebug
			next.APISIX.SSL.Protocols = "TLSv1.3"
			got := keepRestartOnly(cur, next)
			if !slices.Equal(got, tt.want) {
				t.Errorf("restart = %q, want %q", got, tt.want)
			}
			if next.Zoneproxy.Log.Level != slog.LevelDebug || next.APISIX.SSL.Protocols != "TLSv1.3" {
				t.Errorf("a live setting (log level, ssl_protocols) was restored")
			}
			next.Zoneproxy.Log.Level = cur.Zoneproxy.Log.Level
			next.APISIX.SSL.Protocols = cur.APISIX.SSL.Protocols
			if !reflect.DeepEqual(cur, next) {
				t.Errorf("a restart-only setting kept its new value:\n cur %+v\nnext %+v", cur, next)
			}
		})
	}
}

// TestCPSettingsOf: the settings that restart the control-plane client are the etcd section,
// the CA bundle and the client's timings; the others leave it running.
func TestCPSettingsOf(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*config.Config)
		restart bool
	}{
		{"endpoints", func(c *config.Config) { c.Deployment.Etcd.Host = []string{"https://127.0.0.1:7944"} }, true},
		{"password", func(c *config.Config) { c.Deployment.Etcd.Password = "s3cret" }, true},
		{"tls cert", func(c *config.Config) { c.Deployment.Etcd.TLS.Cert = "other.pem" }, true},
		{"trusted CA", func(c *config.Config) { c.APISIX.SSL.TrustedCertificate = "ca.pem" }, true},
		{"transport", func(c *config.Config) { c.Zoneproxy.CPTransport = config.TransportHTTP }, true},
		{"failback", func(c *config.Config) { c.Zoneproxy.FailbackAfter *= 2 }, true},
		{"probe interval", func(c *config.Config) { c.Zoneproxy.ProbeInterval *= 2 }, true},
		{"coalesce", func(c *config.Config) { c.Zoneproxy.CoalesceWindow *= 2 }, true},
		{"shrink guard", func(c *config.Config) { c.Zoneproxy.ShrinkGuard = 0.9 }, true},
		{"log level", func(c *config.Config) { c.Zoneproxy.Log.Level = slog.LevelDebug }, false},
		{"drain delay", func(c *config.Config) { c.Zoneproxy.DrainDelay *= 2 }, false},
		{"router", func(c *config.Config) { c.APISIX.Router.HTTP = config.RouterRadixtreeURI }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur, next := config.Default(), config.Default()
			tt.change(next)
			if got := !reflect.DeepEqual(cpSettingsOf(cur), cpSettingsOf(next)); got != tt.restart {
				t.Errorf("client restarts: %v, want %v", got, tt.restart)
			}
		})
	}
}

// TestProxyOptionsRealIP (issue 20 item 8): nginx_config.http's real-IP settings reach the proxy
// as they are, an empty real_ip_from as "trust no peer" (never nil, which would mean APISIX's
// default), and a change applies live on reload: Update keeps none of them at its running value.
func TestProxyOptionsRealIP(t *testing.T) {
	a := &app{}
	tests := []struct {
		name   string
		change func(*config.Config)
		want   proxy.RealIP
	}{
		{"defaults", func(*config.Config) {}, *proxy.DefaultRealIP()},
		{"X-Forwarded-For recursive", func(c *config.Config) {
			c.HTTP.RealIPHeader, c.HTTP.RealIPRecursive = "X-Forwarded-For", true
			c.HTTP.RealIPFrom, c.HTTP.RealIPFromUnix = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false
		}, proxy.RealIP{Header: "X-Forwarded-For", Recursive: true, From: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{"trust none", func(c *config.Config) { c.HTTP.RealIPFrom, c.HTTP.RealIPFromUnix = []netip.Prefix{}, false },
			proxy.RealIP{Header: "X-Real-IP", From: []netip.Prefix{}}},
	}
	px := proxy.New(a.proxyOptions(config.Default(), nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.change(c)
			got := a.proxyOptions(c, nil).RealIP
			if got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("RealIP = %+v, want %+v", got, tt.want)
			}
			if got != nil && got.From == nil {
				t.Errorf("RealIP.From is nil")
			}
			if fixed := px.Update(a.proxyOptions(c, nil)); len(fixed) != 0 {
				t.Errorf("Update kept %v at their running values", fixed)
			}
		})
	}
}
