// Package limit holds what APISIX's limit plugins (limit-count, limit-req, limit-conn) share:
// the key a request is counted under (key, key_type, with APISIX's fallback to the client
// address) and Table, the in-process map from a key to its counter.
//
// Concurrency: a Key is immutable once compiled; a Table is safe for concurrent use, its
// lookups take a shard's read lock and allocate nothing once the key is known, and the counters
// it holds are updated with atomics by their owners.
package limit
