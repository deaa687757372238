//go:build !race

package upstream

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
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

// TestPickAllocsAfterHealthFlip (issue 20 item 17): a node flipping between healthy and
// unhealthy has the candidate views rebuilt by the report that flips it, so the picks that follow
// allocate nothing. Only the picks are measured, not the flips.
func TestPickAllocsAfterHealthFlip(t *testing.T) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		for _, n := range []int{3, 100} {
			t.Run(fmt.Sprintf("%s/%d", typ, n), func(t *testing.T) {
				p := mustPool(t, NewRegistry(Options{}), "k",
					fmt.Sprintf(`{"type":%q,"key":"remote_addr","nodes":%s,%s}`, typ, nodesJSON(n, 1), passiveChecks))
				ctx := requestCtx("192.0.2.7", "/x")
				target := p.Nodes()[1]
				// A stray allocation of the runtime may land in a measurement: a real one comes back
				// every time, so the best of three rounds counts.
				allocs := ^uint64(0)
				for range 3 {
					allocs = min(allocs, picksAfterFlips(t, p, ctx, target))
				}
				if allocs != 0 {
					t.Errorf("20 picks, each after a health flip, allocated %d times", allocs)
				}
			})
		}
	}
}

// picksAfterFlips flips target 20 times and returns the allocations of the pick after each flip.
func picksAfterFlips(t *testing.T, p *Pool, ctx *fasthttp.RequestCtx, target *Node) uint64 {
	var allocs uint64
	var before, after runtime.MemStats
	for i := range 20 {
		if target.Healthy() {
			target.ReportProbe(ProbeTCPFailure, 0)
			target.ReportProbe(ProbeTCPFailure, 0)
		} else {
			target.ReportProbe(ProbeStatus, 200)
			target.ReportProbe(ProbeStatus, 200)
		}
		runtime.ReadMemStats(&before)
		picked := p.Pick(ctx, nil)
		runtime.ReadMemStats(&after)
		picked.Done(200, nil, time.Millisecond)
		allocs += after.Mallocs - before.Mallocs
		if picked == target && !target.Healthy() {
			t.Fatalf("flip %d: picked the ejected node", i)
		}
	}
	return allocs
}
