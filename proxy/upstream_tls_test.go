package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// mtlsUpstream is an HTTPS upstream that requires a client certificate from its CA; it answers
// with the certificate's common name and the SNI it was reached with, and counts the connections
// it accepted and closed.
type mtlsUpstream struct {
	addr           string
	opened, closed atomic.Int64
}

func startMTLSUpstream(t *testing.T, ca *tu.CA) *mtlsUpstream {
	t.Helper()
	certPEM, keyPEM := tu.Cert(t, tu.ECDSA, "upstream.example")
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca.PEM))
	u := &mtlsUpstream{}
	ln := tls.NewListener(tu.Listen(t), &tls.Config{Certificates: []tls.Certificate{pair},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "cn=%s sni=%s", r.TLS.PeerCertificates[0].Subject.CommonName, r.TLS.ServerName)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				u.opened.Add(1)
			case http.StateClosed, http.StateHijacked:
				u.closed.Add(1)
			}
		},
		ErrorLog: log.New(io.Discard, "", 0), // the handshakes refused on purpose
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	u.addr = ln.Addr().String()
	return u
}

func (u *mtlsUpstream) port() string {
	_, port, _ := net.SplitHostPort(u.addr)
	return port
}

// tlsMember is the JSON members of an upstream's tls object.
func tlsMember(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return `"scheme":"https","tls":` + string(b)
}

// TestUpstreamClientCert: an https upstream that requires a client certificate gets the one the
// upstream object names, as APISIX (t/node/upstream-mtls.t): inline (the key plain or encrypted
// with the keyring) or by tls.client_cert_id (an SSL object of type client); a missing id or
// one of the wrong type answers 502, a key that is no use 503. The TLS server name is the
// client's Host (pass_host pass), the upstream_host (rewrite) or the node's name (node), and never
// an IP address.
func TestUpstreamClientCert(t *testing.T) {
	ca := tu.NewCA(t, "upstream clients")
	up := startMTLSUpstream(t, ca)
	def, err := keyring.New(keyring.Default)
	if err != nil {
		t.Fatal(err)
	}
	alice, alicek := ca.Issue(t, tu.ECDSA, "alice")
	bob, bobk := ca.Issue(t, tu.RSA, "bob")
	_, otherk := ca.Issue(t, tu.ECDSA, "other")
	srv, srvk := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{},
		"/apisix/ssls/1", sslJSON(`"sni":"a.example"`, srv, srvk),
		"/apisix/ssls/bob", sslJSON(`"type":"client"`, bob, def.Encrypt(bobk)),
		"/apisix/routes/inline", route("/inline", "", tlsMember("client_cert", alice, "client_key", alicek), up.addr),
		"/apisix/routes/encrypted", route("/encrypted", "", tlsMember("client_cert", alice, "client_key", def.Encrypt(alicek)), up.addr),
		"/apisix/routes/byid", route("/byid", "", `"scheme":"https","tls":{"client_cert_id":"bob"}`, up.addr),
		"/apisix/routes/missing", route("/missing", "", `"scheme":"https","tls":{"client_cert_id":"nope"}`, up.addr),
		"/apisix/routes/server", route("/server", "", `"scheme":"https","tls":{"client_cert_id":"1"}`, up.addr),
		"/apisix/routes/mismatch", route("/mismatch", "", tlsMember("client_cert", alice, "client_key", otherk), up.addr),
		"/apisix/routes/undecryptable", route("/undecryptable", "", tlsMember("client_cert", alice, "client_key", strings.Repeat("QUJD", 30)), up.addr),
		"/apisix/routes/none", route("/none", "", `"scheme":"https"`, up.addr),
		"/apisix/routes/rewrite", route("/rewrite", "", `"pass_host":"rewrite","upstream_host":"up.example",`+tlsMember("client_cert", alice, "client_key", alicek), up.addr),
		"/apisix/routes/node-ip", route("/node-ip", "", `"pass_host":"node",`+tlsMember("client_cert", alice, "client_key", alicek), up.addr),
		"/apisix/routes/node-name", route("/node-name", "", `"pass_host":"node",`+tlsMember("client_cert", alice, "client_key", alicek),
			"localhost:"+up.port()),
	)
	h.put(t, "/apisix/upstreams/byid", fmt.Sprintf(`{"scheme":"https","tls":{"client_cert_id":"bob"},"nodes":{%q:1}}`, up.addr),
		"/apisix/routes/upstream-id", `{"uri":"/upstream-id","upstream_id":"byid"}`)
	cl := h.client(true)
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/inline", 200, "cn=alice sni=a.example"},
		{"/encrypted", 200, "cn=alice sni=a.example"},
		{"/byid", 200, "cn=bob sni=a.example"},
		{"/upstream-id", 200, "cn=bob sni=a.example"},
		{"/missing", 502, ""},
		{"/server", 502, ""},
		{"/mismatch", 503, ""},
		{"/undecryptable", 503, ""},
		{"/none", 502, ""}, // the upstream refuses the handshake
		// The TLS server name, as APISIX's $upstream_host (spec tls.md 6): never an IP address.
		{"/rewrite", 200, "cn=alice sni=up.example"},
		{"/node-ip", 200, "cn=alice sni="},
		{"/node-name", 200, "cn=alice sni=localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body, _ := httpsGet(t, cl, "https://a.example"+tt.path)
			if code != tt.code || (tt.body != "" && body != tt.body) {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
		})
	}
}

