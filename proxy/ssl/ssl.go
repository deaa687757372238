package ssl

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/tlssession"
)

// The types of SSL objects.
const (
	TypeServer = "server"
	TypeClient = "client"
)

// Cert is one SSL object, compiled. It must not be copied once in use.
type Cert struct {
	// ID is the object's id; Key its etcd key.
	ID, Key string
	// Type is TypeServer (certificates the listeners serve) or TypeClient (certificates zoneproxy
	// presents to upstreams).
	Type string
	// Enabled is status 1.
	Enabled bool
	// Certificates are the key pairs: cert/key and certs[i]/keys[i], ECDSA pairs first. A
	// handshake is given all of them and crypto/tls picks the first the client supports (its
	// signature algorithms and cipher suites), as OpenSSL picks among the pairs nginx is given.
	// Each has its Leaf.
	Certificates []tls.Certificate
	// SNIs are the names, lower case, trailing dot stripped. List tells that they came from snis
	// (a list) rather than sni: APISIX checks wildcards differently then (see covers).
	SNIs []string
	List bool
	// MinVersion and MaxVersion are the object's ssl_protocols, which replace the listener's for
	// its names; 0 when it has none.
	MinVersion, MaxVersion uint16
	// Client is the object's client certificate verification (mTLS), nil when it has none.
	Client *Client
	// CertPEM and KeyPEM are the PEM of the first pair, the key decrypted, kept for objects of
	// type client only: an upstream that names the object (tls.client_cert_id) is built from
	// them.
	CertPEM, KeyPEM string

	derived atomic.Pointer[derivedConfig]
}

// Client is an SSL object's client member: the handshakes that pick the object ask the client
// for a certificate and verify it. It is immutable.
type Client struct {
	// CAs are the authorities a client certificate must chain to (client.ca).
	CAs *x509.CertPool
	// Depth is client.depth (default 1), read as OpenSSL's verify depth, which nginx's
	// ssl_verify_depth sets: at most Depth intermediate authorities between the client's
	// certificate and the authority in CAs.
	Depth int
	// Skip are client.skip_mtls_uri_regex. Without them, the handshake requires a valid
	// certificate. With them, a certificate is asked for but optional at the handshake, and one
	// that does not verify does not fail it either (Verify); a request whose path matches none
	// of them must come on a connection with a verified certificate (Exempt).
	Skip []*regexp.Regexp
	// CADigest is the SHA-256 of client.ca as stored: a session resumes only under the CAs it
	// was verified with (Cert.Binding).
	CADigest [32]byte
}

// Exempt reports whether a request for path (without its query) may come without a verified
// client certificate: path matches one of the skip_mtls_uri_regex patterns (unanchored and
// case-sensitive, as APISIX's ngx.re.match).
func (c *Client) Exempt(path []byte) bool {
	for _, re := range c.Skip {
		if re.Match(path) {
			return true
		}
	}
	return false
}

// errDepth is the error of a client certificate whose chain is longer than the depth.
var errDepth = errors.New("client certificate chain is longer than client.depth allows")

// verifyConnection enforces the depth on every handshake of an object that requires a client
// certificate, resumed ones included: one of the chains crypto/tls verified must hold at most
// Depth authorities between the leaf and the trusted one.
func (c *Client) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	return c.withinDepth(cs.VerifiedChains)
}

func (c *Client) withinDepth(chains [][]*x509.Certificate) error {
	for _, chain := range chains {
		if len(chain) <= c.Depth+2 {
			return nil
		}
	}
	return errDepth
}

// Verify verifies a client's certificates (leaf first, then the intermediates it sent) as the
// handshake of an object that requires them does: chained to CAs for client authentication,
// valid at now, within Depth. An object with skip_mtls_uri_regex asks for a certificate without
// having crypto/tls verify it (the handshake goes on whatever the result, as nginx's
// ssl_verify_client optional does with APISIX's check after it), and the proxy calls Verify
// once the handshake is done: the result is $ssl_client_verify, and whether a path that no
// pattern exempts is served.
func (c *Client) Verify(certs []*x509.Certificate, now time.Time) ([][]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("no client certificate")
	}
	var inter *x509.CertPool
	if len(certs) > 1 {
		inter = x509.NewCertPool()
		for _, ic := range certs[1:] {
			inter.AddCert(ic)
		}
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: c.CAs, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, err
	}
	if err := c.withinDepth(chains); err != nil {
		return nil, err
	}
	return chains, nil
}

