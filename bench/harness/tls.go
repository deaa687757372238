package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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

// The key types of the bench certificates (Scenario.Key).
const (
	KeyECDSA = "ecdsa" // P-256, the default
	KeyRSA   = "rsa"   // 2048 bits
)

// benchCert is a certificate nginx and zoneproxy both serve in a TLS scenario: ECDSA P-256 or
// RSA-2048, self-signed, for benchSNI and 127.0.0.1.
type benchCert struct {
	certFile, keyFile string // for nginx
	certPEM, keyPEM   string // for the SSL object
}

// makeCert writes a bench certificate with a key of type kind (KeyECDSA or KeyRSA) into dir.
func makeCert(dir, kind string) (benchCert, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case KeyECDSA, "":
		kind = KeyECDSA
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return benchCert{}, fmt.Errorf("unknown bench key type %q", kind)
	}
	if err != nil {
		return benchCert{}, err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: benchSNI},
		DNSNames: []string{benchSNI}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, k.Public(), k)
	if err != nil {
		return benchCert{}, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return benchCert{}, err
	}
	c := benchCert{
		certFile: filepath.Join(dir, "bench-"+kind+"-cert.pem"), keyFile: filepath.Join(dir, "bench-"+kind+"-key.pem"),
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})),
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
func (c benchCert) SSLJSON() []byte { return c.sslJSON(benchSNI, "127.0.0.1") }

// sslJSON is an APISIX SSL object of the bench certificate for snis, plaintext key.
func (c benchCert) sslJSON(snis ...string) []byte {
	b, _ := json.Marshal(map[string]any{"cert": c.certPEM, "key": c.keyPEM, "snis": snis})
	return b
}
