// Package transport is the proxy's client to upstreams: one try of a request on one upstream
// node, over HTTP/1.1, on a connection from the node's fasthttp.HostClient pool.
//
// A try (Transport.Try) takes a pooled connection or dials one within the connect timeout (a new
// TLS connection shakes hands within it too), writes the request head and body under the send
// timeout (between two writes, as nginx's proxy_send_timeout), reads the response head under the
// read timeout (proxy_read_timeout, between two reads), skipping interim 1xx answers, and takes
// the body: read whole when its Content-Length is within Options.ResponseBufferSize, otherwise
// streamed to the client as it arrives (Content-Length, chunked, or until the upstream closes),
// never held whole. A body read whole of a page or more goes into a buffer of a pool shared by
// all client connections, which the caller gives back once the response is written
// (ReleaseBody; bodies.go says why). Hop-by-hop response fields are removed and the upstream's Server header
// dropped. A buffered body goes out with its head in one write and, on a connection dialled
// through ConfigureClient, the response is then awaited without a read attempt (sendWait); a
// streamed request body is read from the client as it is sent, chunked when it came chunked.
// The connection returns to the pool once the response is complete and nothing is buffered behind
// it, within keepalive_pool's size and requests per connection; every other ends closed. Every
// request on a pooled connection first peeks at its socket (closedWhileIdle): one the upstream
// closed, or sent unasked bytes on, while idle is replaced within the same try, so that no request
// ever reads another's answer. A response head is read as nginx reads it (readHead: bare LF line
// ends taken, invalid status lines and framings refused, the proxy's own HTTP/1.1 status line);
// a body cut short after its head reaches the client as far as it arrived, then the client
// connection closes (passCut). Every try is
// reported to the node exactly once (upstream.Node.Done), which feeds passive health, least_conn
// and ewma: at once, or when a streamed body or a tunnel ends.
//
// The transport decides nothing about routing: which node, whether to try again, what the client
// gets when no try answered, and the headers the route or APISIX asks for (X-Forwarded-*, Host,
// pass_host) are the caller's. An Outcome says whether the try answered, timed out, may be
// retried (nginx's rules: nothing sent, or an idempotent request whose body can be replayed, on
// an I/O failure rather than an invalid answer), or failed on the client's body. Timeouts and
// keepalive_pool arrive as plain values in the Request.
//
// WebSocket tunnels live here too: a 101 to a request that asked for an upgrade is the
// continuation of its try, on the try's connection, which the transport owns for its whole life
// (pool slot, buffered reader, the report to the node), just as it owns a streamed body after the
// handler returned; handing the raw connection to the server would export all of that. The
// server only asks for the tunnels to end when it shuts down (CloseTunnels). Likewise an
// HTTP/1.0 client, which has no chunked encoding, gets a body of unknown length unframed on the
// hijacked connection (Request.HTTP10).
//
// The transport works on a *fasthttp.RequestCtx: the request head is ctx.Request.Header, written
// as it is, and the answer goes to ctx.Response. Fields (FieldOf, StripHop) are the header fields
// both sides act on, found in one pass over a head.
//
// Concurrency: a Transport is safe for concurrent use and must not be copied; it starts no
// goroutine but a tunnel's second direction. A Request belongs to one request at a time: the
// caller keeps it in its own pooled per-request state, and after warm-up a GET answered on a
// pooled connection allocates nothing (TestTryAllocs). Try runs on the handler's goroutine; a streamed response
// body is read by the connection's own goroutine after the handler returned, and holds the
// client connection only to re-arm its write deadline. ConfigureClient may run concurrently with
// tries; it is meant for upstream.Options.Client.
package transport
