package snapshot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// sslObject is the JSON of an SSL object with cert and key and extra fields (a JSON object's
// members, may be empty).
func sslObject(cert, key, extra string) string {
	c, _ := json.Marshal(cert)
	k, _ := json.Marshal(key)
	s := fmt.Sprintf(`{"cert":%s,"key":%s`, c, k)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func newSSLBuilder(t testing.TB, logs *bytes.Buffer, kr *keyring.Keyring) *Builder {
	t.Helper()
	b, err := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Keyring: kr,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSSLObjects: each SSL object is validated alone; a bad one is rejected with its key and reason.
func TestSSLObjects(t *testing.T) {
	ec, eck := testutil.Cert(t, testutil.ECDSA, "a.example")
	rs, rsk := testutil.Cert(t, testutil.RSA, "a.example")
	other, otherk := testutil.Cert(t, testutil.ECDSA, "b.example")
	def, _ := keyring.New(keyring.Default)
	list := func(ss ...string) string { b, _ := json.Marshal(ss); return string(b) }
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	ca, ca2 := testutil.NewCA(t, "one").PEM, testutil.NewCA(t, "two").PEM
	badCA := "-----BEGIN CERTIFICATE-----\n" + strings.Repeat("QUJD", 40) + "\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name, value string
		want        string // "" accepted, else part of the reason
	}{
		{"ecdsa", sslObject(ec, eck, `"sni":"a.example"`), ""},
		{"rsa and ecdsa on one object", sslObject(rs, rsk, `"sni":"a.example","certs":`+list(ec)+`,"keys":`+list(eck)), ""},
		{"snis", sslObject(ec, eck, `"snis":["a.example","*.a.example"],"ssl_protocols":["TLSv1.3"],"labels":{"env":"prod"}`), ""},
		{"encrypted key", sslObject(ec, def.Encrypt(eck), `"sni":"a.example"`), ""},
		{"type client needs no sni", sslObject(ec, eck, `"type":"client"`), ""},
		{"status 0", sslObject(ec, eck, `"sni":"a.example","status":0`), ""},
		{"star", sslObject(ec, eck, `"sni":"*"`), ""},
		{"cert does not parse", sslObject(strings.Repeat("x", 200), eck, `"sni":"a.example"`), "cert/key"},
		{"key does not match", sslObject(ec, otherk, `"sni":"a.example"`), "private key does not match"},
		{"key does not decrypt", sslObject(ec, strings.Repeat("QUJD", 30), `"sni":"a.example"`), "decrypt ssl key failed"},
		{"mismatched counts", sslObject(ec, eck, `"sni":"a.example","certs":`+list(other)), "mismatched number of certs and keys"},
		{"bad extra pair", sslObject(ec, eck, `"sni":"a.example","certs":`+list(other)+`,"keys":`+list(eck)), "certs[0]/keys[0]"},
		{"bad sni", sslObject(ec, eck, `"sni":"a example"`), `is not a server name`},
		{"bad snis entry", sslObject(ec, eck, `"snis":["a.example","**.x"]`), "snis[1]"},
		{"empty snis", sslObject(ec, eck, `"snis":[]`), "snis"},
		{"sni and snis", sslObject(ec, eck, `"sni":"a.example","snis":["a.example"]`), "only one"},
		{"server without sni", sslObject(ec, eck, ""), "sni or snis is required"},
		{"no key", fmt.Sprintf(`{"cert":%q,"sni":"a.example"}`, ec), "cert and key are required"},
		{"bad type", sslObject(ec, eck, `"sni":"a.example","type":"peer"`), "type"},
		{"bad status", sslObject(ec, eck, `"sni":"a.example","status":2`), "status"},
		{"bad protocol", sslObject(ec, eck, `"sni":"a.example","ssl_protocols":["SSLv3"]`), "ssl_protocols"},
		{"mtls", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca)+`}`), ""},
		{"mtls, two CAs, depth and regexes", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca+ca2)+`,"depth":3,"skip_mtls_uri_regex":["^/a","b$"]}`), ""},
		{"mtls, depth 0", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca)+`,"depth":0}`), ""},
		{"mtls without ca", sslObject(ec, eck, `"sni":"a.example","client":{"depth":1}`), "client.ca: is required"},
		{"mtls, ca too short", sslObject(ec, eck, `"sni":"a.example","client":{"ca":"x"}`), "client.ca: length"},
		{"mtls, ca not PEM", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(strings.Repeat("x", 200))+`}`), "client.ca: is not a list of PEM certificates"},
		{"mtls, ca a key", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(eck)+`}`), `client.ca: holds a PEM block of type`},
		{"mtls, ca does not parse", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(badCA)+`}`), "client.ca: certificate 1 does not parse"},
		{"mtls, ca with trailing junk", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca+"junk")+`}`), "client.ca: is not a list"},
		{"mtls, negative depth", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca)+`,"depth":-1}`), "client.depth"},
		{"mtls, bad regex", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca)+`,"skip_mtls_uri_regex":["^/ok","(x"]}`), "client.skip_mtls_uri_regex[1]"},
		{"mtls, PCRE-only regex", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca)+`,"skip_mtls_uri_regex":["^/(?=x)"]}`), "client.skip_mtls_uri_regex[0]"},
		{"mtls, repeated regex", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca)+`,"skip_mtls_uri_regex":["^/a","^/a"]}`), "must be unique"},
		{"mtls, unknown member", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+q(ca)+`,"verify":true}`), "client: verify: unknown field"},
		{"mtls, not an object", sslObject(ec, eck, `"sni":"a.example","client":"yes"`), "client"},
		{"secret reference", sslObject(ec, "$secret://vault/1/key"+strings.Repeat("x", 60), `"sni":"a.example"`), "secret references"},
		{"unknown field", sslObject(ec, eck, `"sni":"a.example","bogus":1`), "bogus: unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			b := newSSLBuilder(t, &logs, def)
			snap := build(t, b, stateOf("/apisix/ssls/1", tt.value))
			_, ok := b.byID[KindSSL]["1"]
			if tt.want == "" {
				if !ok {
					t.Fatalf("rejected: %s", logs.String())
				}
				return
			}
			if ok {
				t.Fatal("accepted")
			}
			if !strings.Contains(logs.String(), "key=/apisix/ssls/1") || !strings.Contains(logs.String(), tt.want) {
				t.Errorf("log %q, want the key and %q", logs.String(), tt.want)
			}
			if snap.SSL.Lookup("a.example") != nil {
				t.Error("a rejected object is served")
			}
		})
	}
}

