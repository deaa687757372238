package echo

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/bodytest"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"body", `{"body":"x"}`, ""},
		{"before", `{"before_body":"x"}`, ""},
		{"after and headers", `{"after_body":"x","headers":{"X-A":"1","X-B":2}}`, ""},
		{"empty", `{}`, "expect object to have at least 1 properties"},
		{"headers only", `{"headers":{"X-A":"1"}}`, "object matches none of the required"},
		{"body type", `{"body":1}`, `property "body" validation failed: wrong type: expected string, got number`},
		{"header type", `{"body":"x","headers":{"X-A":true}}`, "invalid type as header value"},
		{"header name", `{"body":"x","headers":{"X A":"1"}}`, "invalid field character in header"},
		{"empty headers", `{"body":"x","headers":{}}`, "expect object to have at least 1 properties"},
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

func TestEcho(t *testing.T) {
	up := "upstream body"
	tests := []struct {
		name, conf, want string
		taken            int
	}{
		{"before", `{"before_body":"<"}`, "<" + up, len(up)},
		{"after", `{"after_body":">"}`, up + ">", len(up)},
		{"both", `{"before_body":"<","after_body":">"}`, "<" + up + ">", len(up)},
		{"body replaces", `{"body":"new"}`, "new", 4},
		{"body wrapped", `{"before_body":"<","body":"new","after_body":">"}`, "<new>", 4},
		{"hostile header", `{"body":"x","headers":{"X-E":"a\r\nX-Injected: 1"}}`, "x", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Response.Header.Set("ETag", "e")
			f := inst.(plugin.BodyFilterer).BodyFilter(&plugin.Request{Ctx: &ctx})
			out, taken := bodytest.Run(f, []byte(up), 4)
			if string(out) != tt.want || taken > tt.taken {
				t.Errorf("%q after %d bytes, want %q after at most %d", out, taken, tt.want, tt.taken)
			}
			if len(ctx.Response.Header.Peek("ETag")) != 0 {
				t.Error("ETag kept")
			}
			if tt.name == "hostile header" {
				if got := string(ctx.Response.Header.Peek("X-E")); got != "a%0D%0AX-Injected: 1" {
					t.Errorf("X-E %q", got)
				}
			}
		})
	}
}
