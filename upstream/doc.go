// Package upstream turns APISIX upstream objects into pools of nodes that a proxy picks from.
//
// Parse decodes one upstream object as APISIX stores it in etcd, validates it against APISIX's
// schema and data-plane checks and fills in the schema defaults. A long-lived Registry compiles
// a Spec into an immutable Pool per config key and keeps what must outlive config updates:
// per (upstream key, node address) load and health state, and one fasthttp.HostClient per
// address and connection settings. After each snapshot swap the caller tells it how the set of
// live pools changed (Update, with the Delta the snapshot build hands over, in time proportional
// to the change; Retain with the whole set), so that state nothing uses any more is released: a
// client as soon as no node of a live pool uses it, per-host TLS clients made on the request path
// included.
//
// Per request the proxy calls Pool.Pick (roundrobin: nginx's smooth weighted round robin;
// chash: a consistent-hash ring keyed by hash_on/key; least_conn; ewma), forwards with the
// node's Client and reports every try with Node.Done, which feeds passive health, least_conn
// in-flight counts and ewma latency. Node priority groups, weight 0 and health follow APISIX:
// lower priority groups are used only when every node of the higher ones is unavailable, and
// when every node is unhealthy health is ignored. Active checks (package health) report through
// Node.ReportProbe.
//
// Concurrency: Registry, Pool and Node are safe for concurrent use. Pick is lock-free and Pick
// and Done allocate nothing (a Tried set allocates only past 64 nodes), with one exception: the
// Done or ReportProbe that flips a node between routable and ejected rebuilds the candidate views
// of its upstream's live pools there and then, so that no Pick ever does (the round-robin
// position carries over). Health and load live in atomics, except an ewma node's average, which
// Done updates under that node's own mutex. A Tried belongs to one request. The package starts
// no goroutines of its own (fasthttp clients run their idle-connection cleaners).
package upstream
