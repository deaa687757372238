package ssl

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"testing"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
	"time"
)

func server(id string, snis ...string) *Cert {
	return &Cert{ID: id, Type: TypeServer, Enabled: true, SNIs: snis, List: len(snis) > 1}
}

// TestLookup: SNI selection as APISIX's radixtree_sni.lua (t/router/radixtree-sni.t).
func TestLookup(t *testing.T) {
	list := server("list", "*.list.org", "a.list.org")
	list.List = true
	anyInList := server("any-in-list", "*")
	anyInList.List = true
	disabled := server("disabled", "off.example.com")
	disabled.Enabled = false
	client := &Cert{ID: "client", Type: TypeClient, Enabled: true, SNIs: []string{"client.example.com"}}
	x := NewIndex([]*Cert{
		server("exact", "www.test.com"),
		server("wild", "*.test.com"),
		server("wild-deep", "*.b.test.com"),
		server("dup", "www.test.com"), // the first object keeps the name
		list,
		disabled,
		client,
		server("star-suffix", "*test.org"),
	})
	withAny := NewIndex([]*Cert{server("wild", "*.test.com"), server("any", "*")})
	dotless := NewIndex([]*Cert{anyInList})
	tests := []struct {
		name string
		x    *Index
		sni  string
		want string // "" for no certificate
	}{
		{"exact", x, "www.test.com", "exact"},
		{"exact wins over wildcard", x, "www.test.com", "exact"},
		{"wildcard one label", x, "api.test.com", "wild"},
		{"wildcard two labels fail", x, "a.c.test.com", ""},
		{"wildcard does not match its base", x, "test.com", ""},
		{"longest wildcard", x, "a.b.test.com", "wild-deep"},
		{"longest candidate alone is tried", x, "x.a.b.test.com", ""},
		{"case-insensitive", x, "WWW.Test.COM", "exact"},
		{"trailing dot", x, "api.test.com.", "wild"},
		{"unknown", x, "example.org", ""},
		{"empty", x, "", ""},
		{"status 0 not served", x, "off.example.com", ""},
		{"type client not served", x, "client.example.com", ""},
		{"list wildcard", x, "b.list.org", "list"},
		{"list exact", x, "a.list.org", "list"},
		{"list two labels fail", x, "x.y.list.org", ""},
		{"star without dot", x, "footest.org", "star-suffix"},
		{"star matches everything", withAny, "any.thing.example", "any"},
		{"star not tried after a failing longer wildcard", withAny, "a.b.test.com", ""},
		{"wildcard before star", withAny, "a.test.com", "wild"},
		{"star in a list matches dotless names", dotless, "localhost", "any-in-list"},
		{"star in a list does not match dotted names", dotless, "a.example", ""},
		{"too long", x, string(make([]byte, 300)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if c := tt.x.Lookup(tt.sni); c != nil {
				got = c.ID
			}
			if got != tt.want {
				t.Errorf("Lookup(%q) = %q, want %q", tt.sni, got, tt.want)
			}
		})
	}
	if n := x.Len(); n != 6 {
		t.Errorf("Len = %d, want 6 (type server, status 1)", n)
	}
}

// TestListQuirk: APISIX's check of a list, as written, lets a wildcard match deeper names when the
// list also holds a name longer than the SNI.
func TestListQuirk(t *testing.T) {
	c := server("q", "*.test.com", "a-rather-long-name.example.com")
	x := NewIndex([]*Cert{c})
	if got := x.Lookup("a.b.test.com"); got != c {
		t.Errorf("Lookup = %v, want the list object (APISIX's arithmetic)", got)
	}
}

func TestParseProtocols(t *testing.T) {
	tests := []struct {
		in      []string
		lo, hi  uint16
		wantErr bool
	}{
		{nil, 0, 0, false},
		{[]string{"TLSv1.3"}, tls.VersionTLS13, tls.VersionTLS13, false},
		{[]string{"TLSv1.3", "TLSv1.2"}, tls.VersionTLS12, tls.VersionTLS13, false},
		{[]string{"TLSv1.1", "TLSv1.3"}, 0, 0, true},
		{[]string{"SSLv3"}, 0, 0, true},
	}
	for _, tt := range tests {
		lo, hi, err := ParseProtocols(tt.in)
		if (err != nil) != tt.wantErr || lo != tt.lo || hi != tt.hi {
			t.Errorf("ParseProtocols(%q) = %x, %x, %v", tt.in, lo, hi, err)
		}
	}
}

// TestConfigCached: one tls.Config per listener setting, the object's versions over the listener's.
func TestConfigCached(t *testing.T) {
	c := server("a", "a.example")
	c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	base := &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }}
	cfg := c.Config(base, nil)
	if cfg.MinVersion != tls.VersionTLS13 || cfg.GetConfigForClient != nil {
		t.Errorf("derived config %+v", cfg)
	}
	if c.Config(base, nil) != cfg {
		t.Error("not cached")
	}
	if c.Config(base.Clone(), nil) == cfg {
		t.Error("a new base reused the old config")
	}
}

