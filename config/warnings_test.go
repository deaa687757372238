package config

import (
	"strings"
	"testing"
	"time"
)

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must appear in exactly one warning; no other warnings allowed
	}{
		{"unknown top-level key", "apisx: {node_listen: 1}", []string{"unknown key apisx (line 1)"}},
		{"unknown key depth 2", "apisix:\n  nodelisten: 9080\n", []string{"unknown key apisix.nodelisten (line 2)"}},
		{"unknown key depth 3", "deployment:\n  etcd:\n    hots: [a]\n", []string{"unknown key deployment.etcd.hots (line 3)"}},
		{"unknown key depth 4", "deployment: {etcd: {tls: {verfy: false}}}", []string{"unknown key deployment.etcd.tls.verfy"}},
		{"unknown key in a list item", "apisix: {node_listen: [{port: 1, host: a}]}", []string{"unknown key apisix.node_listen[0].host"}},
		{"unknown zoneproxy keys", "zoneproxy: {drain: 1s, log: {lvl: debug}}",
			[]string{"unknown key zoneproxy.drain", "unknown key zoneproxy.log.lvl"}},
		{"unknown prometheus key", "plugin_attr: {prometheus: {export_port: 1}}", []string{"unknown key plugin_attr.prometheus.export_port"}},
		{"unknown status key", "apisix: {status: {addr: x}}", []string{"unknown key apisix.status.addr"}},
		{"unknown role key", "deployment: {role_traditional: {config_provder: etcd}}",
			[]string{"unknown key deployment.role_traditional.config_provder"}},
		{"behaviour-changing setting", "apisix: {delete_uri_tail_slash: true}",
			[]string{"apisix.delete_uri_tail_slash (line 1) is not supported by zoneproxy"}},
		{"default behaviour is silent", "apisix: {delete_uri_tail_slash: false, proxy_mode: http}", nil},
		{"stream proxy", "apisix: {proxy_mode: 'http&stream', stream_proxy: {tcp: [9100]}}",
			[]string{"apisix.proxy_mode", "apisix.stream_proxy"}},
		{"https listeners", "apisix: {ssl: {listen: [{port: 9443}]}}", nil},
		{"http3", "apisix: {ssl: {listen: [{port: 9443, enable_http3: true}]}}", []string{"apisix.ssl.listen[0].enable_http3 (line 1) is not supported"}},
		{"ciphers Go lacks", "apisix: {ssl: {ssl_ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256'}}",
			[]string{"apisix.ssl.ssl_ciphers (line 1): DHE-RSA-AES128-GCM-SHA256, TLS_AES_128_GCM_SHA256 not implemented"}},
		{"metric prefix", "plugin_attr: {prometheus: {metric_prefix: my_}}", []string{"plugin_attr.prometheus.metric_prefix"}},
		{"discovery", "discovery: {dns: {servers: ['127.0.0.1:8600']}}", []string{"discovery (line 1) is not supported"}},
		{"legacy etcd", "etcd: {host: ['http://a:1']}", []string{"APISIX 2.x syntax"}},
		{"deployment certs", "deployment: {certs: {cert: a}}", []string{"deployment.certs"}},
		{"duplicate key", "zoneproxy:\n  drain_delay: 1s\n  drain_delay: 2s\n", []string{"duplicate key zoneproxy.drain_delay (lines 2 and 3)"}},
		{"negative resync_delay", "deployment: {etcd: {resync_delay: -1}}", []string{"resync_delay (line 1) is negative; the default 5s"}},
		{"negative health_check_timeout", "deployment: {etcd: {health_check_timeout: -1}}", []string{"health_check_timeout"}},
		{"user without password", "deployment: {etcd: {user: root}}", []string{"etcd auth is not used"}},
		{"mixed schemes", "deployment: {etcd: {host: ['http://a:1', 'https://b:1']}}", []string{"mixes http and https"}},
		{"other plugin_attr entries are silent", "plugin_attr: {zipkin: {set_ngx_var: false}, my-plugin: {x: 1}}", nil},
		{"ignored sections are not walked", "nginx_config: {anything: {at: {all: 1}}}\napisix: {proxy_cache: {zones: []}}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns := mustParse(t, tt.src, nil)
			if len(warns) != len(tt.want) {
				t.Errorf("got %d warnings %q, want %d", len(warns), warns, len(tt.want))
			}
			for _, w := range tt.want {
				n := 0
				for _, got := range warns {
					if strings.Contains(got, w) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%q found in %d warnings of %q", w, n, warns)
				}
			}
		})
	}
}

func TestIgnoredSettingsKeepDefaults(t *testing.T) {
	c, _ := mustParse(t, "deployment:\n  etcd:\n    resync_delay: -1\n  role_control_plane: {config_provider: etcd}\nzoneproxy:\n  drain_delay: 1s\n  drain_delay: 2s\n", nil)
	if c.Deployment.Etcd.ResyncDelay != 5*time.Second {
		t.Errorf("resync_delay = %v, want APISIX's default 5s", c.Deployment.Etcd.ResyncDelay)
	}
	if c.Zoneproxy.DrainDelay != 2*time.Second {
		t.Errorf("drain_delay = %v, want the later value 2s", c.Zoneproxy.DrainDelay)
	}
	if want := []string{"deployment.role_control_plane"}; strings.Join(c.Ignored, ",") != strings.Join(want, ",") {
		t.Errorf("Ignored = %q, want %q", c.Ignored, want)
	}
}
