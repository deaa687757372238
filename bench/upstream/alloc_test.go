//go:build !race

package upstream

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestHandlerAllocs(t *testing.T) {
	s := New()
	for _, path := range []string{"/bench", "/bench/1k", "/bench/64k"} {
		t.Run(path, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(path)
			if n := testing.AllocsPerRun(1000, func() {
				ctx.Response.Reset()
				s.Handler(&ctx)
			}); n != 0 {
				t.Fatalf("%v allocations per request, want 0", n)
			}
		})
	}
}
