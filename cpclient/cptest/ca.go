package cptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

const (
	caValidity   = 2 * 365 * 24 * time.Hour
	certValidity = 365 * 24 * time.Hour
	// backdate absorbs clock differences between issuing and verifying.
	backdate = time.Hour
)

// serverHosts are the names every server certificate is valid for, so that a
// client dialling a forwarder at 127.0.0.1, [::1] or localhost verifies it.
var serverHosts = []string{"127.0.0.1", "::1", "localhost"}

// CA is a self-signed ECDSA P-256 certificate authority. It is immutable and
// safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// NewCA creates a CA with a fresh key. Its subject is unique, so that a TLS
// peer can tell two CAs apart by name.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cptest: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"zoneproxy cptest"},
			CommonName:   "zoneproxy cptest CA " + serial.Text(16),
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cptest: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cptest: CA certificate: %w", err)
	}
	return &CA{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// CertPEM returns the CA certificate in PEM form (a copy).
func (ca *CA) CertPEM() []byte {
	return append([]byte(nil), ca.certPEM...)
}

// CertPool returns a new pool holding only the CA certificate.
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// Issue signs a certificate for commonName valid for hosts (IP addresses or
// DNS names) and returns it and its PKCS#8 key in PEM form. A client
// certificate (client true) is for TLS client authentication only; a server
// certificate is for both server and client authentication, because an etcd
// member presents its server certificate when its HTTP gateway dials its own
// gRPC port.
//
// With etcd authentication enabled, etcd takes a client certificate's common
// name as the user name on gRPC and refuses gateway requests from a
// certificate that has one; ordinary client certificates should therefore
// use an empty commonName.
func (ca *CA) Issue(commonName string, hosts []string, client bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cptest: issue %q: key: %w", commonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"zoneproxy cptest"}, CommonName: commonName},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if !client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	for i, h := range hosts {
		switch ip := net.ParseIP(h); {
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case h != "":
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		default:
			return nil, nil, fmt.Errorf("cptest: issue %q: hosts[%d] is empty", commonName, i)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("cptest: issue %q: %w", commonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("cptest: issue %q: key: %w", commonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// pemPair is a certificate and its key, in PEM and parsed form.
type pemPair struct {
	certPEM, keyPEM []byte
	tls             tls.Certificate
}

// issuePair issues a certificate and parses it for crypto/tls.
func (ca *CA) issuePair(commonName string, hosts []string, client bool) (pemPair, error) {
	c, k, err := ca.Issue(commonName, hosts, client)
	if err != nil {
		return pemPair{}, err
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		return pemPair{}, fmt.Errorf("cptest: issue %q: %w", commonName, err)
	}
	return pemPair{certPEM: c, keyPEM: k, tls: pair}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("cptest: certificate serial: %w", err)
	}
	return serial, nil
}
