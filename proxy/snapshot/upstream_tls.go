package snapshot

import (
	"errors"
	"fmt"
	"strings"

	"github.com/zoneproxy/zoneproxy/proxy/ssl"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// clientCertSpec resolves the client certificate an https upstream presents (APISIX's
// resolve_upstream_client_cert and its decryption of tls.client_key): tls.client_cert_id becomes
// the cert and key of that SSL object, read as the object is now (the route depends on it, so a
// change of the object builds a pool, and so clients and connections, with the new certificate);
// a client_key stored encrypted is decrypted with the keyring. It returns spec itself when there is
// nothing to resolve, else a resolved copy. When the upstream cannot be served it sets rt.Status
// and says why: 502 for an id that names no SSL object or one whose type is not client, 503 for
// a key that does not decrypt (APISIX fails on it at run time).
func (b *Builder) clientCertSpec(rt *Route, spec *upstream.Spec, deps *[]depKey) (*upstream.Spec, string) {
	if spec.Scheme != "https" || spec.TLS == nil {
		return spec, "" // APISIX presents a client certificate only on https
	}
	cert, key := spec.TLS.ClientCert, spec.TLS.ClientKey
	if id := spec.TLS.ClientCertID; id != "" {
		*deps = append(*deps, depKey{KindSSL, id})
		se := b.byID[KindSSL][id]
		if se == nil {
			rt.Status = 502
			return nil, fmt.Sprintf("tls.client_cert_id: ssl id [%s] not exits: the route answers 502", id)
		}
		c := se.obj.(*ssl.Cert)
		if c.Type != ssl.TypeClient {
			rt.Status = 502
			return nil, fmt.Sprintf("tls.client_cert_id: ssl type should be 'client', ssl %q is of type %s: the route answers 502", id, c.Type)
		}
		cert, key = c.CertPEM, c.KeyPEM
	} else if key != "" && !strings.HasPrefix(key, "---") {
		var err error
		if key, err = b.opts.Keyring.Decrypt(key); err != nil {
			rt.Status = 503
			return nil, fmt.Sprintf("tls.client_key: decrypt failed: %v: the route answers 503", err)
		}
	}
	if cert == spec.TLS.ClientCert && key == spec.TLS.ClientKey {
		return spec, ""
	}
	out, t := *spec, *spec.TLS
	t.ClientCertID, t.ClientCert, t.ClientKey = "", cert, key
	out.TLS = &t
	return &out, ""
}

// sameClientCert reports whether a pool built from x presents the client certificate y names.
func sameClientCert(x, y *upstream.Spec) bool {
	if x == y {
		return true
	}
	var xc, xk, yc, yk string
	if x.TLS != nil {
		xc, xk = x.TLS.ClientCert, x.TLS.ClientKey
	}
	if y.TLS != nil {
		yc, yk = y.TLS.ClientCert, y.TLS.ClientKey
	}
	return xc == yc && xk == yk
}

// poolStatus is the answer of a route whose upstream_id names an upstream no pool could be built
// from: 503 for a client certificate that does not load (APISIX fails it at run time), else 502.
func poolStatus(err error) int32 {
	if errors.Is(err, upstream.ErrClientCert) {
		return 503
	}
	return 502
}