// VerifyReason is the reason nginx's $ssl_client_verify gives after "FAILED:" for an error of
// Verify: OpenSSL's text for the same failure where there is one.
func VerifyReason(err error) string {
	var (
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		hostErr x509.HostnameError
	)
	switch {
	case errors.Is(err, errDepth):
		return "certificate chain too long"
	case errors.As(err, &unknown):
		if unknown.Cert != nil && bytes.Equal(unknown.Cert.RawIssuer, unknown.Cert.RawSubject) {
			return "self-signed certificate"
		}
		return "unable to get local issuer certificate"
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			if invalid.Cert != nil && time.Now().Before(invalid.Cert.NotBefore) {
				return "certificate is not yet valid"
			}
			return "certificate has expired"
		case x509.IncompatibleUsage:
			return "unsupported certificate purpose"
		case x509.TooManyIntermediates:
			return "certificate chain too long"
		}
		return "certificate verify failed"
	case errors.As(err, &hostErr):
		return "certificate verify failed"
	}
	return "certificate verify failed"
}

type derivedConfig struct{ base, cfg *tls.Config }

// Config returns the tls.Config of a handshake that picked c: base (the listener's settings) with
// c's certificates and protocol versions, and its sessions kept in sessions (nil: base's own
// session settings), bound to c (Binding) and the SNI. It is derived once per base and cached:
// the same base gives the same *tls.Config, so a handshake allocates nothing here. A base goes
// with one sessions store.
func (c *Cert) Config(base *tls.Config, sessions tlssession.Store) *tls.Config {
	if d := c.derived.Load(); d != nil && d.base == base {
		return d.cfg
	}
	cfg := base.Clone()
	if sessions != nil {
		cfg.WrapSession, cfg.UnwrapSession = tlssession.Bound(sessions, c.Binding())
	}
	cfg.GetConfigForClient, cfg.GetCertificate = nil, nil
	cfg.Certificates = c.Certificates
	if c.MinVersion != 0 {
		cfg.MinVersion, cfg.MaxVersion = c.MinVersion, c.MaxVersion
	}
	if cl := c.Client; cl != nil {
		cfg.ClientCAs = cl.CAs // named in the CertificateRequest either way
		if len(cl.Skip) > 0 {
			// Optional: asked for, verified after the handshake by the proxy (Verify).
			cfg.ClientAuth = tls.RequestClientCert
		} else {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
			cfg.VerifyConnection = cl.verifyConnection
		}
	}
	c.derived.Store(&derivedConfig{base: base, cfg: cfg})
	return cfg
}

// Binding identifies what a session made on c may resume under: c's certificates and client
// certificate rules (CA, depth, whether some paths are exempt). Any change of them makes new
// handshakes full ones.
func (c *Cert) Binding() []byte {
	h := sha256.New()
	for _, pair := range c.Certificates {
		for _, der := range pair.Certificate {
			h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(der))))
			h.Write(der)
		}
	}
	if cl := c.Client; cl != nil {
		h.Write([]byte{1})
		h.Write(cl.CADigest[:])
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(cl.Depth)))
		for _, re := range cl.Skip {
			h.Write([]byte(re.String()))
			h.Write([]byte{0})
		}
	}
	return h.Sum(nil)
}

// covers is APISIX's check of a candidate found for name (lower case, no trailing dot): for a
// single sni p, name must have no "." before its last len(p)-1 bytes (for "*.x.com": the one label
// the "*" stands for), and "*" covers everything; for a list, name passes when it equals one of
// the names or passes that test for one of them. This is radixtree_sni.lua's
// str_find(sni_rev, ".", #matched_sni) == nil on the reversed name, as written: a list that holds
// a name longer than the SNI lets any SNI its wildcard ends pass.
func (c *Cert) covers(name []byte) bool {
	if !c.List {
		p := c.SNIs[0]
		return p == "*" || noDotBefore(name, len(p))
	}
	for _, p := range c.SNIs {
		if string(name) == p || noDotBefore(name, len(p)) {
			return true
		}
	}
	return false
}

