package upstream

// buildView picks the candidates, as APISIX's fetch_health_nodes does: the healthy nodes when
// there are any, otherwise all of them. Weight 0 takes no traffic, except that when every node
// of positive weight is ejected and healthy weight-0 nodes remain, those are used (equally).
// chash never uses weight-0 nodes: they have no points on the ring.
func (b *balancer) buildView(gen uint64) *view {
	v := &view{gen: gen}
	n := len(b.nodes)
	healthy := func(i int) bool { return b.nodes[i].health == nil || b.nodes[i].health.healthy() }
	var pos, healthyPos, healthyAny []int
	for i, nd := range b.nodes {
		h := healthy(i)
		if nd.weight > 0 {
			pos = append(pos, i)
			if h {
				healthyPos = append(healthyPos, i)
			}
		}
		if h {
			healthyAny = append(healthyAny, i)
		}
	}
	cand, unitWeights := healthyPos, false
	switch {
	case len(pos) == 0:
		return v
	case len(healthyPos) > 0:
	case b.algo != algoCHash && len(healthyAny) > 0:
		cand, unitWeights = healthyAny, true
	default:
		cand = pos
	}
	isCand := make([]bool, n)
	for _, i := range cand {
		isCand[i] = true
	}
	for _, cg := range b.groups {
		var g vgroup
		for i, nd := range b.nodes {
			if isCand[i] && nd.priority == cg.priority {
				g.cand = append(g.cand, uint16(i))
			}
		}
		if len(g.cand) == 0 {
			continue
		}
		g.mask = make([]uint64, (n+63)/64)
		weights := make([]int, len(g.cand))
		loads := make([]*loadState, len(g.cand))
		for k, i := range g.cand {
			g.mask[i>>6] |= 1 << (i & 63)
			weights[k] = b.nodes[i].weight
			if unitWeights {
				weights[k] = 1
			}
			loads[k] = b.nodes[i].load
		}
		switch b.algo {
		case algoRoundRobin:
			g.ctr = cg.ctr // the position carries over from view to view
			for _, k := range swrrCycle(weights) {
				g.seq = append(g.seq, g.cand[k])
			}
		case algoCHash:
			g.ring = cg.ring
			g.skip = skipTable(cg.ring, &g)
		case algoLeastConn:
			g.tree = newLCTree(loads, weights)
			if b.owner == nil || b.owner.latest.Load() == b {
				g.tree.claim()
			}
		}
		v.groups = append(v.groups, g)
	}
	return v
}

// skipTable maps each point of r to the first point at or after it (wrapping) whose owner is a
// candidate of g; nil when every point's owner is one. g has at least one candidate on r.
func skipTable(r *ring, g *vgroup) []uint32 {
	all := true
	for _, o := range r.owners {
		if !g.isCand(o) {
			all = false
			break
		}
	}
	if all {
		return nil
	}
	n := len(r.points)
	skip := make([]uint32, n)
	next := -1
	for pass := 0; pass < 2; pass++ { // the second pass fills the points before the first candidate
		for i := n - 1; i >= 0; i-- {
			if g.isCand(r.owners[i]) {
				next = i
			}
			if next >= 0 {
				skip[i] = uint32(next)
			}
		}
	}
	return skip
}
