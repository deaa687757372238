package upstream

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// chashServer serves GET /{name} on loopback by picking from pools[name] and answering with the
// node's address; "/ref" picks from ref, a chash upstream keyed on remote_addr over the same
// nodes. The fasthttp server reuses one RequestCtx per connection, as the proxy's does, so a key
// left over from an earlier request on the connection would show.
func chashServer(t *testing.T, pools map[string]*Pool) string {
	t.Helper()
	ln := testutil.Listen(t)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		p := pools[string(ctx.Path()[1:])]
		if p == nil {
			ctx.SetStatusCode(404)
			return
		}
		n := p.Pick(ctx, nil)
		n.Done(200, nil, 0)
		ctx.SetBodyString(n.Addr)
	}}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return ln.Addr().String()
}

// chashGet sends one request on c (a keep-alive client) and returns the picked node's address.
func chashGet(t *testing.T, c *fasthttp.HostClient, uri string, headers ...string) string {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + c.Addr + uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if err := c.DoTimeout(req, resp, waitTimeout); err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("GET %s: %v (status %d)", uri, err, resp.StatusCode())
	}
	return string(resp.Body())
}

// TestCHashMissingKeyHashesClientAddress follows APISIX's fetch_chash_hash_key (apache/apisix
// apisix/balancer/chash.lua, t/node/chash-hashon.t): a header, cookie, query argument or
// vars_combinations template that resolves to nothing hashes remote_addr. Every case first sends
// a request that has the key on the same connection, then one that lacks it.
func TestCHashMissingKeyHashesClientAddress(t *testing.T) {
	nodes := nodesJSON(60, 1)
	r := NewRegistry(Options{})
	pool := func(name, hashOn, key string) *Pool {
		return mustPool(t, r, name, fmt.Sprintf(`{"type":"chash","hash_on":%q,"key":%q,"nodes":%s}`, hashOn, key, nodes))
	}
	tests := []struct {
		name, hashOn, key string
		with, without     []string // headers of the request with the key and of the one without
		uriWith, uriW     string
	}{
		{"header", "header", "X-Session", []string{"X-Session", "s1"}, nil, "/", "/"},
		{"header named like a body header", "header", "Content-Type", []string{"Content-Type", "text/x-key"}, nil, "/", "/"},
		{"header User-Agent", "header", "User-Agent", []string{"User-Agent", "ua-key"}, nil, "/", "/"},
		{"cookie", "cookie", "sid", []string{"Cookie", "sid=abc"}, []string{"Cookie", "other=abc"}, "/", "/"},
		{"query argument", "vars", "arg_device_id", nil, nil, "/?device_id=7", "/?other=7"},
		{"query argument, no query", "vars", "arg_device_id", nil, nil, "/?device_id=7", "/"},
		{"vars_combinations", "vars_combinations", "$http_x_user-$arg_v", []string{"X-User", "u1"}, nil, "/?v=1", "/"},
	}
	pools := map[string]*Pool{"ref": pool("ref", "vars", "remote_addr")}
	for i, tt := range tests {
		pools[fmt.Sprint(i)] = pool(fmt.Sprint(i), tt.hashOn, tt.key)
	}
	addr := chashServer(t, pools)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fasthttp.HostClient{Addr: addr, MaxConns: 1, NoDefaultUserAgentHeader: true}
			defer c.CloseIdleConnections()
			ref := chashGet(t, c, "/ref")
			path := "/" + fmt.Sprint(i)
			if got := chashGet(t, c, path+tt.uriWith[1:], tt.with...); got == ref {
				// The key must count: with 60 nodes a coincidence is unlikely; pick another value.
				t.Fatalf("the request with the key went to %s like remote_addr's: choose another key value", got)
			}
			if got := chashGet(t, c, path+tt.uriW[1:], tt.without...); got != ref {
				t.Fatalf("without the key the request went to %s, want remote_addr's node %s", got, ref)
			}
		})
	}
}

