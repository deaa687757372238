package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// clientPair is a client certificate that ca issues to cn, for tls.Config.Certificates.
func clientPair(t *testing.T, ca *tu.CA, cn string) *tls.Certificate {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, tu.ECDSA, cn)
	c, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// mtlsGet sends GET path with Host host on a new connection whose SNI is sni, presenting cert
// when not nil, whatever authorities the server asks for. It returns the status, or an error when the handshake or the exchange failed.
func (h *tlsHarness) mtlsGet(sni, host, path string, cert *tls.Certificate) (int, error) {
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Sent whatever CAs the server names (crypto/tls would otherwise hold back a
		// certificate of an authority the server does not list).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.addr, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
		return 0, err
	}
	// With TLS 1.3 a refused client certificate surfaces at the first read.
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// clientMember is the JSON of an SSL object's client member.
func clientMember(ca string, depth int, skip ...string) string {
	m := map[string]any{"ca": ca}
	if depth >= 0 {
		m["depth"] = depth
	}
	if len(skip) > 0 {
		m["skip_mtls_uri_regex"] = skip
	}
	b, _ := json.Marshal(m)
	return `"client":` + string(b)
}

// TestMTLS: client certificates on SSL objects with a client member, as APISIX
// (t/node/client-mtls.t): required and verified at the handshake, depth enforced, optional with
// skip_mtls_uri_regex (400 for a path none of them matches), and 400 when the Host's object
// verifies client certificates but the SNI is another name.
func TestMTLS(t *testing.T) {
	root := tu.NewCA(t, "clients root")
	inter := root.Intermediate(t, "clients intermediate")
	other := tu.NewCA(t, "another root")
	good := clientPair(t, root, "alice")
	deep := clientPair(t, inter, "bob")
	stranger := clientPair(t, other, "eve")

	be := echoBackend(t)
	srv := func(name string) (string, string) { return tu.Cert(t, tu.ECDSA, name) }
	req, reqk := srv("req.example")
	d0, d0k := srv("d0.example")
	opt, optk := srv("opt.example")
	plain, plaink := srv("plain.example")
	h := startTLS(t, Options{},
		"/apisix/ssls/1", sslJSON(`"sni":"req.example",`+clientMember(root.PEM, -1), req, reqk),
		"/apisix/ssls/2", sslJSON(`"sni":"d0.example",`+clientMember(root.PEM, 0), d0, d0k),
		"/apisix/ssls/3", sslJSON(`"sni":"opt.example",`+clientMember(root.PEM, -1, "^/public/", `\.css$`), opt, optk),
		"/apisix/ssls/4", sslJSON(`"sni":"plain.example"`, plain, plaink),
		"/apisix/routes/1", route("/*", "", "", be))

	tests := []struct {
		name            string
		sni, host, path string
		cert            *tls.Certificate
		want            int // 0: the handshake (or the first read) fails
	}{
		{"required, verified", "req.example", "req.example", "/x", good, 200},
		{"required, none", "req.example", "req.example", "/x", nil, 0},
		{"required, unknown CA", "req.example", "req.example", "/x", stranger, 0},
		{"depth 1 takes one intermediate", "req.example", "req.example", "/x", deep, 200},
		{"depth 0, issued by the CA", "d0.example", "d0.example", "/x", good, 200},
		{"depth 0 refuses an intermediate", "d0.example", "d0.example", "/x", deep, 0},
		{"optional, skipped path", "opt.example", "opt.example", "/public/a", nil, 200},
		{"optional, second regex", "opt.example", "opt.example", "/s/site.css", nil, 200},
		{"optional, path matching none", "opt.example", "opt.example", "/private", nil, 400},
		{"optional, regex is case-sensitive", "opt.example", "opt.example", "/PUBLIC/a", nil, 400},
		{"optional, query not matched", "opt.example", "opt.example", "/private?x=/public/", nil, 400},
		{"optional, verified", "opt.example", "opt.example", "/private", good, 200},
		// APISIX asks for an optional certificate without failing the handshake on it and checks
		// the verification only for paths no skip_mtls_uri_regex matches (apisix/init.lua
		// verify_https_client; t/node/client-mtls.t): a certificate that does not verify is
		// served on a skipped path, refused (400) on the others. Before, it failed the handshake.
		{"optional, unverified certificate, skipped path", "opt.example", "opt.example", "/public/a", stranger, 200},
		{"optional, unverified certificate, path matching none", "opt.example", "opt.example", "/private", stranger, 400},
		{"host of an mTLS object on another SNI", "plain.example", "req.example", "/x", nil, 400},
		{"host of an mTLS object with a port", "plain.example", "REQ.example:443", "/x", nil, 400},
		{"verified SNI, host of another mTLS object", "req.example", "opt.example", "/public/a", good, 400},
		{"verified SNI, host without mTLS", "req.example", "plain.example", "/x", good, 200},
		{"same name, other case", "req.example", "Req.Example.", "/x", good, 200},
		{"no mTLS anywhere near", "plain.example", "plain.example", "/x", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := h.mtlsGet(tt.sni, tt.host, tt.path, tt.cert)
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("got %d, want a failed handshake", code)
				}
				return
			}
			if err != nil || code != tt.want {
				t.Fatalf("got %d, %v; want %d", code, err, tt.want)
			}
		})
	}
}

