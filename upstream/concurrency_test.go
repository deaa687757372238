package upstream

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// The tests here run their workers with testutil.Concurrently: no worker finishes before every
// other one has done its share, so the picks really overlap (a plain loop of goroutines each
// doing a few hundred picks runs them one after the other).

// TestConcurrentRoundRobinIsExact: parallel picks share one counter, so together they take
// exactly the first N entries of the sequence one goroutine would see.
func TestConcurrentRoundRobinIsExact(t *testing.T) {
	const nodes = `{"nodes":{"a:80":5,"b:80":1,"c:80":1}}`
	p := mustPool(t, NewRegistry(Options{}), "k", nodes)
	const workers = 4
	counts := make([]map[string]int, workers) // each worker's own, merged after
	for w := range counts {
		counts[w] = map[string]int{}
	}
	testutil.Concurrently(workers, 5000, func(w, _ int) bool {
		n := p.Pick(nil, nil)
		counts[w][n.Host]++
		n.Done(200, nil, 0)
		return true
	})
	got, total := map[string]int{}, 0
	for _, c := range counts {
		for h, k := range c {
			got[h] += k
			total += k
		}
	}
	want := map[string]int{}
	for _, h := range seq(mustPool(t, NewRegistry(Options{}), "k", nodes), total) {
		want[h]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%d parallel picks on 5:1:1 = %v, want %v (the first %d of the sequence)", total, got, want, total)
	}
}

// TestConcurrentLeastConnSettles: after parallel picks and releases (with health flipping
// meanwhile), every count is back to 0 and the tree is exact again.
func TestConcurrentLeastConnSettles(t *testing.T) {
	for _, size := range []int{12, 40} { // scanned directly, and a tree
		t.Run(fmt.Sprint(size), func(t *testing.T) { leastConnSettles(t, size) })
	}
}

func leastConnSettles(t *testing.T, size int) {
	r := NewRegistry(Options{})
	js := `{"type":"least_conn","nodes":` + nodesJSON(size, 1) + `,` + passiveChecks + `}`
	p := mustPool(t, r, "k", js)
	const pickers = 4
	held := make([][]*Node, pickers) // picker g holds up to g+1 requests open
	testutil.Concurrently(pickers+1, 3000, func(w, i int) bool {
		if w == pickers { // health flips underneath: views are rebuilt while picks run
			n := p.Nodes()[i%size]
			if i%2 == 0 {
				n.ReportProbe(ProbeTCPFailure, 0)
				n.ReportProbe(ProbeTCPFailure, 0)
			} else {
				n.ReportProbe(ProbeStatus, 200)
				n.ReportProbe(ProbeStatus, 200)
			}
			return true
		}
		held[w] = append(held[w], p.Pick(nil, nil))
		if len(held[w]) > w+1 {
			held[w][0].Done(404, nil, time.Millisecond)
			held[w] = held[w][1:]
		}
		if i%100 == 0 {
			var tried Tried
			n := p.Pick(nil, &tried)
			tried.Add(n)
			n.Done(404, nil, 0)
			n2 := p.Pick(nil, &tried)
			if n2 == n {
				t.Error("retry picked the tried node")
				return false
			}
			n2.Done(404, nil, 0)
		}
		return true
	})
	for _, h := range held {
		for _, n := range h {
			n.Done(404, nil, 0)
		}
	}
	for _, n := range p.Nodes() {
		if n.InFlight() != 0 {
			t.Fatalf("%s has %d in flight after every request finished", n.Addr, n.InFlight())
		}
		n.ReportProbe(ProbeStatus, 200)
		n.ReportProbe(ProbeStatus, 200)
	}
	count := map[string]int{}
	for range 3 * size {
		count[p.Pick(nil, nil).Addr]++
	}
	for addr, c := range count {
		if c != 3 {
			t.Fatalf("%d held picks over %d idle nodes: %s got %d, want 3 each", 3*size, size, addr, c)
		}
	}
	if len(count) != size {
		t.Fatalf("%d held picks reached %d nodes, want %d", 3*size, len(count), size)
	}
}

// TestConcurrentPicksDuringUpdates: pools are replaced while requests run on older versions;
// every pick finds a node, and once all are done no node counts a request in flight, whichever
// version it was picked from.
func TestConcurrentPicksDuringUpdates(t *testing.T) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		t.Run(typ, func(t *testing.T) {
			r := NewRegistry(Options{})
			spec := func(n int) string {
				return fmt.Sprintf(`{"type":%q,"key":"remote_addr","nodes":%s,%s}`, typ, nodesJSON(n, 1), passiveChecks)
			}
			var cur atomic.Pointer[Pool]
			cur.Store(mustPool(t, r, "k", spec(3)))
			const pickers = 3
			ctxs := []*fasthttp.RequestCtx{requestCtx("192.0.2.1", "/"), requestCtx("192.0.2.2", "/"), requestCtx("192.0.2.3", "/")}
			testutil.Concurrently(pickers+1, 200, func(w, i int) bool {
				if w == pickers { // the updater
					s, err := Parse([]byte(spec(2 + i%5)))
					if err != nil {
						t.Errorf("update %d: %v", i, err)
						return false
					}
					p, err := r.Pool("k", s)
					if err != nil {
						t.Errorf("update %d: %v", i, err)
						return false
					}
					cur.Store(p)
					r.Retain([]*Pool{p})
					return true
				}
				p := cur.Load()
				n := p.Pick(ctxs[w], nil)
				if n == nil {
					t.Error("Pick = nil on a non-empty pool")
					return false
				}
				n.Done(500, nil, time.Millisecond)
				return true
			})
			for _, n := range cur.Load().Nodes() {
				if got := n.InFlight(); got != 0 {
					t.Errorf("%s: %d in flight after every request finished", n.Addr, got)
				}
			}
		})
	}
}
