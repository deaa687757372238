package transport

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestTryTook: a try whose response was read whole reports its duration (Outcome.Took), measured
// from the start it was given, so that the proxy need not read the clock again; on a pooled
// connection the try's start also stands for the clock when the request is sent.
func TestTryTook(t *testing.T) {
	d := newDirect(t, fasthttp.MethodGet, nil)
	for i, name := range []string{"new connection", "pooled connection"} {
		t.Run(name, func(t *testing.T) {
			d.tmpl.CopyTo(&d.ctx.Request)
			d.ctx.Response.Reset()
			d.req.Timeouts = Timeouts{Connect: waitFor, Send: waitFor, Read: waitFor}
			d.req.Keepalive = &d.pool.Spec().KeepalivePool
			node := d.pool.Pick(&d.ctx, nil)
			// A start in the past: Took counts from it.
			const before = 50 * time.Millisecond
			start := time.Now().Add(-before)
			o := d.tr.Try(&d.ctx, &d.req, node, start)
			end := time.Since(start)
			d.req.Reset()
			if !o.Answered || d.ctx.Response.StatusCode() != 200 {
				t.Fatalf("try %d: outcome %+v, status %d", i, o, d.ctx.Response.StatusCode())
			}
			if o.Took < before || o.Took > end {
				t.Errorf("Took %v, want between %v and %v", o.Took, before, end)
			}
		})
	}
}
