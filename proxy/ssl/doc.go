// Package ssl is the certificate index of the HTTPS listeners: the control plane's SSL objects
// (/apisix/ssls), compiled by proxy/snapshot into Certs, and an Index that finds the Cert of a
// ClientHello's server name the way APISIX does (apisix/ssl/router/radixtree_sni.lua).
//
// Matching, as APISIX: names are compared in lower case with one trailing dot stripped. An exact
// name wins; otherwise the longest wildcard pattern that ends the name ("*.example.com", or "*",
// which ends every name) is the one candidate, and it must cover exactly one label: *.example.com
// matches www.example.com but not example.com nor a.b.example.com. If that longest candidate fails
// the check, no shorter pattern is tried and the handshake fails (APISIX's radix tree stops at its
// first match). An object given a list (snis) passes the check when any one of its names does, by
// APISIX's arithmetic (see Cert.covers). When two objects claim the same name, the first in key
// order wins. Only objects of type server with status 1 are indexed.
//
// Client certificates (mTLS): an object's Client makes the handshakes that pick it ask for a
// client certificate and verify it against client.ca, within client.depth intermediate
// authorities (OpenSSL's verify depth). Without skip_mtls_uri_regex the certificate is required
// at the handshake; with them it is optional there, and one that fails to verify does not fail the
// handshake either (APISIX checks the verification result only for paths not skipped): the proxy
// verifies it once the handshake is done (Client.Verify), and refuses (400) a request whose path
// matches none of them on a connection without a verified certificate (Client.Exempt).
// Objects of type client keep their first pair in PEM (CertPEM, KeyPEM) for the upstreams that
// present them (tls.client_cert_id).
//
// Concurrency: an Index and its Certs are immutable once built (a Cert caches the tls.Config it
// derives, atomically) and safe for concurrent use: GetConfigForClient reads them without a lock.
// Lookup allocates nothing.
package ssl
