package limitconn

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

type vars struct{}

func (vars) Eval(*fasthttp.RequestCtx, *expr.Expr) bool { return true }
func (vars) AppendVar(dst []byte, ctx *fasthttp.RequestCtx, x *expr.Var) ([]byte, bool) {
	if x.Kind == expr.VarRemoteAddr {
		a, _ := netip.AddrFromSlice(ctx.RemoteIP())
		return a.Unmap().AppendTo(dst), true
	}
	return dst, false
}

func request(ip string) *plugin.Request {
	ctx := new(fasthttp.RequestCtx)
	var req fasthttp.Request
	req.SetRequestURI("/r")
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}, nil)
	return &plugin.Request{Ctx: ctx, Vars: vars{}}
}

func TestCompile(t *testing.T) {
	for _, tt := range []struct{ name, conf, err string }{
		{"minimal", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, ""},
		{"all", `{"conn":2,"burst":1,"default_conn_delay":1,"key":"$remote_addr","key_type":"var_combination","only_use_default_delay":true,"rejected_code":429,"rejected_msg":"m","allow_degradation":true}`, ""},
		{"no delay", `{"conn":1,"burst":0,"key":"remote_addr"}`, "value should match only one schema, but matches none"},
		{"conn 0", `{"conn":0,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, `property "conn" validation failed`},
		{"negative burst", `{"conn":1,"burst":-1,"default_conn_delay":0.1,"key":"remote_addr"}`, `property "burst" validation failed`},
		{"delay 0", `{"conn":1,"burst":0,"default_conn_delay":0,"key":"remote_addr"}`, `property "default_conn_delay" validation failed`},
		{"conn variable", `{"conn":"$http_n","burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, `a variable is not supported`},
		{"rules", `{"default_conn_delay":0.1,"rules":[]}`, `"rules" is not supported`},
		{"redis", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis"}`, `redis is not supported`},
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

// TestSlots: conn admitted at once, up to burst more after default_conn_delay *
// floor((n-1)/conn), the rest rejected; the log phase gives a slot back, once.
func TestSlots(t *testing.T) {
	var delays []time.Duration
	inst, err := New(func(d time.Duration) { delays = append(delays, d) }).Compile(
		[]byte(`{"conn":2,"burst":2,"default_conn_delay":0.5,"key":"remote_addr","rejected_code":429}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := inst.(*Conf)
	var held []*plugin.Request
	for i, want := range []struct {
		status int
		delay  time.Duration
	}{{0, 0}, {0, 0}, {0, 500 * time.Millisecond}, {0, 500 * time.Millisecond}, {429, 0}} {
		delays = nil
		r := request("10.0.0.1")
		rep := c.Access(r)
		d := time.Duration(0)
		if len(delays) == 1 {
			d = delays[0]
		}
		if rep.Status != want.status || d != want.delay {
			t.Fatalf("request %d: %d delay %v, want %d %v", i+1, rep.Status, d, want.status, want.delay)
		}
		if rep.Status == 0 {
			held = append(held, r)
		}
	}
	if rep := c.Access(request("10.0.0.2")); rep.Status != 0 {
		t.Fatalf("another key: %d", rep.Status)
	}
	c.Log(held[0])
	c.Log(held[0]) // a second log phase gives nothing back
	if rep := c.Access(request("10.0.0.1")); rep.Status != 0 {
		t.Fatalf("after one ended: %d, want admitted", rep.Status)
	}
	if rep := c.Access(request("10.0.0.1")); rep.Status != 429 {
		t.Fatalf("full again: %d, want 429", rep.Status)
	}
}
