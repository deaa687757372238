package snapshot

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"weak"

	"github.com/zoneproxy/zoneproxy/proxy/ssl"
)

// KindSSL is the kind of the SSL objects: certificates by SNI for the HTTPS listeners.
const KindSSL = "ssls"

// sslDoc is an APISIX SSL object as stored in etcd (apisix/schema_def.lua, _M.ssl).
type sslDoc struct {
	ID            json.RawMessage   `json:"id"`
	Desc          *string           `json:"desc"`
	Labels        map[string]string `json:"labels"`
	CreateTime    *int64            `json:"create_time"`
	UpdateTime    *int64            `json:"update_time"`
	Type          *string           `json:"type"`
	Cert          *string           `json:"cert"`
	Key           *string           `json:"key"`
	Certs         []string          `json:"certs"`
	Keys          []string          `json:"keys"`
	SNI           *string           `json:"sni"`
	SNIs          []string          `json:"snis"`
	Client        json.RawMessage   `json:"client"`
	Status        *int              `json:"status"`
	SSLProtocols  []string          `json:"ssl_protocols"`
	Exptime       *int64            `json:"exptime"` // older 3.x
	ValidityStart *int64            `json:"validity_start"`
	ValidityEnd   *int64            `json:"validity_end"`
}

// sniPattern is the schema's pattern for sni and snis.
var sniPattern = regexp.MustCompile(`^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`)

// decodeSSL validates an SSL object as APISIX's data plane does when it loads one
// (apisix/ssl.lua check_ssl_conf): the schema, then every certificate must parse and every key
// decrypt (with Options.Keyring), parse and match its certificate.
func (b *Builder) decodeSSL(e *entry, v []byte) (*ssl.Cert, error) {
	var d sslDoc
	if err := decodeStrict(v, &d); err != nil {
		return nil, err
	}
	if _, err := idField("id", d.ID); err != nil {
		return nil, err
	}
	if err := checkMeta(nil, d.Desc, d.Labels); err != nil {
		return nil, err
	}
	c := &ssl.Cert{ID: e.id(), Key: e.key(), Type: ssl.TypeServer, Enabled: true}
	if d.Type != nil {
		if *d.Type != ssl.TypeServer && *d.Type != ssl.TypeClient {
			return nil, fieldError("type", "%q is not one of server, client", *d.Type)
		}
		c.Type = *d.Type
	}
	if d.Status != nil {
		if *d.Status != 0 && *d.Status != 1 {
			return nil, fieldError("status", "must be 0 or 1, got %d", *d.Status)
		}
		c.Enabled = *d.Status == 1
	}
	if d.Client != nil && string(d.Client) != "null" {
		var err error
		if c.Client, err = decodeClient(d.Client, &b.caPools); err != nil {
			return nil, err
		}
	}
	if d.Cert == nil || d.Key == nil {
		return nil, errors.New("cert and key are required")
	}
	if len(d.Certs) != len(d.Keys) {
		return nil, fieldError("certs", "mismatched number of certs and keys (%d certs, %d keys)", len(d.Certs), len(d.Keys))
	}
	switch {
	case d.SNI != nil && d.SNIs != nil:
		return nil, errors.New("sni and snis: only one of them may be given")
	case d.SNI != nil:
		c.SNIs = []string{*d.SNI}
	case d.SNIs != nil:
		if len(d.SNIs) == 0 {
			return nil, fieldError("snis", "must hold at least one name")
		}
		c.SNIs, c.List = slices.Clone(d.SNIs), true
	case c.Type == ssl.TypeServer:
		return nil, errors.New("sni or snis is required for an SSL object of type server")
	}
	for i, s := range c.SNIs {
		field := "sni"
		if c.List {
			field = fmt.Sprintf("snis[%d]", i)
		}
		if !sniPattern.MatchString(s) {
			return nil, fieldError(field, "%q is not a server name or a wildcard such as *.example.com", s)
		}
		// As APISIX's ssl_filter: lower case, one trailing dot stripped.
		c.SNIs[i] = strings.ToLower(strings.TrimSuffix(s, "."))
	}
	var err error
	if c.MinVersion, c.MaxVersion, err = ssl.ParseProtocols(d.SSLProtocols); err != nil {
		return nil, fieldError("ssl_protocols", "%v", err)
	}
	var decrypted string // the first key, in plain PEM
	certs := append([]string{*d.Cert}, d.Certs...)
	keys := append([]string{*d.Key}, d.Keys...)
	for i := range certs {
		certField, keyField := "cert", "key"
		if i > 0 {
			certField, keyField = fmt.Sprintf("certs[%d]", i-1), fmt.Sprintf("keys[%d]", i-1)
		}
		pair, plain, err := b.keyPair(certs[i], keys[i], certField, keyField)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			decrypted = plain
		}
		c.Certificates = append(c.Certificates, pair)
	}
	if c.Type == ssl.TypeClient {
		// Kept for the upstreams that name the object (tls.client_cert_id).
		c.CertPEM, c.KeyPEM = *d.Cert, decrypted
	}
	// ECDSA (and Ed25519) pairs first: APISIX's default ssl_ciphers puts the ECDSA suites first,
	// so OpenSSL serves an ECDSA certificate to a client that supports one.
	slices.SortStableFunc(c.Certificates, func(x, y tls.Certificate) int { return cmp.Compare(keyRank(x), keyRank(y)) })
	// A handshake reads a pair's parsed leaf only to choose among several pairs
	// (tls.ClientHelloInfo.SupportsCertificate, which parses it again when it is missing); one
	// pair is served as it is. The leaf is three quarters of a one-pair object's memory
	// (BenchmarkBuiltMemorySSL10k), so it is dropped once the pair has been checked.
	if len(c.Certificates) == 1 {
		c.Certificates[0].Leaf = nil
	}
	return c, nil
}

