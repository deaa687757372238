package plugin

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// tracer is a test plugin: its conf {"tag": "...", "deny": status} records each phase it runs
// in the request's trace and answers deny in the phase named by "in".
type tracer struct {
	name string
	prio int
	auth bool
}

type tracerConf struct {
	p      *tracer
	Tag    string `json:"tag"`
	Deny   int    `json:"deny"`
	In     string `json:"in"`
	Attach string `json:"attach"`
}

var trace []string

func (t *tracer) Name() string  { return t.name }
func (t *tracer) Priority() int { return t.prio }
func (t *tracer) Compile(conf []byte, _ *Env) (Instance, error) {
	c := &tracerConf{p: t}
	if err := json.Unmarshal(conf, c); err != nil {
		return nil, err
	}
	if c.Tag == "bad" {
		return nil, wrongType("tag", "string", "number")
	}
	return c, nil
}

func (c *tracerConf) run(r *Request, phase string) Reply {
	trace = append(trace, phase+":"+c.p.name+":"+c.Tag)
	if c.Attach != "" {
		r.Attach(r.Consumers.Consumer(c.Attach), "")
	}
	if c.In == phase && c.Deny != 0 {
		return Reply{Status: c.Deny, Body: []byte("denied by " + c.p.name)}
	}
	return Reply{}
}

func (c *tracerConf) Rewrite(r *Request) Reply { return c.run(r, "rewrite") }
func (c *tracerConf) Access(r *Request) Reply  { return c.run(r, "access") }

type authTracer struct{ tracer }

func (a *authTracer) CompileConsumer(conf []byte) (string, any, error) {
	var v struct{ Key string }
	err := json.Unmarshal(conf, &v)
	return v.Key, nil, err
}
func (a *authTracer) EncryptFields() []string { return []string{"key"} }

var (
	pA    = &tracer{name: "a", prio: 3000}
	pB    = &tracer{name: "b", prio: 2000}
	pC    = &tracer{name: "c", prio: 1000}
	pAuth = &authTracer{tracer{name: "auth", prio: 2500, auth: true}}
)

func policy(ignore bool) *Policy {
	return &Policy{Registry: NewRegistry(pA, pB, pC, pAuth), Enabled: EnabledSet([]string{"a", "b", "c", "auth", "limit-count"}),
		IgnoreUnimplemented: ignore}
}

