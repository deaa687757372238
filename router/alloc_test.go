//go:build !race

package router_test

import (
	"testing"

	"github.com/zoneproxy/zoneproxy/router"
)

// TestMatchAllocs asserts that Match allocates nothing: for requests that
// reach no route with vars (the promise), and for vars routes too (pooled
// variable source).
func TestMatchAllocs(t *testing.T) {
	tab, ids := buildTable(t, `[
		{"id":"exact","uri":"/api/v1/users","methods":["GET"]},
		{"id":"prefix","uri":"/static/*"},
		{"id":"host","uri":"/h","host":"api.example.com"},
		{"id":"wild","uri":"/w","host":"*.example.com"},
		{"id":"segments","uri":"/files/*/meta"},
		{"id":"remote","uri":"/r","remote_addrs":["10.0.0.0/8","::1"]},
		{"id":"vars","uri":"/v","vars":[["arg_a","==","1"],["http_x_b","~~","^y"],["cookie_c","in",["z"]]]},
		{"id":"service_port","uri":"/p","vars":[["server_port","==","1984"],["remote_addr","ipmatch","127.0.0.0/8"]]}
	]`, "", router.ModeHostURI)
	tests := []struct {
		name string
		req  req
		want string
	}{
		{"exact", req{target: "/api/v1/users"}, "exact"},
		{"prefix", req{target: "/static/css/app.css?v=1"}, "prefix"},
		{"exact host", req{target: "/h", host: "API.example.com:8443"}, "host"},
		{"wildcard host", req{target: "/w", host: "a.b.example.com"}, "wild"},
		{"segment regex", req{target: "/files/a/b/meta"}, "segments"},
		{"encoded path", req{target: "/static/a%20b/../c"}, "prefix"},
		{"remote ipv6", req{target: "/r", remote: "[::1]:5000"}, "remote"},
		{"miss", req{target: "/nothing", host: "x.org"}, ""},
		{"rejected path", req{target: "/../x"}, ""},
		{"vars", req{target: "/v?a=1", headers: []string{"X-B: yes", "Cookie: c=z"}}, "vars"},
		{"vars numbers", req{target: "/p"}, "service_port"},
	}
	// The same promise holds on a table derived with Update.
	extra := mustCompile(t, router.Route{ID: "extra", URIs: []string{"/extra/*", "/x"}, Host: "*.extra.com", Value: -1})
	updated, err := tab.Update(nil, []*router.Compiled{extra})
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []struct {
		name string
		tab  *router.Table
	}{{"new", tab}, {"updated", updated}} {
		for _, tt := range tests {
			t.Run(table.name+"/"+tt.name, func(t *testing.T) {
				ctx := tt.req.ctx(t)
				res, ok := table.tab.Match(ctx)
				if got := map[bool]string{true: ids[res.Value], false: ""}[ok]; got != tt.want {
					t.Fatalf("Match = %q, want %q", got, tt.want)
				}
				if n := testing.AllocsPerRun(200, func() { table.tab.Match(ctx) }); n != 0 {
					t.Fatalf("Match allocates %.1f times per call", n)
				}
			})
		}
	}
}
