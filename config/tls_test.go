package config

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
)

// TestSSLDefaults: APISIX's defaults for the HTTPS listener (apisix/cli/config.lua).
func TestSSLDefaults(t *testing.T) {
	c, warns := mustParse(t, "", nil)
	if len(warns) != 0 {
		t.Errorf("warnings %q", warns)
	}
	s := c.APISIX.SSL
	if !s.Enable || !reflect.DeepEqual(s.Listen, []ListenAddr{{IP: "0.0.0.0", Port: 9443, IPv6: true}}) {
		t.Errorf("enable %v listen %v, want true [0.0.0.0:9443 +IPv6]", s.Enable, s.Listen)
	}
	if lo, hi := s.Versions(); lo != tls.VersionTLS12 || hi != tls.VersionTLS13 {
		t.Errorf("versions %x..%x, want TLS 1.2..1.3", lo, hi)
	}
	want := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	if got := s.CipherSuites(); !reflect.DeepEqual(got, want) {
		t.Errorf("cipher suites %x, want %x", got, want)
	}
	if s.SessionTickets || s.FallbackSNI != "" || !c.APISIX.EnableHTTP2 {
		t.Errorf("tickets %v fallback %q http2 %v", s.SessionTickets, s.FallbackSNI, c.APISIX.EnableHTTP2)
	}
	if got := c.KeyringEntries(); !reflect.DeepEqual(got, []string{"qeddd145sfvddff3", "edd1c9f0985e76a2"}) {
		t.Errorf("keyring %q, want APISIX's default", got)
	}
}

func TestSSLSettings(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{"listen list of ip and port", "apisix:\n  enable_ipv6: false\n  ssl:\n    listen:\n      - {ip: 127.0.0.1, port: 8443}\n      - port: 9444\n", func(t *testing.T, c *Config) {
			want := []ListenAddr{{IP: "127.0.0.1", Port: 8443}, {IP: "0.0.0.0", Port: 9444}}
			if !reflect.DeepEqual(c.APISIX.SSL.Listen, want) {
				t.Errorf("listen %v, want %v", c.APISIX.SSL.Listen, want)
			}
		}},
		{"listen with ipv6", "apisix: {ssl: {listen: [{port: 9444}, {ip: '[::1]', port: 9445}]}}", func(t *testing.T, c *Config) {
			want := []ListenAddr{{IP: "0.0.0.0", Port: 9444, IPv6: true}, {IP: "::1", Port: 9445}}
			if !reflect.DeepEqual(c.APISIX.SSL.Listen, want) {
				t.Errorf("listen %v, want %v", c.APISIX.SSL.Listen, want)
			}
		}},
		{"disabled", "apisix: {ssl: {enable: false}}", func(t *testing.T, c *Config) {
			if c.APISIX.SSL.Enable {
				t.Error("enabled")
			}
		}},
		{"protocols", "apisix: {ssl: {ssl_protocols: TLSv1.3}}", func(t *testing.T, c *Config) {
			if lo, hi := c.APISIX.SSL.Versions(); lo != tls.VersionTLS13 || hi != tls.VersionTLS13 {
				t.Errorf("versions %x..%x", lo, hi)
			}
		}},
		{"ciphers with exclusions", "apisix: {ssl: {ssl_ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:!AES128-SHA:!aNULL:!MD5'}}", func(t *testing.T, c *Config) {
			if got := c.APISIX.SSL.CipherSuites(); !reflect.DeepEqual(got, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}) {
				t.Errorf("suites %x", got)
			}
		}},
		{"tickets and fallback", "apisix: {ssl: {ssl_session_tickets: true, fallback_sni: api.example.com}}", func(t *testing.T, c *Config) {
			if !c.APISIX.SSL.SessionTickets || c.APISIX.SSL.FallbackSNI != "api.example.com" {
				t.Errorf("%+v", c.APISIX.SSL)
			}
		}},
		{"enable_http2 false", "apisix: {enable_http2: false}", func(t *testing.T, c *Config) {
			if c.APISIX.EnableHTTP2 {
				t.Error("http2 on")
			}
		}},
		{"keyring string", "apisix: {data_encryption: {keyring: abcdefghijklmnop}}", func(t *testing.T, c *Config) {
			if got := c.KeyringEntries(); !reflect.DeepEqual(got, []string{"abcdefghijklmnop"}) {
				t.Errorf("keyring %q", got)
			}
		}},
		{"keyring null", "apisix: {data_encryption: {keyring: null}}", func(t *testing.T, c *Config) {
			if got := c.KeyringEntries(); len(got) != 0 {
				t.Errorf("keyring %q, want none", got)
			}
		}},
		{"keyring plus salt", "apisix:\n  data_encryption: {keyring: [abcdefghijklmnop, 0123456789abcdef0123456789abcdef]}\n  ssl: {key_encrypt_salt: [edd1c9f0985e76a2, abcdefghijklmnop]}\n", func(t *testing.T, c *Config) {
			want := []string{"abcdefghijklmnop", "0123456789abcdef0123456789abcdef", "edd1c9f0985e76a2"}
			if got := c.KeyringEntries(); !reflect.DeepEqual(got, want) {
				t.Errorf("keyring %q, want %q", got, want)
			}
		}},
		{"salt as a string", "apisix: {data_encryption: {keyring: null}, ssl: {key_encrypt_salt: edd1c9f0985e76a2}}", func(t *testing.T, c *Config) {
			if got := c.KeyringEntries(); !reflect.DeepEqual(got, []string{"edd1c9f0985e76a2"}) {
				t.Errorf("keyring %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustParse(t, tt.src, nil)
			tt.check(t, c)
		})
	}
}

