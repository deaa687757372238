// Package fingerprint computes a stable digest of a configuration: the APISIX objects under the
// etcd prefix, as a data plane serves them or as `zoneproxy sync` would write them. Two regions
// whose control planes hold the same objects have the same fingerprint, whatever their revisions,
// the order of keys or of fields, or which control plane (or state file) served them.
//
// What counts, and how it is normalised:
//   - Only objects count: keys <prefix>/<kind>/<id> (and <prefix>/consumers/<name>/credentials/<id>)
//     of the kinds APISIX configures (Kinds), whose value is a JSON object. Other keys (directory
//     markers such as "init_dir", data_plane/ registrations, unknown kinds) do not.
//   - The key counts relative to the prefix ("routes/1"), so two prefixes holding the same
//     objects agree.
//   - In the value, the top-level fields create_time, update_time and id are dropped (the first
//     two are set by whoever writes, the id is the key's). Objects are re-encoded canonically:
//     keys sorted, no insignificant space, numbers in their shortest form (1.0 and 1 are equal;
//     integers beyond 2^53 keep their digits), strings with Go's JSON escaping.
//   - Values are digested as stored: encrypted fields (SSL keys, plugin encrypt_fields) count in
//     their encrypted form, so regions with different keyrings differ.
//
// The digest of the whole is a multiset hash: the sum, modulo 2^256, of the SHA-256 of each
// object's relative key and canonical value, itself hashed with the object count. It is
// independent of order by construction and can be kept up to date object by object: a Tracker
// changes only what a new State changed. It detects drift, it does not resist an attacker who
// chooses objects to collide. String gives the first 128 bits in hex (32 characters).
//
// Concurrency: Digest values are immutable. A Tracker is not safe for concurrent use.
package fingerprint
