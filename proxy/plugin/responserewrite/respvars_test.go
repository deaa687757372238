package responserewrite

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// TestResponseVars: vars may test the response (status, sent_http_*) and the upstream's answer
// (upstream_status, upstream_http_*, nil when the proxy or a plugin answered), besides the request.
func TestResponseVars(t *testing.T) {
	tests := []struct {
		name     string
		vars     string
		status   int
		headers  map[string]string
		upstream bool // the upstream answered (the transport's header filter ran)
		request  fakeVars
		applies  bool
	}{
		{"status matches", `[["status","==",404]]`, 404, nil, true, nil, true},
		{"status differs", `[["status","==",404]]`, 200, nil, true, nil, false},
		{"status range", `[["status",">=",500],["status","<",600]]`, 502, nil, false, nil, true},
		{"upstream_status of the upstream", `[["upstream_status","==","503"]]`, 503, nil, true, nil, true},
		{"upstream_status of the proxy's answer is nil", `[["upstream_status","==","502"]]`, 502, nil, false, nil, false},
		{"upstream_status nil is ~=", `[["upstream_status","~=","200"]]`, 401, nil, false, nil, true},
		{"sent header", `[["sent_http_content_type","~~","json"]]`, 200, map[string]string{"Content-Type": "application/json"}, true, nil, true},
		{"sent header absent", `[["sent_http_x_cache","==","HIT"]]`, 200, nil, true, nil, false},
		{"upstream header", `[["upstream_http_x_cache","==","HIT"]]`, 200, map[string]string{"X-Cache": "HIT"}, true, nil, true},
		{"upstream header on the proxy's answer", `[["upstream_http_x_cache","==","HIT"]]`, 200, map[string]string{"X-Cache": "HIT"}, false, nil, false},
		{"with a request variable", `[["status","==",200],["http_x_debug","==","1"]]`, 200, nil, true, fakeVars{"http_x_debug": "1"}, true},
		{"request variable differs", `[["status","==",200],["http_x_debug","==","1"]]`, 200, nil, true, fakeVars{"http_x_debug": "0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(`{"status_code":299,"vars":`+tt.vars+`}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Response.SetStatusCode(tt.status)
			for k, v := range tt.headers {
				ctx.Response.Header.Set(k, v)
			}
			r := &plugin.Request{Ctx: &ctx}
			if tt.request != nil {
				r.Vars = tt.request
			}
			if tt.upstream {
				r.UpstreamHead().HeaderFilter()
			}
			inst.(plugin.BodyFilterer).BodyFilter(r)
			if applied := ctx.Response.StatusCode() == 299; applied != tt.applies {
				t.Fatalf("applied %v, want %v (status %d)", applied, tt.applies, ctx.Response.StatusCode())
			}
		})
	}
}

// TestResponseVarsCompile: response-rewrite's vars take the response's variables (a route's vars
// reject them: router/expr TestCompileResponse).
func TestResponseVarsCompile(t *testing.T) {
	for _, v := range []string{"status", "upstream_status", "sent_http_x", "upstream_http_x"} {
		t.Run(v, func(t *testing.T) {
			if _, err := Plugin.Compile([]byte(`{"status_code":200,"vars":[["`+v+`","==","1"]]}`), nil); err != nil {
				t.Fatalf("response-rewrite rejects %s: %v", v, err)
			}
		})
	}
}
