// Package snapshot turns the control plane's key-value State into an immutable Snapshot that the
// proxy serves from: APISIX routes, services, upstreams, plugin configs and global rules decoded,
// validated against APISIX's schema, resolved against each other and compiled into a router table and
// upstream pools; and the SSL objects, whose keys are decrypted with the keyring and whose pairs are
// parsed and matched, compiled into the SNI index of package proxy/ssl (rebuilt only when an SSL
// object changed).
//
// One object that does not decode or validate is rejected alone, with one log line naming its key,
// revision and reason; the previous good version of that object, if any, stays in use. Objects whose
// etcd key and mod revision did not change since the last build are reused as they were decoded and
// compiled, so a build after a small change costs little more than the router table itself.
//
// Concurrency: a Builder is used by one goroutine at a time (the control-plane client's apply loop).
// A Snapshot is immutable once built and safe for concurrent use by every request.
package snapshot
