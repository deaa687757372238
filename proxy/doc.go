// Package proxy is the data plane's hot path: a fasthttp server that matches each request against
// the current snapshot's router, picks an upstream node and forwards the request to it the way
// APISIX (nginx) would.
//
// The proxy speaks HTTP/1.1 to upstreams itself, on connections it takes from the node's
// fasthttp.HostClient pool: it strips hop-by-hop headers both ways, sets X-Forwarded-* and the
// Host that pass_host asks for, retries as APISIX does (only before a response started, never a
// non-idempotent request once sent, within retries and retry_timeout), applies the connect, send
// and read timeouts of the route or else the upstream, and streams bodies both ways without
// holding them whole: small bodies are buffered (and then allocate nothing), large ones flow
// through in fixed-size chunks. A route with enable_websocket splices upgraded connections. It
// enforces the client limits of Options and answers hostile requests (smuggling attempts,
// obs-fold, oversized heads and bodies, slow clients) with nginx's codes; an answer given while
// the client is still sending a body is followed by a lingering close, as nginx does, so that the
// client reads it instead of a reset. Error answers are small fixed pages and never carry an
// error string or an internal address.
//
// Wire Proxy.ConfigureClient into upstream.Options.Client: it makes dials honour a route's
// connect timeout and counts requests per upstream connection for keepalive_pool.requests.
//
// The snapshot is published with an atomic pointer swap (Store) and loaded once per request; a
// request never takes a lock or reads configuration outside the snapshot it loaded. Nothing of a
// fasthttp.RequestCtx escapes the handler: a streamed response body holds the client connection
// only to re-arm its write deadline, and is read by the connection's own goroutine.
//
// Concurrency: a Proxy is safe for concurrent use and must not be copied. Store may be called at
// any time from any goroutine. ConfigureClient is meant for upstream.Options.Client and may run
// concurrently with requests.
package proxy