// TestSSLPairsOrder: an object's pairs are all kept, ECDSA first.
func TestSSLPairsOrder(t *testing.T) {
	ec, eck := testutil.Cert(t, testutil.ECDSA, "a.example")
	rs, rsk := testutil.Cert(t, testutil.RSA, "a.example")
	var logs bytes.Buffer
	b := newSSLBuilder(t, &logs, nil)
	snap := build(t, b, stateOf("/apisix/ssls/1", sslObject(rs, rsk, fmt.Sprintf(`"sni":"a.example","certs":[%q],"keys":[%q]`, ec, eck))))
	c := snap.SSL.Lookup("a.example")
	if c == nil || len(c.Certificates) != 2 {
		t.Fatalf("cert %+v; logs %s", c, logs.String())
	}
	if _, ok := c.Certificates[0].PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Error("the ECDSA pair is not first")
	}
	if _, ok := c.Certificates[1].PrivateKey.(*rsa.PrivateKey); !ok {
		t.Error("the RSA pair is missing")
	}
	// crypto/tls chooses among several pairs by their parsed leaves: they are kept.
	for i, pair := range c.Certificates {
		if pair.Leaf == nil {
			t.Errorf("pair %d has no leaf", i)
		}
	}
}

// TestSSLOnePairNoLeaf: a one-pair object keeps no parsed leaf (a handshake never reads it), and
// a real handshake still serves its certificate.
func TestSSLOnePairNoLeaf(t *testing.T) {
	ec, eck := testutil.Cert(t, testutil.ECDSA, "a.example")
	var logs bytes.Buffer
	b := newSSLBuilder(t, &logs, nil)
	snap := build(t, b, stateOf("/apisix/ssls/1", sslObject(ec, eck, `"sni":"a.example"`)))
	c := snap.SSL.Lookup("a.example")
	if c == nil || len(c.Certificates) != 1 {
		t.Fatalf("cert %+v; logs %s", c, logs.String())
	}
	if c.Certificates[0].Leaf != nil {
		t.Error("a one-pair object keeps its parsed leaf")
	}
	cfg := c.Config(&tls.Config{MinVersion: tls.VersionTLS12}, nil)
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	done := make(chan error, 1)
	go func() { done <- tls.Server(server, cfg).Handshake() }()
	cc := tls.Client(client, &tls.Config{ServerName: "a.example", InsecureSkipVerify: true})
	if err := cc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	got := cc.ConnectionState().PeerCertificates
	if len(got) == 0 || !bytes.Equal(got[0].Raw, c.Certificates[0].Certificate[0]) {
		t.Error("the handshake did not serve the object's certificate")
	}
}

