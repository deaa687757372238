package proxy

import (
	"strings"
	"testing"
)

// TestPluginMetadataEndToEnd: plugin_metadata renames limit-count's quota headers and gives cors
// its origins by name; a change applies to the routes already there, a bad object is rejected
// with its last good version kept, one for an unknown plugin is only a warning.
func TestPluginMetadataEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/count","plugins":{"limit-count":{"count":5,"time_window":60}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/cors","plugins":{"cors":{"allow_origins_by_metadata":["company"]}},"upstream":UPSTREAM}`,
	)
	resp, _ := h.get("/count")
	if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "5" || resp.Header.Get("X-RateLimit-Remaining") != "4" {
		t.Fatalf("defaults: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := h.get("/cors", "Origin", "https://a.com"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no metadata yet: ACAO %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}

	h.update(
		"/apisix/plugin_metadata/limit-count", `{"id":"limit-count","limit_header":"X-Quota","remaining_header":"X-Quota-Left","reset_header":"X-Quota-Reset"}`,
		"/apisix/plugin_metadata/cors", `{"id":"cors","allow_origins":{"company":"https://a.com,https://b.com"}}`,
		"/apisix/plugin_metadata/no-such-plugin", `{"id":"no-such-plugin","x":1}`,
	)
	resp, _ = h.get("/count")
	if resp.StatusCode != 200 || resp.Header.Get("X-Quota") != "5" || resp.Header.Get("X-Quota-Left") != "3" ||
		resp.Header.Get("X-Quota-Reset") == "" || resp.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("renamed headers: %d %v", resp.StatusCode, resp.Header)
	}
	for origin, want := range map[string]string{"https://b.com": "https://b.com", "https://z.com": ""} {
		if resp, _ := h.get("/cors", "Origin", origin); resp.Header.Get("Access-Control-Allow-Origin") != want {
			t.Errorf("Origin %s: ACAO %q, want %q", origin, resp.Header.Get("Access-Control-Allow-Origin"), want)
		}
	}
	if logs := h.logs.Take(); !strings.Contains(logs, "skipping check schema for disabled or unknown plugin [no-such-plugin]") {
		t.Errorf("unknown plugin's metadata: logs\n%s\nwant a warning", logs)
	}

	// A bad version is rejected; the last good one stays.
	h.update("/apisix/plugin_metadata/cors", `{"id":"cors","allow_origins":{"company":"b.com"}}`)
	if resp, _ := h.get("/cors", "Origin", "https://b.com"); resp.Header.Get("Access-Control-Allow-Origin") != "https://b.com" {
		t.Errorf("after a bad update: ACAO %q, want the last good version's", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if logs := h.logs.Take(); !strings.Contains(logs, "failed to check the configuration of plugin cors") ||
		!strings.Contains(logs, "/apisix/plugin_metadata/cors") {
		t.Errorf("logs\n%s\nwant the rejection", logs)
	}

	// Deleted: APISIX's defaults again.
	h.update("/apisix/plugin_metadata/limit-count", "")
	if resp, _ := h.get("/count"); resp.Header.Get("X-RateLimit-Limit") != "5" || resp.Header.Get("X-Quota") != "" {
		t.Errorf("metadata deleted: %v", resp.Header)
	}
}
