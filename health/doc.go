// Package health runs APISIX's active health checks (checks.active) against the nodes of the
// live upstream pools and flips the nodes' health through upstream.Node.ReportProbe.
//
// A Manager owns one checker per upstream key whose spec has checks.active. After every snapshot
// swap, Update with the change of the live pools (the snapshot's upstream.Delta, in time
// proportional to it) or Sync with all of them starts checkers for new upstreams, keeps those
// whose Pool.CheckID is unchanged (same targets, same settings, same health state) and stops the
// rest.
// A checker probes healthy nodes every healthy.interval and unhealthy ones every
// unhealthy.interval, at most checks.active.concurrency at a time, with lua-resty-healthcheck's
// probe: a TCP connect (type tcp), plus a TLS handshake (https) and one HTTP/1.1 request with
// "Connection: close" whose status line is all that is read.
//
// Concurrency: Manager is safe for concurrent use. Every checker goroutine is owned by the
// Manager: it stops when its upstream leaves the config, when the context given to the Sync or
// Update that started it ends, or at Close, which waits for all of them. Checkers recover from
// panics and only touch nodes through their atomic health state.
package health
