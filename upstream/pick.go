package upstream

import (
	"math/rand/v2"

	"github.com/valyala/fasthttp"
)

// pick chooses a node index, or -1. tried may be nil.
func (b *balancer) pick(ctx *fasthttp.RequestCtx, tried *Tried) int {
	v := b.current()
	if len(v.groups) == 0 {
		return -1
	}
	if tried.empty() {
		g := &v.groups[0]
		switch b.algo {
		case algoRoundRobin:
			return int(g.seq[(g.ctr.n.Add(1)-1)%uint64(len(g.seq))])
		case algoCHash:
			return g.walkRing(b.key.hash(ctx), nil)
		case algoLeastConn:
			l := g.tree.root()
			if l < 0 {
				return -1
			}
			b.nodes[g.cand[l]].load.acquire(g.tree, l)
			return int(g.cand[l])
		case algoEWMA:
			return g.pickEWMA(b, nil)
		}
	}
	var h uint64
	if b.algo == algoCHash {
		h = b.key.hash(ctx)
	}
	for gi := range v.groups {
		g := &v.groups[gi]
		if !g.hasUntried(tried) {
			continue
		}
		switch b.algo {
		case algoRoundRobin:
			start := g.ctr.n.Add(1) - 1
			for k := range uint64(len(g.seq)) {
				if i := g.seq[(start+k)%uint64(len(g.seq))]; !tried.has(i) {
					return int(i)
				}
			}
		case algoCHash:
			if i := g.walkRing(h, tried); i >= 0 {
				return i
			}
		case algoLeastConn:
			if l := g.leastUntried(tried); l >= 0 {
				b.nodes[g.cand[l]].load.acquire(g.tree, l)
				return int(g.cand[l])
			}
		case algoEWMA:
			if i := g.pickEWMA(b, tried); i >= 0 {
				return i
			}
		}
	}
	return -1
}

func (g *vgroup) hasUntried(tried *Tried) bool {
	for _, i := range g.cand {
		if !tried.has(i) {
			return true
		}
	}
	return false
}

// walkRing returns the owner of the first point at or after h that is a candidate not tried.
// Points of non-candidates are jumped over through the view's skip table.
func (g *vgroup) walkRing(h uint64, tried *Tried) int {
	r := g.ring
	i := r.search(h)
	for range len(r.points) {
		if g.skip != nil {
			i = int(g.skip[i])
		}
		if n := r.owners[i]; g.isCand(n) && !tried.has(n) {
			return int(n)
		}
		if i++; i == len(r.points) {
			i = 0
		}
	}
	return -1
}

// leastUntried is the least loaded untried candidate's leaf, ties broken at random.
func (g *vgroup) leastUntried(tried *Tried) int {
	best, ties := -1, 0
	var bestScore float32
	for l, i := range g.cand {
		if tried.has(i) {
			continue
		}
		s := g.tree.score(l)
		switch {
		case best < 0 || s < bestScore:
			best, bestScore, ties = l, s, 1
		case s == bestScore:
			if ties++; rand.IntN(ties) == 0 {
				best = l
			}
		}
	}
	return best
}

// pickEWMA is APISIX's ewma pick: two distinct candidates at random, the lower decayed average
// wins (the first on a tie).
func (g *vgroup) pickEWMA(b *balancer, tried *Tried) int {
	n := len(g.cand)
	if tried.empty() {
		if n == 1 {
			return int(g.cand[0])
		}
		r := rand.Uint64()
		x := int((r & 0xffffffff) * uint64(n) >> 32)
		y := int((r >> 32) * uint64(n-1) >> 32)
		if y >= x {
			y++
		}
		return int(g.better(b, g.cand[x], g.cand[y]))
	}
	m := 0
	for _, i := range g.cand {
		if !tried.has(i) {
			m++
		}
	}
	if m == 0 {
		return -1
	}
	x := rand.IntN(m)
	y := -1
	if m > 1 {
		if y = rand.IntN(m - 1); y >= x {
			y++
		}
	}
	var a, c uint16
	k := 0
	for _, i := range g.cand {
		if tried.has(i) {
			continue
		}
		if k == x {
			a = i
		}
		if k == y {
			c = i
		}
		k++
	}
	if y < 0 {
		return int(a)
	}
	return int(g.better(b, a, c))
}

func (g *vgroup) better(b *balancer, x, y uint16) uint16 {
	if b.nodes[x].load.ewmaScore() > b.nodes[y].load.ewmaScore() {
		return y
	}
	return x
}
