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
	ring     *ring // chash only: over the group's nodes of weight > 0
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
		b.groups = append(b.groups, g)
	}
	b.view.Store(b.buildView(0))
	return b
}

// current returns the view for the present health generation, rebuilding it if a node flipped.
// While another goroutine rebuilds, the previous view keeps serving.
func (b *balancer) current() *view {
	v := b.view.Load()
	if b.hset == nil || v.gen == b.hset.gen.Load() {
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
