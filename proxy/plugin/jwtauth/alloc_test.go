//go:build !race

package jwtauth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// TestRewriteAllocs: an HS256 token from the header, the query or a cookie authenticates
// without allocating once the pools are warm.
func TestRewriteAllocs(t *testing.T) {
	cs := index(t)
	tok := sign(t, "HS256", []byte("s3cr3t"), jwt.MapClaims{"key": "HS256", "exp": time.Now().Unix() + 3600})
	inst, _ := Plugin.Compile([]byte(`{}`), nil)
	conf := inst.(*Conf)
	tests := []struct{ name, uri, header, value string }{
		{"header", "/x", "Authorization", "Bearer " + tok},
		{"query", "/x?jwt=" + tok, "", ""},
		{"cookie", "/x", "Cookie", "jwt=" + tok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tmpl fasthttp.Request
			tmpl.SetRequestURI(tt.uri)
			if tt.header != "" {
				tmpl.Header.Set(tt.header, tt.value)
			}
			var ctx fasthttp.RequestCtx
			r := &plugin.Request{}
			run := func() {
				tmpl.CopyTo(&ctx.Request)
				r.Reset()
				r.Ctx, r.Consumers = &ctx, cs
				if rep := conf.Rewrite(r); rep.Status != 0 {
					t.Fatalf("%d %s", rep.Status, rep.Body)
				}
			}
			run()
			if n := testing.AllocsPerRun(200, run); n != 0 {
				t.Errorf("%v allocations per request, want 0", n)
			}
		})
	}
}
