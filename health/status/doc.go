// Package status is the status server that load balancers and orchestrators probe
// (apisix.status, default 127.0.0.1:7085): liveness on /status, readiness on /status/ready, and the
// control-plane view on /status/control-plane.
//
// Readiness means: a configuration is loaded (from the control plane or the state file), the proxy
// listens, the process is not draining, and — only with RequireControlPlane — a control-plane endpoint
// is in use. It stays ready through a control-plane outage by default: the last good configuration
// keeps serving (static stability).
//
// Concurrency: a Server is safe for concurrent use; every answer is computed from atomics and the
// callbacks it was given, which must be safe for concurrent use too.
package status