// TestSSLLastGoodVersion: a bad update is rejected, the last good version keeps serving (and is
// what the state file keeps); a deletion removes it; the index is rebuilt only when an SSL object
// changed.
func TestSSLLastGoodVersion(t *testing.T) {
	c1, k1 := testutil.Cert(t, testutil.ECDSA, "a.example")
	_, k2 := testutil.Cert(t, testutil.ECDSA, "a.example")
	var logs bytes.Buffer
	b := newSSLBuilder(t, &logs, nil)
	good := sslObject(c1, k1, `"sni":"a.example"`)
	st := stateOf("/apisix/ssls/1", good, "/apisix/routes/1", `{"uri":"/","upstream":{"nodes":{"127.0.0.1:1":1}}}`)
	s1 := build(t, b, st)
	first := s1.SSL.Lookup("a.example")
	if first == nil {
		t.Fatalf("not served: %s", logs.String())
	}
	st = with(st, "/apisix/ssls/1", sslObject(c1, k2, `"sni":"a.example"`))
	s2 := build(t, b, st)
	if s2.SSL.Lookup("a.example") != first {
		t.Error("the last good version is not served")
	}
	if !strings.Contains(logs.String(), "rejected configuration object") || !strings.Contains(logs.String(), "kept_previous_version=true") {
		t.Errorf("log %q", logs.String())
	}
	if kv, _ := s2.KVs.Get("/apisix/ssls/1"); string(kv.Value) != good {
		t.Error("the state file would not keep the last good version")
	}
	st = with(st, "/apisix/routes/1", `{"uri":"/x","upstream":{"nodes":{"127.0.0.1:1":1}}}`)
	if s3 := build(t, b, st); s3.SSL != s2.SSL {
		t.Error("a route change rebuilt the SNI index")
	}
	st = with(st, "/apisix/ssls/1", "")
	if s4 := build(t, b, st); s4.SSL.Lookup("a.example") != nil || s4.SSL.Len() != 0 {
		t.Error("a deleted object is still served")
	}
}

