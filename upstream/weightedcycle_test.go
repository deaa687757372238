package upstream

import (
	"strings"
	"testing"
)

// TestWeightedCycle: the same sequence as the roundrobin balancer over nodes of those weights;
// a weight of 0 is never picked.
func TestWeightedCycle(t *testing.T) {
	for _, tt := range []struct {
		name    string
		weights []int
		want    string // positions as letters, a = 0, over two cycles
	}{
		{"5:1:1", []int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"3:1", []int{3, 1}, "aaba" + "aaba"},
		{"equal", []int{1, 1, 1}, "abc" + "abc"},
		{"gcd", []int{20, 10}, "aba" + "aba"},
		{"zero skipped", []int{0, 2, 1}, "bcb" + "bcb"},
		{"one", []int{7}, "a" + "a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewWeightedCycle(tt.weights)
			var b strings.Builder
			for range len(tt.want) {
				b.WriteByte(byte('a' + c.Next()))
			}
			if b.String() != tt.want {
				t.Errorf("%s, want %s", b.String(), tt.want)
			}
		})
	}
	if got := NewWeightedCycle([]int{0, 0}).Next(); got != -1 {
		t.Errorf("all weights 0: %d, want -1", got)
	}
	if got := NewWeightedCycle(nil).Next(); got != -1 {
		t.Errorf("no weights: %d, want -1", got)
	}
}
