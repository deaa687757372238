package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// TestTrafficSplitEndToEnd: traffic-split sends matching requests to its weighted upstreams
// (an upstream object, an inline upstream, the route's own) in the balancer's exact smooth
// sequence, others to the route's upstream; a missing upstream_id answers 500 until the upstream
// appears; an inline upstream retries on its other node as any pool does.
func TestTrafficSplitEndToEnd(t *testing.T) {
	a, b, c, d := backend(t, echo("a")), backend(t, echo("b")), backend(t, echo("c")), backend(t, echo("d"))
	dead := deadAddr(t)
	nodes := func(addrs ...string) string {
		var parts []string
		for _, x := range addrs {
			parts = append(parts, fmt.Sprintf("%q:1", x))
		}
		return `{"nodes":{` + strings.Join(parts, ",") + `},"type":"roundrobin"}`
	}
	h := newTrafficHarness(t,
		"/apisix/upstreams/1", nodes(b),
		"/apisix/routes/1", `{"uri":"/split","upstream":`+nodes(a)+`,"plugins":{"traffic-split":{"rules":[`+
			`{"match":[{"vars":[["http_x_canary","==","1"]]}],"weighted_upstreams":[{"upstream_id":"1","weight":3},`+
			`{"upstream":`+nodes(c)+`,"weight":1},{"weight":1}]}]}}}`,
		"/apisix/routes/2", `{"uri":"/missing","upstream":`+nodes(a)+`,"plugins":{"traffic-split":{"rules":[`+
			`{"weighted_upstreams":[{"upstream_id":"9"}]}]}}}`,
		"/apisix/routes/3", `{"uri":"/retry","plugins":{"traffic-split":{"rules":[`+
			`{"weighted_upstreams":[{"upstream":`+nodes(dead, d)+`}]}]}}}`,
	)
	backendOf := func(path string, hdr ...string) string {
		t.Helper()
		resp, body := h.get(path, hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
		return resp.Header.Get("X-Backend")
	}
	var seq []string
	for range 10 {
		seq = append(seq, backendOf("/split", "X-Canary", "1"))
	}
	// 3:1:1 in nginx's smooth weighted round robin: b c b a b, twice.
	if got, want := strings.Join(seq, " "), "b c b a b b c b a b"; got != want {
		t.Errorf("split sequence %s, want %s", got, want)
	}
	for range 3 {
		if got := backendOf("/split"); got != "a" {
			t.Errorf("no match: backend %q, want the route's a", got)
		}
	}

	resp, body := h.get("/missing")
	if resp.StatusCode != 500 || body != "failed to fetch upstream info by upstream id: 9" {
		t.Errorf("missing upstream_id: %d %q", resp.StatusCode, body)
	}
	h.update("/apisix/upstreams/9", nodes(d))
	if got := backendOf("/missing"); got != "d" {
		t.Errorf("upstream 9 put: backend %q, want d", got)
	}

	for range 4 {
		if got := backendOf("/retry"); got != "d" {
			t.Errorf("inline upstream with a dead node: backend %q, want d", got)
		}
	}

	// A bad conf rejects the new version; the last good one serves on.
	h.update("/apisix/routes/1", `{"uri":"/split","upstream":`+nodes(a)+`,"plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[{"weight":-1}]}]}}}`)
	if logs := h.logs.Take(); !strings.Contains(logs, `property \"weight\" validation failed: expected -1 to be at least 0`) {
		t.Errorf("logs\n%s\nwant the rejection", logs)
	}
	if got := backendOf("/split", "X-Canary", "1"); got == "" {
		t.Error("last good version not served")
	}
}
