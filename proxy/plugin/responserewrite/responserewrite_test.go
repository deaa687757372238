package responserewrite

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/bodytest"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"empty", `{}`, ""},
		{"status", `{"status_code":599}`, `property "status_code" validation failed: expected 599 to be at most 598`},
		{"status low", `{"status_code":100}`, `property "status_code" validation failed: expected 100 to be at least 200`},
		{"status type", `{"status_code":"200"}`, `property "status_code" validation failed: wrong type: expected integer, got string`},
		{"body and filters", `{"body":"x","filters":[{"regex":"a","replace":"b"}]}`, `failed to validate dependent schema for "body"`},
		{"base64", `{"body":"aGVsbG8=","body_base64":true}`, ""},
		{"bad base64", `{"body":"!!","body_base64":true}`, "invalid base64 content"},
		{"empty base64", `{"body_base64":true}`, "invalid base64 content"},
		{"flat headers", `{"headers":{"X-A":"1","X-B":2}}`, ""},
		{"flat header bad value", `{"headers":{"X-A":true}}`, "invalid type as header value"},
		{"ops", `{"headers":{"add":["X-A: 1"],"set":{"X-B":"$remote_addr"},"remove":["Server"]}}`, ""},
		{"add pattern", `{"headers":{"add":["X-A 1"]}}`, `failed to match pattern "^[^:]+:[^:]*[^/]$" with "X-A 1"`},
		{"add ends with slash", `{"headers":{"add":["X-A: a/"]}}`, `failed to match pattern`},
		{"remove pattern", `{"headers":{"remove":["X:A"]}}`, `failed to match pattern "^[^:]+$"`},
		{"empty set", `{"headers":{"set":{}}}`, `expect object to have at least 1 properties`},
		{"set as an array", `{"headers":{"add":["X-A: 1"],"set":["X-B: 2"]}}`, `property "set" validation failed: wrong type: expected object, got array`},
		{"empty headers", `{"headers":{}}`, "object matches none of the required"},
		{"vars", `{"vars":[["http_x","==","1"]]}`, ""},
		{"bad vars", `{"vars":[["http_x","~~","("]]}`, "failed to validate the 'vars' expression"},
		{"vars type", `{"vars":{}}`, `property "vars" validation failed: wrong type: expected array, got object`},
		{"filters", `{"filters":[{"regex":"a(b)","replace":"$1","scope":"global","options":"ijo"}]}`, ""},
		{"filters empty", `{"filters":[]}`, `expect array to have at least 1 items`},
		{"filter no replace", `{"filters":[{"regex":"a"}]}`, `property "replace" is required`},
		{"filter bad scope", `{"filters":[{"regex":"a","replace":"","scope":"all"}]}`, `property "scope" validation failed: matches none of the enum values`},
		{"filter bad regex", `{"filters":[{"regex":"a(","replace":""}]}`, `regex "a(" validation failed: error parsing regexp`},
		{"filter empty regex", `{"filters":[{"regex":"","replace":""}]}`, `string too short`},
		{"max body", `{"max_resp_body_size":0}`, `property "max_resp_body_size" validation failed: expected 0 to be at least 1`},
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

// fakeVars serves variables by name; Eval is true unless "deny" is set.
type fakeVars map[string]string

func (f fakeVars) Eval(*fasthttp.RequestCtx, *expr.Expr) bool { _, deny := f["deny"]; return !deny }

func (f fakeVars) AppendVar(dst []byte, _ *fasthttp.RequestCtx, v *expr.Var) ([]byte, bool) {
	s, ok := f[v.Name]
	return append(dst, s...), ok
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}

