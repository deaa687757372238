// Package tlssession is the TLS session resumption of the HTTPS listeners, as APISIX configures
// nginx: with ssl_session_tickets off (the default), a session is kept in a bounded in-process
// cache for 10 minutes (ssl_session_cache shared:SSL:20m; ssl_session_timeout 10m) and the
// client's ticket is only a random id into it (Cache), as OpenSSL's stateful TLS 1.3 tickets
// are; with ssl_session_tickets on, the ticket is crypto/tls's own, encrypted with the server's
// rotating keys (Tickets).
//
// Either way a session is bound (Bind, Check) to the certificate set and client-certificate
// rules of the SSL object whose handshake made it, and to the SNI: a certificate change, a
// different SNI or a change of the object's client settings never resumes; the handshake is
// then a full one. A session older than the timeout never resumes either.
//
// TLS 1.2: crypto/tls's server has no session-id cache, so TLS 1.2 clients resume only through
// the session ticket extension (RFC 5077), which every current client offers; with tickets off,
// that ticket too is an id into the Cache. A TLS 1.2 client that only offers a session id gets a
// full handshake (nginx would resume it).
//
// Concurrency: a Cache is safe for concurrent use by any number of handshakes and shared by
// every SSL object's tls.Config. The sessions it returns are shared and read only.
package tlssession