// TestSSLErrors: each bad value stops startup with an error naming its key.
func TestSSLErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown cipher", "apisix: {ssl: {ssl_ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:FOO-BAR'}}", `apisix.ssl.ssl_ciphers (line 1): "FOO-BAR" is not a cipher`},
		{"keyword", "apisix: {ssl: {ssl_ciphers: 'HIGH:!aNULL'}}", `apisix.ssl.ssl_ciphers (line 1): "HIGH"`},
		{"only ciphers Go lacks", "apisix: {ssl: {ssl_ciphers: DHE-RSA-AES128-GCM-SHA256}}", "apisix.ssl.ssl_ciphers (line 1): \"DHE-RSA-AES128-GCM-SHA256\" leaves no cipher suite"},
		{"unknown protocol", "apisix: {ssl: {ssl_protocols: SSLv3 TLSv1.2}}", `apisix.ssl.ssl_protocols (line 1): "SSLv3"`},
		{"protocol gap", "apisix: {ssl: {ssl_protocols: TLSv1.1 TLSv1.3}}", "apisix.ssl.ssl_protocols (line 1): TLSv1.1 TLSv1.3 leaves out a version"},
		{"no protocol", "apisix: {ssl: {ssl_protocols: ''}}", "apisix.ssl.ssl_protocols (line 1): no protocol"},
		{"bad port", "apisix: {ssl: {listen: [{port: 70000}]}}", "apisix.ssl.listen[0].port (line 1)"},
		{"port clash", "apisix: {node_listen: 9443}", "port 9443 is also used by apisix.node_listen[0]"},
		{"keyring length", "apisix: {data_encryption: {keyring: [short]}}", "apisix.data_encryption.keyring[0] (line 1): must be 16 or 32 characters"},
		{"salt length", "apisix: {ssl: {key_encrypt_salt: short}}", "apisix.ssl.key_encrypt_salt[0]"},
		{"enable type", "apisix: {ssl: {enable: maybe}}", "apisix.ssl.enable (line 1): expected a boolean"},
		{"http2 type", "apisix: {enable_http2: [1]}", "apisix.enable_http2 (line 1): expected a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.src), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("disabled listener's port may clash", func(t *testing.T) {
		if _, _, err := Parse([]byte("apisix: {node_listen: 9443, ssl: {enable: false}}"), nil); err != nil {
			t.Error(err)
		}
	})
}
