// Package regionsync keeps several regional control planes identical to one declarative
// configuration: the logic of `zoneproxy sync dump|diff|apply`.
//
// The input is APISIX's standalone format (apisix.yaml or apisix.json), decoded by
// config/standalone: several files merge, a duplicate id is an error, ${VAR} (and
// ${VAR:=default}) is replaced from the environment as text before decoding, for per-region
// values ($${VAR} is a literal "${VAR}"; ${{VAR}} is left to the standalone decoder). Every object
// is validated (Options.Check, the data plane's own validator) before any target is touched, and
// secrets are sealed with the keyring as APISIX's Admin API does (SSL keys; the plugin fields
// Options.Secrets names).
//
// For each target the objects it holds are read, compared with the file after normalisation
// (config/fingerprint.Canonical: create_time, update_time and id do not count, nor key or field
// order) and planned: creates and updates first, in reference order (secrets, ssls, protos,
// upstreams, services, plugin_configs, consumer_groups, consumers, credentials, global_rules,
// plugin_metadata, routes, stream_routes), then deletes in the reverse order. A label selector
// narrows the scope to objects whose labels hold every selected pair, in the file and on the
// target: objects out of scope are never written nor deleted, and an object of the file in scope
// that exists out of scope on a target is a conflict for that target.
//
// An etcd target applies the plan in one transaction guarded by the mod revision read for every
// key it writes or deletes (0 for a create): a concurrent edit of one of them fails the
// transaction, and nothing is applied. etcd bounds the operations of a transaction
// (--max-txn-ops, 128 by default): a larger plan is split into transactions of at most that many
// operations, in order, each guarded the same way, and the result says so (it is then not
// atomic). An Admin API target (Admin) makes one call per change in the same order and, when one
// fails, undoes the calls made (SSL keys, which an Admin API never returns, cannot be restored:
// the error says so). Targets run in parallel; each one's result carries the fingerprint of its
// configuration (config/fingerprint) so that drift between regions shows.
//
// Concurrency: Run, Dump and Load are safe for concurrent use; a Target must not be used by two
// runs at once.
package regionsync
