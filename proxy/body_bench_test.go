package proxy

import (
	"strings"
	"testing"
)

// pageBackend is a fasthttp upstream on loopback answering every request with an HTML page of
// size bytes.
func pageBackend(tb testing.TB, size int) string {
	page := []byte(strings.Repeat(pageUnit, size/len(pageUnit)+1)[:size])
	return fixedBackend(tb, "text/html", page)
}

// responseRewriteHeaders is a route's response-rewrite that only sets headers (one from a
// variable) and removes one.
const responseRewriteHeaders = `"plugins":{"response-rewrite":{"headers":{"set":{"X-Served-By":"zoneproxy","X-Client":"$remote_addr"},"remove":["X-Powered-By"]}}}`

// BenchmarkBodyPlugins: a plain route and the same route with response-rewrite (headers only,
// no body filter), side by side (Handle on a prepared RequestCtx, as BenchmarkPlugins); then a
// 64 KiB HTML page plain and gzip-compressed (comp_level 1), with its throughput in MB/s of
// uncompressed page.
func BenchmarkBodyPlugins(b *testing.B) {
	up := fastBackend(b)
	b.Run("plain", func(b *testing.B) {
		benchHandle(b, nil, "/apisix/routes/1", route("/api/*", "", "", up))
	})
	b.Run("response-rewrite-headers", func(b *testing.B) {
		benchHandle(b, nil, "/apisix/routes/1", route("/api/*", responseRewriteHeaders, "", up))
	})
	page := pageBackend(b, 64<<10)
	b.Run("plain-64KiB", func(b *testing.B) {
		b.SetBytes(64 << 10)
		benchHandle(b, []string{"Accept-Encoding", "gzip"}, "/apisix/routes/1", route("/api/*", "", "", page))
	})
	b.Run("gzip-64KiB", func(b *testing.B) {
		b.SetBytes(64 << 10)
		benchHandle(b, []string{"Accept-Encoding", "gzip"}, "/apisix/routes/1", route("/api/*", `"plugins":{"gzip":{}}`, "", page))
	})
}
