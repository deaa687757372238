package limitreq

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

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

func request(ip string) *plugin.Request {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/r")
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}, nil)
	return &plugin.Request{Ctx: &ctx, Vars: vars(nil)}
}

func TestCompile(t *testing.T) {
	for _, tt := range []struct{ name, conf, err string }{
		{"minimal", `{"rate":1,"burst":0,"key":"remote_addr"}`, ""},
		{"all", `{"rate":0.5,"burst":2.5,"key":"$remote_addr $http_x","key_type":"var_combination","rejected_code":429,"rejected_msg":"m","nodelay":true,"allow_degradation":true,"policy":"local"}`, ""},
		{"no rate", `{"burst":0,"key":"remote_addr"}`, `property "rate" is required`},
		{"no key", `{"rate":1,"burst":0}`, `property "key" is required`},
		{"rate 0", `{"rate":0,"burst":0,"key":"remote_addr"}`, `property "rate" validation failed`},
		{"negative burst", `{"rate":1,"burst":-1,"key":"remote_addr"}`, `property "burst" validation failed`},
		{"rate type", `{"rate":"1","burst":0,"key":"remote_addr"}`, `property "rate" validation failed: wrong type: expected number, got string`},
		{"constant key", `{"rate":1,"burst":0,"key":"k","key_type":"constant"}`, `property "key_type" validation failed: matches none of the enum values`},
		{"redis", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis"}`, `property "redis_host" is required`},
		{"rejected_code", `{"rate":1,"burst":0,"key":"remote_addr","rejected_code":600}`, `property "rejected_code" validation failed`},
	} {
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

// fake is a settable clock and a sleep that records the delays.
type fake struct {
	mu     sync.Mutex
	now    time.Time
	delays []time.Duration
}

func (f *fake) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fake) Sleep(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delays = append(f.delays, d)
}
func (f *fake) add(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

// TestLeakyBucket: resty.limit.req's bucket: excess + 1 per request, draining at rate; past
// burst rejected; admitted with a wait of excess/rate (none with nodelay).
func TestLeakyBucket(t *testing.T) {
	type step struct {
		after  time.Duration
		status int
		delay  time.Duration // -1: no sleep
	}
	for _, tt := range []struct {
		name, conf string
		steps      []step
	}{
		{"rate 2 burst 1", `{"rate":2,"burst":1,"key":"remote_addr"}`, []step{
			{0, 200, -1}, {0, 200, 500 * time.Millisecond}, {0, 503, -1},
			{250 * time.Millisecond, 503, -1}, // excess 1 - 0.5 + 1 = 1.5 > 1
			{250 * time.Millisecond, 200, 500 * time.Millisecond},
			{2 * time.Second, 200, -1},
		}},
		{"nodelay", `{"rate":2,"burst":1,"key":"remote_addr","nodelay":true}`, []step{
			{0, 200, -1}, {0, 200, -1}, {0, 503, -1},
		}},
		{"burst 0, rejected_code and msg", `{"rate":10,"burst":0,"key":"remote_addr","rejected_code":429,"rejected_msg":"slow"}`, []step{
			{0, 200, -1}, {50 * time.Millisecond, 429, -1}, {50 * time.Millisecond, 200, -1},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{now: time.Unix(1_800_000_000, 0)}
			inst, err := New(f.Now, f.Sleep).Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			c := inst.(*Conf)
			r := request("10.0.0.1")
			for i, s := range tt.steps {
				f.add(s.after)
				f.delays = nil
				rep := c.Access(r)
				st := rep.Status
				if st == 0 {
					st = 200
				}
				delay := time.Duration(-1)
				if len(f.delays) == 1 {
					delay = f.delays[0]
				}
				if st != s.status || delay != s.delay {
					t.Fatalf("step %d: %d delay %v, want %d %v", i, st, delay, s.status, s.delay)
				}
				if st == 429 && string(rep.Body) != `{"error_msg":"slow"}`+"\n" {
					t.Fatalf("body %q", rep.Body)
				}
			}
		})
	}
}

// TestDelayDoesNotBlock: while a request waits out its delay, other requests, of its key and of
// others, are decided at once.
func TestDelayDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	waiting := make(chan struct{})
	c := func() *Conf {
		inst, err := New(nil, func(time.Duration) { close(waiting); <-release }).Compile([]byte(`{"rate":1,"burst":1,"key":"remote_addr"}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		return inst.(*Conf)
	}()
	c.Access(request("10.0.0.1")) // no delay
	done := make(chan plugin.Reply)
	go func() { done <- c.Access(request("10.0.0.1")) }() // delayed about 1 s, held in sleep
	<-waiting
	if rep := c.Access(request("10.0.0.1")); rep.Status != 503 {
		t.Errorf("same key while one waits: %d, want 503 at once", rep.Status)
	}
	if rep := c.Access(request("10.0.0.2")); rep.Status != 0 {
		t.Errorf("another key while one waits: %d, want admitted at once", rep.Status)
	}
	close(release)
	if rep := <-done; rep.Status != 0 {
		t.Errorf("the delayed request: %d, want admitted", rep.Status)
	}
}
