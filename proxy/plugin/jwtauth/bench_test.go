package jwtauth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// BenchmarkRewrite: the plugin alone, per algorithm, a token in the Authorization header,
// served from the token cache ("cached") and verified each time (a conf without the cache).
func BenchmarkRewrite(b *testing.B) {
	cs := index(b)
	k := testKeys()
	exp := time.Now().Unix() + 86400
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		var key any = []byte("s3cr3t")
		if alg != "HS256" {
			key = k.private[alg]
		}
		tok := sign(b, alg, key, jwt.MapClaims{"key": alg, "exp": exp})
		for _, mode := range []string{"cached", "verified"} {
			b.Run(alg+"/"+mode, func(b *testing.B) {
				inst, _ := Plugin.Compile([]byte(`{}`), nil)
				conf := inst.(*Conf)
				if mode == "verified" {
					conf.cache = nil
				}
				var tmpl fasthttp.Request
				tmpl.SetRequestURI("/x")
				tmpl.Header.Set("Authorization", "Bearer "+tok)
				var ctx fasthttp.RequestCtx
				r := &plugin.Request{}
				b.ReportAllocs()
				for b.Loop() {
					tmpl.CopyTo(&ctx.Request)
					r.Reset()
					r.Ctx, r.Consumers = &ctx, cs
					if rep := conf.Rewrite(r); rep.Status != 0 {
						b.Fatalf("%d %s", rep.Status, rep.Body)
					}
				}
			})
		}
	}
}
