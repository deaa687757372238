package trafficsplit

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

func TestCompile(t *testing.T) {
	for _, tt := range []struct{ name, conf, err string }{
		{"empty", `{}`, ""},
		{"weights only", `{"rules":[{"weighted_upstreams":[{"weight":1}]}]}`, ""},
		{"default entries", `{"rules":[{"match":[{"vars":[["arg_a","==","1"]]}]}]}`, ""},
		{"id and inline", `{"rules":[{"weighted_upstreams":[{"upstream_id":"1","weight":2},{"upstream_id":7},` +
			`{"upstream":{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"},"weight":1},{"weight":0}]}]}`, ""},
		{"rules type", `{"rules":{}}`, `property "rules" validation failed: wrong type: expected array, got object`},
		{"bad vars", `{"rules":[{"match":[{"vars":[["arg_a","~~","("]]}]}]}`, "failed to validate the 'vars' expression"},
		{"vars not an array", `{"rules":[{"match":[{"vars":{"a":1}}]}]}`, `property "vars" validation failed: wrong type: expected array`},
		{"negative weight", `{"rules":[{"weighted_upstreams":[{"weight":-1}]}]}`, `property "weight" validation failed: expected -1 to be at least 0`},
		{"weight type", `{"rules":[{"weighted_upstreams":[{"weight":"1"}]}]}`, `property "weight" validation failed: wrong type: expected integer, got string`},
		{"no entries", `{"rules":[{"weighted_upstreams":[]}]}`, `expect array to have at least 1 items`},
		{"too many entries", `{"rules":[{"weighted_upstreams":[` + strings.Repeat(`{"weight":1},`, 20) + `{"weight":1}]}]}`, `at most 20 items`},
		{"bad upstream_id", `{"rules":[{"weighted_upstreams":[{"upstream_id":"a b"}]}]}`, `property "upstream_id" validation failed`},
		{"bad inline upstream", `{"rules":[{"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1980":1},"type":"nope"}}]}]}`,
			`rules" validation failed: failed to validate item 1: property "weighted_upstreams" validation failed: failed to validate item 1: property "upstream" validation failed`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), &plugin.Env{Key: "/apisix/routes/1"})
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// TestAccess: the first rule the request matches picks among its entries by smooth weighted
// round robin (the exact sequence), an entry with only a weight being the route's own upstream;
// a missing upstream_id answers 500.
func TestAccess(t *testing.T) {
	inst, err := Plugin.Compile([]byte(`{"rules":[
		{"match":[{"vars":[["http_x_canary","==","1"]]},{"vars":[["arg_canary","==","1"]]}],
		 "weighted_upstreams":[{"upstream_id":"u1","weight":3},{"upstream":{"nodes":{"127.0.0.1:1981":1}},"weight":1},{"weight":1}]},
		{"match":[{"vars":[["arg_b","==","1"]]}],"weighted_upstreams":[{"upstream_id":"missing"}]},
		{"weighted_upstreams":[{"upstream_id":"u1","weight":0},{"weight":1}]}]}`), &plugin.Env{Key: "/apisix/routes/1"})
	if err != nil {
		t.Fatal(err)
	}
	conf := inst.(*Conf)
	refs := conf.UpstreamRefs()
	if len(refs) != 4 || refs[0].ID != "u1" || refs[1].Spec == nil || refs[1].Key != "/apisix/routes/1#traffic-split#1" || refs[2].ID != "missing" {
		t.Fatalf("refs %+v", refs)
	}
	reg := upstream.NewRegistry(upstream.Options{})
	u1, _ := reg.Pool("u1", mustSpec(t, `{"nodes":{"127.0.0.1:1980":1}}`))
	inline, _ := reg.Pool(refs[1].Key, refs[1].Spec)
	targets := &plugin.Targets{Owner: inst, Pools: []*upstream.Pool{u1, inline, nil, u1}}
	names := map[*upstream.Pool]string{u1: "u1", inline: "inline", nil: "route"}
	table, err := router.New(nil, router.ModeHostURI)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(uri string, hdr ...string) (string, plugin.Reply) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(uri)
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Request.Header.Set(hdr[i], hdr[i+1])
		}
		r := &plugin.Request{Ctx: &ctx, Vars: table, Targets: targets}
		rep := conf.Access(r)
		return names[r.PickedUpstream()], rep
	}
	var seq []string
	for range 10 {
		name, _ := pick("/", "X-Canary", "1")
		seq = append(seq, name)
	}
	// 3:1:1, nginx's smooth weighted round robin: a b a c a, twice.
	if got, want := strings.Join(seq, " "), "u1 inline u1 route u1 u1 inline u1 route u1"; got != want {
		t.Errorf("sequence %s\nwant %s", got, want)
	}
	if name, _ := pick("/?canary=1"); name == "" {
		t.Error("second match entry: nothing picked")
	}
	if _, rep := pick("/?b=1"); rep.Status != 500 || string(rep.Body) != "failed to fetch upstream info by upstream id: missing" {
		t.Errorf("missing upstream_id: %d %q", rep.Status, rep.Body)
	}
	// The third rule is never reached: the second's missing upstream answers first.
	if _, rep := pick("/"); rep.Status != 500 {
		t.Errorf("a rule past the missing upstream: %d, want 500", rep.Status)
	}
	// Resolved for another instance (a consumer's conf): left alone.
	other, _ := Plugin.Compile([]byte(`{"rules":[{"weighted_upstreams":[{"upstream_id":"u1"}]}]}`), nil)
	var ctx fasthttp.RequestCtx
	r := &plugin.Request{Ctx: &ctx, Vars: table, Targets: targets}
	if rep := other.(plugin.Accessor).Access(r); rep.Status != 0 || r.PickedUpstream() != nil {
		t.Errorf("not the owner: %+v, picked %v", rep, r.PickedUpstream())
	}
}

func TestWeightZeroAndRouteUpstream(t *testing.T) {
	inst, _ := Plugin.Compile([]byte(`{"rules":[{"weighted_upstreams":[{"upstream_id":"u1","weight":0},{"weight":1}]}]}`), nil)
	reg := upstream.NewRegistry(upstream.Options{})
	u1, _ := reg.Pool("u1", mustSpec(t, `{"nodes":{"127.0.0.1:1980":1}}`))
	for range 5 {
		var ctx fasthttp.RequestCtx
		r := &plugin.Request{Ctx: &ctx, Targets: &plugin.Targets{Owner: inst, Pools: []*upstream.Pool{u1}}}
		if rep := inst.(plugin.Accessor).Access(r); rep.Status != 0 || r.PickedUpstream() != nil {
			t.Fatalf("weight 0: %+v, picked %v", rep, r.PickedUpstream())
		}
	}
}

func mustSpec(t *testing.T, s string) *upstream.Spec {
	t.Helper()
	spec, err := upstream.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
