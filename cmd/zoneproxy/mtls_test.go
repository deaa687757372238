package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// mtlsUpstream is an HTTPS upstream that requires a client certificate issued by ca and answers
// with its common name.
func mtlsUpstream(t *testing.T, ca *testutil.CA) string {
	t.Helper()
	c, k := testutil.Cert(t, testutil.ECDSA, "upstream.example")
	pair, err := tls.X509KeyPair([]byte(c), []byte(k))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca.PEM))
	ln := tls.NewListener(testutil.Listen(t), &tls.Config{Certificates: []tls.Certificate{pair},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "cn=%s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// mtlsGet asks addr for url's path with SNI and Host from url, presenting cert when not nil.
func mtlsGet(addr, url string, cert *tls.Certificate) (int, string) {
	cfg := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: cfg, DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMTLSThroughEtcd: SSL objects put into etcd as a stock APISIX Admin API stores them (keys
// encrypted): a server object whose client member requires a client certificate, and a client
// object that an upstream names by tls.client_cert_id to reach an upstream that requires one
// too. Changing the client object in etcd changes the certificate the upstream sees.
func TestMTLSThroughEtcd(t *testing.T) {
	cluster, files := startCluster(t)
	clients, upClients := testutil.NewCA(t, "clients"), testutil.NewCA(t, "proxy clients")
	up := mtlsUpstream(t, upClients)
	def, err := keyring.New(keyring.Default)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		putKV(t, cluster, key, string(b))
	}
	srv, srvk := testutil.Cert(t, testutil.ECDSA, "api.example.com")
	put("/apisix/ssls/server", map[string]any{"cert": srv, "key": def.Encrypt(srvk), "snis": []string{"api.example.com"},
		"client": map[string]any{"ca": clients.PEM, "skip_mtls_uri_regex": []string{"^/health$"}}})
	zp1, zp1k := upClients.Issue(t, testutil.ECDSA, "zoneproxy-1")
	put("/apisix/ssls/up", map[string]any{"type": "client", "cert": zp1, "key": def.Encrypt(zp1k)})
	put("/apisix/upstreams/1", map[string]any{"scheme": "https", "nodes": map[string]int{up: 1},
		"tls": map[string]any{"client_cert_id": "up"}})
	put("/apisix/routes/1", map[string]any{"uri": "/*", "upstream_id": "1"})
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})

	alicePEM, aliceKey := clients.Issue(t, testutil.ECDSA, "alice")
	alice, err := tls.X509KeyPair([]byte(alicePEM), []byte(aliceKey))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "mTLS at both ends", 10*time.Second, func() bool {
		code, body := mtlsGet(zp.https, "https://api.example.com/data", &alice)
		return code == 200 && body == "cn=zoneproxy-1"
	})
	if code, body := mtlsGet(zp.https, "https://api.example.com/data", nil); code != 400 {
		t.Errorf("no client certificate on a path no regex skips: %d %q, want 400", code, body)
	}
	if code, body := mtlsGet(zp.https, "https://api.example.com/health", nil); code != 200 || body != "cn=zoneproxy-1" {
		t.Errorf("no client certificate on a skipped path: %d %q, want 200", code, body)
	}

	zp2, zp2k := upClients.Issue(t, testutil.ECDSA, "zoneproxy-2")
	put("/apisix/ssls/up", map[string]any{"type": "client", "cert": zp2, "key": def.Encrypt(zp2k)})
	testutil.WaitFor(t, "the new upstream client certificate", 10*time.Second, func() bool {
		code, body := mtlsGet(zp.https, "https://api.example.com/data", &alice)
		return code == 200 && body == "cn=zoneproxy-2"
	})
	delKV(t, cluster, "/apisix/ssls/up")
	testutil.WaitFor(t, "502 once the client object is gone", 10*time.Second, func() bool {
		code, _ := mtlsGet(zp.https, "https://api.example.com/data", &alice)
		return code == 502
	})
}
