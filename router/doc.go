// Package router chooses the APISIX route for a request exactly as APISIX's
// HTTP routers do: radixtree_host_uri (the default), radixtree_uri and
// radixtree_uri_with_parameter, built on lua-resty-radixtree and, for
// route vars, lua-resty-expr (package router/expr).
//
// Compile validates one route's match fields (uri/uris, host/hosts,
// methods, remote_addr/remote_addrs, vars, priority) against APISIX's
// schema and compiles them: CIDRs parsed, regexes compiled, vars turned
// into closures. New assembles compiled routes into a Table; Table.Update
// derives the next Table from a few removed and added routes at the cost
// of the change, not of the table (a persistent structure: the new table
// shares every untouched host bucket, radix subtree and exact-path shard
// with the old one, which stays valid and becomes garbage once dropped).
// Table.Match then picks the route for a fasthttp request:
//
//   - radixtree_host_uri: routes with hosts first, grouped by host: the
//     exact host, then wildcard hosts from the longest suffix to the
//     shortest (host compared lowercase, port and a trailing dot ignored,
//     as nginx's $host); each host group is a complete sub-router, and
//     when none has a matching route the routes without hosts are tried;
//   - within a group: routes whose uri equals the path, then prefix routes
//     (uri ending in '*', or holding ':' with parameters) from the longest
//     prefix to the shortest; among routes on the same path, higher
//     priority first, then the longer uri, then etcd key order: by
//     Route.Key when set, then in the order New was given (Update puts an
//     added route after the routes with its Key);
//     a route whose methods, remote address, hosts (uri routers) or vars
//     do not hold is skipped for the next one;
//   - the path is nginx's $uri: fasthttp's decoded, normalised path, with
//     the requests nginx rejects (bad %-escape, %00, ".." above the root)
//     matching nothing (see PathRejected).
//
// Concurrency: a *Compiled is immutable and may be shared by many Tables;
// a *Table is immutable after New or Update and safe for concurrent Match
// calls, which take no lock and, apart from a pooled scratch object for
// vars, allocate nothing. Update only reads its receiver, so it may run
// while requests match on it (and several Updates may derive from one
// table). Publish a new Table with an atomic pointer swap; Match keeps no
// reference to the request after it returns.
package router
