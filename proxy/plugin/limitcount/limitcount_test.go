package limitcount

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// clock is a settable time for window tests.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time        { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration)   { c.ns.Add(int64(d)) }
func (c *clock) set(t time.Time)       { c.ns.Store(t.UnixNano()) }
func (c *clock) plugin() plugin.Plugin { return New(c.now) }
func compile(t testing.TB, p plugin.Plugin, conf string, env *plugin.Env) *Conf {
	t.Helper()
	inst, err := p.Compile([]byte(conf), env)
	if err != nil {
		t.Fatalf("compile %s: %v", conf, err)
	}
	return inst.(*Conf)
}

// vars serves variables by name, and remote_addr from the request.
type vars map[string]string

func (vars) Eval(*fasthttp.RequestCtx, *expr.Expr) bool { return true }
func (v vars) AppendVar(dst []byte, ctx *fasthttp.RequestCtx, x *expr.Var) ([]byte, bool) {
	if x.Kind == expr.VarRemoteAddr {
		a, _ := netip.AddrFromSlice(ctx.RemoteIP())
		return a.Unmap().AppendTo(dst), true
	}
	s, ok := v[x.Name]
	return append(dst, s...), ok
}

// request makes a plugin request from ip with vars.
func request(ip string, vs vars) *plugin.Request {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/r")
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}, nil)
	return &plugin.Request{Ctx: &ctx, Vars: vs}
}

// end ends r's request as the proxy does: Finish sets the headers the plugin set (the quota
// headers) on the response, Reset readies r for the next request, which keeps r's context,
// variables and metadata.
func end(r *plugin.Request) {
	ctx, vs, md := r.Ctx, r.Vars, r.Metadata
	r.Finish()
	r.Reset()
	r.Ctx, r.Vars, r.Metadata = ctx, vs, md
}