// TestCHashHeaderNameAsNginx: hash_on header reads $http_<key>, and nginx matches a header to
// that variable case-insensitively with '-' read as '_' (APISIX enables underscores_in_headers),
// so the key "custom_header" reads a "custom_header" field as well as "Custom-Header"
// (t/node/chash-hashon.t TEST 6).
func TestCHashHeaderNameAsNginx(t *testing.T) {
	r := NewRegistry(Options{})
	ref := mustPool(t, r, "ref", `{"type":"chash","hash_on":"header","key":"X-Ref","nodes":`+nodesJSON(60, 1)+`}`)
	pools := map[string]*Pool{"ref": ref}
	for _, key := range []string{"custom_header", "custom-header", "Custom_Header"} {
		pools[key] = mustPool(t, r, key, `{"type":"chash","hash_on":"header","key":"`+key+`","nodes":`+nodesJSON(60, 1)+`}`)
	}
	addr := chashServer(t, pools)
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 1}
	defer c.CloseIdleConnections()
	want := chashGet(t, c, "/ref", "X-Ref", "custom-one")
	if fallback := chashGet(t, c, "/ref"); fallback == want {
		t.Fatalf("\"custom-one\" and remote_addr hash to the same node %s: choose another value", want)
	}
	for _, key := range []string{"custom_header", "custom-header", "Custom_Header"} {
		for _, field := range []string{"custom_header", "Custom-Header", "CUSTOM_HEADER"} {
			t.Run(key+"/"+field, func(t *testing.T) {
				if got := chashGet(t, c, "/"+key, field, "custom-one"); got != want {
					t.Fatalf("key %q, field %q: went to %s, want the node of \"custom-one\" %s", key, field, got, want)
				}
			})
		}
	}
}

// TestCHashVarsCombinationsSpread: a vars_combinations key spreads requests over the ring like
// any other key (t/node/chash-balance.t checks the spread of query_string and arg_ keys).
func TestCHashVarsCombinationsSpread(t *testing.T) {
	tests := []struct {
		name, key string
		req       func(i int) (uri string, headers []string)
	}{
		{"one variable", "$arg_device_id", func(i int) (string, []string) { return fmt.Sprintf("/?device_id=%d", i), nil }},
		{"two variables", "$http_x_user$arg_device_id", func(i int) (string, []string) {
			return fmt.Sprintf("/?device_id=%d", i%7), []string{"X-User", fmt.Sprint(i / 7)}
		}},
		{"literal around a variable", "user-${http_x_user}-end", func(i int) (string, []string) { return "/", []string{"X-User", fmt.Sprint(i)} }},
		{"default for a missing variable", "${arg_missing ?? none}-$uri", func(i int) (string, []string) { return fmt.Sprintf("/p%d", i), nil }},
		{"host and uri", "$host$uri", func(i int) (string, []string) { return fmt.Sprintf("/item/%d", i), []string{"Host", "h.test"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":"chash","hash_on":"vars_combinations","key":%q,"nodes":%s}`, tt.key, nodesJSON(3, 1)))
			const n = 3000
			count := map[string]int{}
			for i := range n {
				uri, h := tt.req(i)
				count[p.Pick(requestCtx("192.0.2.1", uri, h...), nil).Addr]++
			}
			if len(count) != 3 {
				t.Fatalf("%d distinct keys reached %d of 3 nodes: %v", n, len(count), count)
			}
			for addr, c := range count {
				if c < n/3*7/10 || c > n/3*13/10 {
					t.Fatalf("node %s got %d of %d keys, want about %d: %v", addr, c, n, n/3, count)
				}
			}
		})
	}
}

// TestCHashLargeWeights: weights are divided by their gcd as APISIX's chash balancer does, so very
// large weights keep their proportions (t/node/chash-balance.t TESTS 15–18; APISIX's schema
// puts no maximum on a weight).
func TestCHashLargeWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []int64
	}{
		{"1e9:2e9:1e9", []int64{1000000000, 2000000000, 1000000000}},
		{"1e9:0:4e9", []int64{1000000000, 0, 4000000000}},
		{"past 2^32", []int64{3 << 40, 1 << 40, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := `{"type":"chash","key":"arg_device_id","nodes":{`
			var total int64
			for i, w := range tt.weights {
				if i > 0 {
					js += ","
				}
				js += fmt.Sprintf(`"10.0.0.%d:80":%d`, i+1, w)
				total += w
			}
			p := mustPool(t, NewRegistry(Options{}), "k", js+`}}`)
			const n = 20000
			count := make([]int, len(tt.weights))
			for i := range n {
				node := p.Pick(requestCtx("192.0.2.1", fmt.Sprintf("/?device_id=%d", i)), nil)
				count[node.index]++
			}
			for i, w := range tt.weights {
				want := float64(n) * float64(w) / float64(total)
				if got := float64(count[i]); got < want*0.85 || got > want*1.15 || (w == 0) != (count[i] == 0) {
					t.Fatalf("weights %v: counts %v, node %d want about %.0f", tt.weights, count, i, want)
				}
			}
		})
	}
}
