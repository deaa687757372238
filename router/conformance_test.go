package router_test

import (
	"testing"

	"github.com/zoneproxy/zoneproxy/router"
)

// The conformance suite: each suite is a set of APISIX routes (JSON, as
// stored in etcd) with optional services, and each probe a request with the
// id of the route APISIX chooses ("" for 404). Every suite and probe cites
// the test it comes from:
//
//   - apache/apisix t/router/*.t and t/node/*.t (APISIX's own tests; the
//     routes there are set through the Admin API one TEST after another, a
//     suite here is the route set in force at the cited probes);
//   - api7/lua-resty-radixtree t/*.t (the router library APISIX uses; its
//     tests call radix.new without no_param_match, so they run here in
//     radixtree_uri_with_parameter, whose hosts are per-route filters as in
//     the library);
//   - api7/lua-resty-expr t/v1/*.t (the vars language);
//   - zoneproxy's compatibility rules on routes, the router and services,
//     each stated in its suite's src and checked against APISIX's code
//     (conformance_spec_test.go), and issue 5.
//
// A response body "404 Not Found" from the test upstream in an APISIX test
// means the route matched (the upstream had no such location), while
// {"error_msg":"404 Route Not Found"} means no route matched.

type suite struct {
	name     string
	src      string      // the test file
	mode     router.Mode // default radixtree_host_uri
	services string      // JSON object: service id -> {"hosts": [...]}
	routes   string      // JSON array of routes with "id"
	probes   []probe
}

type probe struct {
	name     string
	req      req
	want     string // route id, "" = no route (404)
	wantURI  string // optional: Result.URI
	wantHost string // optional: Result.Host ("-" = must be empty)
}

func runSuites(t *testing.T, suites []suite) int {
	t.Helper()
	n := 0
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			tab, ids := buildTable(t, s.routes, s.services, s.mode)
			for _, p := range s.probes {
				t.Run(p.name, func(t *testing.T) {
					res, ok := tab.Match(p.req.ctx(t))
					got := ""
					if ok {
						got = ids[res.Value]
					}
					if got != p.want {
						t.Fatalf("%s: %v: got route %q, want %q (result %+v)", s.src, p.req, got, p.want, res)
					}
					if p.wantURI != "" && res.URI != p.wantURI {
						t.Errorf("%s: %v: matched uri %q, want %q", s.src, p.req, res.URI, p.wantURI)
					}
					switch p.wantHost {
					case "":
					case "-":
						if res.Host != "" {
							t.Errorf("%s: %v: matched host %q, want none", s.src, p.req, res.Host)
						}
					default:
						if res.Host != p.wantHost {
							t.Errorf("%s: %v: matched host %q, want %q", s.src, p.req, res.Host, p.wantHost)
						}
					}
				})
			}
		})
		n += len(s.probes)
	}
	return n
}

// TestConformance runs every suite and checks the suite keeps its size.
func TestConformance(t *testing.T) {
	n := 0
	t.Run("apisix", func(t *testing.T) { n += runSuites(t, apisixSuites) })
	t.Run("radixtree", func(t *testing.T) { n += runSuites(t, radixtreeSuites) })
	t.Run("expr", func(t *testing.T) { n += runSuites(t, exprSuites) })
	t.Run("spec", func(t *testing.T) { n += runSuites(t, specSuites) })
	if n < 150 {
		t.Errorf("conformance suite has %d probes, want at least 150", n)
	}
	t.Logf("%d conformance probes", n)
}
