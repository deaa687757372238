package config

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// The TLS settings of apisix.ssl, in nginx's spelling, and what Go's crypto/tls makes of them.

// APISIX's defaults for the HTTPS listener (apisix/cli/config.lua).
const (
	defaultSSLListenPort = 9443
	// DefaultSSLProtocols is apisix.ssl.ssl_protocols' default.
	DefaultSSLProtocols = "TLSv1.2 TLSv1.3"
	// DefaultSSLCiphers is apisix.ssl.ssl_ciphers' default. Its two DHE suites are not in Go's
	// crypto/tls and are left out.
	DefaultSSLCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" +
		"ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
)

// protocolVersions are the names nginx's ssl_protocols and an SSL object's ssl_protocols take.
var protocolVersions = map[string]uint16{
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// ParseProtocols reads a list of protocol names (nginx's ssl_protocols: "TLSv1.2 TLSv1.3";
// TLSv1, TLSv1.1, TLSv1.2, TLSv1.3) into the range of versions Go's crypto/tls takes. Go has a
// minimum and a maximum, no set: a list with a gap (TLSv1.1 TLSv1.3) is an error rather than
// silently including the version in between. SSLv2 and SSLv3 are errors: Go has neither.
func ParseProtocols(names []string) (minVersion, maxVersion uint16, err error) {
	if len(names) == 0 {
		return 0, 0, fmt.Errorf("no protocol named")
	}
	var vs []uint16
	for _, n := range names {
		v, ok := protocolVersions[n]
		if !ok {
			return 0, 0, fmt.Errorf("%q is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", n)
		}
		if !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	for i := 1; i < len(vs); i++ {
		if vs[i] != vs[i-1]+1 {
			return 0, 0, fmt.Errorf("%s leaves out a version in between: Go's crypto/tls serves a range of versions, not a set",
				strings.Join(names, " "))
		}
	}
	return vs[0], vs[len(vs)-1], nil
}

// Versions returns the TLS versions of apisix.ssl.ssl_protocols (valid once Parse accepted it).
func (s *SSL) Versions() (minVersion, maxVersion uint16) {
	minVersion, maxVersion, _ = ParseProtocols(strings.Fields(s.Protocols))
	return minVersion, maxVersion
}

// CipherSuites returns the Go cipher suites of apisix.ssl.ssl_ciphers (valid once Parse accepted
// it).
func (s *SSL) CipherSuites() []uint16 {
	suites, _, _ := ParseCiphers(s.Ciphers)
	return suites
}

// cipherSuites maps OpenSSL's names to Go's suites. A zero value is a suite OpenSSL has and Go's
// crypto/tls does not (DHE key exchange, SHA-384 CBC): such a name is skipped with a warning.
var cipherSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-ECDSA-RC4-SHA":           tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
	"ECDHE-RSA-RC4-SHA":             tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"RC4-SHA":                       tls.TLS_RSA_WITH_RC4_128_SHA,
	// OpenSSL has them, Go does not.
	"DHE-RSA-AES128-GCM-SHA256":      0,
	"DHE-RSA-AES256-GCM-SHA384":      0,
	"DHE-RSA-CHACHA20-POLY1305":      0,
	"DHE-RSA-AES128-SHA256":          0,
	"DHE-RSA-AES256-SHA256":          0,
	"DHE-RSA-AES128-SHA":             0,
	"DHE-RSA-AES256-SHA":             0,
	"ECDHE-ECDSA-AES256-SHA384":      0,
	"ECDHE-RSA-AES256-SHA384":        0,
	"AES256-SHA256":                  0,
	"DHE-DSS-AES128-GCM-SHA256":      0,
	"DHE-DSS-AES256-GCM-SHA384":      0,
	"ECDHE-ECDSA-AES128-CCM":         0,
	"ECDHE-ECDSA-AES256-CCM":         0,
	"ECDHE-ECDSA-AES128-CCM8":        0,
	"ECDHE-ECDSA-AES256-CCM8":        0,
	"ECDHE-ARIA128-GCM-SHA256":       0,
	"ECDHE-ECDSA-ARIA128-GCM-SHA256": 0,
}

// tls13Suites are OpenSSL's TLS 1.3 names: nginx sets them with ssl_conf_command, and Go's
// crypto/tls does not let them be chosen at all (it always offers all three).
var tls13Suites = map[string]bool{
	"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true,
	"TLS_AES_128_CCM_SHA256": true, "TLS_AES_128_CCM_8_SHA256": true,
}

// cipherExclusions are OpenSSL keywords that, after "!" or "-", remove only suites Go never
// offers: they change nothing and are accepted.
var cipherExclusions = map[string]bool{
	"aNULL": true, "eNULL": true, "NULL": true, "MD5": true, "RC4": true, "DES": true, "3DES": true,
	"EXP": true, "EXPORT": true, "LOW": true, "PSK": true, "SRP": true, "DSS": true, "aDSS": true,
	"CAMELLIA": true, "SEED": true, "IDEA": true, "ADH": true, "AECDH": true, "kRSA": true, "DHE": true,
	"EDH": true, "kDHE": true, "kEDH": true, "SHA1": true, "SHA": true, "CBC": true, "ARIA": true,
}

// ParseCiphers reads an OpenSSL cipher list (nginx's ssl_ciphers: names separated by ":", ","
// or spaces) into Go's TLS 1.0–1.2 cipher suites, in the order given (Go orders them by its own
// preference anyway). A name Go does not implement (DHE suites, TLS 1.3 suites, which Go does not
// let anyone choose) is skipped and reported in skipped. "!NAME" or "-NAME" removes a named suite;
// after "!" or "-" the keywords that only exclude suites Go never offers (aNULL, MD5, RC4, ...)
// are accepted and change nothing. Any other name or keyword (HIGH, ALL, "+", "@STRENGTH") is an
// error naming it, and so is a list that leaves no suite at all.
func ParseCiphers(list string) (suites []uint16, skipped []string, err error) {
	var removed []uint16
	fields := strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	for _, f := range fields {
		name, neg := f, false
		if strings.HasPrefix(f, "!") || strings.HasPrefix(f, "-") {
			name, neg = f[1:], true
		}
		id, known := cipherSuites[name]
		switch {
		case neg && known:
			if id != 0 {
				removed = append(removed, id)
			}
		case neg && cipherExclusions[name]:
		case known && id == 0:
			skipped = append(skipped, name)
		case known:
			if !slices.Contains(suites, id) {
				suites = append(suites, id)
			}
		case tls13Suites[name]:
			skipped = append(skipped, name)
		default:
			return nil, nil, fmt.Errorf("%q is not a cipher zoneproxy knows (OpenSSL names such as ECDHE-RSA-AES128-GCM-SHA256; keywords such as HIGH are not supported)", f)
		}
	}
	suites = slices.DeleteFunc(suites, func(id uint16) bool { return slices.Contains(removed, id) })
	if len(suites) == 0 {
		return nil, skipped, fmt.Errorf("%q leaves no cipher suite that Go's crypto/tls implements", list)
	}
	return suites, skipped, nil
}
