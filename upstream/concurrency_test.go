package upstream

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentRoundRobinIsExact: parallel picks share one counter, so whole cycles come out
// exactly in proportion.
func TestConcurrentRoundRobinIsExact(t *testing.T) {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"nodes":{"a:80":5,"b:80":1,"c:80":1}}`)
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int{}
			for range 700 {
				n := p.Pick(nil, nil)
				local[n.Host]++
				n.Done(200, nil, 0)
			}
			mu.Lock()
			for k, v := range local {
				count[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if count["a"] != 2000 || count["b"] != 400 || count["c"] != 400 {
		t.Fatalf("2800 parallel picks on 5:1:1 = %v, want 2000/400/400", count)
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
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []*Node
			for i := range 3000 {
				held = append(held, p.Pick(nil, nil))
				if len(held) > g+1 {
					held[0].Done(404, nil, time.Millisecond)
					held = held[1:]
				}
				if i%100 == 0 {
					var tried Tried
					n := p.Pick(nil, &tried)
					tried.Add(n)
					n.Done(404, nil, 0)
					n2 := p.Pick(nil, &tried)
					if n2 == n {
						t.Error("retry picked the tried node")
					}
					n2.Done(404, nil, 0)
				}
			}
			for _, n := range held {
				n.Done(404, nil, 0)
			}
		}()
	}
	wg.Add(1)
	go func() { // health flips underneath: views are rebuilt while picks run
		defer wg.Done()
		for i := range 200 {
			n := p.Nodes()[i%size]
			if i%2 == 0 {
				n.ReportProbe(ProbeTCPFailure, 0)
				n.ReportProbe(ProbeTCPFailure, 0)
			} else {
				n.ReportProbe(ProbeStatus, 200)
				n.ReportProbe(ProbeStatus, 200)
			}
		}
	}()
	wg.Wait()
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

// TestConcurrentPicksDuringUpdates: pools are replaced while requests run on older versions.
func TestConcurrentPicksDuringUpdates(t *testing.T) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		t.Run(typ, func(t *testing.T) {
			r := NewRegistry(Options{})
			spec := func(n int) string {
				return fmt.Sprintf(`{"type":%q,"key":"remote_addr","nodes":%s,%s}`, typ, nodesJSON(n, 1), passiveChecks)
			}
			var cur sync.Map
			cur.Store("p", mustPool(t, r, "k", spec(3)))
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := requestCtx("192.0.2.1", "/")
					for {
						select {
						case <-stop:
							return
						default:
						}
						v, _ := cur.Load("p")
						p := v.(*Pool)
						n := p.Pick(ctx, nil)
						if n == nil {
							t.Error("Pick = nil on a non-empty pool")
							return
						}
						n.Done(500, nil, time.Millisecond)
					}
				}()
			}
			for i := range 50 {
				p := mustPool(t, r, "k", spec(2+i%5))
				cur.Store("p", p)
				r.Retain([]*Pool{p})
			}
			close(stop)
			wg.Wait()
		})
	}
}