// TestUpstreamClientCertPooled: TLS connections to an https upstream are kept alive and reused;
// a change of the SSL object an upstream names (tls.client_cert_id) reaches the next connection,
// and the connections that presented the old certificate are closed.
func TestUpstreamClientCertPooled(t *testing.T) {
	ca := tu.NewCA(t, "upstream clients")
	up := startMTLSUpstream(t, ca)
	bob, bobk := ca.Issue(t, tu.ECDSA, "bob")
	carol, carolk := ca.Issue(t, tu.ECDSA, "carol")
	srv, srvk := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{},
		"/apisix/ssls/1", sslJSON(`"sni":"a.example"`, srv, srvk),
		"/apisix/ssls/c", sslJSON(`"type":"client"`, bob, bobk),
		"/apisix/upstreams/1", fmt.Sprintf(`{"scheme":"https","tls":{"client_cert_id":"c"},"nodes":{%q:1}}`, up.addr),
		"/apisix/routes/1", `{"uri":"/r","upstream_id":"1"}`)
	cl := h.client(true)
	for i := 0; i < 20; i++ {
		if code, body, _ := httpsGet(t, cl, "https://a.example/r"); code != 200 || body != "cn=bob sni=a.example" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := up.opened.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d upstream connections, want 1 kept alive", n)
	}
	h.put(t, "/apisix/ssls/c", sslJSON(`"type":"client"`, carol, carolk))
	if code, body, _ := httpsGet(t, cl, "https://a.example/r"); code != 200 || body != "cn=carol sni=a.example" {
		t.Fatalf("after the SSL object changed: %d %q", code, body)
	}
	tu.WaitFor(t, "the connection with the old certificate closed", waitFor, func() bool { return up.closed.Load() >= 1 })
	if n := up.opened.Load(); n != 2 {
		t.Errorf("%d upstream connections opened, want 2", n)
	}
	// A bad version of the object is rejected: the last good one is still presented.
	h.put(t, "/apisix/ssls/c", sslJSON(`"type":"client"`, carol, bobk))
	if code, body, _ := httpsGet(t, cl, "https://a.example/r"); code != 200 || body != "cn=carol sni=a.example" {
		t.Fatalf("after a bad version: %d %q", code, body)
	}
	// Deleted: the id names nothing, 502.
	h.put(t, "/apisix/ssls/c", "")
	if code, _, _ := httpsGet(t, cl, "https://a.example/r"); code != 502 {
		t.Fatalf("after the SSL object was deleted: %d, want 502", code)
	}
}
