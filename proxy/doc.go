// Package proxy is the data plane's hot path: a fasthttp server that matches each request against
// the current snapshot's router, picks an upstream node and forwards the request to it.
//
// The snapshot is published with an atomic pointer swap (Store) and loaded once per request; a
// request never takes a lock or reads configuration outside the snapshot it loaded. Nothing of a
// fasthttp.RequestCtx escapes the handler.
//
// Concurrency: a Proxy is safe for concurrent use. Store may be called at any time from any goroutine.
package proxy