func mustSet(t *testing.T, js string) *Set {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	s, _, _, err := policy(false).CompileSet(m, &Env{}, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompileSet(t *testing.T) {
	tests := []struct {
		name, plugins string
		ignore        bool
		want          []string
		warn, err     string
	}{
		{"compiled", `{"a":{},"c":{}}`, false, []string{"a", "c"}, "", ""},
		{"not enabled: left out with a warning", `{"a":{},"zipkin":{}}`, false, []string{"a"}, "skipping check schema for disabled or unknown plugin [zipkin]", ""},
		{"disabled through _meta", `{"a":{"_meta":{"disable":true}},"b":{}}`, false, []string{"b"}, "", ""},
		{"enabled, not implemented: fail closed", `{"a":{},"limit-count":{}}`, false, nil, "", "plugin [limit-count] is enabled but not implemented by zoneproxy"},
		{"enabled, not implemented: ignored", `{"a":{},"limit-count":{}}`, true, []string{"a"}, "plugin [limit-count] is not implemented by zoneproxy", ""},
		{"invalid conf", `{"a":{"tag":"bad"}}`, false, nil, "", `failed to check the configuration of plugin a err: property "tag" validation failed: wrong type: expected string, got number`},
		{"conf not an object", `{"a":"x"}`, false, nil, "", `invalid plugin conf "x" for plugin [a]`},
		{"bad filter", `{"a":{"_meta":{"filter":[["arg_x","=~","y"]]}}}`, false, nil, "", `property "_meta" validation failed: property "filter" validation failed`},
		{"error_response type", `{"a":{"_meta":{"error_response":1}}}`, false, nil, "", `property "_meta" validation failed: property "error_response"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.plugins), &m); err != nil {
				t.Fatal(err)
			}
			s, _, warnings, err := policy(tt.ignore).CompileSet(m, &Env{}, false)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Names(), tt.want) {
				t.Errorf("plugins %v, want %v", s.Names(), tt.want)
			}
			if w := strings.Join(warnings, "; "); !strings.Contains(w, tt.warn) || (tt.warn == "" && w != "") {
				t.Errorf("warnings %q, want %q", w, tt.warn)
			}
		})
	}
}

func TestConsumerSide(t *testing.T) {
	ring, _ := keyring.New(keyring.Default)
	pol := policy(false)
	pol.Keyring = ring
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(`{"auth":{"key":"`+ring.Encrypt("secret-1")+`"},"a":{"tag":"x"}}`), &m)
	s, creds, _, err := pol.CompileSet(m, &Env{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Names(), []string{"a"}) || len(creds) != 1 || creds[0].Key != "secret-1" || creds[0].Plugin != "auth" {
		t.Errorf("set %v, creds %+v: want a, and auth's key decrypted", s.Names(), creds)
	}
	// A value no entry decrypts stays as it is (APISIX): a plain key still works.
	var undecrypted []string
	pol.Undecrypted = func(p, f string) { undecrypted = append(undecrypted, p+"."+f) }
	_ = json.Unmarshal([]byte(`{"auth":{"key":"plain-key"}}`), &m)
	_, creds, _, _ = pol.CompileSet(m, &Env{}, true)
	if creds[0].Key != "plain-key" || !slices.Equal(undecrypted, []string{"auth.key"}) {
		t.Errorf("key %q, undecrypted %v", creds[0].Key, undecrypted)
	}
}

func TestMerge(t *testing.T) {
	svc := mustSet(t, `{"a":{"tag":"svc"},"b":{"tag":"svc"},"c":{"tag":"svc"}}`)
	pc := mustSet(t, `{"b":{"tag":"pc"}}`)
	route := mustSet(t, `{"c":{"tag":"route"}}`)
	c := Merge(svc, pc, route)
	var got []string
	for _, e := range c.entries {
		got = append(got, e.name+"="+e.inst.(*tracerConf).Tag)
	}
	if want := []string{"a=svc", "b=pc", "c=route"}; !slices.Equal(got, want) {
		t.Errorf("merged %v, want %v (route > plugin config > service, in priority order)", got, want)
	}
	if Merge(nil, nil) != nil || Merge(&Set{}) != nil {
		t.Errorf("an empty merge is not nil")
	}
	// _meta.priority reorders.
	c = Merge(mustSet(t, `{"c":{"_meta":{"priority":5000}},"a":{}}`))
	if !slices.Equal(c.Names(), []string{"c", "a"}) {
		t.Errorf("order %v, want c first (_meta.priority 5000)", c.Names())
	}
	g, dups := MergeGlobal(mustSet(t, `{"a":{},"b":{}}`), mustSet(t, `{"b":{},"c":{}}`))
	if !slices.Equal(g.Names(), []string{"a", "c"}) || !slices.Equal(dups, []string{"b"}) {
		t.Errorf("global %v, dups %v: want a plugin in two rules dropped", g.Names(), dups)
	}
}

type fixedVars bool

func (v fixedVars) Eval(*fasthttp.RequestCtx, *expr.Expr) bool { return bool(v) }

func TestRun(t *testing.T) {
	cs := NewConsumers()
	cs.Add(NewConsumer("jack", "", "", Merge(mustSet(t, `{"c":{"tag":"consumer"},"b":{"tag":"consumer"}}`)), false))
	cs.Add(NewConsumer("orphan", "gone", "", nil, true))
	tests := []struct {
		name          string
		global, route string
		vars          bool
		status        int
		body          string
		want          []string
	}{
		{"every rewrite before any access, global first", `{"c":{"tag":"g"}}`, `{"a":{"tag":"r"},"b":{"tag":"r"}}`, true, 0, "",
			[]string{"rewrite:c:g", "rewrite:a:r", "rewrite:b:r", "access:c:g", "access:a:r", "access:b:r"}},
		{"an answer stops the request", ``, `{"a":{"tag":"r","deny":403,"in":"access"},"b":{"tag":"r"}}`, true, 403, "denied by a",
			[]string{"rewrite:a:r", "rewrite:b:r", "access:a:r"}},
		{"error_response replaces the body", ``, `{"a":{"deny":401,"in":"rewrite","_meta":{"error_response":{"m":"no"}}}}`, true, 401, `{"m":"no"}` + "\n",
			[]string{"rewrite:a:"}},
		{"error_response only for >= 400", ``, `{"a":{"deny":302,"in":"rewrite","_meta":{"error_response":"x"}}}`, true, 302, "denied by a",
			[]string{"rewrite:a:"}},
		{"filter false skips", ``, `{"a":{"_meta":{"filter":[["arg_x","==","1"]]}},"b":{}}`, false, 0, "",
			[]string{"rewrite:b:", "access:b:"}},
		{"consumer's plugins merged, their rewrite after the route's", ``, `{"auth":{"attach":"jack"},"b":{"tag":"route"},"a":{"tag":"route"}}`, true, 0, "",
			[]string{"rewrite:a:route", "rewrite:auth:", "rewrite:b:route", "rewrite:b:consumer", "rewrite:c:consumer",
				"access:a:route", "access:auth:", "access:b:consumer", "access:c:consumer"}},
		{"consumer whose group is missing", ``, `{"auth":{"attach":"orphan"}}`, true, 503, "", []string{"rewrite:auth:"}},
		{"global only (the 404 path)", `{"a":{"tag":"g"}}`, ``, true, 0, "", []string{"rewrite:a:g", "access:a:g"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var global, route *Chain
			if tt.global != "" {
				global, _ = MergeGlobal(mustSet(t, tt.global))
			}
			if tt.route != "" {
				route = Merge(mustSet(t, tt.route))
			}
			trace = nil
			var ctx fasthttp.RequestCtx
			r := &Request{Ctx: &ctx, Consumers: cs, Vars: fixedVars(tt.vars)}
			rep := r.Run(global, route)
			if rep.Status != tt.status || string(rep.Body) != tt.body {
				t.Errorf("reply %d %q, want %d %q", rep.Status, rep.Body, tt.status, tt.body)
			}
			if !slices.Equal(trace, tt.want) {
				t.Errorf("trace\n%v\nwant\n%v", trace, tt.want)
			}
		})
	}
}
