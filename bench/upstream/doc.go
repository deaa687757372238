// Package upstream is the benchmark's upstream server: a fasthttp handler that answers every request
// with a fixed JSON body, 100 bytes by default, 1 KiB for a path ending in "/1k" and 64 KiB for a
// path ending in "/64k". The bodies are built once by New and never change, so a Server is safe for
// concurrent use by any number of connections and the handler allocates nothing per request.
package upstream