// TestMTLSUpdate: an SSL object's client member changed through a build applies to the next
// handshake; a bad one is rejected and the last good version keeps verifying.
func TestMTLSUpdate(t *testing.T) {
	root := tu.NewCA(t, "root")
	next := tu.NewCA(t, "next root")
	alice := clientPair(t, root, "alice")
	bob := clientPair(t, next, "bob")
	be := echoBackend(t)
	c, k := tu.Cert(t, tu.ECDSA, "m.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"m.example",`+clientMember(root.PEM, -1), c, k),
		"/apisix/routes/1", route("/*", "", "", be))
	get := func(cert *tls.Certificate) int {
		code, _ := h.mtlsGet("m.example", "m.example", "/", cert)
		return code
	}
	if a, b := get(alice), get(bob); a != 200 || b != 0 {
		t.Fatalf("alice %d, bob %d; want 200 and a failed handshake", a, b)
	}
	h.put(t, "/apisix/ssls/1", sslJSON(`"sni":"m.example",`+clientMember(next.PEM, -1), c, k))
	if a, b := get(alice), get(bob); a != 0 || b != 200 {
		t.Fatalf("after the CA changed: alice %d, bob %d; want a failed handshake and 200", a, b)
	}
	h.put(t, "/apisix/ssls/1", sslJSON(`"sni":"m.example",`+clientMember(next.PEM, -1, "(unclosed"), c, k))
	if a, b := get(alice), get(bob); a != 0 || b != 200 {
		t.Fatalf("after a bad version: alice %d, bob %d; want the last good version", a, b)
	}
	h.put(t, "/apisix/ssls/1", sslJSON(`"sni":"m.example"`, c, k))
	if a := get(nil); a != 200 {
		t.Fatalf("after the client member went away: %d without a certificate", a)
	}
}

