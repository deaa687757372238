//go:build unix

package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// BenchmarkTLSHandshake: a new connection (full handshake, or "resumed": offering the session of
// the previous one, a stateful TLS 1.3 ticket or a TLS 1.2 ticket into the session cache; ECDSA
// P-256 server certificate) and one request on it, with and without a client certificate (mTLS, the client's
// issued by a CA the SSL object trusts). Client and server run in this process: cpu-us/op is the
// CPU time of both sides per connection (getrusage), which a machine shared with other work does
// not inflate as it does ns/op.
func BenchmarkTLSHandshake(b *testing.B) {
	ca := tu.NewCA(b, "clients")
	certPEM, keyPEM := ca.Issue(b, tu.ECDSA, "alice")
	clientCert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		b.Fatal(err)
	}
	c, k := tu.Cert(b, tu.ECDSA, "plain.example")
	mc, mk := tu.Cert(b, tu.ECDSA, "mtls.example")
	be := echoBackend(b)
	h := startTLS(b, Options{},
		"/apisix/ssls/1", sslJSON(`"sni":"plain.example"`, c, k),
		"/apisix/ssls/2", sslJSON(`"sni":"mtls.example",`+clientMember(ca.PEM, -1), mc, mk),
		"/apisix/routes/1", route("/echo", "", "", be))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(c))
	roots.AppendCertsFromPEM([]byte(mc))
	for _, bc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"plain", &tls.Config{ServerName: "plain.example", RootCAs: roots}},
		{"mtls", &tls.Config{ServerName: "mtls.example", RootCAs: roots, Certificates: []tls.Certificate{clientCert}}},
	} {
		for _, v := range []struct {
			name   string
			ver    uint16
			resume bool
		}{{"TLS1.3", tls.VersionTLS13, false}, {"TLS1.2", tls.VersionTLS12, false},
			{"TLS1.3-resumed", tls.VersionTLS13, true}, {"TLS1.2-resumed", tls.VersionTLS12, true}} {
			b.Run(bc.name+"/"+v.name, func(b *testing.B) {
				cfg := bc.cfg.Clone()
				cfg.MinVersion, cfg.MaxVersion = v.ver, v.ver
				cfg.ClientSessionCache = nil
				if v.resume {
					cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
				}
				req := []byte("GET /nothing HTTP/1.1\r\nHost: " + cfg.ServerName + "\r\nConnection: close\r\n\r\n")
				b.ReportAllocs()
				cpu := tu.ProcessCPU(b)
				n := 0
				for b.Loop() {
					conn, err := tls.Dial("tcp", h.addr, cfg)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := conn.Write(req); err != nil {
						b.Fatal(err)
					}
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != 404 {
						b.Fatalf("status %d", resp.StatusCode)
					}
					_ = conn.Close()
					if v.resume && n > 0 && !conn.ConnectionState().DidResume {
						b.Fatal("a handshake did not resume")
					}
					n++
				}
				b.ReportMetric(float64((tu.ProcessCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-us/op")
			})
		}
	}
}
