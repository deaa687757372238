// Package adminapi is APISIX's API-driven standalone mode (3.13+): the whole configuration is
// pushed to PUT /apisix/admin/configs (JSON or YAML, with X-Digest and per-type
// <type>_conf_version), read back with GET and HEAD, and checked without being stored with POST
// /apisix/admin/configs/validate. Every other /apisix/admin path answers 404.
//
// A push is all or nothing: every object is checked (Options.Check, the snapshot builder's own
// validation) before any is applied; an accepted push becomes a *state.State handed to
// Options.Apply, the same apply path as the control-plane client's. The configuration lives in
// memory only: a restarted process starts empty, and is not ready until the first push.
//
// Authentication is the caller's: wrap Handler with config/adminauth.
//
// Concurrency: a Store is safe for concurrent use; pushes are serialised.
package adminapi
