package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// fuzzKV is one key of a State made by newState.
type fuzzKV struct {
	key   string
	value []byte
	rev   int64
}

// newState is the control-plane State of kvs at revision rev; previous and changed are the
// State's Previous and Changed (nil changed: take the State whole). It is the one place this
// file names the State's package.
func newState(rev, previous int64, changed []string, kvs []fuzzKV) *state.State {
	m := make(map[string]state.KV, len(kvs))
	for _, kv := range kvs {
		m[kv.key] = state.KV{Key: kv.key, Value: kv.value, ModRevision: kv.rev}
	}
	return &state.State{Revision: rev, Previous: previous, Changed: changed, KVs: state.NewKVs(m)}
}

// The kinds a fuzz input may put its value under, by the low three bits of its kind byte.
var fuzzKinds = [8]string{KindRoute, KindService, KindUpstream, KindPluginConfig, KindGlobalRule,
	"consumers", "ssls", "stream_routes"}

// fuzzID is the id of the fuzzed object; valid routes refer to an upstream, a service and a plugin
// config of that id, so that an accepted one is seen in use.
const fuzzID = "fz"

// fuzzBase is the valid configuration around the fuzzed object, at revisions 1 to len.
var fuzzBase = []struct{ key, value string }{
	{"/apisix/upstreams/1", `{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`},
	{"/apisix/services/s1", `{"upstream_id":"1"}`},
	{"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}`},
	{"/apisix/routes/inline", `{"uri":"/inline","upstream":{"nodes":[{"host":"127.0.0.1","port":1981,"weight":1}]}}`},
	{"/apisix/routes/ok", `{"uri":"/ok","upstream_id":"1"}`},
	{"/apisix/routes/svc", `{"uri":"/svc","service_id":"s1"}`},
	{"/apisix/routes/use-pc", `{"uri":"/use-pc","upstream_id":"1","plugin_config_id":"fz"}`},
	{"/apisix/routes/use-svc", `{"uri":"/use-svc","service_id":"fz"}`},
	{"/apisix/routes/use-up", `{"uri":"/use-up","upstream_id":"fz"}`},
}

// fuzzProbes are the paths of the valid routes, with the route that serves each and its node
// (when the fuzzed object does not take it over).
var fuzzProbes = []struct{ path, route, addr string }{
	{"/ok", "ok", "127.0.0.1:1980"},
	{"/svc", "svc", "127.0.0.1:1980"},
	{"/inline", "inline", "127.0.0.1:1981"},
}

// FuzzBuild feeds any bytes as the value of one APISIX object (the kind chosen by the input) to
// Builder.Build, beside a few valid objects, some of which refer to it. The low three bits of kind
// choose the object's kind (route, service, upstream, plugin config, global rule, consumer, ssl,
// stream route), the next two the router mode, and the top bit unknown_plugins: ignore. It checks
// that:
//   - Build never fails: one object cannot take the snapshot down;
//   - a rejected object is rejected alone: one log line and one OnReject naming its key (none for
//     a directory placeholder), left out of the snapshot's KVs, and the valid routes still route to
//     their upstreams, and the routes that refer to it answer as when it is missing (502, 404, 503);
//   - an accepted object is in the snapshot: kept in its KVs as it was, an upstream, service or
//     plugin config in use by the routes that refer to it, an enabled route among the served
//     routes (and, when it has only a plain uri, matching a request for that uri);
//   - building the same State in steps (the valid objects, then the fuzzed one as a change, then
//     its deletion) routes every probe as a build from scratch does.
func FuzzBuild(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.kind, []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, kind byte, value []byte) {
		kindName := fuzzKinds[kind&7]
		mode := router.Mode(min(int(kind>>3&3), int(router.ModeURIWithParameter)))
		ignore := kind&0x80 != 0
		key := "/apisix/" + kindName + "/" + fuzzID

		var base []fuzzKV
		for i, kv := range fuzzBase {
			base = append(base, fuzzKV{kv.key, []byte(kv.value), int64(i + 1)})
		}
		baseRev := int64(len(base))
		fuzzed := fuzzKV{key, value, baseRev + 1}
		all := append(slices.Clone(base), fuzzed)

		// A build from scratch.
		fb := newFuzzBuilder(t, mode, ignore)
		s, err := fb.b.Build(newState(fuzzed.rev, 0, nil, all))
		if err != nil {
			t.Fatalf("Build failed as a whole: %v", err)
		}
		_, accepted := fb.b.entries[key]
		_, rejected := fb.b.rejected[key]
		if accepted == rejected {
			t.Fatalf("accepted %v, rejected %v", accepted, rejected)
		}
		kv, kept := s.KVs.Get(key)
		if kept != accepted || (kept && string(kv.Value) != string(value)) {
			t.Fatalf("accepted %v, but the snapshot's KVs hold %v %q", accepted, kept, kv.Value)
		}
		silent := fuzzSilentlySkipped(kindName, value)
		switch n := fb.rejectLines(key); {
		case accepted && (n != 0 || len(fb.rejects) != 0):
			t.Fatalf("accepted, yet %d rejection lines and OnReject %v", n, fb.rejects)
		case rejected && silent && (n != 0 || len(fb.rejects) != 0):
			t.Fatalf("a placeholder was warned about: %d lines, OnReject %v", n, fb.rejects)
		case rejected && !silent && (n != 1 || !slices.Equal(fb.rejects, []string{kindName})):
			t.Fatalf("rejected with %d log lines naming the key and OnReject %v, want 1 and [%s]",
				n, fb.rejects, kindName)
		}

		// The valid routes route, unless an accepted fuzzed route takes their request.
		for _, p := range fuzzProbes {
			rt := fuzzMatch(s, p.path)
			switch {
			case rt == nil:
				t.Fatalf("%s: no route", p.path)
			case rt.ID == fuzzID && kindName == KindRoute && accepted:
			case rt.ID != p.route:
				t.Fatalf("%s: route %q, want %q", p.path, rt.ID, p.route)
			case rt.Pool == nil || rt.Pool.Nodes()[0].Addr != p.addr:
				t.Fatalf("%s: pool %v status %d, want node %s", p.path, rt.Pool, rt.Status, p.addr)
			}
		}

		// The routes that refer to the fuzzed id see it exactly when it was accepted.
		served := servedByID(s)
		useUp, useSvc, usePC := served["use-up"], served["use-svc"], served["use-pc"]
		if useUp == nil || useSvc == nil || usePC == nil {
			t.Fatalf("a route referring to %q is not served: %v %v %v", fuzzID, useUp, useSvc, usePC)
		}
		switch {
		case kindName == KindUpstream && accepted:
			// The pool's spec is the object's, or a copy with its client certificate resolved.
			if (useUp.Pool == nil || useUp.Pool.Key() != "/apisix/upstreams/"+fuzzID) && !strings.Contains(fb.b.problems["/apisix/routes/use-up"], `upstream "fz": `) {
				t.Fatalf("an accepted upstream is not in use: pool %v, status %d", useUp.Pool, useUp.Status)
			}
		case useUp.Pool != nil || useUp.Status != 502:
			t.Fatalf("upstream_id %q: pool %v, status %d, want 502", fuzzID, useUp.Pool, useUp.Status)
		}
		switch {
		case kindName == KindService && accepted:
			if useSvc.Status == 404 {
				t.Fatalf("an accepted service is reported missing")
			}
		case useSvc.Pool != nil || useSvc.Status != 404:
			t.Fatalf("service_id %q: pool %v, status %d, want 404", fuzzID, useSvc.Pool, useSvc.Status)
		}
		switch {
		case kindName == KindPluginConfig && accepted:
			if usePC.Pool == nil || usePC.Pool.Nodes()[0].Addr != "127.0.0.1:1980" {
				t.Fatalf("an accepted plugin config: pool %v, status %d", usePC.Pool, usePC.Status)
			}
		case usePC.Pool != nil || usePC.Status != 503:
			t.Fatalf("plugin_config_id %q: pool %v, status %d, want 503", fuzzID, usePC.Pool, usePC.Status)
		}

		// An accepted route: served unless disabled; with a plain uri alone, it routes.
		if kindName == KindRoute && accepted {
			ro := fb.b.entries[key].obj.(*routeObj)
			if rt := served[fuzzID]; (rt != nil) != ro.enabled {
				t.Fatalf("route enabled %v, served %+v", ro.enabled, rt)
			}
			if _, m, _, err := decodeRoute(value); err != nil {
				t.Fatalf("accepted route does not decode again: %v", err)
			} else if ro.enabled && plainMatch(m) && fuzzMatch(s, m.URI) == nil {
				t.Fatalf("no route for %s, the accepted route's own uri", m.URI)
			}
		}

		// The same in steps: the valid objects, then the fuzzed one as a change, then its deletion.
		ib := newFuzzBuilder(t, mode, ignore)
		s0, err := ib.b.Build(newState(baseRev, 0, nil, base))
		if err != nil {
			t.Fatalf("Build of the valid objects: %v", err)
		}
		s1, err := ib.b.Build(newState(fuzzed.rev, baseRev, []string{key}, all))
		if err != nil {
			t.Fatalf("incremental Build failed as a whole: %v", err)
		}
		probes := []string{"/ok", "/svc", "/inline", "/use-up", "/use-svc", "/use-pc"}
		if kindName == KindRoute && accepted {
			if _, m, _, err := decodeRoute(value); err == nil && plainMatch(m) {
				probes = append(probes, m.URI)
			}
		}
		for _, p := range probes {
			if got, want := describe(fuzzMatch(s1, p)), describe(fuzzMatch(s, p)); got != want {
				t.Fatalf("%s: built in steps %s, from scratch %s", p, got, want)
			}
		}
		s2, err := ib.b.Build(newState(fuzzed.rev+1, fuzzed.rev, []string{key}, base))
		if err != nil {
			t.Fatalf("Build after deleting the fuzzed object: %v", err)
		}
		for _, p := range probes {
			if got, want := describe(fuzzMatch(s2, p)), describe(fuzzMatch(s0, p)); got != want {
				t.Fatalf("%s: after the delete %s, before the add %s", p, got, want)
			}
		}
		if s2.KVs.Has(key) || len(ib.b.entries) != len(base) || len(ib.b.rejected) != 0 {
			t.Fatalf("the deleted object is still held: %d entries, %d rejected", len(ib.b.entries), len(ib.b.rejected))
		}
	})
}

