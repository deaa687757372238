// Package status is the status server that load balancers and orchestrators probe
// (apisix.status, default 127.0.0.1:7085): liveness on /status, readiness on /status/ready, and the
// control-plane view on /status/control-plane.
//
// Readiness means: a configuration is loaded (from the control plane or the state file), the proxy
// listens, the process is not draining, and — only with RequireControlPlane — a control-plane endpoint
// is in use. It stays ready through a control-plane outage by default: the last good configuration
// keeps serving (static stability).
//
// A GSLB health check asks more of a region, with query parameters on /status/ready (Checks):
// ?max_config_age=30s fails when the control plane last confirmed the configuration longer ago
// than that, ?fingerprint=<hex> when the configuration served is not the expected one
// (config/fingerprint). "Confirmed" is the caller's definition (Config.Confirmed): zoneproxy takes
// the last answer of the control-plane endpoint in use (a watch event, a progress notification or
// a health probe), the proof that the watch is live, so what is served is what the control plane
// holds. A configuration read from the state file alone was never confirmed. An unknown parameter
// or a malformed value answers 400, so that a typo in a probe's URL fails loudly.
//
// Concurrency: a Server is safe for concurrent use; every answer is computed from atomics and the
// callbacks it was given, which must be safe for concurrent use too.
package status
