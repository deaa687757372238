package upstream

import (
	"strconv"
	"testing"
)

// BenchmarkLCTree measures the least_conn tree: refreshing a leaf, and a pick's update (the
// least loaded leaf gains a request).
func BenchmarkLCTree(b *testing.B) {
	for _, n := range []int{3, 100} {
		loads := make([]*loadState, n)
		w := make([]int, n)
		for i := range loads {
			loads[i] = newLoadState()
			w[i] = 1
		}
		t := newLCTree(loads, w)
		b.Run(strconv.Itoa(n)+"/refresh", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				t.update(i % n)
			}
		})
		b.Run(strconv.Itoa(n)+"/acquire", func(b *testing.B) {
			for b.Loop() {
				l := t.root()
				loads[l].conns.Add(1<<32 | 1)
				t.update(l)
			}
		})
	}
}
