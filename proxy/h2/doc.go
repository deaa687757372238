// Package h2 serves HTTP/2 connections with a fasthttp request handler, so that the HTTPS
// listener's h2 clients take the very pipeline its HTTP/1.1 clients take (router, plugins,
// upstream pools, retries, metrics, access log).
//
// The connection loop is this package's own, on golang.org/x/net/http2's Framer (frame
// parsing) and hpack (HPACK decoding; header blocks are put together here, with the Framer's
// checks, bound on a header list and on CONTINUATION floods, without its allocations) rather than
// its Server, whose design (a goroutine per flush, a channel message per frame written, a
// serve loop between the reader and every handler, a write per response) cost the proxy some
// 40 % of its CPU per HTTP/2 request (bench/README.md, "HTTP/2 profile"). Here one reader goroutine per connection reads frames,
// answers the connection-level ones and hands each request to a handler goroutine from a
// small pool that keeps its grown stack. Handlers write their responses themselves into one
// buffered writer per connection, under its lock; the last writer to leave yields the processor
// once and flushes, so the responses of streams ready at once go out in one write, as nginx
// writes what one turn of its event loop produced.
//
// The protocol: SETTINGS exchange, PING, flow control both ways (a request body is buffered
// only up to the window the server grants, and granted again as the handler reads; a response
// waits for the client's window), RST_STREAM, GOAWAY on Shutdown (open streams finish) and on
// a connection error, SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM past it), the
// rapid-reset defence (CVE-2023-44487), request pseudo-header and connection-specific field
// checks (RFC 9113 sections 8.2.2, 8.3.1), idle and send timeouts. PRIORITY is ignored.
//
// Each stream's request becomes a fasthttp.RequestCtx: its head is written out as an HTTP/1.1
// head and parsed by fasthttp, so that the handler's checks see raw header fields as they do
// on HTTP/1.1, then the protocol is set to HTTP/2.0 ($server_protocol, the access log). The
// body is the stream's, read as the handler asks: a body without Content-Length is declared
// chunked to the handler, which buffers a small one and streams a large one to the upstream
// chunked. The RequestCtx's connection is the Stream: the TLS connection's addresses and
// state, and read and write deadlines that apply to the stream (client_body_timeout,
// send_timeout). The response is written without its connection-specific fields, its header
// block in HPACK without the dynamic table (as nginx); a streamed body is sent as it is read,
// so HTTP/2 flow control paces the upstream. A response the handler cut short (a hijacked one
// whose body is shorter than its Content-Length, or a body stream that failed) resets the
// stream.
//
// Concurrency: a Server is safe for concurrent use; ServeConn blocks for the connection's life
// and until its handlers return. Nothing of a RequestCtx outlives the stream's handler.
package h2
