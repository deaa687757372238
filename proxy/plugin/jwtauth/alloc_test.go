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
// without allocating once the pools are warm, from the token cache and verified (a conf
// without the cache: what a token not yet cached costs, but for the cache's new entry).
func TestRewriteAllocs(t *testing.T) {
	cs := index(t)
	tok := sign(t, "HS256", []byte("s3cr3t"), jwt.MapClaims{"key": "HS256", "exp": time.Now().Unix() + 3600})
	tests := []struct{ name, uri, header, value string }{
		{"header", "/x", "Authorization", "Bearer " + tok},
		{"query", "/x?jwt=" + tok, "", ""},
		{"cookie", "/x", "Cookie", "jwt=" + tok},
	}
	for _, cached := range []bool{true, false} {
		inst, _ := Plugin.Compile([]byte(`{}`), nil)
		conf := inst.(*Conf)
		name := "cached"
		if !cached {
			conf.cache, name = nil, "verified"
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
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
				if cached && conf.cache.get([]byte(tok), cs) == nil {
					t.Error("the token is not cached")
				}
			})
		}
	}
}