// noDotBefore reports that name holds no "." in name[:len(name)-l+1]: the reversed name has none
// from its l-th byte on.
func noDotBefore(name []byte, l int) bool {
	end := len(name) - l + 1
	return end <= 0 || bytes.IndexByte(name[:end], '.') < 0
}

// Index finds the Cert of a server name. It is immutable; see the package documentation.
type Index struct {
	exact map[string]*Cert
	wild  map[string]*Cert // by the pattern without its leading "*": ".example.com", "" for "*"
	lens  [4]uint64        // the lengths of wild's keys, as a bit set
	n     int
	mtls  bool // one of the Certs has a Client
}

// maxName is the longest server name looked up; longer names (not DNS names) match nothing.
const maxName = 255

// NewIndex indexes certs, in order (key order: the first object that claims a name keeps it).
// Objects that are not of type server, or not enabled, are left out.
func NewIndex(certs []*Cert) *Index {
	x := &Index{exact: map[string]*Cert{}, wild: map[string]*Cert{}}
	for _, c := range certs {
		if c.Type != TypeServer || !c.Enabled {
			continue
		}
		x.n++
		x.mtls = x.mtls || c.Client != nil
		for _, s := range c.SNIs {
			if len(s) > maxName {
				continue
			}
			if rest, ok := strings.CutPrefix(s, "*"); ok {
				if _, dup := x.wild[rest]; !dup {
					x.wild[rest] = c
					x.lens[len(rest)/64] |= 1 << (len(rest) % 64)
				}
				continue
			}
			if _, dup := x.exact[s]; !dup {
				x.exact[s] = c
			}
		}
	}
	return x
}

// Len is the number of Certs indexed.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return x.n
}

// HasClient reports whether one of the Certs indexed verifies client certificates: only then do
// requests need checking against them (see Client).
func (x *Index) HasClient() bool { return x != nil && x.mtls }

// Lookup returns the Cert for a ClientHello's server name, or nil. See the package documentation
// for the rules.
func (x *Index) Lookup(name string) *Cert { return lookup(x, name) }

// LookupBytes is Lookup for a name held in bytes, such as a Host header.
func (x *Index) LookupBytes(name []byte) *Cert { return lookup(x, name) }

func lookup[T string | []byte](x *Index, name T) *Cert {
	if x == nil || len(name) > maxName+1 {
		return nil
	}
	var buf [maxName + 1]byte
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b[i] = ch
	}
	if n := len(b); n > 0 && b[n-1] == '.' {
		b = b[:n-1]
	}
	if len(b) > maxName {
		return nil
	}
	if c := x.exact[string(b)]; c != nil {
		return c
	}
	for i := 0; i <= len(b); i++ {
		l := len(b) - i
		if x.lens[l/64]&(1<<(l%64)) == 0 {
			continue
		}
		if c := x.wild[string(b[i:])]; c != nil {
			if c.covers(b) {
				return c
			}
			return nil // the longest candidate alone is tried
		}
	}
	return nil
}

// ParseProtocols reads an SSL object's ssl_protocols (TLSv1.1, TLSv1.2, TLSv1.3) into the range of
// versions crypto/tls takes; a list with a gap is an error, since crypto/tls has no set.
func ParseProtocols(names []string) (minVersion, maxVersion uint16, err error) {
	versions := map[string]uint16{"TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}
	var vs []uint16
	for _, n := range names {
		v, ok := versions[n]
		if !ok {
			return 0, 0, fmt.Errorf("%q is not one of TLSv1.1, TLSv1.2, TLSv1.3", n)
		}
		if !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, 0, nil
	}
	slices.Sort(vs)
	for i := 1; i < len(vs); i++ {
		if vs[i] != vs[i-1]+1 {
			return 0, 0, fmt.Errorf("%s leaves out a version in between: crypto/tls serves a range of versions, not a set",
				strings.Join(names, " "))
		}
	}
	return vs[0], vs[len(vs)-1], nil
}
