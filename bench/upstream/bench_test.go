package upstream

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func BenchmarkHandler(b *testing.B) {
	s := New()
	for _, path := range []string{"/bench", "/bench/1k", "/bench/64k"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(path)
			for b.Loop() {
				ctx.Response.Reset()
				s.Handler(&ctx)
			}
		})
	}
}
