package upstream

import (
	"fmt"
	"testing"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

func benchPools(b testing.TB) map[string]*Pool {
	r := NewRegistry(Options{})
	pools := map[string]*Pool{}
	for _, n := range []int{3, 100} {
		for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
			extra := ""
			if typ == CHash {
				extra = `,"key":"remote_addr"`
			}
			name := fmt.Sprintf("%s/%d", typ, n)
			js := fmt.Sprintf(`{"type":%q,"nodes":%s%s}`, typ, nodesJSON(n, 1), extra)
			pools[name] = mustPool(b, r, name, js)
		}
	}
	return pools
}

var benchNames = []string{"roundrobin/3", "roundrobin/100", "chash/3", "chash/100", "least_conn/3", "least_conn/100", "ewma/3", "ewma/100"}

// BenchmarkPick measures Pick alone, serially and from parallel goroutines (least_conn counts
// keep growing, which does not change its cost).
func BenchmarkPick(b *testing.B) {
	pools := benchPools(b)
	for _, name := range benchNames {
		p := pools[name]
		b.Run(name+"/serial", func(b *testing.B) {
			ctx := requestCtx("192.0.2.7", "/x")
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(ctx, nil)
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) { pickParallel(b, p, false) })
	}
}

// BenchmarkPickDone measures a request's balancer cost: Pick and its Done.
func BenchmarkPickDone(b *testing.B) {
	pools := benchPools(b)
	for _, name := range benchNames {
		p := pools[name]
		b.Run(name+"/serial", func(b *testing.B) {
			ctx := requestCtx("192.0.2.7", "/x")
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(ctx, nil).Done(200, nil, 0)
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) { pickParallel(b, p, true) })
	}
}

// BenchmarkPickDoneParallel is BenchmarkPickDone's parallel rows under a top-level name, so that
// `-bench Parallel -cpu 1,2` selects them with the other packages' (issue 22's contention
// profile): every goroutine picks from the same pool, as the requests of one route do.
func BenchmarkPickDoneParallel(b *testing.B) {
	pools := benchPools(b)
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) { pickParallel(b, pools[name], true) })
	}
}

// pickParallel picks from p, and with done reports each pick Done, from RunParallel's goroutines.
func pickParallel(b *testing.B, p *Pool, done bool) {
	b.ReportAllocs()
	defer testutil.ReportCPUPerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx := requestCtx("192.0.2.7", "/x")
		for pb.Next() {
			if pk := p.Pick(ctx, nil); done {
				pk.Done(200, nil, 0)
			}
		}
	})
}

// BenchmarkPickAfterHealthFlip measures the first Pick after a node flips health (the flip itself
// is outside the timer): with views built by the flip, it costs what any pick costs.
func BenchmarkPickAfterHealthFlip(b *testing.B) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		b.Run(typ+"/100", func(b *testing.B) {
			p := mustPool(b, NewRegistry(Options{}), "k",
				fmt.Sprintf(`{"type":%q,"key":"remote_addr","nodes":%s,%s}`, typ, nodesJSON(100, 1), passiveChecks))
			ctx := requestCtx("192.0.2.7", "/x")
			target := p.Nodes()[1]
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if target.Healthy() {
					target.ReportProbe(ProbeTCPFailure, 0)
					target.ReportProbe(ProbeTCPFailure, 0)
				} else {
					target.ReportProbe(ProbeStatus, 200)
					target.ReportProbe(ProbeStatus, 200)
				}
				b.StartTimer()
				p.Pick(ctx, nil).Done(200, nil, 0)
			}
		})
	}
}

// BenchmarkRetainOneChange measures Registry.Retain after one upstream of 40,000 changed (issue
// 20 item 18): the live set is every pool, one of which is new.
func BenchmarkRetainOneChange(b *testing.B) {
	const n = 40000
	r := NewRegistry(Options{})
	live := make([]*Pool, n)
	for i := range live {
		live[i] = mustPool(b, r, fmt.Sprintf("/apisix/upstreams/%d", i), fmt.Sprintf(`{"nodes":{"10.%d.%d.%d:80":1}}`, i>>16, (i>>8)&255, i&255))
	}
	r.Retain(live)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		live[7] = mustPool(b, r, "/apisix/upstreams/7", fmt.Sprintf(`{"nodes":{"10.200.%d.%d:80":1}}`, (i>>8)&255, i&255))
		r.Retain(live)
	}
}

// BenchmarkUpdateOneChange measures Registry.Update after one upstream of 40,000 changed (issue
// 20 item 18): the delta a snapshot build hands over, one pool in and one out. Building the new
// pool is inside the loop, as in BenchmarkRetainOneChange.
func BenchmarkUpdateOneChange(b *testing.B) {
	const n = 40000
	r := NewRegistry(Options{})
	live := make([]*Pool, n)
	for i := range live {
		live[i] = mustPool(b, r, fmt.Sprintf("/apisix/upstreams/%d", i), fmt.Sprintf(`{"nodes":{"10.%d.%d.%d:80":1}}`, i>>16, (i>>8)&255, i&255))
	}
	r.Update(Delta{Full: true, Added: live})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		old := live[7]
		live[7] = mustPool(b, r, "/apisix/upstreams/7", fmt.Sprintf(`{"nodes":{"10.200.%d.%d:80":1}}`, (i>>8)&255, i&255))
		r.Update(Delta{Added: live[7:8], Removed: []*Pool{old}})
	}
}