func TestRewrite(t *testing.T) {
	vars := fakeVars{"remote_addr": "192.0.2.1", "evil": "a\r\nX-Injected: 1"}
	tests := []struct {
		name, conf string
		vars       fakeVars
		encoding   string
		body       []byte
		status     int
		wantBody   string // "-": the body is not filtered
		taken      int    // -1: all of the body
		headers    map[string]string
	}{
		{"status and headers", `{"status_code":201,"headers":{"add":["X-A: $remote_addr"],"set":{"X-B":"b"},"remove":["X-Gone"]}}`,
			vars, "", []byte("up"), 201, "-", -1, map[string]string{"X-A": "192.0.2.1", "X-B": "b", "X-Gone": "", "Etag": "e1"}},
		{"flat headers", `{"headers":{"X-B":2,"X-C":"$remote_addr"}}`, vars, "", []byte("up"), 200, "-", -1,
			map[string]string{"X-B": "2", "X-C": "192.0.2.1"}},
		{"hostile value", `{"headers":{"set":{"X-E":"$evil"}}}`, vars, "", []byte("up"), 200, "-", -1,
			map[string]string{"X-E": "a%0D%0AX-Injected: 1", "X-Injected": ""}},
		{"vars false", `{"status_code":500,"body":"no","vars":[["http_x","==","1"]]}`, fakeVars{"deny": ""}, "", []byte("up"), 200, "-", -1, nil},
		{"body", `{"body":"new body"}`, vars, "gzip", []byte("up stream body"), 200, "new body", 0,
			map[string]string{"Etag": "", "Last-Modified": "", "Content-Encoding": ""}},
		{"base64 body", `{"body":"aGVsbG8=","body_base64":true}`, vars, "", []byte("x"), 200, "hello", 0, nil},
		{"filter once", `{"filters":[{"regex":"o","replace":"0"}]}`, vars, "", []byte("foo boo"), 200, "f0o boo", -1,
			map[string]string{"Etag": ""}},
		{"filter global with captures", `{"filters":[{"regex":"(\\w)o","replace":"<$1>","scope":"global"}]}`, vars, "", []byte("foo boo"), 200, "<f>o <b>o", -1, nil},
		{"filter options i", `{"filters":[{"regex":"HELLO","replace":"bye","options":"i"}]}`, vars, "", []byte("hello"), 200, "bye", -1, nil},
		{"filters in order", `{"filters":[{"regex":"a","replace":"b"},{"regex":"b","replace":"c","scope":"global"}]}`, vars, "", []byte("ab"), 200, "cc", -1, nil},
		{"filter no match", `{"filters":[{"regex":"z","replace":"y"}]}`, vars, "", []byte("abc"), 200, "abc", -1, nil},
		{"filter gzip body", `{"filters":[{"regex":"world","replace":"there"}]}`, vars, "gzip", gz("hello world"), 200, "hello there", -1,
			map[string]string{"Content-Encoding": ""}},
		{"filter unknown encoding", `{"filters":[{"regex":"a","replace":"b"}]}`, vars, "br", []byte("aaa"), 200, "-", -1,
			map[string]string{"Content-Encoding": "br"}},
		{"filter capped", `{"max_resp_body_size":10,"filters":[{"regex":"a","replace":"b","scope":"global"}]}`, vars, "",
			[]byte(strings.Repeat("a", 100)), 200, strings.Repeat("b", 10), 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Response.Header.Set("X-Gone", "1")
			ctx.Response.Header.Set("ETag", "e1")
			ctx.Response.Header.Set("Last-Modified", "yesterday")
			if tt.encoding != "" {
				ctx.Response.Header.Set("Content-Encoding", tt.encoding)
			}
			f := inst.(plugin.BodyFilterer).BodyFilter(&plugin.Request{Ctx: &ctx, Vars: tt.vars})
			if got := ctx.Response.StatusCode(); got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			for k, v := range tt.headers {
				if got := string(ctx.Response.Header.Peek(k)); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if (f == nil) != (tt.wantBody == "-") {
				t.Fatalf("body filter %v, want one: %v", f, tt.wantBody != "-")
			}
			if f == nil {
				return
			}
			out, taken := bodytest.Run(f, tt.body, 3)
			if string(out) != tt.wantBody {
				t.Errorf("body %q, want %q", out, tt.wantBody)
			}
			want := tt.taken
			if want < 0 {
				want = len(tt.body)
			}
			if taken > want+3 {
				t.Errorf("took %d bytes of the body, want at most %d", taken, want+3)
			}
		})
	}
}

// TestCapHoldsNoMore: a body far larger than max_resp_body_size is never held beyond it.
func TestCapHoldsNoMore(t *testing.T) {
	inst, err := Plugin.Compile([]byte(`{"max_resp_body_size":1000,"filters":[{"regex":"x","replace":"y"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	f := inst.(plugin.BodyFilterer).BodyFilter(&plugin.Request{Ctx: &ctx})
	piece := bytes.Repeat([]byte("a"), 300)
	var done bool
	var out []byte
	for i := 0; i < 100 && !done; i++ {
		out, done = f.Filter(out[:0], piece, false)
		if hb := f.(*heldBody); cap(hb.buf) > 2*1000 {
			t.Fatalf("holds %d bytes", cap(hb.buf))
		}
	}
	if !done || len(out) != 1000 {
		t.Fatalf("done %v after the cap, %d bytes out; want done and 1000", done, len(out))
	}
}
