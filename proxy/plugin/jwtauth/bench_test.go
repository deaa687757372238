package jwtauth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// BenchmarkRewrite: the plugin alone, per algorithm, a token in the Authorization header.
func BenchmarkRewrite(b *testing.B) {
	cs := index(b)
	k := testKeys()
	inst, _ := Plugin.Compile([]byte(`{}`), nil)
	conf := inst.(*Conf)
	exp := time.Now().Unix() + 86400
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			var key any = []byte("s3cr3t")
			if alg != "HS256" {
				key = k.private[alg]
			}
			var tmpl fasthttp.Request
			tmpl.SetRequestURI("/x")
			tmpl.Header.Set("Authorization", "Bearer "+sign(b, alg, key, jwt.MapClaims{"key": alg, "exp": exp}))
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
