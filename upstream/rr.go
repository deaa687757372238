package upstream

import (
	"slices"
	"sync/atomic"
)

// Round robin precomputes one cycle of nginx's smooth weighted round robin (each pick adds every
// node's weight to its current weight, takes the largest, first in node order on ties, and takes
// the total off the winner), so that a pick is one atomic increment and one table read. Weights
// are divided by their gcd first; 5:1:1 gives a a b a c a a.

const (
	// maxCycle bounds a cycle's length; larger weight sums are scaled down proportionally
	// (every node keeps at least 1).
	maxCycle = 1 << 14
	// maxSmoothWork bounds nodes × cycle for the exact nginx simulation; beyond it the cycle is
	// ordered by stride ((k+½)/w), which spreads as evenly but may order ties differently.
	maxSmoothWork = 1 << 22
)

// rrCounter is a pick counter alone on its cache line.
type rrCounter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// normalizeWeights divides by the gcd and scales the sum down to at most limit (every weight
// keeping at least 1). Weights reach 2^53 (maxWeight), so a sum that could overflow w×limit is
// scaled in floating point, which keeps the proportions to far better than one unit.
func normalizeWeights(weights []int, limit int) []int {
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	out := make([]int, len(weights))
	total := 0.0
	for i, w := range weights {
		out[i] = w / max(g, 1)
		total += float64(out[i])
	}
	switch {
	case total <= float64(limit):
	case total*float64(limit) < 1<<62: // exact in integers, as before
		t := int64(total)
		for i, w := range out {
			out[i] = max(1, int(int64(w)*int64(limit)/t))
		}
	default:
		for i, w := range out {
			out[i] = max(1, int(float64(w)*float64(limit)/total))
		}
	}
	return out
}

// swrrCycle returns one cycle of positions into weights (all > 0).
func swrrCycle(weights []int) []uint16 {
	w := normalizeWeights(weights, maxCycle)
	total := 0
	for _, x := range w {
		total += x
	}
	if len(w)*total > maxSmoothWork {
		return strideCycle(w, total)
	}
	seq := make([]uint16, 0, total)
	cur := make([]int, len(w))
	for range total {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, uint16(best))
	}
	return seq
}

func strideCycle(w []int, total int) []uint16 {
	type slot struct {
		at  float64
		pos uint16
	}
	slots := make([]slot, 0, total)
	for i, x := range w {
		for k := range x {
			slots = append(slots, slot{(float64(k) + 0.5) / float64(x), uint16(i)})
		}
	}
	slices.SortStableFunc(slots, func(a, b slot) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	seq := make([]uint16, len(slots))
	for i, s := range slots {
		seq[i] = s.pos
	}
	return seq
}

// WeightedCycle is the roundrobin balancer's smooth weighted round robin over positions 0..n-1,
// for what picks among weighted choices other than nodes (traffic-split's weighted upstreams):
// the same sequence as a pool with those weights. A weight of 0 is never picked. It is safe for
// concurrent use; a pick is one atomic increment.
type WeightedCycle struct {
	seq []uint16 // positions into the weights given
	ctr rrCounter
}

// NewWeightedCycle returns the round robin over weights (each >= 0).
func NewWeightedCycle(weights []int) *WeightedCycle {
	var pos []uint16
	var pw []int
	for i, w := range weights {
		if w > 0 {
			pos, pw = append(pos, uint16(i)), append(pw, w)
		}
	}
	rr := &WeightedCycle{}
	if len(pw) == 0 {
		return rr
	}
	for _, k := range swrrCycle(pw) {
		rr.seq = append(rr.seq, pos[k])
	}
	return rr
}

// Next returns the next position, -1 when every weight is 0.
func (rr *WeightedCycle) Next() int {
	if len(rr.seq) == 0 {
		return -1
	}
	return int(rr.seq[(rr.ctr.n.Add(1)-1)%uint64(len(rr.seq))])
}
