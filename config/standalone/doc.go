// Package standalone reads APISIX's standalone configuration (conf/apisix.yaml or apisix.json,
// and the body of PUT /apisix/admin/configs) into the etcd key/values a control plane would hold
// under the prefix, so that one snapshot builder serves both sources.
//
// Decode does it in one call. Parse and Document.Objects expose the steps for the Admin API,
// which needs each object's list position and modifiedIndex, and the <type>_conf_version fields.
// A Decoder decodes the successive versions of a file at the cost of what changed between them,
// and NextStateChanged makes the next State of what it says changed (the file source's reload).
// Nothing here validates an object's schema: that is the builder's job (proxy/snapshot).
//
// Concurrency: the functions are safe for concurrent use; a Document must not be changed while
// another goroutine reads it.
package standalone
