// Package proxy is the data plane's hot path: a fasthttp server that matches each request against
// the current snapshot's router, picks an upstream node and forwards the request to it the way
// APISIX (nginx) would.
//
// The proxy is the server side. It enforces the client limits of Options and answers hostile
// requests (smuggling attempts, obs-fold, oversized heads and bodies, slow clients) with nginx's
// codes; it reads the client's body (small bodies are buffered and then allocate nothing, and can
// be replayed; large ones stream to the upstream as they arrive); it turns the client's request
// into the upstream's (hop-by-hop headers out, X-Forwarded-* and the Host that pass_host asks
// for, HTTP/1.1), where the client address is nginx's $remote_addr after its realip module
// (Options.RealIP: a trusted peer's X-Real-IP or X-Forwarded-For, set on the RequestCtx as its
// remote address for the request, so that the router, the balancer and the access log read it
// too); and it applies APISIX's retry policy: which node next, only after a try failed
// before a response head arrived, never a non-idempotent request once sent, within retries and
// retry_timeout, with every try's status in X-APISIX-Upstream-Status. The connect, send and read
// timeouts of the route (or else the upstream) go to each try. When no try answers it writes a
// small fixed error page, never an error string or an internal address. An answer given while
// the client is still sending a body is followed by a lingering close, as nginx does, so that the
// client reads it instead of a reset.
//
// Each try is package transport's (transport.Transport.Try): it speaks HTTP/1.1 to the node
// itself, on connections it takes from the node's fasthttp.HostClient pool, streams bodies both
// ways without holding them whole, strips hop-by-hop response headers, honours keepalive_pool,
// replaces pooled connections the upstream closed, reports every try to the node for passive
// health, and runs the WebSocket tunnel of a route with enable_websocket. The boundary is by
// job: the proxy decides (route, node, retries, the client's answer when no try answered) and
// owns the client connection; the transport carries one try to one node and owns the upstream
// connection. Imports point one way: proxy → proxy/transport → upstream.
//
// Where the server side grows: the plugin pipeline (APISIX's plugins, run in phases around the
// try) lives in proxy/plugin, one subpackage per plugin with its schema, defaults and tests, each
// compiled once per snapshot by proxy/snapshot and run by the handler from the route it matched;
// TLS serving lives here beside Listen (tls.go): ServeTLS makes an HTTPS listener whose handshakes
// pick their certificate by SNI in GetConfigForClient, from the SNI index (proxy/ssl, compiled by
// proxy/snapshot like the routes) of the snapshot current at the ClientHello, read without a lock;
// SetTLS changes the listener settings for new handshakes. The handshake runs on the connection's
// own goroutine within client_header_timeout, and failures are counted by reason. Requests then take
// the plain path (ctx.IsTLS gives $scheme https and X-Forwarded-Proto: https). ALPN offers h2
// then http/1.1 (h2 alone is dropped by TLSOptions.DisableHTTP2, apisix.enable_http2): fasthttp
// hands a connection that negotiated h2 to the generation's proxy/h2 server, whose streams run
// Handle like HTTP/1.1 requests ($server_protocol HTTP/2.0; upstreams stay HTTP/1.1) and which
// sends GOAWAY when the proxy shuts down or the generation retires. Client certificates (mTLS)
// come later. Neither reaches into the transport.
//
// Wire Proxy.ConfigureClient into upstream.Options.Client: it makes dials honour a route's
// connect timeout and counts requests per upstream connection for keepalive_pool.requests.
//
// The snapshot is published with an atomic pointer swap (Store) and loaded once per request; a
// request never takes a lock or reads configuration outside the snapshot it loaded. Nothing of a
// fasthttp.RequestCtx escapes the handler: a streamed response body holds the client connection
// only to re-arm its write deadline, and is read by the connection's own goroutine.
//
// Concurrency: a Proxy is safe for concurrent use and must not be copied. Store and SetTLS may be
// called at any time from any goroutine. ConfigureClient is meant for upstream.Options.Client and may run
// concurrently with requests.
package proxy