func keyRank(c tls.Certificate) int {
	switch c.PrivateKey.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey:
		return 0
	}
	return 1
}

// keyPair parses one certificate and its key, decrypting the key with the keyring; it returns the
// pair and the key in plain PEM.
func (b *Builder) keyPair(cert, key, certField, keyField string) (tls.Certificate, string, error) {
	if n := len(cert); n < 128 || n > 64<<10 {
		return tls.Certificate{}, "", fieldError(certField, "length must be 128 to 65536, got %d", n)
	}
	if n := len(key); n < 64 || n > 64<<10 {
		return tls.Certificate{}, "", fieldError(keyField, "length must be 64 to 65536, got %d", n)
	}
	if strings.HasPrefix(cert, "$secret://") || strings.HasPrefix(cert, "$env://") ||
		strings.HasPrefix(key, "$secret://") || strings.HasPrefix(key, "$env://") {
		return tls.Certificate{}, "", fieldError(certField, "secret references ($secret://, $env://) are not supported by zoneproxy yet")
	}
	plain := key
	if !strings.HasPrefix(key, "---") {
		if b.opts.Keyring.Len() == 0 {
			return tls.Certificate{}, "", fieldError(keyField, "decrypt ssl key failed: it is not PEM and no keyring is configured")
		}
		var err error
		if plain, err = b.opts.Keyring.Decrypt(key); err != nil {
			return tls.Certificate{}, "", fieldError(keyField, "decrypt ssl key failed: %v", err)
		}
	}
	pair, err := tls.X509KeyPair([]byte(cert), []byte(plain))
	if err != nil {
		return tls.Certificate{}, "", fieldError(certField+"/"+keyField, "%v", err)
	}
	return pair, plain, nil
}

// clientDoc is an SSL object's client member: client certificate verification (mTLS).
type clientDoc struct {
	CA        *string  `json:"ca"`
	Depth     *int     `json:"depth"`
	SkipRegex []string `json:"skip_mtls_uri_regex"`
}

