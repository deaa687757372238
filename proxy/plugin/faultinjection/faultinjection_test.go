package faultinjection

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"abort", `{"abort":{"http_status":403,"body":"no $remote_addr","headers":{"X-A":"1","X-B":2},"percentage":50,"vars":[[["http_x","==","1"]]]}}`, ""},
		{"delay", `{"delay":{"duration":0.5,"percentage":100}}`, ""},
		{"empty", `{}`, "expect object to have at least 1 properties"},
		{"no status", `{"abort":{"body":"x"}}`, `property "abort" validation failed: property "http_status" is required`},
		{"low status", `{"abort":{"http_status":199}}`, `property "abort" validation failed: property "http_status" validation failed: expected 199 to be at least 200`},
		{"percentage", `{"abort":{"http_status":200,"percentage":101}}`, `property "percentage" validation failed: expected 101 to be at most 100`},
		{"no duration", `{"delay":{}}`, `property "delay" validation failed: property "duration" is required`},
		{"negative duration", `{"delay":{"duration":-1}}`, `property "duration" validation failed: expected -1 to be at least 0`},
		{"duration type", `{"delay":{"duration":"1"}}`, `property "duration" validation failed: wrong type: expected number, got string`},
		{"vars not arrays", `{"abort":{"http_status":200,"vars":["x"]}}`, `property "vars" validation failed: failed to validate item 1: wrong type: expected array`},
		{"bad vars", `{"abort":{"http_status":200,"vars":[[["http_x","~~","("]]]}}`, "failed to create vars expression"},
		{"header value", `{"abort":{"http_status":200,"headers":{"X":true}}}`, `value should match only one schema, but matches none`},
		{"header name", `{"abort":{"http_status":200,"headers":{"X:Y":"1"}}}`, `invalid header name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), nil)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// fakeVars serves variables by name; Eval is true when the request has the header X: 1.
type fakeVars map[string]string

func (fakeVars) Eval(ctx *fasthttp.RequestCtx, _ *expr.Expr) bool {
	return string(ctx.Request.Header.Peek("X")) == "1"
}

func (f fakeVars) AppendVar(dst []byte, _ *fasthttp.RequestCtx, v *expr.Var) ([]byte, bool) {
	s, ok := f[v.Name]
	return append(dst, s...), ok
}

func TestRewrite(t *testing.T) {
	vars := fakeVars{"remote_addr": "192.0.2.1", "evil": "a\r\nX-Injected: 1"}
	tests := []struct {
		name, conf string
		x          bool // the request matches the vars
		status     int
		body       string // "<nil>": nginx's page
		slept      time.Duration
		headers    map[string]string
	}{
		{"abort", `{"abort":{"http_status":403,"body":"from $remote_addr\n","headers":{"X-A":"$evil","X-N":7}}}`, false, 403, "from 192.0.2.1\n", 0,
			map[string]string{"X-A": "a%0D%0AX-Injected: 1", "X-N": "7", "X-Injected": ""}},
		{"abort without body", `{"abort":{"http_status":500}}`, false, 500, "<nil>", 0, nil},
		{"abort never", `{"abort":{"http_status":500,"percentage":0}}`, false, 0, "<nil>", 0, nil},
		{"abort vars miss", `{"abort":{"http_status":500,"vars":[[["http_x","==","1"]]]}}`, false, 0, "<nil>", 0, nil},
		{"abort vars hit", `{"abort":{"http_status":500,"vars":[[["http_x","==","1"]]]}}`, true, 500, "<nil>", 0, nil},
		{"delay then abort", `{"delay":{"duration":1.5},"abort":{"http_status":200,"body":"late"}}`, false, 200, "late", 1500 * time.Millisecond, nil},
		{"delay vars miss", `{"delay":{"duration":1,"vars":[[["http_x","==","1"]]]}}`, false, 0, "<nil>", 0, nil},
		{"delay never", `{"delay":{"duration":1,"percentage":0}}`, true, 0, "<nil>", 0, nil},
		{"delay always", `{"delay":{"duration":1,"percentage":100}}`, true, 0, "<nil>", time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var slept time.Duration
			inst.(*Conf).sleeper = func(_ *fasthttp.RequestCtx, d time.Duration) { slept += d }
			var ctx fasthttp.RequestCtx
			if tt.x {
				ctx.Request.Header.Set("X", "1")
			}
			rep := inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx, Vars: vars})
			body := "<nil>"
			if rep.Body != nil {
				body = string(rep.Body)
			}
			if rep.Status != tt.status || body != tt.body || slept != tt.slept {
				t.Errorf("%d %q slept %v, want %d %q slept %v", rep.Status, body, slept, tt.status, tt.body, tt.slept)
			}
			for k, v := range tt.headers {
				if got := string(ctx.Response.Header.Peek(k)); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestPercentage: a 30% abort answers about 30% of many requests.
func TestPercentage(t *testing.T) {
	inst, err := Plugin.Compile([]byte(`{"abort":{"http_status":503,"percentage":30}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range 10000 {
		var ctx fasthttp.RequestCtx
		if inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx}).Status == 503 {
			n++
		}
	}
	if n < 2500 || n > 3500 {
		t.Fatalf("%d of 10000 aborted, want about 3000", n)
	}
}
