package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestResponseVarsEndToEnd: response-rewrite's vars test the response — its status and headers
// ($status, $sent_http_*) and the upstream's ($upstream_status, $upstream_http_*, nil when the
// proxy or a plugin answered) — while a route's own vars naming one are rejected.
func TestResponseVarsEndToEnd(t *testing.T) {
	h := newPluginHarness(t, nil)
	h.up = backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cached" {
			w.Header().Set("X-Cache", "HIT")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}\n"))
			return
		}
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
		_, _ = w.Write([]byte("upstream says " + strconv.Itoa(code) + "\n"))
	}))
	h.update(
		"/apisix/routes/1", `{"uri":"/status/*","plugins":{"response-rewrite":{"status_code":200,"body":"upstream failed\n","vars":[["upstream_status",">=",500]]}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/cached","plugins":{"response-rewrite":{"headers":{"set":{"X-Was-Cached":"yes"}},"vars":[["upstream_http_x_cache","==","HIT"],["sent_http_content_type","~~","json"]]}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/down-upstream","plugins":{"response-rewrite":{"body":"rewritten\n","vars":[["upstream_status","==","502"]]}},"upstream":{"nodes":{"127.0.0.1:1":1},"retries":0}}`,
		"/apisix/routes/4", `{"uri":"/down-status","plugins":{"response-rewrite":{"body":"rewritten\n","vars":[["status","==",502]]}},"upstream":{"nodes":{"127.0.0.1:1":1},"retries":0}}`,
		"/apisix/routes/5", `{"uri":"/auth","plugins":{"key-auth":{},"response-rewrite":{"body":"log in first\n","vars":[["status","==",401],["upstream_status","~=","401"]]}},"upstream":UPSTREAM}`,
	)
	tests := []struct {
		path     string
		status   int
		body     string
		cachedHd string
	}{
		{"/status/503", 200, "upstream failed\n", ""},
		{"/status/404", 404, "upstream says 404\n", ""},
		{"/status/200", 200, "upstream says 200\n", ""},
		{"/cached", 200, "{}\n", "yes"},
		// The proxy's 502: $status is 502, $upstream_status nil.
		{"/down-upstream", 502, "", ""},
		{"/down-status", 502, "rewritten\n", ""},
		// key-auth's 401, which no upstream sent.
		{"/auth", 401, "log in first\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := h.get(tt.path)
			if resp.StatusCode != tt.status || (tt.body != "" && body != tt.body) || (tt.body == "" && body == "rewritten\n") {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if got := resp.Header.Get("X-Was-Cached"); got != tt.cachedHd {
				t.Fatalf("X-Was-Cached %q, want %q", got, tt.cachedHd)
			}
		})
	}

	t.Run("a route's vars cannot test the response", func(t *testing.T) {
		h.logs.Take()
		h.update("/apisix/routes/6", `{"uri":"/route-vars","vars":[["status","==",200]],"upstream":UPSTREAM}`)
		if resp, _ := h.get("/route-vars"); resp.StatusCode != 404 {
			t.Fatalf("route with response vars served: %d", resp.StatusCode)
		}
		if logs := h.logs.Take(); !strings.Contains(logs, `variable \"status\" is not supported`) {
			t.Fatalf("logs\n%s\nwant the route rejected for $status", logs)
		}
	})
}
