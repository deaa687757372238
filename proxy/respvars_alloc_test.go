//go:build !race

package proxy

import (
	"testing"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestResponseVarsAllocs: response-rewrite's vars on the response ($status, $upstream_status,
// $sent_http_*) allocate nothing per request, matched or not.
func TestResponseVarsAllocs(t *testing.T) {
	up := fastBackend(t)
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/1", route("/hit/*", `"plugins":{"response-rewrite":{"headers":{"set":{"X-Hit":"1"}},`+
			`"vars":[["status","==",200],["upstream_status","==","200"],["sent_http_content_type","~~","."]]}}`, "", up),
		"/apisix/routes/2", route("/miss/*", `"plugins":{"response-rewrite":{"headers":{"set":{"X-Hit":"1"}},`+
			`"vars":[["upstream_status",">=",500]]}}`, "", up),
	)
	handleAllocsOn(t, h, []allocCase{
		{"response vars match", "/hit/x", nil, 200},
		{"response vars do not match", "/miss/x", nil, 200},
	})
}