// TestSSLKeyring: keys encrypted with APISIX's default keyring (either entry), with an AES-256
// entry, or not at all; with an empty keyring (keyring: null) only plaintext keys load, and a
// builder given none uses APISIX's default.
func TestSSLKeyring(t *testing.T) {
	c, k := testutil.Cert(t, testutil.ECDSA, "a.example")
	first, _ := keyring.New(keyring.Default[:1])
	second, _ := keyring.New(keyring.Default[1:])
	aes256, _ := keyring.New([]string{"0123456789abcdef0123456789abcdef"})
	def, _ := keyring.New(keyring.Default)
	none, _ := keyring.New(nil) // keyring: null
	mixed, _ := keyring.New(append([]string{"0123456789abcdef0123456789abcdef"}, keyring.Default...))
	tests := []struct {
		name string
		kr   *keyring.Keyring
		key  string
		ok   bool
	}{
		{"default keyring, first entry", def, first.Encrypt(k), true},
		{"default keyring, second entry", def, second.Encrypt(k), true},
		{"AES-256 entry", mixed, aes256.Encrypt(k), true},
		{"plaintext with a keyring", def, k, true},
		{"no keyring given: APISIX's default", nil, second.Encrypt(k), true},
		{"plaintext without a keyring", none, k, true},
		{"encrypted without a keyring", none, first.Encrypt(k), false},
		{"encrypted with another keyring", aes256, first.Encrypt(k), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			b := newSSLBuilder(t, &logs, tt.kr)
			snap := build(t, b, stateOf("/apisix/ssls/1", sslObject(c, tt.key, `"sni":"a.example"`)))
			if got := snap.SSL.Lookup("a.example") != nil; got != tt.ok {
				t.Errorf("served %v, want %v; logs %s", got, tt.ok, logs.String())
			}
		})
	}
}

// TestSSLSharedClientCA: SSL objects with the same client.ca share one parsed pool, with their
// own depth; another CA gets its own pool; an update that keeps the CA keeps the pool.
func TestSSLSharedClientCA(t *testing.T) {
	ec, eck := testutil.Cert(t, testutil.ECDSA, "a.example")
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	ca, other := q(testutil.NewCA(t, "clients").PEM), q(testutil.NewCA(t, "others").PEM)
	var logs bytes.Buffer
	b := newSSLBuilder(t, &logs, nil)
	st := stateOf(
		"/apisix/ssls/1", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+ca+`}`),
		"/apisix/ssls/2", sslObject(ec, eck, `"sni":"b.example","client":{"ca":`+ca+`,"depth":2}`),
		"/apisix/ssls/3", sslObject(ec, eck, `"sni":"c.example","client":{"ca":`+other+`}`))
	snap := build(t, b, st)
	x, y, z := snap.SSL.Lookup("a.example"), snap.SSL.Lookup("b.example"), snap.SSL.Lookup("c.example")
	if x == nil || y == nil || z == nil || x.Client == nil || y.Client == nil || z.Client == nil {
		t.Fatalf("objects missing; logs %s", logs.String())
	}
	if x.Client.CAs != y.Client.CAs {
		t.Error("two objects with the same client.ca hold two pools")
	}
	if x.Client.CAs == z.Client.CAs {
		t.Error("objects with different client.ca share a pool")
	}
	if x.Client.Depth != 1 || y.Client.Depth != 2 {
		t.Errorf("depths %d and %d, want 1 and 2", x.Client.Depth, y.Client.Depth)
	}
	next := with(st, "/apisix/ssls/1", sslObject(ec, eck, `"sni":"a.example","client":{"ca":`+ca+`,"depth":3}`))
	next.Changed, next.Previous = []string{"/apisix/ssls/1"}, st.Revision
	snap = build(t, b, next)
	x2 := snap.SSL.Lookup("a.example")
	if x2 == nil || x2.Client == nil {
		t.Fatalf("the updated object is not served; logs %s", logs.String())
	}
	if x2.Client.Depth != 3 || x2.Client.CAs != y.Client.CAs {
		t.Errorf("after an update that kept the CA: depth %d, pool shared %v; want 3, true", x2.Client.Depth, x2.Client.CAs == y.Client.CAs)
	}
}

// TestCAPoolsSweep: a pool that nothing holds any more leaves the cache when it is swept; a
// pool still held stays.
func TestCAPoolsSweep(t *testing.T) {
	var p caPools
	kept := x509.NewCertPool()
	p.put([32]byte{1}, kept)
	for i := range 63 {
		p.put([32]byte{2, byte(i)}, x509.NewCertPool())
	}
	runtime.GC() // the 63 unheld pools are collected: their weak pointers read nil
	p.put([32]byte{3}, x509.NewCertPool())
	if len(p.m) != 2 {
		t.Errorf("%d entries after the sweep, want 2 (the held pool and the new one)", len(p.m))
	}
	if p.get([32]byte{1}) != kept {
		t.Error("a held pool was swept")
	}
	runtime.KeepAlive(kept)
}

