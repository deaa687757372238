package proxy

import (
	"testing"
)

// TestLimitCount: limit-count through the proxy: the quota headers on the upstream's answers
// and on the rejection, the counter kept by a build that leaves the conf alone (another route
// changing), reset by one that changes it, shared by a group across routes.
func TestLimitCount(t *testing.T) {
	h := newPluginHarness(t, nil,
		"/apisix/routes/1", `{"uri":"/r","plugins":{"limit-count":{"count":2,"time_window":60}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/g1","plugins":{"limit-count":{"count":3,"time_window":60,"group":"g","rejected_code":429,"rejected_msg":"over"}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/g2","plugins":{"limit-count":{"count":3,"time_window":60,"group":"g","rejected_code":429,"rejected_msg":"over"}},"upstream":UPSTREAM}`,
	)
	type step struct {
		update           []string // keys and values applied first
		path             string
		status           int
		limit, remaining string
		body             string // checked when set
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"count 2: 200, 200, 503 with the quota headers", []step{
			{path: "/r", status: 200, limit: "2", remaining: "1"},
			{path: "/r", status: 200, limit: "2", remaining: "0"},
			{path: "/r", status: 503, limit: "2", remaining: "0"},
		}},
		{"another route's update keeps the counter", []step{
			{update: []string{"/apisix/routes/9", `{"uri":"/other","upstream":UPSTREAM}`}, path: "/r", status: 503, limit: "2", remaining: "0"},
		}},
		{"a changed conf starts afresh", []step{
			{update: []string{"/apisix/routes/1", `{"uri":"/r","plugins":{"limit-count":{"count":3,"time_window":60}},"upstream":UPSTREAM}`},
				path: "/r", status: 200, limit: "3", remaining: "2"},
		}},
		{"a group is counted across its routes", []step{
			{path: "/g1", status: 200, limit: "3", remaining: "2"},
			{path: "/g2", status: 200, limit: "3", remaining: "1"},
			{path: "/g1", status: 200, limit: "3", remaining: "0"},
			{path: "/g2", status: 429, limit: "3", remaining: "0", body: `{"error_msg":"over"}` + "\n"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i, s := range tt.steps {
				if s.update != nil {
					h.update(s.update...)
				}
				resp, body := h.get(s.path)
				lim, rem := resp.Header.Get("X-RateLimit-Limit"), resp.Header.Get("X-RateLimit-Remaining")
				if resp.StatusCode != s.status || lim != s.limit || rem != s.remaining || resp.Header.Get("X-RateLimit-Reset") == "" {
					t.Fatalf("step %d: %d limit %q remaining %q reset %q, want %d %q %q", i, resp.StatusCode, lim, rem,
						resp.Header.Get("X-RateLimit-Reset"), s.status, s.limit, s.remaining)
				}
				if s.body != "" && body != s.body {
					t.Fatalf("step %d: body %q, want %q", i, body, s.body)
				}
			}
		})
	}
}
