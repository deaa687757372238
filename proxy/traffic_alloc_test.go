//go:build !race

package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestTrafficPluginAllocs: proxy-rewrite, cors and request-id on a route allocate nothing per
// request, and neither do ip-restriction's pass and block, a cors preflight, nor a
// response-rewrite of headers only.
func TestTrafficPluginAllocs(t *testing.T) {
	up := fastBackend(t)
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/1", route("/api/*", trafficPlugins, "", up),
		"/apisix/routes/2", route("/ok/*", `"plugins":{"ip-restriction":{"whitelist":["192.0.2.0/24"]}}`, "", up),
		"/apisix/routes/3", route("/no/*", `"plugins":{"ip-restriction":{"blacklist":["192.0.2.1"]}}`, "", up),
		"/apisix/routes/4", route("/rr/*", responseRewriteHeaders, "", up),
	)
	handleAllocsOn(t, h, []allocCase{
		{"proxy-rewrite+cors+request-id", "/api/users?id=42", []string{"Origin", "http://a.example"}, 200},
		{"request-id kept", "/api/users", []string{"X-Request-Id", "abc"}, 200},
		{"ip-restriction pass", "/ok/x", nil, 200},
		{"ip-restriction block", "/no/x", nil, 403},
		{"response-rewrite headers", "/rr/x", nil, 200},
	})
}

// TestLimitCountAllocs: a limit-count route (policy local) allocates nothing per request,
// admitted with its quota headers or rejected.
func TestLimitCountAllocs(t *testing.T) {
	up := fastBackend(t)
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/1", route("/api/*", `"plugins":{"limit-count":{"count":1000000000,"time_window":3600}}`, "", up),
		"/apisix/routes/2", route("/one/*", `"plugins":{"limit-count":{"count":1,"time_window":3600,"key":"k","key_type":"constant"}}`, "", up),
	)
	// The one request /one/ admits.
	var req fasthttp.Request
	req.SetRequestURI("/one/x")
	req.Header.SetHost("api.example.com")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	if h.p.Handle(&ctx); ctx.Response.StatusCode() != 200 {
		t.Fatalf("first request: %d", ctx.Response.StatusCode())
	}
	handleAllocsOn(t, h, []allocCase{
		{"admitted", "/api/users?id=42", nil, 200},
		{"rejected", "/one/x", nil, 503},
	})
}
