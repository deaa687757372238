package upstream

import "math/bits"

// Tried is the set of nodes a request has already tried, by index within one Pool. The zero
// value is empty and ready to use; it allocates only for pools of more than 64 nodes. A Tried is
// used by one request at a time and only with the Pool its nodes came from.
type Tried struct {
	lo uint64
	hi []uint64 // indices 64 and up
}

// Add records n as tried.
func (t *Tried) Add(n *Node) {
	if n != nil {
		t.add(n.index)
	}
}

// Has reports whether n was recorded.
func (t *Tried) Has(n *Node) bool { return n != nil && t.has(n.index) }

// Len is the number of nodes recorded.
func (t *Tried) Len() int {
	if t == nil {
		return 0
	}
	c := bits.OnesCount64(t.lo)
	for _, w := range t.hi {
		c += bits.OnesCount64(w)
	}
	return c
}

// Reset empties the set, keeping its storage.
func (t *Tried) Reset() {
	t.lo = 0
	clear(t.hi)
}

func (t *Tried) empty() bool {
	if t == nil {
		return true
	}
	if t.lo != 0 {
		return false
	}
	for _, w := range t.hi {
		if w != 0 {
			return false
		}
	}
	return true
}

func (t *Tried) add(i uint16) {
	if i < 64 {
		t.lo |= 1 << i
		return
	}
	w := int(i-64) >> 6
	if w >= len(t.hi) {
		t.hi = append(t.hi, make([]uint64, w+1-len(t.hi))...)
	}
	t.hi[w] |= 1 << ((i - 64) & 63)
}

func (t *Tried) has(i uint16) bool {
	if t == nil {
		return false
	}
	if i < 64 {
		return t.lo&(1<<i) != 0
	}
	w := int(i-64) >> 6
	return w < len(t.hi) && t.hi[w]&(1<<((i-64)&63)) != 0
}
