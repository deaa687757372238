package router_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// TestAppendVar: AppendVar reads $remote_addr and $uri (which it reads without the matcher)
// as a vars expression does: the client address unmapped, the one a real-IP plugin set, the
// normalised, decoded path.
func TestAppendVar(t *testing.T) {
	tab, _ := buildTable(t, `[{"id":"1","uri":"/*"}]`, "", router.ModeHostURI)
	for _, tt := range []struct {
		name   string
		r      req
		set    string // an address SetRemoteAddr gives the request, as the real-ip plugin does
		v, val string
	}{
		{"IPv4", req{remote: "192.0.2.7"}, "", "remote_addr", "192.0.2.7"},
		{"IPv6", req{remote: "[2001:db8::1]:40000"}, "", "remote_addr", "2001:db8::1"},
		{"IPv4-mapped", req{remote: "[::ffff:192.0.2.7]:40000"}, "", "remote_addr", "192.0.2.7"},
		{"set by real-ip", req{remote: "192.0.2.7"}, "198.51.100.9", "remote_addr", "198.51.100.9"},
		{"uri", req{target: "/a/b?x=1"}, "", "uri", "/a/b"},
		{"uri decoded and normalised", req{target: "/a%20b/../c/./d"}, "", "uri", "/c/d"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.r.ctx(t)
			if tt.set != "" {
				ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(tt.set), Port: 1})
			}
			v, err := expr.ParseVar(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tab.AppendVar([]byte("k:"), ctx, &v)
			if !ok || string(got) != "k:"+tt.val {
				t.Fatalf("AppendVar %s: %q %v, want %q", tt.v, got, ok, "k:"+tt.val)
			}
			e, err := expr.Compile(fmt.Appendf(nil, `[[%q,"==",%q]]`, tt.v, tt.val))
			if err != nil {
				t.Fatal(err)
			}
			if !tab.Eval(ctx, e) {
				t.Fatalf("Eval: $%s is not %q", tt.v, tt.val)
			}
		})
	}
}