// bigIndex is an index of n objects, half exact names and half wildcards.
func bigIndex(n int) *Index {
	certs := make([]*Cert, n)
	for i := range certs {
		if i%2 == 0 {
			certs[i] = server(fmt.Sprint(i), fmt.Sprintf("host-%d.example.com", i))
		} else {
			certs[i] = server(fmt.Sprint(i), fmt.Sprintf("*.tenant-%d.example.com", i))
		}
	}
	return NewIndex(certs)
}

// BenchmarkLookup10k: SNI lookups among 10,000 SSL objects.
func BenchmarkLookup10k(b *testing.B) {
	x := bigIndex(10000)
	for _, bc := range []struct{ name, sni string }{
		{"exact", "host-5000.example.com"},
		{"wildcard", "api.tenant-5001.example.com"},
		{"upper case", "API.Tenant-5001.Example.COM"},
		{"miss", "nothing.example.org"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = x.Lookup(bc.sni)
				}
			})
		})
	}
}

// TestClientVerify: Verify accepts what a required object's handshake accepts, and its errors
// read as OpenSSL's reasons after nginx's "FAILED:".
func TestClientVerify(t *testing.T) {
	root := tu.NewCA(t, "clients root")
	inter := root.Intermediate(t, "clients intermediate")
	other := tu.NewCA(t, "another root")
	parse := func(p string) []*x509.Certificate {
		var out []*x509.Certificate
		for rest := []byte(p); ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				return out
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
	}
	// chain is a certificate ca issues, with the intermediates it presents when sent is true.
	chain := func(ca *tu.CA, sent bool) []*x509.Certificate {
		certPEM, _ := ca.Issue(t, tu.ECDSA, "alice")
		c := parse(certPEM)
		if !sent {
			c = c[:1]
		}
		return c
	}
	pool := x509.NewCertPool()
	pool.AddCert(parse(root.PEM)[0])
	for _, tt := range []struct {
		name   string
		depth  int
		certs  []*x509.Certificate
		reason string // "" when it verifies
	}{
		{"issued by the CA", 1, chain(root, true), ""},
		{"through an intermediate within depth", 1, chain(inter, true), ""},
		{"intermediate beyond depth 0", 0, chain(inter, true), "certificate chain too long"},
		{"intermediate not sent", 1, chain(inter, false), "unable to get local issuer certificate"},
		{"another CA", 1, chain(other, true), "unable to get local issuer certificate"},
		{"self-signed", 1, parse(other.PEM), "self-signed certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{CAs: pool, Depth: tt.depth}
			chains, err := c.Verify(tt.certs, time.Now())
			if tt.reason == "" {
				if err != nil || len(chains) == 0 {
					t.Fatalf("chains %d, %v", len(chains), err)
				}
				return
			}
			if err == nil {
				t.Fatal("verified")
			}
			if got := VerifyReason(err); got != tt.reason {
				t.Errorf("reason %q, want %q (%v)", got, tt.reason, err)
			}
		})
	}
	if _, err := (&Client{CAs: pool}).Verify(nil, time.Now()); err == nil {
		t.Error("no certificate verified")
	}
}

// TestClientConfig: an object with a client member asks for client certificates: required
// without skip_mtls_uri_regex, optional with them; HasClient tells an index that holds one.
func TestClientConfig(t *testing.T) {
	required := server("req", "req.example")
	required.Client = &Client{CAs: x509.NewCertPool(), Depth: 1}
	optional := server("opt", "opt.example")
	optional.Client = &Client{CAs: x509.NewCertPool(), Depth: 1, Skip: []*regexp.Regexp{regexp.MustCompile(`^/public/`), regexp.MustCompile(`\.css$`)}}
	plain := server("plain", "plain.example")
	base := &tls.Config{}
	for _, tt := range []struct {
		c    *Cert
		want tls.ClientAuthType
	}{
		{required, tls.RequireAndVerifyClientCert},
		// Asked for but not verified by crypto/tls: one that fails does not fail the handshake
		// (the proxy verifies it after, Client.Verify).
		{optional, tls.RequestClientCert},
		{plain, tls.NoClientCert},
	} {
		cfg := tt.c.Config(base, nil)
		if cfg.ClientAuth != tt.want || (tt.c.Client != nil) != (cfg.ClientCAs != nil) ||
			(cfg.VerifyConnection != nil) != (tt.want == tls.RequireAndVerifyClientCert) {
			t.Errorf("%s: ClientAuth %v, CAs %v; want %v", tt.c.ID, cfg.ClientAuth, cfg.ClientCAs != nil, tt.want)
		}
	}
	for path, want := range map[string]bool{"/public/a": true, "/x/public/": false, "/a.css": true, "/a.css/x": false, "/PUBLIC/a": false} {
		if got := optional.Client.Exempt([]byte(path)); got != want {
			t.Errorf("Exempt(%q) = %v, want %v", path, got, want)
		}
	}
	if NewIndex([]*Cert{plain}).HasClient() || !NewIndex([]*Cert{plain, optional}).HasClient() || (*Index)(nil).HasClient() {
		t.Error("HasClient")
	}
	// A disabled object does not count.
	off := server("off", "off.example")
	off.Client, off.Enabled = required.Client, false
	if NewIndex([]*Cert{off}).HasClient() {
		t.Error("HasClient counts a disabled object")
	}
}
