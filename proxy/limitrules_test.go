package proxy

import "testing"

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
