package upstream

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type algo uint8

const (
	algoRoundRobin algo = iota
	algoCHash
	algoEWMA
	algoLeastConn
)

func algoOf(t string) algo {
	switch t {
	case CHash:
		return algoCHash
	case EWMA:
		return algoEWMA
	case LeastConn:
		return algoLeastConn
	}
	return algoRoundRobin
}

// bnode is a node as the balancer sees it.
type bnode struct {
	addr     string
	weight   int
	priority int
	load     *loadState
	health   *healthState // nil without checks
}

// cgroup is one priority level of the configuration.
type cgroup struct {
	priority int
	ring     *ring      // chash only: over the group's nodes of weight > 0
	ctr      *rrCounter // roundrobin only: the position, shared by the views of every health state
}

// balancer is the node selection of one upstream: the configured groups plus a candidate view
// recomputed when node health changes. Pools whose nodes, balancer settings and checks are
// equal share one balancer, so its counters and views survive unrelated config edits.
type balancer struct {
	sig    string
	algo   algo
	nodes  []bnode
	groups []cgroup // priority descending
	hset   *healthSet
	key    keySource
	epoch  time.Time
	owner  *entry // its latest balancer owns the least_conn slots

	view atomic.Pointer[view]
	mu   sync.Mutex // serialises view rebuilds
	// eager: the health set rebuilds this balancer's view when a node flips (it is subscribed),
	// so Pick never does; an unsubscribed (retired) balancer rebuilds lazily on Pick.
	eager atomic.Bool
}

// view is the candidate set for one health generation, split by priority.
type view struct {
	gen    uint64
	groups []vgroup
}

type vgroup struct {
	cand []uint16 // candidate node indices (leaf order for least_conn)
	mask []uint64 // cand as a bitset over node indices
	seq  []uint16 // roundrobin cycle of node indices
	ctr  *rrCounter
	ring *ring
	// skip (chash, when some ring node is not a candidate) maps each point to the first point at
	// or after it, wrapping, that a candidate owns: ejected nodes' points cost no walk.
	skip []uint32
	tree *lcTree
}

func (g *vgroup) isCand(i uint16) bool { return g.mask[i>>6]&(1<<(i&63)) != 0 }

func newBalancer(sig string, t string, nodes []bnode, hset *healthSet, key keySource, epoch time.Time, owner *entry) *balancer {
	b := &balancer{sig: sig, algo: algoOf(t), nodes: nodes, hset: hset, key: key, epoch: epoch, owner: owner}
	var prios []int
	for _, n := range nodes {
		if !slices.Contains(prios, n.priority) {
			prios = append(prios, n.priority)
		}
	}
	slices.SortFunc(prios, func(a, b int) int { return b - a })
	for _, p := range prios {
		g := cgroup{priority: p}
		var members []uint16
		var weights []int
		var addrs []string
		for i, n := range nodes {
			if n.priority == p && n.weight > 0 {
				members = append(members, uint16(i))
				weights = append(weights, n.weight)
				addrs = append(addrs, n.addr)
			}
		}
		if b.algo == algoCHash && len(members) > 0 {
			g.ring = newRing(members, weights, addrs)
		}
		if b.algo == algoRoundRobin {
			g.ctr = &rrCounter{}
		}
		b.groups = append(b.groups, g)
	}
	var gen uint64
	if hset != nil {
		gen = hset.gen.Load()
	}
	b.view.Store(b.buildView(gen))
	if hset != nil {
		hset.subscribe(b)
	}
	return b
}

// current returns the view for the present health generation. A subscribed balancer's view is
// rebuilt by the flip itself (healthSet.flipped): until that is done the previous view keeps
// serving. Only a retired balancer rebuilds here, lazily.
func (b *balancer) current() *view {
	v := b.view.Load()
	if b.hset == nil || v.gen == b.hset.gen.Load() || b.eager.Load() {
		return v
	}
	if !b.mu.TryLock() {
		return v
	}
	defer b.mu.Unlock()
	if v = b.view.Load(); v.gen != b.hset.gen.Load() {
		v = b.buildView(b.hset.gen.Load())
		b.view.Store(v)
	}
	return v
}

// rebuild brings the view up to the present health generation, when a node flipped.
func (b *balancer) rebuild() {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Read the generation first: every flip counted in it has already changed its node's state.
	if gen := b.hset.gen.Load(); b.view.Load().gen != gen {
		b.view.Store(b.buildView(gen))
	}
}

// refresh rebuilds the view unconditionally (used when the balancer becomes its key's latest).
func (b *balancer) refresh() {
	b.mu.Lock()
	defer b.mu.Unlock()
	var gen uint64
	if b.hset != nil {
		gen = b.hset.gen.Load()
	}
	b.view.Store(b.buildView(gen))
}
