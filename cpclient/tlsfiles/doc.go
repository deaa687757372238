// Package tlsfiles builds the TLS configuration of the connections to the control-plane endpoints
// from files on disk (CA bundle, client certificate and key), and picks up rotated files without a
// restart: a file is re-read when it changes, and a file that is broken after a change keeps the
// previous contents in use, with a log line saying why.
//
// Concurrency: a Loader is safe for concurrent use; its Config method fits cpclient.Config.TLS.
package tlsfiles
