package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// tlsServer accepts TLS connections that must present a client certificate and records the serial
// numbers of the client certificates it saw.
type tlsServer struct {
	addr string
	mu   sync.Mutex
	cert tls.Certificate
	seen []string
}

func startTLSServer(t *testing.T, ca *cptest.CA, hosts []string) *tlsServer {
	t.Helper()
	s := &tlsServer{}
	s.setCert(t, ca, hosts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	cfg := &tls.Config{
		ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			c := s.cert
			return &c, nil
		},
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.Handshake() != nil {
					return
				}
				if pcs := tc.ConnectionState().PeerCertificates; len(pcs) > 0 {
					s.mu.Lock()
					s.seen = append(s.seen, pcs[0].SerialNumber.String())
					s.mu.Unlock()
				}
				_, _ = tc.Write([]byte("ok"))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *tlsServer) setCert(t *testing.T, ca *cptest.CA, hosts []string) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue("", hosts, false)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.cert = cert
	s.mu.Unlock()
}

func (s *tlsServer) lastSeen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return ""
	}
	return s.seen[len(s.seen)-1]
}

// dial makes one TLS connection with the loader's config for the endpoint URL.
func dial(l *Loader, url, addr string) error {
	cfg, err := l.Config(url)
	if err != nil {
		return err
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 2)
	_, err = c.Read(buf)
	return err
}

func serial(t *testing.T, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	// Write then rename, as certificate rotation tools do, so a reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTLSFilesRotate(t *testing.T) {
	ca, err := cptest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLSServer(t, ca, []string{"127.0.0.1"})
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	c1, k1, _ := ca.Issue("", nil, true)
	writeFile(t, caFile, ca.CertPEM())
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k1)
	l, err := New(Files{CA: caFile, Cert: certFile, Key: keyFile, Verify: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.recheck = 0 // re-read changed files at every handshake
	url := "https://" + srv.addr
	if err := dial(l, url, srv.addr); err != nil {
		t.Fatal(err)
	}
	if got := srv.lastSeen(); got != serial(t, c1) {
		t.Fatalf("server saw %s, want the first client certificate", got)
	}

	// A new client certificate on disk is used for the next connection.
	c2, k2, _ := ca.Issue("", nil, true)
	writeFile(t, keyFile, k2)
	writeFile(t, certFile, c2)
	testutil.WaitFor(t, "the rotated client certificate", 5*time.Second, func() bool {
		return dial(l, url, srv.addr) == nil && srv.lastSeen() == serial(t, c2)
	})

	// A broken replacement keeps the last good certificate.
	writeFile(t, certFile, []byte("not a certificate"))
	if err := dial(l, url, srv.addr); err != nil || srv.lastSeen() != serial(t, c2) {
		t.Errorf("after a broken file: %v, server saw %s; want the previous certificate", err, srv.lastSeen())
	}

	// A rotated CA: the server moves to a certificate of a new CA, the CA file follows.
	ca2, _ := cptest.NewCA()
	srv.setCert(t, ca2, []string{"127.0.0.1"})
	if err := dial(l, url, srv.addr); err == nil {
		t.Fatalf("a certificate of an unknown CA was accepted")
	}
	writeFile(t, caFile, ca2.CertPEM())
	testutil.WaitFor(t, "the rotated CA", 5*time.Second, func() bool { return dial(l, url, srv.addr) == nil })
}

func TestTLSVerifyAndSNI(t *testing.T) {
	ca, _ := cptest.NewCA()
	other, _ := cptest.NewCA()
	srv := startTLSServer(t, ca, []string{"dp-manager.az-a.internal"})
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	otherCA := filepath.Join(dir, "other.crt")
	c, k, _ := ca.Issue("", nil, true)
	writeFile(t, caFile, ca.CertPEM())
	writeFile(t, otherCA, other.CertPEM())
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	url := "https://" + srv.addr
	tests := []struct {
		name  string
		files Files
		ok    bool
	}{
		{"the URL host is not in the certificate", Files{CA: caFile, Cert: certFile, Key: keyFile, Verify: true}, false},
		{"sni names the certificate's host", Files{CA: caFile, Cert: certFile, Key: keyFile, Verify: true, SNI: "dp-manager.az-a.internal"}, true},
		{"wrong CA", Files{CA: otherCA, Cert: certFile, Key: keyFile, Verify: true, SNI: "dp-manager.az-a.internal"}, false},
		{"verify off accepts anything", Files{CA: otherCA, Cert: certFile, Key: keyFile, Verify: false}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.files, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := dial(l, url, srv.addr); (err == nil) != tt.ok {
				t.Errorf("dial: %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := New(Files{Cert: certFile}, nil); err == nil {
		t.Errorf("a certificate without its key was accepted")
	}
	if _, err := New(Files{CA: filepath.Join(dir, "missing.crt")}, nil); err == nil {
		t.Errorf("a missing CA file was accepted at start")
	}
}
