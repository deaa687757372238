// Package state holds the control plane's configuration as the data plane receives it: every key
// under the APISIX prefix with its value and mod revision, at one store revision, with the keys
// that changed since the State before it.
//
// It is the neutral type between the sources of configuration and its consumer: cpclient (the
// etcd v3 control plane) and the state file (config/statefile) produce States; proxy/snapshot
// decodes and compiles them. It knows nothing of APISIX objects, of etcd or of the proxy.
//
// Concurrency: a State and its KVs are immutable once handed out and safe for concurrent reads.
// A Builder is not safe for concurrent use; the KVs it freezes are.
package state
