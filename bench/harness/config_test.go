package harness

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config"
)

func TestNginxConf(t *testing.T) {
	routes := []Route{
		{ID: "a", URI: "/bench"},
		{ID: "b", URI: "/api/v1/tenants/t00/services/s00/*"},
		{ID: "c", URI: "/bench/auth", Header: &HeaderMatch{Name: "apikey", Value: "k1"}},
	}
	conf := nginxConf{dir: "/run/x", port: 8081, upstream: "127.0.0.1:9000", routes: routes}.String()
	for _, want := range []string{
		"daemon off;", "worker_processes 1;", "pid /run/x/nginx.pid;", "access_log off;",
		"server 127.0.0.1:9000;", "keepalive 320;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`,
		"listen 127.0.0.1:8081;", "location = /bench {", "location /api/v1/tenants/t00/services/s00/ {",
		"location = /bench/auth {", `if ($http_apikey != "k1") {`, "proxy_pass http://bench_upstream;",
		"proxy_buffers 8 32k;", "proxy_max_temp_file_size 0;",
	} {
		t.Run(want, func(t *testing.T) {
			if !strings.Contains(conf, want) {
				t.Fatalf("config lacks %q:\n%s", want, conf)
			}
		})
	}
	t.Run("balanced braces", func(t *testing.T) {
		if o, c := strings.Count(conf, "{"), strings.Count(conf, "}"); o != c {
			t.Fatalf("%d { and %d }", o, c)
		}
	})
	t.Run("deferred", func(t *testing.T) {
		if strings.Contains(conf, "deferred") {
			t.Fatalf("deferred without BENCH_NGINX_DEFERRED:\n%s", conf)
		}
		d := nginxConf{dir: "/run/x", port: 8081, upstream: "127.0.0.1:9000", routes: routes, deferred: true}.String()
		if !strings.Contains(d, "listen 127.0.0.1:8081 deferred;") {
			t.Fatalf("config lacks the deferred listen:\n%s", d)
		}
	})
}

// TestZoneproxyConf loads the generated config.yaml with zoneproxy's own loader.
func TestZoneproxyConf(t *testing.T) {
	dir := t.TempDir()
	c := zpConf{dataDir: filepath.Join(dir, "data"), port: 18080, statusPort: 18081, metricsPort: 18082,
		endpoint: "https://127.0.0.1:18443", prefix: "/zpbench-1route",
		ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(dir, "client.crt"), key: filepath.Join(dir, "client.key")}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("zoneproxy rejects the generated config: %v\n%s", err, c)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"prefix", cfg.Deployment.Etcd.Prefix, "/zpbench-1route"},
		{"data dir", cfg.Zoneproxy.DataDir, c.dataDir},
		{"no drain delay", cfg.Zoneproxy.DrainDelay.String(), "0s"},
		{"log level", cfg.Zoneproxy.Log.Level.String(), "WARN"},
		{"no HTTPS listener", cfg.APISIX.SSL.Enable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestTLSConfs: over TLS, nginx listens with ssl (and http2) on the bench certificate, and
// zoneproxy's config.yaml has the HTTPS listener with fallback_sni.
func TestTLSConfs(t *testing.T) {
	dir := t.TempDir()
	cert, err := makeCert(dir, KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	conf := nginxConf{dir: "/run/x", port: 8443, upstream: "127.0.0.1:9000", routes: []Route{{ID: "a", URI: "/bench"}},
		tls: &cert, h2: true}.String()
	for _, want := range []string{"listen 127.0.0.1:8443 ssl http2;", "ssl_certificate " + cert.certFile + ";",
		"ssl_certificate_key " + cert.keyFile + ";", "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_session_tickets off;",
		"ssl_session_cache shared:SSL:20m;", "ssl_session_timeout 10m;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx config lacks %q:\n%s", want, conf)
		}
	}
	c := zpConf{dataDir: filepath.Join(dir, "data"), port: 18080, statusPort: 18081, metricsPort: 18082, sslPort: 18444,
		endpoint: "https://127.0.0.1:18443", prefix: "/zpbench-h2",
		ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(dir, "client.crt"), key: filepath.Join(dir, "client.key")}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("zoneproxy rejects the generated config: %v\n%s", err, c)
	}
	s := cfg.APISIX.SSL
	if !s.Enable || len(s.Listen) != 1 || s.Listen[0].Port != 18444 || s.FallbackSNI != benchSNI || !cfg.APISIX.EnableHTTP2 {
		t.Errorf("ssl %+v, http2 %v", s, cfg.APISIX.EnableHTTP2)
	}
}

// TestBenchCerts: each key type gives a pair crypto/tls loads, with that type of key, in files
// of their own (nginx reads them) so that two scenarios' certificates never overwrite each other.
func TestBenchCerts(t *testing.T) {
	dir := t.TempDir()
	files := map[string]bool{}
	for _, tt := range []struct {
		kind string
		want any
	}{{KeyECDSA, &ecdsa.PublicKey{}}, {KeyRSA, &rsa.PublicKey{}}} {
		t.Run(tt.kind, func(t *testing.T) {
			c, err := makeCert(dir, tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := reflect.TypeOf(pair.Leaf.PublicKey), reflect.TypeOf(tt.want); got != want {
				t.Errorf("public key %v, want %v", got, want)
			}
			if files[c.certFile] || files[c.keyFile] {
				t.Errorf("files %s, %s reused", c.certFile, c.keyFile)
			}
			files[c.certFile], files[c.keyFile] = true, true
		})
	}
	if _, err := makeCert(dir, "dsa"); err == nil {
		t.Error("an unknown key type is accepted")
	}
}
