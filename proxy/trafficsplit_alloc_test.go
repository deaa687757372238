//go:build !race

package proxy

import (
	"testing"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestSplitAndRealIPAllocs: traffic-split picking an inline upstream or the route's own, and
// real-ip setting the client address from X-Forwarded-For, allocate nothing per request.
func TestSplitAndRealIPAllocs(t *testing.T) {
	up := fastBackend(t)
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/1", route("/split/*", `"plugins":{"traffic-split":{"rules":[{"match":[{"vars":[["http_x_canary","==","1"]]}],`+
			`"weighted_upstreams":[{"upstream":{"nodes":{"`+up+`":1}},"weight":1},{"weight":1}]}]}}`, "", up),
		"/apisix/routes/2", route("/ip/*", `"plugins":{"real-ip":{"source":"http_x_forwarded_for","trusted_addresses":["192.0.2.0/24"],"recursive":true},`+
			`"ip-restriction":{"whitelist":["198.51.100.0/24"]}}`, "", up),
	)
	handleAllocsOn(t, h, []allocCase{
		{"traffic-split", "/split/x", []string{"X-Canary", "1"}, 200},
		{"traffic-split, no match", "/split/x", nil, 200},
		{"real-ip then ip-restriction", "/ip/x", []string{"X-Forwarded-For", "198.51.100.7, 192.0.2.9"}, 200},
	})
}
