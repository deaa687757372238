package snapshot

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// state builds a cpclient State from key/value pairs, each at its own revision.
func stateOf(kvs ...string) *state.State {
	st := &state.State{Source: state.SourceControlPlane}
	m := map[string]state.KV{}
	for i := 0; i+1 < len(kvs); i += 2 {
		st.Revision++
		m[kvs[i]] = state.KV{Key: kvs[i], Value: []byte(kvs[i+1]), ModRevision: st.Revision}
	}
	st.KVs = state.NewKVs(m)
	return st
}

// with returns a copy of st with more keys set (or deleted when the value is "").
func with(st *state.State, kvs ...string) *state.State {
	out := &state.State{KVs: st.KVs, Revision: st.Revision, Source: st.Source}
	for i := 0; i+1 < len(kvs); i += 2 {
		out.Revision++
		if kvs[i+1] == "" {
			out.KVs = out.KVs.With(nil, []string{kvs[i]})
			continue
		}
		out.KVs = out.KVs.With([]state.KV{{Key: kvs[i], Value: []byte(kvs[i+1]), ModRevision: out.Revision}}, nil)
	}
	return out
}

func newBuilder(t *testing.T, logs *bytes.Buffer, ignorePlugins bool) *Builder {
	t.Helper()
	b, err := NewBuilder(Options{
		Registry:             upstream.NewRegistry(upstream.Options{}),
		Logger:               slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		IgnoreUnknownPlugins: ignorePlugins,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func build(t *testing.T, b *Builder, st *state.State) *Snapshot {
	t.Helper()
	s, err := b.Build(st)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return s
}

// match routes a request through the snapshot and returns the route (nil for no match).
func match(t *testing.T, s *Snapshot, method, host, uri string) *Route {
	t.Helper()
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost(host)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, nil)
	m, ok := s.Router.Match(&ctx)
	if !ok {
		return nil
	}
	return s.Routes.At(m.Value)
}

const up1 = `{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`
const up2 = `{"nodes":[{"host":"127.0.0.1","port":1981,"weight":1}]}`

func poolAddr(r *Route) string {
	if r == nil || r.Pool == nil {
		return ""
	}
	return r.Pool.Nodes()[0].Addr
}

func TestResolution(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	s := build(t, b, stateOf(
		"/apisix/upstreams/1", up1,
		"/apisix/upstreams/2", up2,
		"/apisix/services/s1", `{"upstream_id":"2","hosts":["svc.example.com"]}`,
		"/apisix/services/s2", `{"upstream":`+up1+`}`,
		"/apisix/routes/own-id", `{"uri":"/a","upstream_id":1}`,
		"/apisix/routes/inline", `{"uri":"/b","upstream":`+up2+`}`,
		"/apisix/routes/id-beats-inline", `{"uri":"/c","upstream_id":"1","upstream":`+up2+`}`,
		"/apisix/routes/service", `{"uri":"/d","service_id":"s1"}`,
		"/apisix/routes/route-beats-service", `{"uri":"/e","service_id":"s1","upstream_id":"1"}`,
		"/apisix/routes/service-inline", `{"uri":"/f","service_id":"s2"}`,
		"/apisix/routes/dangling-upstream", `{"uri":"/g","upstream_id":"nope"}`,
		"/apisix/routes/dangling-service", `{"uri":"/h","service_id":"nope"}`,
		"/apisix/routes/dangling-plugin-config", `{"uri":"/i","upstream_id":"1","plugin_config_id":"nope"}`,
		"/apisix/routes/disabled", `{"uri":"/j","upstream_id":"1","status":0}`,
		"/apisix/routes/service-without-upstream", `{"uri":"/k","service_id":"s3"}`,
		"/apisix/services/s3", `{"desc":"no upstream"}`,
	))
	tests := []struct {
		name, host, uri string
		wantAddr        string
		wantStatus      int
		wantNoMatch     bool
	}{
		{name: "route upstream_id (integer)", uri: "/a", wantAddr: "127.0.0.1:1980"},
		{name: "route inline upstream", uri: "/b", wantAddr: "127.0.0.1:1981"},
		{name: "route upstream_id beats route inline", uri: "/c", wantAddr: "127.0.0.1:1980"},
		{name: "service upstream_id and hosts", host: "svc.example.com", uri: "/d", wantAddr: "127.0.0.1:1981"},
		{name: "service hosts are inherited", host: "other.example.com", uri: "/d", wantNoMatch: true},
		{name: "route upstream beats service", host: "svc.example.com", uri: "/e", wantAddr: "127.0.0.1:1980"},
		{name: "service inline upstream", uri: "/f", wantAddr: "127.0.0.1:1980"},
		{name: "dangling upstream_id answers 502", uri: "/g", wantStatus: 502},
		{name: "missing service answers 404", uri: "/h", wantStatus: 404},
		{name: "missing plugin config answers 503", uri: "/i", wantStatus: 503},
		{name: "status 0 never matches", uri: "/j", wantNoMatch: true},
		{name: "no upstream anywhere answers 503", uri: "/k", wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := tt.host
			if host == "" {
				host = "any.example.com"
			}
			r := match(t, s, "GET", host, tt.uri)
			switch {
			case tt.wantNoMatch:
				if r != nil {
					t.Fatalf("matched %s, want no match", r.ID)
				}
			case r == nil:
				t.Fatalf("no match")
			case tt.wantStatus != 0:
				if r.Pool != nil || int(r.Status) != tt.wantStatus {
					t.Errorf("pool %v status %d, want status %d", r.Pool, r.Status, tt.wantStatus)
				}
			default:
				if got := poolAddr(r); got != tt.wantAddr {
					t.Errorf("upstream %s, want %s", got, tt.wantAddr)
				}
			}
		})
	}
	for _, want := range []string{
		`key=/apisix/routes/dangling-upstream reason="upstream_id \"nope\" not found: the route answers 502"`,
		`key=/apisix/routes/dangling-service reason="service_id \"nope\" not found: the route answers 404"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s\n%s", want, logs.String())
		}
	}
	if s.Counts.Routes != 10 || s.Counts.Upstreams != 2 || s.Counts.Services != 3 {
		t.Errorf("counts %+v", s.Counts)
	}
}

func TestRejectedObjects(t *testing.T) {
	tests := []struct {
		name, key, value, reason string
	}{
		{"malformed JSON", "/apisix/routes/x", `{"uri":`, `invalid JSON: unexpected end of data`},
		{"unknown field", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","colour":"red"}`, `colour: unknown field`},
		{"wrong type", "/apisix/routes/x", `{"uri":5,"upstream_id":"1"}`, `uri: wrong type: expected string, got number`},
		{"nothing to serve with", "/apisix/routes/x", `{"uri":"/x"}`, `one of plugins, upstream, upstream_id or service_id is required`},
		{"status enum", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","status":2}`, `status: must be 0 or 1, got 2`},
		{"priority integer", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","priority":1.5}`, `priority: wrong type: expected integer, got number 1.5`},
		{"name length", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","name":""}`, `name: length must be 1 to 256, got 0`},
		{"label value", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","labels":{"env":"a b"}}`, `labels.env: value \"a b\" must be 1 to 256 characters without spaces`},
		{"id schema", "/apisix/routes/x", `{"uri":"/x","upstream_id":"a b"}`, `upstream_id: \"a b\" is not a valid id`},
		{"timeout needs all three", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","timeout":{"connect":1}}`, `timeout.send: must be a number > 0`},
		{"filter_func", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","filter_func":"function(vars) return true end"}`, `filter_func: Lua functions are not supported by zoneproxy`},
		{"script", "/apisix/routes/x", `{"uri":"/x","script":"local _M = {} return _M"}`, `script: Lua scripts are not supported by zoneproxy`},
		{"enabled plugin zoneproxy lacks fails closed", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","plugins":{"ua-restriction":{}}}`, `plugins: plugin [ua-restriction] is enabled but not implemented by zoneproxy`},
		{"invalid plugin conf", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","plugins":{"key-auth":{"header":1}}}`, `plugins: failed to check the configuration of plugin key-auth err: property \"header\" validation failed: wrong type: expected string, got number`},
		{"plugin conf not an object", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","plugins":{"key-auth":1}}`, `plugins: invalid plugin conf 1 for plugin [key-auth]`},
		{"invalid _meta", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","plugins":{"key-auth":{"_meta":{"priority":"x"}}}}`, `property \"_meta\" validation failed: property \"priority\" validation failed: wrong type: expected integer, got string`},
		{"consumer conf", "/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{}}}`, `plugins: failed to check the configuration of plugin key-auth err: property \"key\" is required`},
		{"consumer username", "/apisix/consumers/jack", `{"username":"ja ck"}`, `username: \"ja ck\" must be`},
		{"credential with two plugins", "/apisix/consumers/jack/credentials/c", `{"plugins":{"key-auth":{"key":"a"},"basic-auth":{}}}`, `plugins: expect object to have at most 1 properties`},
		{"match fields go through the router", "/apisix/routes/x", `{"uri":"/x","methods":["GETT"],"upstream_id":"1"}`, `methods`},
		{"upstream object", "/apisix/upstreams/x", `{"nodes":{"127.0.0.1:1":-1}}`, `nodes`},
		{"inline upstream", "/apisix/routes/x", `{"uri":"/x","upstream":{"type":"magic","nodes":{}}}`, `upstream: `},
		{"service unknown field", "/apisix/services/x", `{"upstream_id":"1","uri":"/x"}`, `uri: unknown field`},
		{"field name in another case", "/apisix/routes/x", `{"uri":"/a","URI":"/x","upstream_id":"1"}`, `URI: unknown field`},
		{"nested field name in another case", "/apisix/routes/x", `{"uri":"/x","upstream_id":"1","timeout":{"Connect":1,"send":1,"read":1}}`, `timeout.Connect: unknown field`},
		{"service field name in another case", "/apisix/services/x", `{"Upstream_ID":"1"}`, `Upstream_ID: unknown field`},
		{"plugin config field name in another case", "/apisix/plugin_configs/x", `{"Plugins":{}}`, `Plugins: unknown field`},
		{"global rule without plugins", "/apisix/global_rules/x", `{"id":"x"}`, `plugins: is required`},
		{"value that is not an object", "/apisix/routes/x", `[1]`, `value is not a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			b := newBuilder(t, &logs, false)
			var rejected []string
			b.opts.OnReject = func(kind string) { rejected = append(rejected, kind) }
			st := stateOf("/apisix/upstreams/1", up1, "/apisix/routes/ok", `{"uri":"/ok","upstream_id":"1"}`, tt.key, tt.value)
			s := build(t, b, st)
			if match(t, s, "GET", "h", "/ok") == nil {
				t.Errorf("the valid route is not served")
			}
			line := ""
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "rejected configuration object") {
					line = l
				}
			}
			if !strings.Contains(line, "key="+tt.key) || !strings.Contains(line, tt.reason) || !strings.Contains(line, "revision=3") {
				t.Errorf("log line %q, want key %s, revision 3 and reason %q", line, tt.key, tt.reason)
			}
			if len(rejected) != 1 {
				t.Errorf("OnReject called %d times", len(rejected))
			}
			// The same version is not decoded (nor logged) again on the next build.
			logs.Reset()
			build(t, b, with(st, "/apisix/routes/other", `{"uri":"/other","upstream_id":"1"}`))
			if strings.Contains(logs.String(), "rejected") {
				t.Errorf("rejected again on an unrelated change: %s", logs.String())
			}
		})
	}
}

func TestLastGoodVersionStays(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := stateOf("/apisix/upstreams/1", up1, "/apisix/routes/r", `{"uri":"/v1","upstream_id":"1"}`)
	build(t, b, st)
	st2 := with(st, "/apisix/routes/r", `{"uri":"/v2","upstream_id":"1","bogus":1}`)
	s := build(t, b, st2)
	if match(t, s, "GET", "h", "/v1") == nil || match(t, s, "GET", "h", "/v2") != nil {
		t.Errorf("the previous version of the route should keep serving")
	}
	if !strings.Contains(logs.String(), "kept_previous_version=true") {
		t.Errorf("log does not say the previous version was kept: %s", logs.String())
	}
	// The snapshot's KVs keep the good version, so a restart from the file serves it too.
	if kv, _ := s.KVs.Get("/apisix/routes/r"); string(kv.Value) != `{"uri":"/v1","upstream_id":"1"}` {
		t.Errorf("effective value %s", kv.Value)
	}
	// A good version after that replaces it; a delete removes it.
	s = build(t, b, with(st2, "/apisix/routes/r", `{"uri":"/v3","upstream_id":"1"}`))
	if match(t, s, "GET", "h", "/v3") == nil || match(t, s, "GET", "h", "/v1") != nil {
		t.Errorf("the new good version should serve")
	}
	s = build(t, b, with(st2, "/apisix/routes/r", ""))
	if match(t, s, "GET", "h", "/v1") != nil || s.Counts.Routes != 0 {
		t.Errorf("a deleted route still serves")
	}
}

func TestPlaceholdersAndOtherKinds(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	s := build(t, b, stateOf(
		"/apisix/routes/", "init_dir",
		"/apisix/upstreams/", "init_dir",
		"/apisix/consumers/jack", `{"username":"jack"}`,
		"/apisix/routes/r", `{"uri":"/r","upstream":`+up1+`}`,
		"/apisix/routes/a/b", `{"uri":"/nested"}`,
	))
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("placeholders or other kinds were warned about: %s", logs.String())
	}
	if match(t, s, "GET", "h", "/r") == nil {
		t.Errorf("route not served")
	}
	if !s.KVs.Has("/apisix/consumers/jack") {
		t.Errorf("keys of kinds not served yet must still be kept for the state file")
	}
}

func TestUnknownPluginsIgnored(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, true)
	s := build(t, b, stateOf("/apisix/routes/r", `{"uri":"/r","plugins":{"ua-restriction":{}},"upstream":`+up1+`}`))
	if match(t, s, "GET", "h", "/r") == nil {
		t.Errorf("with unknown_plugins: ignore the route should serve")
	}
	// A plugin disabled through _meta is not in force: the route serves even when failing closed.
	b = newBuilder(t, &logs, false)
	s = build(t, b, stateOf("/apisix/routes/r", `{"uri":"/r","plugins":{"ua-restriction":{"_meta":{"disable":true}}},"upstream":`+up1+`}`))
	if match(t, s, "GET", "h", "/r") == nil {
		t.Errorf("a disabled plugin should not reject the route")
	}
}

func TestReuseAcrossBuilds(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st := stateOf("/apisix/upstreams/1", up1, "/apisix/routes/a", `{"uri":"/a","upstream_id":"1"}`,
		"/apisix/routes/b", `{"uri":"/b","upstream_id":"1"}`)
	s1 := build(t, b, st)
	ca := b.entries["/apisix/routes/a"].compiled
	s2 := build(t, b, with(st, "/apisix/routes/b", `{"uri":"/b2","upstream_id":"1"}`))
	if b.entries["/apisix/routes/a"].compiled != ca {
		t.Errorf("an unchanged route was compiled again")
	}
	ra1, ra2 := match(t, s1, "GET", "h", "/a"), match(t, s2, "GET", "h", "/a")
	if ra1.Pool != ra2.Pool {
		t.Errorf("an unchanged upstream got a new pool")
	}
	// Router values stay dense: a deleted route's value is reused.
	s3 := build(t, b, with(st, "/apisix/routes/b", "", "/apisix/routes/c", `{"uri":"/c","upstream_id":"1"}`))
	if s3.Routes.Len() != 2 || match(t, s3, "GET", "h", "/c") == nil {
		t.Errorf("routes slice %d long, want 2 after a delete and an add", s3.Routes.Len())
	}
	// A new route that is rejected gives its value back, for the next new route; a rejected
	// update keeps the served version and its value.
	st4 := with(st, "/apisix/routes/b", "", "/apisix/routes/c", `{"uri":"/c","upstream_id":"1"}`,
		"/apisix/routes/d", `{"uri":1}`)
	s4 := build(t, b, with(st4, "/apisix/routes/a", `{"uri":2}`))
	if match(t, s4, "GET", "h", "/a") == nil {
		t.Errorf("a rejected update took /a out of service")
	}
	s5 := build(t, b, with(st4, "/apisix/routes/e", `{"uri":"/e","upstream_id":"1"}`))
	if s5.Routes.Len() != s4.Routes.Len() || match(t, s5, "GET", "h", "/e") == nil || match(t, s5, "GET", "h", "/a") == nil {
		t.Errorf("routes slice %d long after adding /e, want %d: the rejected /d's value is free",
			s5.Routes.Len(), s4.Routes.Len())
	}
}

func TestRouterModes(t *testing.T) {
	var logs bytes.Buffer
	b, err := NewBuilder(Options{Registry: upstream.NewRegistry(upstream.Options{}), Mode: router.ModeURI,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := build(t, b, stateOf("/apisix/routes/r", `{"uri":"/r","host":"a.example.com","upstream":`+up1+`}`))
	if s.Router.Mode() != router.ModeURI {
		t.Errorf("mode %v", s.Router.Mode())
	}
}

// TestIncrementalBuildMatchesFullBuild: a State that lists its changed keys is built from those keys
// only, with the same result as comparing everything; a State whose Previous does not follow the
// last build is compared whole.
func TestIncrementalBuildMatchesFullBuild(t *testing.T) {
	var logs bytes.Buffer
	inc := newBuilder(t, &logs, false)
	st1 := stateOf("/apisix/upstreams/1", up1, "/apisix/upstreams/2", up2,
		"/apisix/routes/a", `{"uri":"/a","upstream_id":"1"}`,
		"/apisix/routes/b", `{"uri":"/b","upstream_id":"1"}`,
		"/apisix/routes/c", `{"uri":"/c","upstream_id":"2"}`)
	build(t, inc, st1)
	st2 := with(st1,
		"/apisix/routes/a", `{"uri":"/a2","upstream_id":"2"}`, // changed
		"/apisix/routes/b", "", // deleted
		"/apisix/routes/d", `{"uri":"/d","upstream_id":"1"}`, // added
		"/apisix/upstreams/1", `{"nodes":{"127.0.0.1:1999":1}}`) // an upstream other routes use
	st2.Previous = st1.Revision
	st2.Changed = []string{"/apisix/routes/a", "/apisix/routes/b", "/apisix/routes/d", "/apisix/upstreams/1"}
	got := build(t, inc, st2)
	full := build(t, newBuilder(t, &logs, false), &state.State{KVs: st2.KVs, Revision: st2.Revision})
	for _, p := range []string{"/a", "/a2", "/b", "/c", "/d"} {
		g, f := match(t, got, "GET", "h", p), match(t, full, "GET", "h", p)
		if (g == nil) != (f == nil) || (g != nil && (g.ID != f.ID || poolAddr(g) != poolAddr(f))) {
			t.Errorf("%s: incremental %+v, full %+v", p, g, f)
		}
	}
	if poolAddr(match(t, got, "GET", "h", "/d")) != "127.0.0.1:1999" {
		t.Errorf("a route added with an upstream changed in the same State does not use the new upstream")
	}
	// A Changed list that does not follow the last build (Previous mismatch) is not trusted.
	st3 := with(st2, "/apisix/routes/e", `{"uri":"/e","upstream_id":"1"}`)
	st3.Previous, st3.Changed = 12345, []string{}
	if match(t, build(t, inc, st3), "GET", "h", "/e") == nil {
		t.Errorf("a State with a foreign Previous was built from its (empty) Changed list")
	}
}

// TestEntrySize: the structures a build keeps per route stay within their allocation size
// classes: 160 bytes for an entry, 96 for a served Route and for a decoded route
// (BenchmarkBuiltMemory has the total).
func TestEntrySize(t *testing.T) {
	for _, tt := range []struct {
		name      string
		size, max uintptr
	}{
		{"entry", unsafe.Sizeof(entry{}), 160},
		{"Route", unsafe.Sizeof(Route{}), 96},
		{"routeObj", unsafe.Sizeof(routeObj{}), 96},
	} {
		if tt.size > tt.max {
			t.Errorf("%s is %d bytes, more than %d", tt.name, tt.size, tt.max)
		}
	}
}

// TestEntryKindAndID: an entry reads its kind and id from its key, whatever the prefix.
func TestEntryKindAndID(t *testing.T) {
	long := strings.Repeat("k", 300)
	for _, tt := range []struct {
		prefix, key, kind, id string
	}{
		{"/apisix", "/apisix/routes/1", "routes", "1"},
		{"/apisix/", "/apisix/plugin_configs/pc-1", "plugin_configs", "pc-1"},
		{"/a/b/c", "/a/b/c/upstreams/" + strings.Repeat("u", 100), "upstreams", strings.Repeat("u", 100)},
		{"/apisix", "/apisix/" + long + "/x", "", "x"}, // not a kind zoneproxy decodes
	} {
		b, err := NewBuilder(Options{Prefix: tt.prefix, Registry: upstream.NewRegistry(upstream.Options{})})
		if err != nil {
			t.Fatal(err)
		}
		kind, id, ok := b.split(tt.key)
		if !ok {
			t.Fatalf("%s: not split", tt.key)
		}
		e := newEntry(state.KV{Key: tt.key}, kind, id)
		if e.kind() != tt.kind || e.id() != tt.id || e.key() != tt.key {
			t.Errorf("%s: kind %q, id %q, key %q; want %q, %q", tt.key, e.kind(), e.id(), e.key(), tt.kind, tt.id)
		}
	}
}

// TestRoutePriority: a route's priority reaches the router: of two routes with the same uri the
// one with the higher priority wins, whatever their key order.
func TestRoutePriority(t *testing.T) {
	var logs bytes.Buffer
	for _, tt := range []struct{ pa, pb, want string }{
		{`0`, `5`, "b"},
		{`5`, `0`, "a"},
		{`-1`, `0`, "b"},
	} {
		b := newBuilder(t, &logs, false)
		s := build(t, b, stateOf("/apisix/upstreams/1", up1,
			"/apisix/routes/a", `{"uri":"/p/*","upstream_id":"1","priority":`+tt.pa+`}`,
			"/apisix/routes/b", `{"uri":"/p/*","upstream_id":"1","priority":`+tt.pb+`}`))
		if rt := match(t, s, "GET", "h", "/p/x"); rt == nil || rt.ID != tt.want {
			t.Errorf("priorities a=%s b=%s: matched %+v, want route %s", tt.pa, tt.pb, rt, tt.want)
		}
	}
}

// TestExactFieldNames: field names match APISIX's byte for byte, as its schema does (encoding/json
// alone would also take "URI" for uri); a key spelled with escapes is the name it spells.
func TestExactFieldNames(t *testing.T) {
	for _, tt := range []struct {
		doc, err string
	}{
		{`{"uri":"/x","upstream_id":"1","timeout":{"connect":1,"send":1,"read":1}}`, ""},
		{`{"\u0075ri":"/x","upstream_id":"1"}`, ""},
		{` { "uri" : "/x" , "upstream_id" : "1" , "labels" : {"A":"b"}, "plugins": {"Echo":{"_meta":{"disable":true}}} } `, ""},
		{`{"uri":"/x","Upstream_id":"1"}`, "Upstream_id: unknown field"},
		{`{"uri":"/x","upstream_id":"1","timeout":{"connect":1,"send":1,"READ":1}}`, "timeout.READ: unknown field"},
		{`{"uri":"/x","upstream_id":"1","\u0055RI":"/y"}`, "URI: unknown field"},
	} {
		_, _, _, err := decodeRoute([]byte(tt.doc))
		if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) {
			t.Errorf("%s: error %v, want %q", tt.doc, err, tt.err)
		}
	}
}

// TestWebsocketInherited (issue 20 item 15): a route without enable_websocket takes its
// service's, whatever upstream it uses (its own, inline or by id, or the service's); its own
// value, true or false, wins (apache/apisix apisix/init.lua, http_access_phase).
func TestWebsocketInherited(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	s := build(t, b, stateOf(
		"/apisix/upstreams/1", up1,
		"/apisix/services/ws", `{"upstream_id":"1","enable_websocket":true}`,
		"/apisix/services/nows", `{"upstream_id":"1","enable_websocket":false}`,
		"/apisix/services/plain", `{"upstream_id":"1"}`,
		"/apisix/routes/svc-upstream", `{"uri":"/a","service_id":"ws"}`,
		"/apisix/routes/own-inline", `{"uri":"/b","service_id":"ws","upstream":`+up2+`}`,
		"/apisix/routes/own-id", `{"uri":"/c","service_id":"ws","upstream_id":"1"}`,
		"/apisix/routes/own-false", `{"uri":"/d","service_id":"ws","upstream":`+up2+`,"enable_websocket":false}`,
		"/apisix/routes/own-true", `{"uri":"/e","service_id":"nows","upstream":`+up2+`,"enable_websocket":true}`,
		"/apisix/routes/svc-false", `{"uri":"/f","service_id":"nows","upstream":`+up2+`}`,
		"/apisix/routes/svc-unset", `{"uri":"/g","service_id":"plain","upstream":`+up2+`}`,
	))
	tests := []struct {
		uri  string
		want bool
	}{
		{"/a", true}, {"/b", true}, {"/c", true}, {"/d", false}, {"/e", true}, {"/f", false}, {"/g", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			r := match(t, s, "GET", "any.example.com", tt.uri)
			if r == nil {
				t.Fatal("no match")
			}
			if r.EnableWebsocket != tt.want {
				t.Errorf("route %s: enable_websocket %v, want %v", r.ID, r.EnableWebsocket, tt.want)
			}
		})
	}
}

// TestWebsocketFollowsService (issue 20 item 15): when only the service changes its
// enable_websocket, an incremental build gives its routes the new value, those with their own
// upstream too.
func TestWebsocketFollowsService(t *testing.T) {
	var logs bytes.Buffer
	b := newBuilder(t, &logs, false)
	st1 := stateOf("/apisix/upstreams/1", up1,
		"/apisix/services/s", `{"upstream_id":"1"}`,
		"/apisix/routes/own", `{"uri":"/own","service_id":"s","upstream":`+up2+`}`,
		"/apisix/routes/svc", `{"uri":"/svc","service_id":"s"}`)
	build(t, b, st1)
	st2 := with(st1, "/apisix/services/s", `{"upstream_id":"1","enable_websocket":true}`)
	st2.Previous, st2.Changed = st1.Revision, []string{"/apisix/services/s"}
	s := build(t, b, st2)
	for _, uri := range []string{"/own", "/svc"} {
		if r := match(t, s, "GET", "h", uri); r == nil || !r.EnableWebsocket {
			t.Errorf("%s: %+v, want enable_websocket from the service", uri, r)
		}
	}
}