// BenchmarkBuildSSL10k: a cold build of 10,000 SSL objects (each key decrypted with the default
// keyring, each pair parsed and matched), then a build after one of them changed.
func BenchmarkBuildSSL10k(b *testing.B) {
	c, k := testutil.Cert(b, testutil.ECDSA, "example.com")
	def, _ := keyring.New(keyring.Default)
	enc := def.Encrypt(k)
	kvs := make([]string, 0, 20000)
	for i := range 10000 {
		kvs = append(kvs, fmt.Sprintf("/apisix/ssls/%d", i), sslObject(c, enc, fmt.Sprintf(`"snis":["host-%d.example.com","*.t%d.example.com"]`, i, i)))
	}
	st := stateOf(kvs...)
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bl := newSSLBuilder(b, &bytes.Buffer{}, def)
			snap, err := bl.Build(st)
			if err != nil || snap.SSL.Len() != 10000 {
				b.Fatalf("%v, %d objects", err, snap.SSL.Len())
			}
		}
	})
	b.Run("one change", func(b *testing.B) {
		bl := newSSLBuilder(b, &bytes.Buffer{}, def)
		if _, err := bl.Build(st); err != nil {
			b.Fatal(err)
		}
		cur := st
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			next := with(cur, "/apisix/ssls/7", sslObject(c, enc, fmt.Sprintf(`"sni":"v%d.example.com"`, i)))
			next.Changed, next.Previous = []string{"/apisix/ssls/7"}, cur.Revision
			if _, err := bl.Build(next); err != nil {
				b.Fatal(err)
			}
			cur = next
		}
	})
}

// BenchmarkBuiltMemorySSL10k reports the heap that a built configuration of 10,000 SSL objects
// holds, per object: the Builder's state and the Snapshot with its SNI index (each object one
// ECDSA P-256 pair, its key encrypted with the default keyring, two names; with mtls, each also
// verifies client certificates against the same CA, as tenants of one company would), and the
// control-plane copy of the objects it was built from.
//
//	go test -run x -bench BuiltMemorySSL10k ./proxy/snapshot/
func BenchmarkBuiltMemorySSL10k(b *testing.B) {
	const n = 10_000
	c, k := testutil.Cert(b, testutil.ECDSA, "example.com")
	def, _ := keyring.New(keyring.Default)
	enc := def.Encrypt(k)
	ca, _ := json.Marshal(testutil.NewCA(b, "clients").PEM)
	for _, bc := range []struct{ name, extra string }{
		{"server", ""},
		{"mtls", `,"client":{"ca":` + string(ca) + `}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				before := liveHeap()
				kvs := make([]string, 0, 2*n)
				for i := range n {
					kvs = append(kvs, fmt.Sprintf("/apisix/ssls/%d", i), sslObject(c, enc, fmt.Sprintf(`"snis":["host-%d.example.com","*.t%d.example.com"]%s`, i, i, bc.extra)))
				}
				st := stateOf(kvs...)
				kvs = nil
				copied := liveHeap()
				bl := newSSLBuilder(b, &bytes.Buffer{}, def)
				snap, err := bl.Build(st)
				if err != nil || snap.SSL.Len() != n {
					b.Fatalf("%v, %d objects", err, snap.SSL.Len())
				}
				built := liveHeap()
				b.ReportMetric(float64(copied-before)/n, "B/object-copy")
				b.ReportMetric(float64(built-copied)/n, "B/object-built")
				runtime.KeepAlive(st)
				runtime.KeepAlive(bl)
				runtime.KeepAlive(snap)
			}
		})
	}
}
