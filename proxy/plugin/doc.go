// Package plugin is the runtime of APISIX plugins in zoneproxy: the interface a plugin
// implements, the compiled chains the snapshot builder makes from routes, services, plugin
// configs, consumers, consumer groups and global rules, the consumer index the authentication
// plugins look consumers up in, and Run, which the proxy calls on the request path.
//
// A plugin is one package under proxy/plugin (keyauth, basicauth, consumerrestriction, ...)
// exporting a value that implements Plugin; proxy/plugin/builtin lists them, one line each. Its
// Compile validates one conf against the plugin's schema with APISIX's defaults and error text
// and returns an immutable Instance, once per object version at snapshot build, never per
// request. An Instance implements the phases it takes part in (Rewriter, Accessor,
// HeaderFilterer, BodyFilterer, Logger); the chain records which, so that a phase costs a loop
// over the plugins that have it, and a route without a body filter never wraps a body.
//
// The body filter phase streams: a BodyFilterer returns, in the header filter phase, a
// BodyFilter for that one response, which gets the body a piece at a time (FilterBody wraps an
// upstream body that streams; FilterBufferedBody filters one held whole) and caps whatever it
// holds back. Encoders (gzip) run after every other body filter. Authentication plugins also implement Auth: they compile the
// consumer-side conf (APISIX's consumer_schema) into the Consumers index.
//
// The behaviour matched is APISIX's (apisix/plugin.lua, apisix/init.lua http_access_phase):
// plugins run in priority order (highest first, `_meta.priority` overriding); every rewrite runs
// before any access; global rules run first in each phase, also for a request no route matched;
// the consumer an authentication plugin attached brings its own plugins (and its group's), which
// win over the route's, and its non-authentication plugins run their rewrite after the route's;
// `_meta.disable` skips a plugin, `_meta.filter` (a vars expression) gates it per request, and
// `_meta.error_response` replaces the body of any answer >= 400 the plugin gives.
//
// Per-request state is a Request, pooled by the proxy; running a chain allocates nothing.
//
// Concurrency: Chains, Instances, Consumers and Consumer values are immutable once built and safe
// for concurrent use. A Request belongs to one request at a time.
package plugin