// decodeClient validates and compiles an SSL object's client member: ca must hold one or more
// certificates that all parse, depth (default 1, as APISIX) is not negative, and every
// skip_mtls_uri_regex compiles (Go's RE2 syntax: a PCRE-only construct is an error) and is unique.
// A ca that pools already holds is not parsed again: its pool is shared.
func decodeClient(raw json.RawMessage, pools *caPools) (*ssl.Client, error) {
	var d clientDoc
	if err := decodeStrict(raw, &d); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if d.CA == nil {
		return nil, fieldError("client.ca", "is required")
	}
	if n := len(*d.CA); n < 128 || n > 64<<10 {
		return nil, fieldError("client.ca", "length must be 128 to 65536, got %d", n)
	}
	cl := &ssl.Client{Depth: 1, CADigest: sha256.Sum256([]byte(*d.CA))}
	if cl.CAs = pools.get(cl.CADigest); cl.CAs == nil {
		var err error
		if cl.CAs, err = parseCA(*d.CA); err != nil {
			return nil, err
		}
		pools.put(cl.CADigest, cl.CAs)
	}
	if d.Depth != nil {
		if *d.Depth < 0 {
			return nil, fieldError("client.depth", "must be at least 0, got %d", *d.Depth)
		}
		cl.Depth = *d.Depth
	}
	for i, p := range d.SkipRegex {
		if slices.Index(d.SkipRegex, p) != i {
			return nil, fieldError(fmt.Sprintf("client.skip_mtls_uri_regex[%d]", i), "%q is repeated: the items must be unique", p)
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fieldError(fmt.Sprintf("client.skip_mtls_uri_regex[%d]", i), "%v", err)
		}
		cl.Skip = append(cl.Skip, re)
	}
	return cl, nil
}

// parseCA parses client.ca: one or more PEM certificates that all parse, and nothing else.
func parseCA(ca string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest, n := []byte(ca), 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fieldError("client.ca", "holds a PEM block of type %q, not CERTIFICATE", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fieldError("client.ca", "certificate %d does not parse: %v", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fieldError("client.ca", "is not a list of PEM certificates")
	}
	return pool, nil
}

// caPools holds the parsed pools of the client.ca values of the SSL objects, by the SHA-256 of
// the value, so that objects with the same CA (the tenants of one company) share one pool: a
// parsed certificate is some 3.6 KB (BenchmarkBuiltMemorySSL10k). A pool is read-only once made,
// and crypto/tls verifies against it concurrently. The pools are held weakly: one goes with the
// last object that uses it, and its entry is swept once the map has doubled.
type caPools struct {
	m     map[[32]byte]weak.Pointer[x509.CertPool]
	sweep int // the size of m at which dead entries are next removed
}

// get returns the pool of the client.ca with this digest, or nil.
func (p *caPools) get(digest [32]byte) *x509.CertPool {
	return p.m[digest].Value()
}

// put keeps pool as the client.ca with this digest.
func (p *caPools) put(digest [32]byte, pool *x509.CertPool) {
	if p.m == nil {
		p.m = make(map[[32]byte]weak.Pointer[x509.CertPool])
	}
	if len(p.m) >= p.sweep {
		for d, w := range p.m {
			if w.Value() == nil {
				delete(p.m, d)
			}
		}
		p.sweep = max(64, 2*len(p.m))
	}
	p.m[digest] = weak.Make(pool)
}

// sslIndex returns the SNI index of the current SSL objects, compiled again only when one of them
// changed since the last build.
func (b *Builder) sslIndex() *ssl.Index {
	if b.ssl != nil && !b.sslDirty {
		return b.ssl
	}
	m := b.byID[KindSSL]
	certs := make([]*ssl.Cert, 0, len(m))
	for _, e := range m {
		certs = append(certs, e.obj.(*ssl.Cert))
	}
	slices.SortFunc(certs, func(x, y *ssl.Cert) int { return strings.Compare(x.Key, y.Key) })
	b.ssl, b.sslDirty = ssl.NewIndex(certs), false
	return b.ssl
}
