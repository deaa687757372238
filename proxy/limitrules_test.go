package proxy

import (
	"fmt"
	"net"
	"testing"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestLimitCountRulesEndToEnd: limit-count's rules through the proxy: each rule's headers on the
// upstream's answer, the first rule over its limit rejecting.
func TestLimitCountRulesEndToEnd(t *testing.T) {
	h := newPluginHarness(t, nil,
		"/apisix/routes/1", `{"uri":"/r","plugins":{"limit-count":{"rules":[`+
			`{"count":5,"time_window":60,"key":"$remote_addr"},`+
			`{"count":1,"time_window":60,"key":"$http_x_api_key","header_prefix":"key"}],"rejected_code":429}},"upstream":UPSTREAM}`,
	)
	for i, tt := range []struct {
		key                string
		status             int
		addrLeft, keyLimit string
	}{
		{"", 200, "4", ""},
		{"k1", 200, "3", "1"},
		{"k1", 429, "2", "1"},
		{"k2", 200, "1", "1"},
	} {
		var hdr []string
		if tt.key != "" {
			hdr = []string{"X-Api-Key", tt.key}
		}
		resp, body := h.get("/r", hdr...)
		if resp.StatusCode != tt.status || resp.Header.Get("X-1-RateLimit-Remaining") != tt.addrLeft ||
			resp.Header.Get("X-key-RateLimit-Limit") != tt.keyLimit {
			t.Errorf("request %d: %d %q, headers %v", i, resp.StatusCode, body, resp.Header)
		}
	}
}

// TestLimitReqRedisTwoProxies: limit-req on Redis through two proxies, each with its own
// builder and client: one bucket for both (burst 2, nodelay, a rate that does not drain within
// the test: 3 admitted in all), and a 500 once Redis is gone.
func TestLimitReqRedisTwoProxies(t *testing.T) {
	srv := testutil.StartRedis(t)
	host, port, _ := net.SplitHostPort(srv.Addr)
	route := fmt.Sprintf(`{"uri":"/r","plugins":{"limit-req":{"rate":0.001,"burst":2,"nodelay":true,"key":"remote_addr",`+
		`"policy":"redis","redis_host":%q,"redis_port":%s,"redis_timeout":5000}},"upstream":UPSTREAM}`, host, port)
	a, b := newPluginHarness(t, nil, "/apisix/routes/1", route), newPluginHarness(t, nil, "/apisix/routes/1", route)
	var codes []int
	for i := range 6 {
		h := a
		if i%2 == 1 {
			h = b
		}
		resp, _ := h.get("/r")
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 200 503 503 503]" {
		t.Errorf("statuses %v, want 3 admitted in all, then 503", codes)
	}
	srv.Stop()
	if resp, _ := a.get("/r"); resp.StatusCode != 500 {
		t.Errorf("Redis down: %d, want 500", resp.StatusCode)
	}
}
