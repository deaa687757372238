// Package snapshot turns the control plane's key-value State into an immutable Snapshot that the
// proxy serves from: APISIX routes, services, upstreams, plugin configs, global rules, consumers and consumer groups decoded,
// validated against APISIX's schema, resolved against each other and compiled into a router table and
// upstream pools; and the SSL objects, whose keys are decrypted with the keyring and whose pairs are
// parsed and matched, compiled into the SNI index of package proxy/ssl (rebuilt only when an SSL
// object changed).
//
// Plugins are compiled with their object (package plugin), against the enabled set: config.yaml's
// plugins list, replaced by the control plane's <prefix>/plugins key when present (a change of the
// set compiles every object again). Routes get their chain merged from their service, plugin
// config and own plugins; consumers, credentials and consumer groups make the consumer index and
// global rules the global chain, each made again only after one of its objects changed (routes
// never depend on consumers).
//
// One object that does not decode or validate is rejected alone, with one log line naming its key,
// revision and reason; the previous good version of that object, if any, stays in use. Objects whose
// etcd key and mod revision did not change since the last build are reused as they were decoded and
// compiled, so a build after a small change costs little more than the router table itself.
//
// Concurrency: a Builder is used by one goroutine at a time (the control-plane client's apply loop).
// A Snapshot is immutable once built and safe for concurrent use by every request.
package snapshot
