// Package adminapi serves APISIX's Admin API (/apisix/admin/...) over an etcd v3 key space laid
// out as APISIX's control plane lays it out (<prefix>/routes/1, <prefix>/consumers/jack/
// credentials/c1, ...): PUT, POST, GET (one object or a paged, filtered list), PATCH (merge or
// sub-path, written with compare-and-set) and DELETE (refused while the object is referenced,
// unless ?force=true), with APISIX's envelopes, status codes and error texts.
//
// Authentication is not its job: wrap the Handler with config/adminauth. Validation of an object
// is injected (Options.Validate): the caller passes the data plane's own check, so that an object
// the Admin API accepts is one the data plane serves, without this package depending on the data
// plane. SSL keys and the encrypted fields of authentication plugins are encrypted with
// Options.Keyring before they are stored, as APISIX's Admin API does.
//
// A Handler is immutable and safe for concurrent use; concurrent writers of one object are
// ordered by etcd (PATCH fails rather than overwrite a change it did not see).
package adminapi
