// Package tlsload is the bench's handshake load generator: workers that each open a new TLS
// connection per request (one HTTP/1.1 request with Connection: close), either with a full
// handshake every time or offering the session of their previous connection back (resumption).
// wrk cannot do the first against a server with a session cache (its OpenSSL client reuses each
// connection slot's session after SSL_clear), nor report how many handshakes resumed.
//
// The client takes X25519 alone as key exchange: nginx (OpenSSL 3.0) has no hybrid post-quantum
// group, and Go's default would have a Go server do ML-KEM work nginx does not.
//
// Run is safe to call from one goroutine; it owns the workers it starts and waits for them.
package tlsload