// fuzzBuilder is a Builder with its own registry, its rejection log lines and OnReject calls.
type fuzzBuilder struct {
	b       *Builder
	lines   *[]string // keys of "rejected configuration object" lines
	rejects []string
}

func newFuzzBuilder(t *testing.T, mode router.Mode, ignore bool) *fuzzBuilder {
	fb := &fuzzBuilder{lines: new([]string)}
	b, err := NewBuilder(Options{
		Registry:             upstream.NewRegistry(upstream.Options{Hostname: "fuzz"}),
		Mode:                 mode,
		IgnoreUnknownPlugins: ignore,
		Logger:               slog.New(rejectHandler{fb.lines}),
		OnReject:             func(kind string) { fb.rejects = append(fb.rejects, kind) },
	})
	if err != nil {
		t.Fatal(err)
	}
	fb.b = b
	return fb
}

// rejectLines counts the rejection lines naming key.
func (fb *fuzzBuilder) rejectLines(key string) int {
	n := 0
	for _, k := range *fb.lines {
		if k == key {
			n++
		}
	}
	return n
}

// rejectHandler records the key of every "rejected configuration object" line.
type rejectHandler struct{ keys *[]string }

func (h rejectHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h rejectHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h rejectHandler) WithGroup(string) slog.Handler            { return h }
func (h rejectHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "rejected configuration object" {
		return nil
	}
	key := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "key" {
			key = a.Value.String()
		}
		return true
	})
	*h.keys = append(*h.keys, key)
	return nil
}

