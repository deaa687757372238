package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// benchSNI is the name of the bench certificate; clients that send no SNI (h2load and Go's client
// on an IP address) get it through zoneproxy's fallback_sni, and wrk sends "127.0.0.1".
const benchSNI = "bench.example"

// benchCert is the one certificate nginx and zoneproxy serve in the TLS scenarios: ECDSA P-256,
// self-signed, for benchSNI and 127.0.0.1.
type benchCert struct {
	certFile, keyFile string // for nginx
	certPEM, keyPEM   string // for the SSL object
}

// makeCert writes the bench certificate into dir.
func makeCert(dir string) (benchCert, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return benchCert{}, err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: benchSNI},
		DNSNames: []string{benchSNI}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		return benchCert{}, err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return benchCert{}, err
	}
	c := benchCert{
		certFile: filepath.Join(dir, "bench-cert.pem"), keyFile: filepath.Join(dir, "bench-key.pem"),
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})),
	}
	// nginx's worker runs as "nobody" when the harness is root: the files must be readable.
	if err := os.WriteFile(c.certFile, []byte(c.certPEM), 0o644); err != nil {
		return benchCert{}, err
	}
	if err := os.WriteFile(c.keyFile, []byte(c.keyPEM), 0o644); err != nil {
		return benchCert{}, fmt.Errorf("write the bench key: %w", err)
	}
	return c, nil
}

// SSLJSON is the APISIX SSL object of the bench certificate, plaintext key.
func (c benchCert) SSLJSON() []byte {
	b, _ := json.Marshal(map[string]any{"cert": c.certPEM, "key": c.keyPEM, "snis": []string{benchSNI, "127.0.0.1"}})
	return b
}
