package router_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/router"
)

// genRoutes makes n routes: 60 % exact paths, 30 % prefixes, 10 % with a
// host (half exact hosts, half wildcards); one route in 20 has vars.
func genRoutes(n int) []router.Route {
	rnd := rand.New(rand.NewPCG(uint64(n), 42))
	hostGroups := max(1, n/100)
	routes := make([]router.Route, n)
	for i := range routes {
		svc, ver := rnd.IntN(50), 1+rnd.IntN(3)
		r := router.Route{ID: fmt.Sprint(i + 1), Value: i}
		switch k := i % 10; {
		case k == 0:
			if i%20 == 0 {
				r.Host = fmt.Sprintf("api%d.example.com", i%hostGroups)
			} else {
				r.Host = fmt.Sprintf("*.tenant%d.example.com", i%hostGroups)
			}
			r.URI = fmt.Sprintf("/h%d/v%d/items/%d", svc, ver, i)
		case k <= 6:
			r.URI = fmt.Sprintf("/svc%d/v%d/items/%d", svc, ver, i)
			r.Methods = []string{"GET", "POST"}
		default:
			r.URI = fmt.Sprintf("/svc%d/v%d/static%d/*", svc, ver, i)
		}
		if i%20 == 7 {
			r.Vars = json.RawMessage(`[["http_x_version","==","2"],["arg_debug","~=","1"]]`)
		}
		routes[i] = r
	}
	return routes
}

func compileAll(tb testing.TB, routes []router.Route) []*router.Compiled {
	tb.Helper()
	out := make([]*router.Compiled, len(routes))
	for i, r := range routes {
		c, err := router.Compile(r)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = c
	}
	return out
}

func buildGenerated(tb testing.TB, n int) (*router.Table, []router.Route) {
	tb.Helper()
	routes := genRoutes(n)
	tab, err := router.New(compileAll(tb, routes), router.ModeHostURI)
	if err != nil {
		tb.Fatal(err)
	}
	return tab, routes
}

// benchRequests picks, for a generated table, one request of each kind and
// the route value it must reach (-1: none).
func benchRequests(routes []router.Route) []struct {
	name string
	req  req
	want int
} {
	var exact, prefix, host, vars router.Route
	for _, r := range routes {
		switch {
		case r.Host != "" && r.Host[0] != '*' && host.URI == "":
			host = r
		case r.Vars != nil && vars.URI == "":
			vars = r
		case r.Vars == nil && r.Host == "" && r.Methods != nil && exact.URI == "":
			exact = r
		case r.Vars == nil && r.Host == "" && r.Methods == nil && prefix.URI == "":
			prefix = r
		}
	}
	out := []struct {
		name string
		req  req
		want int
	}{
		{"exact", req{target: exact.URI, host: "www.example.org"}, exact.Value},
		{"prefix", req{target: prefix.URI[:len(prefix.URI)-1] + "css/app.css?v=3", host: "www.example.org"}, prefix.Value},
		{"miss", req{target: "/nothing/here/at/all", host: "www.example.org"}, -1},
	}
	if host.URI != "" {
		out = append(out, struct {
			name string
			req  req
			want int
		}{"host", req{target: host.URI, host: host.Host}, host.Value})
	}
	if vars.URI != "" {
		target := vars.URI
		if target[len(target)-1] == '*' {
			target = target[:len(target)-1] + "x"
		}
		out = append(out, struct {
			name string
			req  req
			want int
		}{"vars", req{target: target, host: "www.example.org", headers: []string{"X-Version: 2"}}, vars.Value})
	}
	return out
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		tab, routes := buildGenerated(b, n)
		for _, rq := range benchRequests(routes) {
			b.Run(fmt.Sprintf("routes=%d/%s", n, rq.name), func(b *testing.B) {
				ctx := rq.req.ctx(b)
				res, ok := tab.Match(ctx)
				if (rq.want < 0) == ok || (ok && res.Value != rq.want) {
					b.Fatalf("%v: Match = %+v, %v; want value %d", rq.req, res, ok, rq.want)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					tab.Match(ctx)
				}
			})
		}
	}
}

func BenchmarkMatchParallel(b *testing.B) {
	tab, routes := buildGenerated(b, 10000)
	rq := benchRequests(routes)[0]
	b.ReportAllocs()
	defer testutil.ReportCPUPerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx := rq.req.ctx(b)
		for pb.Next() {
			if _, ok := tab.Match(ctx); !ok {
				b.Error("no match")
				return
			}
		}
	})
}

// BenchmarkCompile10000 is a cold build: every route compiled, then the
// table.
func BenchmarkCompile10000(b *testing.B) {
	routes := genRoutes(10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		compiled := compileAll(b, routes)
		if _, err := router.New(compiled, router.ModeHostURI); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew10000 rebuilds only the table from cached Compiled routes,
// as the snapshot builder does when other routes change.
func BenchmarkNew10000(b *testing.B) {
	compiled := compileAll(b, genRoutes(10000))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := router.New(compiled, router.ModeHostURI); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTableMemory reports the heap held by a 10,000-route table
// (compiled routes included) as B/table.
// BenchmarkTableMemory: the heap a table of 10,000 routes holds: the generated mix, and the
// bench's tenants (100 × 100 prefix routes /api/v1/tenants/tNN/services/sNN/*, a tree of wide
// nodes branching on digits).
func BenchmarkTableMemory(b *testing.B) {
	tenants := make([]router.Route, 0, 10000)
	for i := range 10000 {
		tenants = append(tenants, router.Route{ID: fmt.Sprint(i + 1), Value: i,
			URI: fmt.Sprintf("/api/v1/tenants/t%02d/services/s%02d/*", i/100, i%100)})
	}
	for _, set := range []struct {
		name   string
		routes []router.Route
	}{{"generated", genRoutes(10000)}, {"tenants", tenants}} {
		b.Run(set.name, func(b *testing.B) {
			compiled := compileAll(b, set.routes)
			var held uint64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tab, err := router.New(compiled, router.ModeHostURI)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				held = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(tab)
			}
			b.ReportMetric(float64(held), "B/table")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkUpdate replaces one route (by a new version of it) in a table
// of n routes with Table.Update, as the snapshot builder does on a
// one-route change; each iteration derives from the previous table, which
// is dropped. Kinds: an exact path, a prefix path, a host route.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{10000, 40000} {
		routes := genRoutes(n)
		compiled := compileAll(b, routes)
		base, err := router.New(compiled, router.ModeHostURI)
		if err != nil {
			b.Fatal(err)
		}
		for _, kind := range []struct {
			name string
			i    int // genRoutes: i%10 == 0 host, 1..6 exact, 7..9 prefix
		}{{"exact", n/2 + 1}, {"prefix", n/2 + 8}, {"host", n / 2}} {
			b.Run(fmt.Sprintf("routes=%d/%s", n, kind.name), func(b *testing.B) {
				r := routes[kind.i]
				versions := [2]*router.Compiled{compiled[kind.i], nil}
				r.Value = -1
				versions[1] = compileAll(b, []router.Route{r})[0]
				tab := base
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					next, err := tab.Update(versions[i&1:i&1+1], versions[1-i&1:1-i&1+1])
					if err != nil {
						b.Fatal(err)
					}
					tab = next
				}
			})
		}
		b.Run(fmt.Sprintf("routes=%d/new", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := router.New(compiled, router.ModeHostURI); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