// fuzzSilentlySkipped tells whether the builder skips value under kind without a warning: a
// directory placeholder, or a value that is not an object under a kind it does not decode.
func fuzzSilentlySkipped(kind string, value []byte) bool {
	switch kind {
	case KindRoute, KindService, KindUpstream, KindPluginConfig, KindGlobalRule, KindConsumer, KindSSL:
		return len(value) == 0 || string(value) == "init_dir"
	}
	i := firstNonSpace(value)
	return i < 0 || value[i] != '{'
}

// fuzzMatch routes GET path from 127.0.0.1 with Host h and returns the route, nil for no match.
func fuzzMatch(s *Snapshot, path string) *Route {
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI(path)
	req.Header.SetHost("h")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, nil)
	m, ok := s.Router.Match(&ctx)
	if !ok {
		return nil
	}
	return s.Routes.At(m.Value)
}

// describe sums up what a route answers with, to compare two snapshots.
func describe(rt *Route) string {
	if rt == nil {
		return "no route"
	}
	addr := ""
	if rt.Pool != nil && len(rt.Pool.Nodes()) > 0 {
		addr = rt.Pool.Nodes()[0].Addr
	}
	return fmt.Sprintf("route %q status %d node %q", rt.ID, rt.Status, addr)
}

// servedByID lists the served routes by id.
func servedByID(s *Snapshot) map[string]*Route {
	out := map[string]*Route{}
	for v := range s.Routes.Len() {
		if rt := s.Routes.At(v); rt != nil {
			out[rt.ID] = rt
		}
	}
	return out
}

