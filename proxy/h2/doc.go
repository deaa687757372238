// Package h2 serves HTTP/2 connections with a fasthttp request handler, so that the HTTPS
// listener's h2 clients take the very pipeline its HTTP/1.1 clients take (router, plugins,
// upstream pools, retries, metrics, access log).
//
// golang.org/x/net/http2 speaks the protocol (framing, HPACK, flow control, stream limits and its
// defences against rapid reset and CONTINUATION floods). Each stream's *http.Request becomes a
// fasthttp.RequestCtx: its head is written out as an HTTP/1.1 head and parsed by fasthttp, so
// that the handler's checks see raw header fields as they do on HTTP/1.1, then the protocol is
// set to HTTP/2.0 ($server_protocol, the access log). The body is the stream's, read as the
// handler asks: a body without Content-Length is declared chunked to the handler, which buffers
// a small one and streams a large one to the upstream chunked. The RequestCtx's connection is a
// Stream: the TLS connection's addresses and state, and read and write deadlines that apply to
// the stream (client_body_timeout, send_timeout). The fasthttp response goes back to the
// http.ResponseWriter without its connection-specific fields; a streamed body is copied as it is
// read, so HTTP/2 flow control paces the upstream. A response the handler cut short (a hijacked
// one whose body is shorter than its Content-Length, or a body stream that failed) resets the
// stream.
//
// Concurrency: a Server is safe for concurrent use; ServeConn blocks for the connection's life and
// runs the handler on one goroutine per stream, as x/net/http2 does. Nothing of a RequestCtx
// outlives the stream's handler.
package h2
