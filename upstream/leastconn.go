package upstream

import (
	"math"
	"sync/atomic"
)

// least_conn scores a node (1 + in-flight) / weight. An entry packs the score as float32 bits, a
// 16-bit salt (the tie-break: a hash of the node's pick count, so it changes pseudo-randomly
// whenever the node is picked) and the node's leaf number, so that the least entry is the node
// to pick.
//
// Up to lcTop candidates, a pick computes every entry from the live counts. Beyond that a tree
// keeps them: leaves, then minima of lcArity children, up to a top level of at most lcTop
// entries that a pick scans. Changing a count rewrites the leaf and walks up
// recomputing minima; a writer re-reads the children it combined and redoes the step if they
// moved, and stops early where the parent already holds the minimum, so the tree is exact
// whenever updates are quiescent and close to exact under load.
//
// Counts live in loadState and outlive the tree. The newest balancer of an upstream key points
// each node's slot at its tree, so that a release from any pool version lands there.

const (
	lcEmpty  = math.MaxUint64
	lcArity  = 8
	lcShift  = 3  // log2(lcArity)
	lcTop    = 16 // the widest level a pick scans
	leafMask = 0xffff
)

type lcSlot struct {
	tree *lcTree
	leaf int
}

type lcTree struct {
	inv   []float32 // 1/weight per leaf
	loads []*loadState
	slots []lcSlot
	// nodes holds every level back to back: leaves first, the top level last. Level i starts at
	// base[i] and has width[i] entries.
	nodes []atomic.Uint64
	base  []int
	width []int
}

func newLCTree(loads []*loadState, weights []int) *lcTree {
	t := &lcTree{inv: make([]float32, len(loads)), loads: loads, slots: make([]lcSlot, len(loads))}
	for i, w := range weights {
		t.inv[i] = 1 / float32(w)
		t.slots[i] = lcSlot{tree: t, leaf: i}
	}
	total := 0
	for n := len(loads); len(loads) > lcTop; n = (n + lcArity - 1) >> lcShift {
		t.base = append(t.base, total)
		t.width = append(t.width, n)
		total += n
		if n <= lcTop {
			break
		}
	}
	t.nodes = make([]atomic.Uint64, total)
	if total == 0 {
		return t // scanned directly
	}
	for l := range loads {
		v, _ := t.leafValue(l)
		t.nodes[l].Store(v)
	}
	for lv := 1; lv < len(t.base); lv++ {
		for i := range t.width[lv] {
			t.nodes[t.base[lv]+i].Store(t.minOf(lv-1, i))
		}
	}
	return t
}

// claim points the nodes' slots at this tree and then refreshes every leaf, so that no count
// change between building and claiming is lost.
func (t *lcTree) claim() {
	for l := range t.loads {
		t.loads[l].slot.Store(&t.slots[l])
	}
	for l := range t.loads {
		t.update(l)
	}
}

func (t *lcTree) score(l int) float32 {
	return float32(t.loads[l].inflight()+1) * t.inv[l]
}

// leafValue packs leaf l's entry; word is the conns word it was computed from.
func (t *lcTree) leafValue(l int) (v, word uint64) {
	word = t.loads[l].conns.Load()
	c := max(int64(int32(uint32(word))), 0)
	s := float32(c+1) * t.inv[l]
	salt := (uint32(word>>32) ^ uint32(l)*0x9e3779b9) * 0x85ebca6b >> 16
	return uint64(math.Float32bits(s))<<32 | uint64(salt)<<16 | uint64(l), word
}

// root is the leaf of the least loaded node, or -1.
func (t *lcTree) root() int {
	m := uint64(lcEmpty)
	if len(t.base) == 0 {
		for l := range t.loads {
			v, _ := t.leafValue(l)
			m = min(m, v)
		}
	} else {
		top := len(t.base) - 1
		entries := t.nodes[t.base[top] : t.base[top]+t.width[top]]
		for i := range entries {
			m = min(m, entries[i].Load())
		}
	}
	if m == lcEmpty {
		return -1
	}
	return int(m & leafMask)
}

// minOf is the minimum of the children of node i of level lv+1, found in level lv.
func (t *lcTree) minOf(lv, i int) uint64 {
	lo := i << lcShift
	kids := t.nodes[t.base[lv]+lo : t.base[lv]+min(lo+lcArity, t.width[lv])]
	m := uint64(lcEmpty)
	for k := range kids {
		m = min(m, kids[k].Load())
	}
	return m
}

func (t *lcTree) update(l int) {
	if len(t.base) == 0 {
		return
	}
	leaf := &t.nodes[l]
	for {
		v, word := t.leafValue(l)
		leaf.Store(v)
		if t.loads[l].conns.Load() == word {
			break
		}
	}
	i := l
	for lv := 1; lv < len(t.base); lv++ {
		i >>= lcShift
		parent := &t.nodes[t.base[lv]+i]
		for {
			m := t.minOf(lv-1, i)
			if parent.Load() == m {
				return
			}
			parent.Store(m)
			if t.minOf(lv-1, i) == m {
				break
			}
		}
	}
}