var plainPath = regexp.MustCompile(`^(/[A-Za-z0-9_-]+)+$`)

// plainMatch tells whether a route matches on a plain path alone, so that a GET for that path
// from anywhere must find a route.
func plainMatch(m router.Route) bool {
	return plainPath.MatchString(m.URI) && len(m.URIs) == 0 && m.Host == "" && len(m.Hosts) == 0 &&
		len(m.Methods) == 0 && m.RemoteAddr == "" && len(m.RemoteAddrs) == 0 &&
		(len(m.Vars) == 0 || string(m.Vars) == "null" || string(m.Vars) == "[]")
}

// Kind bytes for the seeds: the kind, plus 0x80 for unknown_plugins: ignore.
const (
	seedRoute, seedService, seedUpstream, seedPluginConfig, seedGlobalRule, seedConsumer, seedSSL = 0, 1, 2, 3, 4, 5, 6
	seedIgnorePlugins                                                                             = 0x80
	seedURIMode                                                                                   = 1 << 3
	seedParamMode                                                                                 = 2 << 3
)

// fuzzSeeds are APISIX objects as the Admin API and the dashboard write them.
var fuzzSeeds = []struct {
	kind  byte
	value string
}{
	// Routes.
	{seedRoute, `{"uri":"/hello","upstream":{"type":"roundrobin","nodes":{"127.0.0.1:1980":1}}}`},
	{seedRoute, `{"id":"fz","uri":"/index.html","name":"r1","desc":"hello","labels":{"env":"prod"},"upstream_id":"1","status":1,"create_time":1700000000,"update_time":1700000001}`},
	{seedRoute, `{"uris":["/foo","/bar/*"],"hosts":["foo.com","*.bar.com"],"methods":["GET","POST","PUT","DELETE","PATCH","HEAD","OPTIONS","CONNECT","TRACE","PURGE"],"upstream_id":1}`},
	{seedRoute, `{"uri":"/api/*","host":"api.example.com","priority":10,"remote_addrs":["127.0.0.1","192.168.0.0/16","::1","fe80::/32"],"upstream_id":"1"}`},
	{seedRoute, `{"uri":"/vars","vars":[["arg_name","==","json"],["http_x_env","~~","^prod"],["cookie_sid","!","==","x"]],"upstream_id":"1"}`},
	{seedRoute, `{"uri":"/or","vars":["OR",["arg_a","==","1"],["arg_b","in",["2","3"]]],"remote_addr":"10.0.0.0/8","upstream_id":"1"}`},
	{seedRoute, `{"uri":"/svc","service_id":"s1","enable_websocket":true,"timeout":{"connect":3,"send":3,"read":3}}`},
	{seedRoute, `{"uri":"/pc","plugin_config_id":"fz","service_id":"s1","upstream_id":"1"}`},
	{seedRoute, `{"uri":"/off","upstream_id":"1","status":0}`},
	{seedRoute, `{"uri":"/neg","upstream_id":"1","priority":-5}`},
	{seedRoute, `{"uri":"/user/:id/*","upstream_id":"1"}`},
	{seedRoute | seedParamMode, `{"uri":"/user/:id/profile","upstream_id":"1"}`},
	{seedRoute | seedURIMode, `{"uri":"/ok","host":"h","upstream_id":"1"}`},
	{seedRoute, `{"uri":"/ok","upstream_id":"1","priority":1}`},
	{seedRoute, `{"uri":"/*","upstream":{"type":"chash","hash_on":"header","key":"X-User","nodes":[{"host":"127.0.0.1","port":1980,"weight":1},{"host":"127.0.0.2","port":1980,"weight":1}]}}`},
	{seedRoute | seedIgnorePlugins, `{"uri":"/limited","plugins":{"limit-count":{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr"},"proxy-rewrite":{"uri":"/x"}},"upstream_id":"1"}`},
	{seedRoute, `{"uri":"/auth","plugins":{"key-auth":{}},"upstream_id":"1"}`},
	{seedRoute, `{"uri":"/disabled-plugin","plugins":{"key-auth":{"_meta":{"disable":true}}},"upstream_id":"1"}`},
	{seedRoute | seedIgnorePlugins, `{"uri":"/echo","plugins":{"echo":{"body":"hi"}}}`},
	{seedRoute, `{"uri":"/f","upstream_id":"1","filter_func":"function(vars) return vars.arg_x == 1 end"}`},
	{seedRoute, `{"uri":"/bad","upstream_id":"1","methods":["get"]}`},
	{seedRoute, `{"uri":"/bad","vars":[["arg_x","~~","("]],"upstream_id":"1"}`},
	{seedRoute, `{"uri":"/h","hosts":[],"upstream_id":"1"}`},
	{seedRoute, `{"uri":"/dup","uris":["/dup"],"upstream_id":"1"}`},
	{seedRoute, `{"uri":"/t","upstream_id":"1","timeout":{"connect":0.5,"send":1,"read":0}}`},
	{seedRoute, `{"uri":"/x","upstream":{"nodes":{"127.0.0.1:1980":1}},"upstream_id":"nope","service_id":"nope"}`},
	{seedRoute, `init_dir`},
	{seedRoute, ``},
	{seedRoute, ` [] `},
	{seedRoute, `{"uri":"/x","upstream_id":"1"} trailing`},
	// Upstreams.
	{seedUpstream, `{"type":"roundrobin","nodes":{"127.0.0.1:1980":1,"127.0.0.1:1981":2,"[::1]:1982":0}}`},
	{seedUpstream, `{"type":"roundrobin","nodes":[{"host":"127.0.0.1","port":1980,"weight":1,"priority":1},{"host":"backup.local","port":80,"weight":1,"priority":-1}],"retries":2,"retry_timeout":5}`},
	{seedUpstream, `{"type":"chash","hash_on":"vars","key":"remote_addr","nodes":{"127.0.0.1:1980":1,"127.0.0.1:1981":1}}`},
	{seedUpstream, `{"type":"chash","hash_on":"cookie","key":"sid","nodes":{"a.test:80":1}}`},
	{seedUpstream, `{"type":"chash","hash_on":"vars_combinations","key":"$host$uri","nodes":{"a.test:80":1,"b.test":1}}`},
	{seedUpstream, `{"type":"chash","hash_on":"consumer","nodes":{"a.test:80":1}}`},
	{seedUpstream, `{"type":"ewma","scheme":"https","pass_host":"rewrite","upstream_host":"api.test","nodes":{"a.test":1},"tls":{"verify":true}}`},
	{seedUpstream, `{"type":"least_conn","pass_host":"node","nodes":{"127.0.0.1:1980":3,"127.0.0.1:1981":1},"timeout":{"connect":6,"send":6,"read":6},"keepalive_pool":{"size":10,"idle_timeout":30,"requests":100}}`},
	{seedUpstream, `{"nodes":{"127.0.0.1:1980":1},"checks":{"active":{"type":"http","http_path":"/status","host":"foo.com","timeout":1,"healthy":{"interval":2,"successes":1},"unhealthy":{"interval":1,"http_failures":2}},"passive":{"healthy":{"http_statuses":[200,201],"successes":3},"unhealthy":{"http_statuses":[500],"http_failures":3,"tcp_failures":3}}}}`},
	{seedUpstream, `{"nodes":{"127.0.0.1:1980":1},"checks":{"active":{"type":"tcp"}}}`},
	{seedUpstream, `{"id":"fz","name":"up","desc":"d","labels":{"team":"a"},"nodes":[],"create_time":1}`},
	{seedUpstream, `{"service_name":"svc","discovery_type":"dns","type":"roundrobin"}`},
	{seedUpstream, `{"nodes":{"127.0.0.1:1980":1},"tls":{"client_cert":"not a pem","client_key":"not a pem"},"scheme":"https"}`},
	{seedUpstream, `{"nodes":{"127.0.0.1:99999":1}}`},
	{seedUpstream, `{"nodes":{"127.0.0.1:1980":1},"tls":{"client_cert_id":"fz"},"scheme":"https"}`},
	{seedUpstream, `{"nodes":{"127.0.0.1:1980":1},"tls":{"client_cert_id":"1"},"scheme":"http"}`},
	// Services.
	{seedService, `{"upstream":{"type":"roundrobin","nodes":{"127.0.0.1:1981":1}},"hosts":["svc.example.com"]}`},
	{seedService, `{"name":"svc","desc":"a service","upstream_id":"1","enable_websocket":true,"labels":{"a":"b"}}`},
	{seedService, `{"hosts":["h","*.example.com"],"upstream_id":"1"}`},
	{seedService, `{"upstream_id":"nope"}`},
	{seedService | seedIgnorePlugins, `{"plugins":{"limit-req":{"rate":1,"burst":0,"key":"remote_addr"}},"upstream_id":"1"}`},
	{seedService, `{"hosts":[]}`},
	{seedService, `{"hosts":["bad host"]}`},
	// Plugin configs and global rules.
	{seedPluginConfig, `{"id":"fz","desc":"cfg","plugins":{"response-rewrite":{"body":"x","_meta":{"disable":true}}}}`},
	{seedPluginConfig | seedIgnorePlugins, `{"plugins":{"cors":{},"prometheus":{"prefer_name":true}}}`},
	{seedPluginConfig, `{"plugins":{}}`},
	{seedGlobalRule, `{"id":"fz","plugins":{}}`},
	{seedGlobalRule | seedIgnorePlugins, `{"plugins":{"ip-restriction":{"whitelist":["127.0.0.0/24"]}}}`},
	{seedGlobalRule, `{"plugins":{"request-id":1}}`},
	{seedGlobalRule, `{"name":"g","plugins":{}}`},
	// Kinds the builder keeps but does not serve.
	{seedConsumer, `{"username":"fz","plugins":{"key-auth":{"key":"k"}}}`},
	{seedConsumer, `init_dir`},
	{seedSSL, `{"cert":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----","key":"k","snis":["a.test"]}`},
	{seedSSL, `{"cert":"c","key":"k","sni":"a.test","client":{"ca":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----","depth":1,"skip_mtls_uri_regex":["^/a","(b"]}}`},
	{seedSSL, `{"type":"client","cert":"c","key":"k","client":null}`},
	{7, `{"server_port":9100,"upstream_id":"1"}`},
}
