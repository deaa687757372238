package config

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSubstitution(t *testing.T) {
	user := func(c *Config) any { return c.Deployment.Etcd.User }
	hosts := func(c *Config) any { return c.Deployment.Etcd.Host }
	tests := []struct {
		name string
		src  string
		env  map[string]string
		got  func(*Config) any
		want any
	}{
		{"set", "deployment:\n  etcd:\n    user: ${{U}}\n", map[string]string{"U": "bob"}, user, "bob"},
		{"inside a string", "deployment: {etcd: {host: ['https://${{H}}:7943']}}", map[string]string{"H": "10.0.0.1"},
			hosts, []string{"https://10.0.0.1:7943"}},
		{"default when unset", "deployment: {etcd: {host: ['https://${{H:=localhost}}']}}", nil,
			hosts, []string{"https://localhost:2379"}},
		{"set wins over default", "deployment: {etcd: {user: '${{U:=alice}}'}}", map[string]string{"U": "bob"}, user, "bob"},
		{"set but empty wins over default", "deployment: {etcd: {user: '${{U:=alice}}'}}", map[string]string{"U": ""}, user, ""},
		{"empty default", "deployment: {etcd: {user: 'x${{U:=}}y'}}", nil, user, "xy"},
		{"spaces around name", "deployment: {etcd: {user: '${{  U  }}'}}", map[string]string{"U": "bob"}, user, "bob"},
		{"default trimmed", "deployment: {etcd: {user: '${{U:=  alice  }}'}}", nil, user, "alice"},
		// As in APISIX, a space before ":=" is part of the name, so the
		// variable "U " is looked up: it is never set and the default wins.
		{"space before := is part of the name", "deployment: {etcd: {user: '${{U := alice}}'}}",
			map[string]string{"U": "bob"}, user, "alice"},
		{"two references", "deployment: {etcd: {user: '${{A}}-${{B:=b}}'}}", map[string]string{"A": "a"}, user, "a-b"},
		{"value is not substituted again", "deployment: {etcd: {user: '${{A}}'}}", map[string]string{"A": "${{B}}"}, user, "${{B}}"},
		{"not a reference", "deployment: {etcd: {user: '$${{}}{{x}}${{-y}}'}}", nil, user, "$${{}}{{x}}${{-y}}"},
		{"unterminated", "deployment: {etcd: {user: '${{U'}}", nil, user, "${{U"},
		{"comments are not substituted", "# ${{UNDEFINED}}\napisix: {} # ${{UNDEFINED}}\n", nil,
			func(c *Config) any { return c.APISIX.Status.Port }, 7085},
		{"number in quotes becomes a number", "apisix: {status: {port: '${{P}}'}}", map[string]string{"P": "7086"},
			func(c *Config) any { return c.APISIX.Status.Port }, 7086},
		{"hex number", "apisix: {status: {port: '${{P}}'}}", map[string]string{"P": "0x1F90"},
			func(c *Config) any { return c.APISIX.Status.Port }, 8080},
		{"number with spaces", "apisix: {status: {port: '${{P}}'}}", map[string]string{"P": " 7086 "},
			func(c *Config) any { return c.APISIX.Status.Port }, 7086},
		{"numbers in a list", "apisix:\n  node_listen:\n    - ${{P1}}\n    - ${{P2:=8081}}\n", map[string]string{"P1": "8080"},
			func(c *Config) any { return c.ListenAddrs() }, []string{"0.0.0.0:8080", "0.0.0.0:8081"}},
		{"number kept as written in a string field", "deployment:\n  etcd:\n    user: ${{U}}\n", map[string]string{"U": "007"}, user, "007"},
		{"boolean", "deployment:\n  etcd:\n    tls:\n      verify: ${{V}}\n", map[string]string{"V": "false"},
			func(c *Config) any { return c.Deployment.Etcd.TLS.Verify }, false},
		{"seconds", "zoneproxy:\n  drain_delay: ${{D}}\n", map[string]string{"D": "2.5"},
			func(c *Config) any { return c.Zoneproxy.DrainDelay }, 2500 * time.Millisecond},
		{"go duration", "zoneproxy:\n  drain_delay: ${{D}}\n", map[string]string{"D": "250ms"},
			func(c *Config) any { return c.Zoneproxy.DrainDelay }, 250 * time.Millisecond},
		{"key", "zoneproxy:\n  ${{K}}: 7s\n", map[string]string{"K": "drain_delay"},
			func(c *Config) any { return c.Zoneproxy.DrainDelay }, 7 * time.Second},
		{"anchor substituted once", "x: &u '${{U}}'\ndeployment: {etcd: {user: *u}}", map[string]string{"U": "bob"}, user, "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustParse(t, tt.src, tt.env)
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string // what follows "${{"
		ref  string
		n    int
		isOK bool
	}{
		{"A}}", "A", 3, true},
		{"  A  }}rest", "A", 7, true},
		{"A:=x }}", "A:=x", 7, true},
		{"A b}}", "A b", 5, true},
		{"A}}}", "A", 3, true},
		{"A ${{B}}", "A ${{B", 8, true},
		{"_1}}", "_1", 4, true},
		{"}}", "", 0, false},
		{" }}", "", 0, false},
		{"-A}}", "", 0, false},
		{"A", "", 0, false},
		{"A}", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ref, n, ok := parseRef(tt.in)
			if ref != tt.ref || n != tt.n || ok != tt.isOK {
				t.Errorf("got (%q, %d, %v), want (%q, %d, %v)", ref, n, ok, tt.ref, tt.n, tt.isOK)
			}
		})
	}
}

func TestLuaNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"12", 12, true},
		{" 12\t", 12, true},
		{"-1.5", -1.5, true},
		{"+3", 3, true},
		{"1e3", 1000, true},
		{".5", 0.5, true},
		{"0x10", 16, true},
		{"-0X1f", -31, true},
		{"0x1p4", 16, true},
		{"inf", math.Inf(1), true},
		{"-Infinity", math.Inf(-1), true},
		{"1e500", math.Inf(1), true},
		{"", 0, false},
		{"   ", 0, false},
		{"1_000", 0, false},
		{"12px", 0, false},
		{"--1", 0, false},
		{"0x", 0, false},
		{"true", 0, false},
		{"1.2.3", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := luaNumber(tt.in)
			if ok != tt.ok || ok && got != tt.want {
				t.Errorf("luaNumber(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
	t.Run("nan", func(t *testing.T) {
		if got, ok := luaNumber("nan"); !ok || !math.IsNaN(got) {
			t.Errorf("luaNumber(nan) = %v, %v", got, ok)
		}
	})
}

func TestEnvEtcdHost(t *testing.T) {
	const file = "deployment: {etcd: {host: ['https://file:7943']}}"
	tests := []struct {
		name     string
		src      string
		env      map[string]string
		want     []string
		wantWarn string
	}{
		{"unset keeps the file", file, nil, []string{"https://file:7943"}, ""},
		{"replaces the file", file, map[string]string{envEtcdHost: `["https://a:7943", "http://b"]`},
			[]string{"https://a:7943", "http://b:2379"}, "mixes http and https"},
		{"replaces the default", "", map[string]string{envEtcdHost: `["http://a:1"]`}, []string{"http://a:1"}, ""},
		{"not substituted", file, map[string]string{envEtcdHost: `["https://${{X:=x}}:1"]`},
			nil, ""}, // "${{" is not a valid host name: see the error case below
		{"empty is ignored", file, map[string]string{envEtcdHost: "  "}, []string{"https://file:7943"}, "set but empty"},
		{"duplicates warn", "", map[string]string{envEtcdHost: `["http://a:2379", "http://a"]`},
			[]string{"http://a:2379", "http://a:2379"}, "repeats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := Parse([]byte(tt.src), env(tt.env))
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), envEtcdHost+"[0]") {
					t.Fatalf("err = %v, want one naming %s[0]", err, envEtcdHost)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Deployment.Etcd.Host, tt.want) {
				t.Errorf("host = %q, want %q", c.Deployment.Etcd.Host, tt.want)
			}
			joined := strings.Join(warns, "\n")
			if tt.wantWarn == "" && len(warns) != 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
			if tt.wantWarn != "" && !strings.Contains(joined, tt.wantWarn) {
				t.Errorf("warnings %q do not contain %q", warns, tt.wantWarn)
			}
		})
	}
}
