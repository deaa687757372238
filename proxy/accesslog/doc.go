// Package accesslog writes one line per request, in nginx's combined format or as a JSON object,
// to stdout, stderr or a file, without ever blocking a request.
//
// The proxy fills a Record on its stack at the end of a request (FromCtx copies nothing: the
// Record's byte slices alias the fasthttp.RequestCtx) and calls Log before the handler returns.
// Log claims a slot of a lock-free ring of pre-sized buffers (one CAS), formats the line into it
// and publishes it. The goroutine running Run wakes up every FlushInterval (100 ms), or as soon
// as an eighth of the slots are taken, and writes the published lines in order through a
// buffered writer. When every slot is taken (the output is slower than the requests), Log drops
// the line and counts it: see Dropped. Nothing of the Record or of the request is retained after
// Log returns.
//
// combined is exactly nginx's
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// with nginx's default escaping (", \ and bytes outside 0x20–0x7e as \xHH) and "-" for empty
// values. json writes one object per line with the configured fields, in the configured order,
// under their own names: time (RFC 3339 with milliseconds), remote_addr, method, uri, status,
// bytes, request_time and upstream_response_time (seconds, millisecond resolution), upstream_addr,
// upstream_status, route_id, request_id (the X-Request-Id request header), and also host, referer,
// user_agent, remote_user and protocol. Absent values are null.
//
// Reopen closes and reopens the output file, for logrotate: the command wires it to SIGUSR1,
//
//	ch := make(chan os.Signal, 1)
//	signal.Notify(ch, syscall.SIGUSR1)
//	for range ch { l.Reopen() }
//
// Concurrency: Log, Dropped, Written and Reopen are safe for concurrent use; Log never blocks
// and does not allocate (unless one line outgrows its buffer). Run is called once, by the owner,
// and returns when its context is done or Close is called, after writing what was queued. Close
// stops Run, waits for it and closes the file. A nil *Logger is a disabled log: every method
// does nothing.
package accesslog