// hit runs Access and returns the status (200: let through) and the quota headers.
func hit(c *Conf, r *plugin.Request) (int, string) {
	r.Ctx.Response.Reset()
	rep := c.Access(r)
	end(r)
	st := rep.Status
	if st == 0 {
		st = 200
	}
	h := &r.Ctx.Response.Header
	q := ""
	if lim := h.Peek(HeaderLimit); lim != nil {
		q = string(lim) + " " + string(h.Peek(HeaderRemaining)) + " " + string(h.Peek(HeaderReset))
	}
	return st, q
}

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"minimal", `{"count":2,"time_window":60}`, ""},
		{"all fields", `{"count":2,"time_window":60,"window_type":"sliding","key":"http_x_user","key_type":"var","group":"g","rejected_code":429,"rejected_msg":"slow down","policy":"local","allow_degradation":true,"show_limit_quota_header":false}`, ""},
		{"var_combination", `{"count":2,"time_window":60,"key":"$remote_addr $http_x_user","key_type":"var_combination"}`, ""},
		{"constant", `{"count":2,"time_window":60,"key":"all","key_type":"constant"}`, ""},
		{"no count", `{"time_window":60}`, "value should match only one schema, but matches none"},
		{"zero count", `{"count":0,"time_window":60}`, `property "count" validation failed`},
		{"negative window", `{"count":1,"time_window":-5}`, `property "time_window" validation failed`},
		{"float count", `{"count":1.5,"time_window":60}`, `property "count" validation failed`},
		{"count as variable", `{"count":"$http_count","time_window":60}`, `a variable is not supported by zoneproxy`},
		{"rules", `{"rules":[{"count":1,"time_window":1,"key":"$remote_addr"},{"count":5,"time_window":60,"key":"$http_x_user","header_prefix":"user"}]}`, ""},
		{"rules, empty", `{"rules":[]}`, ""},
		{"rules, no key", `{"rules":[{"count":1,"time_window":1}]}`, `property "rules" validation failed: failed to validate item 1: property "key" is required`},
		{"rules, zero count", `{"rules":[{"count":0,"time_window":1,"key":"$remote_addr"}]}`, `failed to validate item 1: property "count" validation failed`},
		{"rules, duplicate key", `{"rules":[{"count":1,"time_window":1,"key":"$remote_addr"},{"count":2,"time_window":2,"key":"$remote_addr"}]}`, "duplicate key '$remote_addr' in rules"},
		{"rules and group", `{"rules":[{"count":1,"time_window":1,"key":"$remote_addr"}],"group":"g"}`, "group and rules cannot be specified at the same time"},
		{"rules, bad prefix type", `{"rules":[{"count":1,"time_window":1,"key":"$remote_addr","header_prefix":1}]}`, `property "header_prefix" validation failed: wrong type: expected string, got number`},
		{"rules type", `{"rules":{}}`, `property "rules" validation failed: wrong type: expected array, got object`},
		{"rules and count", `{"count":1,"time_window":1,"rules":[]}`, "count/time_window and rules cannot be specified at the same time"},
		{"window_type", `{"count":1,"time_window":1,"window_type":"rolling"}`, `property "window_type" validation failed: matches none of the enum values`},
		{"key_type", `{"count":1,"time_window":1,"key_type":"header"}`, `property "key_type" validation failed: matches none of the enum values`},
		{"rejected_code low", `{"count":1,"time_window":1,"rejected_code":199}`, `property "rejected_code" validation failed`},
		{"rejected_msg empty", `{"count":1,"time_window":1,"rejected_msg":""}`, `property "rejected_msg" validation failed: string too short`},
		{"policy", `{"count":1,"time_window":1,"policy":"memcached"}`, `property "policy" validation failed: matches none of the enum values`},
		{"unsupported key var", `{"count":1,"time_window":1,"key":"request_body"}`, `property "key" validation failed: variable "request_body" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), nil)
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// TestFixedWindow: APISIX's limit-count.t TEST 4 (count 2: 200, 200, 503) with the quota
// headers, the window starting at the first request and a new one after time_window.
func TestFixedWindow(t *testing.T) {
	clk := newClock()
	tests := []struct {
		name  string
		conf  string
		steps []struct {
			after  time.Duration
			status int
			quota  string
			body   string
		}
	}{}
	_ = tests
	type step struct {
		after  time.Duration
		status int
		quota  string
	}
	for _, tt := range []struct {
		name, conf string
		body       string
		steps      []step
	}{
		{"defaults", `{"count":2,"time_window":60}`, "", []step{
			{0, 200, "2 1 60"}, {500 * time.Millisecond, 200, "2 0 59.5"}, {0, 503, "2 0 59.5"},
			{59 * time.Second, 503, "2 0 0.5"}, {499 * time.Millisecond, 503, "2 0 0"},
			{time.Millisecond, 200, "2 1 60"}, {0, 200, "2 0 60"}, {0, 503, "2 0 60"},
		}},
		{"rejected_code and msg", `{"count":1,"time_window":10,"rejected_code":429,"rejected_msg":"slow down"}`,
			`{"error_msg":"slow down"}` + "\n", []step{{0, 200, "1 0 10"}, {3333 * time.Millisecond, 429, "1 0 6.66"}}},
		{"no quota header", `{"count":1,"time_window":10,"show_limit_quota_header":false}`, "", []step{{0, 200, ""}, {0, 503, ""}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := compile(t, clk.plugin(), tt.conf, nil)
			r := request("10.0.0.1", nil)
			for i, s := range tt.steps {
				clk.add(s.after)
				st, q := hit(c, r)
				if st != s.status || q != s.quota {
					t.Fatalf("step %d: %d %q, want %d %q", i, st, q, s.status, s.quota)
				}
				if st != 200 && tt.body != "" {
					if rep := c.Access(r); string(rep.Body) != tt.body {
						t.Fatalf("body %q, want %q", rep.Body, tt.body)
					}
				}
			}
		})
	}
}

// TestSlidingWindow: APISIX's sliding window (limit-count-sliding.t): the previous window's
// count weighs in by the share of it still inside the sliding window.
func TestSlidingWindow(t *testing.T) {
	clk := newClock()
	start := time.Unix(1_800_000_000, 0) // a multiple of 10 s
	clk.set(start)
	c := compile(t, clk.plugin(), `{"count":4,"time_window":10,"window_type":"sliding"}`, nil)
	r := request("10.0.0.1", nil)
	type step struct {
		at     time.Duration
		status int
		quota  string
	}
	for i, s := range []step{
		{0, 200, "4 3 10"},
		{1 * time.Second, 200, "4 2 9"},
		{2 * time.Second, 200, "4 1 8"},
		{3 * time.Second, 200, "4 0 7"},
		{4 * time.Second, 503, "4 0 6"}, // cur = 4: rejected until the window ends
		// Next window, 2.5 s in: the last window's 4 weigh 4 * 7.5/10 = 3, so one more is admitted.
		{12500 * time.Millisecond, 200, "4 0 7.5"},
		// cur 1 + 3 = 4: rejected; admitted again when 4*(t/10) + 1 < 4, in 7.5 - 7.5 = 0... the
		// estimate reaches the limit: delay = remaining - (limit-cur)/rate = 7.5 - 3/0.4 = 0.
		{12500 * time.Millisecond, 503, "4 0 0"},
		{15 * time.Second, 200, "4 0 5"}, // 4 * 0.5 = 2, cur 1 → admitted, cur 2, remaining floor(4-2-2) = 0
		{15 * time.Second, 503, "4 0 0"},
		{30 * time.Second, 200, "4 3 10"}, // two windows on: nothing carried over
	} {
		clk.set(start.Add(s.at))
		st, q := hit(c, r)
		if st != s.status || q != s.quota {
			t.Fatalf("step %d (t=%v): %d %q, want %d %q", i, s.at, st, q, s.status, s.quota)
		}
	}
}

// TestRequestTime: without a clock of its own, limit-count counts a request at its time
// (RequestCtx.Time, read when its head was), not at the time its access phase runs: a request
// whose time opened the window has the whole window left, however late it is counted again.
func TestRequestTime(t *testing.T) {
	c := compile(t, Plugin, `{"count":10,"time_window":60}`, nil)
	r := request("10.0.0.1", nil) // its time: now, and it stays so
	for i, want := range []string{"10 9 60", "10 8 60", "10 7 60"} {
		if st, q := hit(c, r); st != 200 || q != want {
			t.Fatalf("hit %d: %d %q, want 200 %q", i, st, q, want)
		}
	}
}

// TestOutOfOrderTimes: a request whose time is earlier than that of one already counted (each
// request counts at its own time, and they overtake each other) counts in the window that is,
// never opening an earlier one again: the fixed window's reset is at most the window, and the
// sliding window keeps the later window's count.
func TestOutOfOrderTimes(t *testing.T) {
	clk := newClock()
	start := time.Unix(1_800_000_000, 0) // a multiple of 10 s
	t.Run("fixed", func(t *testing.T) {
		c := compile(t, clk.plugin(), `{"count":3,"time_window":10}`, nil)
		r := request("10.0.0.1", nil)
		for i, s := range []struct {
			at    time.Duration
			quota string
		}{{5 * time.Second, "3 2 10"}, {4 * time.Second, "3 1 10"}, {6 * time.Second, "3 0 9"}} {
			clk.set(start.Add(s.at))
			if st, q := hit(c, r); st != 200 || q != s.quota {
				t.Fatalf("hit %d: %d %q, want 200 %q", i, st, q, s.quota)
			}
		}
	})
	t.Run("sliding", func(t *testing.T) {
		c := compile(t, clk.plugin(), `{"count":2,"time_window":10,"window_type":"sliding"}`, nil)
		r := request("10.0.0.1", nil)
		for i, s := range []struct {
			at     time.Duration
			status int
			quota  string
		}{
			{25 * time.Second, 200, "2 1 5"},
			{19 * time.Second, 200, "2 0 10"}, // counted in the window of 20-30 s, at its start
			{25 * time.Second, 503, "2 0 5"},  // that window's 2: rejected
		} {
			clk.set(start.Add(s.at))
			if st, q := hit(c, r); st != s.status || q != s.quota {
				t.Fatalf("hit %d (t=%v): %d %q, want %d %q", i, s.at, st, q, s.status, s.quota)
			}
		}
	})
}

// in4Bytes gives r's IPv4 client address in its 4-byte form (request's is the 16-byte one).
func in4Bytes(r *plugin.Request) *plugin.Request {
	a := r.Ctx.RemoteAddr().(*net.TCPAddr)
	r.Ctx.SetRemoteAddr(&net.TCPAddr{IP: a.IP.To4(), Port: a.Port})
	return r
}

// TestKeys: the key a request is counted under; a key with no value counts under the client
// address.
func TestKeys(t *testing.T) {
	clk := newClock()
	jack := plugin.NewConsumer("jack", "", "", nil, false)
	for _, tt := range []struct {
		name, conf string
		a, b       *plugin.Request // b shares a's counter when same
		same       bool
	}{
		{"remote_addr by default", `{}`, request("10.0.0.1", nil), request("10.0.0.2", nil), false},
		{"remote_addr same", `{}`, request("10.0.0.1", nil), request("10.0.0.1", nil), true},
		{"remote_addr IPv4 in 4 and 16 bytes", `{}`, request("10.0.0.1", nil), in4Bytes(request("10.0.0.1", nil)), true},
		{"remote_addr IPv6", `{}`, request("2001:db8::1", nil), request("2001:db8::2", nil), false},
		{"remote_addr IPv6 same", `{}`, request("2001:db8::1", nil), request("2001:db8::1", nil), true},
		{"header var", `{"key":"http_x_user"}`, request("10.0.0.1", vars{"http_x_user": "u"}), request("10.0.0.2", vars{"http_x_user": "u"}), true},
		{"header var differs", `{"key":"http_x_user"}`, request("10.0.0.1", vars{"http_x_user": "u"}), request("10.0.0.1", vars{"http_x_user": "v"}), false},
		{"missing var: client address", `{"key":"http_x_user"}`, request("10.0.0.1", nil), request("10.0.0.2", nil), false},
		{"combination", `{"key":"$http_a-$http_b","key_type":"var_combination"}`,
			request("10.0.0.1", vars{"http_a": "1", "http_b": "2"}), request("10.0.0.2", vars{"http_a": "1", "http_b": "2"}), true},
		{"combination default", `{"key":"${http_a ?? none}","key_type":"var_combination"}`,
			request("10.0.0.1", nil), request("10.0.0.2", nil), true},
		{"combination none resolved", `{"key":"$http_a $http_b","key_type":"var_combination"}`,
			request("10.0.0.1", nil), request("10.0.0.2", nil), false},
		{"constant", `{"key":"all","key_type":"constant"}`, request("10.0.0.1", nil), request("10.0.0.2", nil), true},
		{"consumer_name", `{"key":"consumer_name"}`, withConsumer(request("10.0.0.1", nil), jack), withConsumer(request("10.0.0.2", nil), jack), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := strings.TrimSuffix(tt.conf, "}")
			if conf != "{" {
				conf += ","
			}
			c := compile(t, clk.plugin(), conf+`"count":1,"time_window":60}`, nil)
			hit(c, tt.a)
			st, _ := hit(c, tt.b)
			if got := st == 503; got != tt.same {
				t.Fatalf("second request %d: same counter %v, want %v", st, got, tt.same)
			}
		})
	}
}

func withConsumer(r *plugin.Request, c *plugin.Consumer) *plugin.Request {
	r.Consumer = c
	return r
}

// TestCountersAcrossBuilds: the counter survives a build that leaves the conf as it was, starts
// afresh when the conf changes, is its object's own, and is shared by a group; the state of
// confs no snapshot holds any more is dropped.
func TestCountersAcrossBuilds(t *testing.T) {
	clk := newClock()
	store := &plugin.Store{}
	p := clk.plugin()
	env1 := &plugin.Env{Key: "/apisix/routes/1", Store: store}
	env2 := &plugin.Env{Key: "/apisix/routes/2", Store: store}
	r := request("10.0.0.1", nil)
	const conf = `{"count":2,"time_window":60}`
	for _, tt := range []struct {
		name  string
		first *Conf
		next  *Conf
		want  int // status of the next conf's first request after two on the first
	}{
		{"unchanged conf keeps its counter", compile(t, p, conf, env1), compile(t, p, conf, env1), 503},
		{"changed conf starts afresh", compile(t, p, conf, env1), compile(t, p, `{"count":2,"time_window":61}`, env1), 200},
		{"another route counts apart", compile(t, p, conf, env1), compile(t, p, conf, env2), 200},
		{"a group is shared", compile(t, p, `{"count":2,"time_window":60,"group":"g"}`, env1),
			compile(t, p, `{"count":2,"time_window":60,"group":"g"}`, env2), 503},
		{"sliding unchanged keeps its counter", compile(t, p, `{"count":2,"time_window":60,"window_type":"sliding"}`, env2),
			compile(t, p, `{"count":2,"time_window":60,"window_type":"sliding"}`, env2), 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk.add(time.Hour) // every window before is over
			hit(tt.first, r)
			hit(tt.first, r)
			if st, _ := hit(tt.next, r); st != tt.want {
				t.Fatalf("%d, want %d", st, tt.want)
			}
		})
	}
	testutil.WaitFor(t, "the state of unused confs to be dropped", 10*time.Second, func() bool {
		runtime.GC()
		return store.Len() == 0
	})
}

// TestExactUnderConcurrency: count requests are admitted, not one more, however many goroutines
// race for one key; with a window that ends mid-run each window admits count.
func TestExactUnderConcurrency(t *testing.T) {
	for _, conf := range []string{
		`{"count":300,"time_window":60}`,
		`{"count":300,"time_window":60,"key":"k","key_type":"constant"}`,
		`{"count":300,"time_window":60,"window_type":"sliding"}`,
	} {
		t.Run(conf, func(t *testing.T) {
			clk := newClock()
			clk.set(time.Unix(1_800_000_000, 0))
			c := compile(t, clk.plugin(), conf, nil)
			var ok atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := request("10.0.0.1", nil)
					for range 200 {
						if rep := c.Access(r); rep.Status == 0 {
							ok.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 300 {
				t.Fatalf("%d admitted, want 300", ok.Load())
			}
		})
	}
}

// TestTableSweeps: the keys of windows long over are swept as new keys come.
func TestTableSweeps(t *testing.T) {
	clk := newClock()
	c := compile(t, clk.plugin(), `{"count":1,"time_window":1}`, nil)
	l := c.back.(*fixedLocal)
	for i := range 20000 {
		ip := net.IPv4(10, 1, byte(i>>8), byte(i)).String()
		hit(c, request(ip, nil))
		clk.add(10 * time.Millisecond)
	}
	if n := l.keys.Len(); n > 2000 {
		t.Fatalf("%d keys held, want the ones of the last seconds only", n)
	}
}

func TestAppendReset(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{{60, "60"}, {59.5, "59.5"}, {59.999, "59.99"}, {0.004, "0"}, {-1, "0"}, {6.6666, "6.66"}} {
		if got := string(AppendReset(nil, tt.in)); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAppendResetMatchesFloatFormat: the integer formatting writes what the floored value
// printed with %.14g reads, over every hundredth of the first 1000 s, windows' edges, random
// values up to a year of seconds and the large ones past the integer path.
func TestAppendResetMatchesFloatFormat(t *testing.T) {
	ref := func(reset float64) string {
		v := float64(int64(reset*100)) / 100
		if reset < 0 {
			v = 0
		}
		return strconv.FormatFloat(v, 'g', 14, 64)
	}
	in := []float64{0, -0.001, 0.001, 0.29, 0.57, 1.005, 59.995, 86400, 31536000, maxFastReset - 0.001, maxFastReset, 1e12 + 0.25, 1e15}
	for i := range 100000 {
		in = append(in, float64(i)/100, float64(i)/100+0.005)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		in = append(in, rnd.Float64()*31536000)
	}
	for _, v := range in {
		if got, want := string(AppendReset(nil, v)), ref(v); got != want {
			t.Fatalf("%v: %q, want %q", v, got, want)
		}
	}
}

func TestCompileMetadata(t *testing.T) {
	mc := Plugin.(plugin.MetadataCompiler)
	for _, tt := range []struct {
		name, conf string
		want       Headers
		err        string
	}{
		{"defaults", `{}`, Headers{HeaderLimit, HeaderRemaining, HeaderReset}, ""},
		{"renamed", `{"limit_header":"X-L","remaining_header":"X-R","reset_header":"X-Z"}`, Headers{"X-L", "X-R", "X-Z"}, ""},
		{"partly", `{"reset_header":"X-Z"}`, Headers{HeaderLimit, HeaderRemaining, "X-Z"}, ""},
		{"wrong type", `{"limit_header":1}`, Headers{}, `property "limit_header" validation failed: wrong type: expected string, got number`},
		{"CR/LF", `{"limit_header":"X-A\r\nSet-Cookie: a"}`, Headers{}, `property "limit_header" validation failed`},
		{"empty", `{"remaining_header":""}`, Headers{}, `property "remaining_header" validation failed`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := mc.CompileMetadata([]byte(tt.conf))
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if err == nil && *v.(*Headers) != tt.want {
				t.Errorf("%+v, want %+v", *v.(*Headers), tt.want)
			}
		})
	}
}

// TestRules: APISIX 3.x rules: each rule whose key resolves counts the request under its own
// limit and sets its own headers (X-<prefix>-RateLimit-*); the first rule over its limit
// rejects; a request no rule applies to is a 500 (or let through with allow_degradation).
func TestRules(t *testing.T) {
	clk := newClock()
	conf := compile(t, clk.plugin(), `{"rules":[{"count":3,"time_window":60,"key":"$remote_addr"},`+
		`{"count":1,"time_window":10,"key":"user-$http_x_user","header_prefix":"user"}],"rejected_code":429}`, nil)
	type want struct {
		status            int
		ipHeaders, userHd string // "limit remaining", "" for absent
	}
	headers := func(r *plugin.Request, pfx string) string {
		h := &r.Ctx.Response.Header
		if v := h.Peek("X-" + pfx + "-RateLimit-Limit"); v != nil {
			return string(v) + " " + string(h.Peek("X-"+pfx+"-RateLimit-Remaining"))
		}
		return ""
	}
	for i, tt := range []struct {
		ip, user string
		want     want
	}{
		{"10.0.0.1", "", want{200, "3 2", ""}},         // the user rule does not apply: no variable
		{"10.0.0.1", "alice", want{200, "3 1", "1 0"}}, // both count
		{"10.0.0.1", "alice", want{429, "3 0", "1 0"}}, // alice over her limit
		{"10.0.0.1", "bob", want{429, "3 0", ""}},      // the address is over its limit first
		{"10.0.0.2", "bob", want{200, "3 2", "1 0"}},
	} {
		r := request(tt.ip, vars{"http_x_user": tt.user})
		if tt.user == "" {
			r.Vars = vars{}
		}
		r.Ctx.Response.Reset()
		rep := conf.Access(r)
		end(r)
		st := rep.Status
		if st == 0 {
			st = 200
		}
		if got := (want{st, headers(r, "1"), headers(r, "user")}); got != tt.want {
			t.Errorf("request %d (%s, %q): %+v, want %+v", i, tt.ip, tt.user, got, tt.want)
		}
	}
	// Ten seconds later alice's window has ended.
	clk.add(10 * time.Second)
	if rep := conf.Access(request("10.0.0.3", vars{"http_x_user": "alice"})); rep.Status != 0 {
		t.Errorf("alice after her window: %d", rep.Status)
	}

	none := compile(t, clk.plugin(), `{"rules":[{"count":1,"time_window":10,"key":"$http_x_user"}]}`, nil)
	if rep := none.Access(request("10.0.0.1", vars{})); rep.Status != 500 {
		t.Errorf("no rule applies: %d, want 500", rep.Status)
	}
	degrade := compile(t, clk.plugin(), `{"rules":[{"count":1,"time_window":10,"key":"$http_x_user"}],"allow_degradation":true}`, nil)
	if rep := degrade.Access(request("10.0.0.1", vars{})); rep.Status != 0 {
		t.Errorf("no rule applies, allow_degradation: %d, want through", rep.Status)
	}

	// plugin_metadata names get the prefix too.
	md, _ := clk.plugin().(plugin.MetadataCompiler).CompileMetadata([]byte(`{"limit_header":"X-AI-RateLimit-Limit","remaining_header":"Left","reset_header":"X-AI-RateLimit-Reset"}`))
	r := request("10.0.0.9", vars{})
	r.Metadata = plugin.NewMetadata(map[string]any{Name: md})
	conf.Access(r)
	end(r)
	h := &r.Ctx.Response.Header
	if string(h.Peek("X-AI-1-RateLimit-Limit")) != "3" || string(h.Peek("Left")) != "2" || h.Peek("X-AI-1-RateLimit-Reset") == nil {
		t.Errorf("metadata names with the rule prefix: %s", h.String())
	}
}