// TestTLSVars: nginx's $ssl_* variables, in a route's vars and in proxy-rewrite's headers.
func TestTLSVars(t *testing.T) {
	root := tu.NewCA(t, "clients root")
	alice := clientPair(t, root, "alice")
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "verify=%s dn=%s idn=%s sni=%s proto=%s serial=%d fp=%d", r.Header.Get("X-Verify"), r.Header.Get("X-DN"),
			r.Header.Get("X-IDN"), r.Header.Get("X-SNI"), r.Header.Get("X-Proto"), len(r.Header.Get("X-Serial")), len(r.Header.Get("X-FP")))
	}))
	c, k := tu.Cert(t, tu.ECDSA, "opt.example")
	headers := `"plugins":{"proxy-rewrite":{"headers":{"set":{"X-Verify":"$ssl_client_verify","X-DN":"$ssl_client_s_dn",` +
		`"X-IDN":"$ssl_client_i_dn","X-SNI":"$ssl_server_name","X-Proto":"$ssl_protocol","X-Serial":"$ssl_client_serial",` +
		`"X-FP":"$ssl_client_fingerprint"}}}}`
	h := startTLS(t, Options{},
		"/apisix/ssls/1", sslJSON(`"sni":"opt.example",`+clientMember(root.PEM, -1, "^/public"), c, k),
		"/apisix/routes/1", route("/public", `"vars":[["ssl_client_verify","==","NONE"]],`+headers, "", be),
		"/apisix/routes/2", route("/private", `"vars":[["ssl_client_verify","==","SUCCESS"],["ssl_client_s_dn","~~","CN=alice"]],`+headers, "", be),
		"/apisix/routes/3", route("/public/failed", `"vars":[["ssl_client_verify","~~","^FAILED:"]],`+headers, "", be))
	get := func(path string, cert *tls.Certificate) (int, string) {
		cfg := &tls.Config{ServerName: "opt.example", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
		if cert != nil {
			// Sent whatever CAs the server names.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		conn, err := tls.Dial("tcp", h.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: opt.example\r\n\r\n", path)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/public", nil); code != 200 || body != "verify=NONE dn= idn= sni=opt.example proto=TLSv1.2 serial=0 fp=0" {
		t.Errorf("without a certificate: %d %q", code, body)
	}
	want := "verify=SUCCESS dn=CN=alice,O=zoneproxy tests idn=CN=clients root sni=opt.example proto=TLSv1.2"
	if code, body := get("/private", alice); code != 200 || !strings.HasPrefix(body, want) || strings.Contains(body, "serial=0") || !strings.HasSuffix(body, "fp=40") {
		t.Errorf("with a certificate: %d %q, want %q...", code, body, want)
	}
	if code, _ := get("/public", alice); code != 404 {
		t.Errorf("a verified client on the route for NONE: %d, want 404", code)
	}
	// An optional certificate that does not verify: nginx's FAILED:<OpenSSL's reason>, and the
	// client's fields all the same.
	eve := clientPair(t, tu.NewCA(t, "another root"), "eve")
	want = "verify=FAILED:unable to get local issuer certificate dn=CN=eve,O=zoneproxy tests idn=CN=another root"
	if code, body := get("/public/failed", eve); code != 200 || !strings.HasPrefix(body, want) {
		t.Errorf("with a certificate that does not verify: %d %q, want %q...", code, body, want)
	}
}

// TestMTLSOverHTTP2: the client-certificate checks hold for requests that come over HTTP/2: a
// stream on an optional-mTLS connection without a verified certificate (none, or one that does not
// verify) gets 400 on a path that no skip regex matches, as over HTTP/1.1; with a verified
// certificate, or on a skipped path, it is served.
func TestMTLSOverHTTP2(t *testing.T) {
	root := tu.NewCA(t, "clients root")
	good := clientPair(t, root, "alice")
	stranger := clientPair(t, tu.NewCA(t, "another root"), "eve")
	be := echoBackend(t)
	opt, optk := tu.Cert(t, tu.ECDSA, "opt.example")
	h := startTLS(t, Options{},
		"/apisix/ssls/1", sslJSON(`"sni":"opt.example",`+clientMember(root.PEM, -1, "^/public/"), opt, optk),
		"/apisix/routes/1", route("/*", "", "", be))

	for _, tt := range []struct {
		name string
		path string
		cert *tls.Certificate
		want int
	}{
		{"skipped path, no certificate", "/public/a", nil, 200},
		{"other path, no certificate", "/private", nil, 400},
		{"other path, verified", "/private", good, 200},
		{"other path, unverified", "/private", stranger, 400},
		{"skipped path, unverified", "/public/a", stranger, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{ServerName: "opt.example", InsecureSkipVerify: true, NextProtos: []string{"h2"}}
			if tt.cert != nil {
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tt.cert, nil }
			}
			tr := &http2.Transport{
				TLSClientConfig: cfg,
				DialTLSContext: func(ctx context.Context, network, _ string, cfg *tls.Config) (net.Conn, error) {
					d := tls.Dialer{Config: cfg}
					return d.DialContext(ctx, network, h.addr)
				},
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("https://opt.example" + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tt.want {
				t.Fatalf("%s over %s: %d, want %d over HTTP/2", tt.path, resp.Proto, resp.StatusCode, tt.want)
			}
		})
	}
}
