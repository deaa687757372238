//go:build !race

package upstream

import (
	"testing"
	"time"
)

// TestPickAllocs asserts that the request path (Pick, Done, retries with Tried) allocates
// nothing, for every balancer at 3 and 100 nodes. Only a health flip allocates (it rebuilds the
// candidate view), and flips are rare by design.
func TestPickAllocs(t *testing.T) {
	r := NewRegistry(Options{})
	pools := benchPools(t)
	pools["chash-header"] = mustPool(t, r, "h", `{"type":"chash","hash_on":"header","key":"X-K","nodes":`+nodesJSON(100, 1)+`}`)
	pools["chash-cookie"] = mustPool(t, r, "c", `{"type":"chash","hash_on":"cookie","key":"sid","nodes":`+nodesJSON(100, 1)+`}`)
	pools["chash-combinations"] = mustPool(t, r, "v", `{"type":"chash","hash_on":"vars_combinations","key":"$host$uri-${arg_a ?? x}","nodes":`+nodesJSON(100, 1)+`}`)
	pools["chash-consumer"] = mustPool(t, r, "u", `{"type":"chash","hash_on":"consumer","nodes":`+nodesJSON(100, 1)+`}`)
	pools["checks"] = mustPool(t, r, "x", `{"nodes":`+nodesJSON(100, 1)+`,`+passiveChecks+`}`)
	ctx := requestCtx("192.0.2.7", "/x?a=1", "X-K", "v", "Cookie", "sid=1", "Host", "h.test:8080")
	ctx.SetUserValue(ConsumerKey, "alice")
	for name, p := range pools {
		t.Run(name, func(t *testing.T) {
			if a := testing.AllocsPerRun(200, func() {
				n := p.Pick(ctx, nil)
				n.Done(200, nil, time.Millisecond)
			}); a != 0 {
				t.Errorf("Pick+Done allocates %.1f times", a)
			}
			var tried Tried
			if a := testing.AllocsPerRun(200, func() {
				tried.Reset()
				for range 3 {
					n := p.Pick(ctx, &tried)
					tried.Add(n)
					n.Done(404, nil, time.Millisecond) // no health flip: a flip rebuilds the view
				}
			}); a != 0 {
				t.Errorf("three tries allocate %.1f times", a)
			}
		})
	}
}
