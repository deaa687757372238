package router

import (
	"cmp"
	"slices"
	"strings"
)

// tree is lua-resty-radixtree's pair of indexes: a hash of exact keys and a
// radix tree of prefix keys. The radix tree is in the httprouter style:
// each node keeps its label and an indices string holding the first byte
// of each child's label (a lookup table for wide nodes), so a lookup scans
// a few bytes per level; children holding more candidates come first.
//
// A tree is persistent: nodes have no parent pointers, so a change copies
// only the nodes on the path from the root to the changed key (and the
// exact-key shard holding it) and shares the rest with the tree it was
// derived from. Changes are made by one build at a time, identified by an
// *owner: nodes the build created or already copied carry it and are
// changed in place, any other node is copied first. After add and remove
// calls, finish(own) sorts the changed candidate lists and fixes weights,
// child order and lookup tables on the build's nodes; from then on the tree
// is read-only and safe for concurrent lookups.
type tree[T any] struct {
	root  *node[T] // never nil once the tree is built (see newTree)
	exact exactMap[T]
}

// node is one node of the radix tree. Most nodes of a large table are leaves (one per route
// prefix), so a node is 64 bytes and its branching is behind a pointer that leaves leave nil.
type node[T any] struct {
	label  string
	starts []T        // candidates whose prefix is this node's key
	br     *branch[T] // the children; nil for a leaf
	own    *owner     // the build that may change this node in place
	weight int32      // candidates in this subtree, to order children
	dirty  bool       // starts changed: finish sorts them
}

// branch is the children of an inner node: indices holds the first byte of each child's label.
// It belongs to its node: a build that owns the node owns its branch.
type branch[T any] struct {
	indices  string
	children []*node[T]
	lut      *lookupTable // child by first byte, for wide nodes
}

// kids returns n's children, nil for a leaf.
func (n *node[T]) kids() []*node[T] {
	if n.br == nil {
		return nil
	}
	return n.br.children
}

// idx returns the first bytes of n's children's labels.
func (n *node[T]) idx() string {
	if n.br == nil {
		return ""
	}
	return n.br.indices
}

// table returns n's lookup table, nil when it has none.
func (n *node[T]) table() *lookupTable {
	if n.br == nil {
		return nil
	}
	return n.br.lut
}

// branchOf returns the branch of n, which the build owns, making it for a leaf.
func (n *node[T]) branchOf() *branch[T] {
	if n.br == nil {
		n.br = &branch[T]{}
	}
	return n.br
}

// owner identifies one build (New or Update). It has a size so that every
// new(owner) is a distinct pointer.
type owner struct{ _ byte }

// wideNode is the child count above which a node gets a lookup table.
const wideNode = 8

// lookupTable maps the first bytes of a wide node's children to child index + 1 (0: none). It
// spans only the bytes from the lowest first byte to the highest, as route paths branch on a
// narrow range (digits, lower-case letters): ten children '0'…'9' take 10 bytes, not a 256-entry
// array. A node with 255 children or more (every byte value but one) has none.
type lookupTable struct {
	lo  byte
	idx []uint8
}

// maxLookupChildren is the most children a lookup table can index.
const maxLookupChildren = 254

func newLookupTable(indices string) *lookupTable {
	lo, hi := indices[0], indices[0]
	for i := 1; i < len(indices); i++ {
		lo, hi = min(lo, indices[i]), max(hi, indices[i])
	}
	t := &lookupTable{lo: lo, idx: make([]uint8, int(hi-lo)+1)}
	for i := 0; i < len(indices); i++ {
		t.idx[indices[i]-lo] = uint8(i + 1)
	}
	return t
}

// get returns the index + 1 of the child whose label starts with c, 0 for none.
func (t *lookupTable) get(c byte) int {
	if i := uint(c) - uint(t.lo); i < uint(len(t.idx)) {
		return int(t.idx[i])
	}
	return 0
}

func newTree[T any](own *owner) tree[T] {
	return tree[T]{root: &node[T]{own: own}}
}

// mut returns n itself when the build owns it, else a copy it owns. The
// copy gets its own branch with its own children slice (it is assigned to)
// and a clipped starts slice (appending reallocates); its lookup table is
// rebuilt by finish.
func (n *node[T]) mut(own *owner) *node[T] {
	if n.own == own {
		return n
	}
	c := *n
	c.own = own
	c.dirty = false
	if n.br != nil {
		c.br = &branch[T]{indices: n.br.indices, children: slices.Clone(n.br.children), lut: n.br.lut}
	}
	c.starts = slices.Clip(n.starts)
	return &c
}

// relabel returns n with label l: n itself when owned, else a shallow copy
// that stays unowned (its content is unchanged, so finish need not visit
// it, and a later change in this build copies it again).
func (n *node[T]) relabel(own *owner, l string) *node[T] {
	if n.own == own {
		n.label = l
		return n
	}
	c := *n
	c.label = l
	return &c
}

// add puts v under key, as an exact or a prefix candidate.
func (t *tree[T]) add(own *owner, key string, exact bool, v T) {
	if exact {
		t.exact.add(key, v)
		return
	}
	t.root = t.root.mut(own)
	n := t.root
	for key != "" {
		i := strings.IndexByte(n.idx(), key[0])
		if i < 0 {
			child := &node[T]{label: key, own: own}
			b := n.branchOf()
			b.indices += key[:1]
			b.children = append(b.children, child)
			n = child
			break
		}
		child := n.br.children[i]
		l := commonPrefix(key, child.label)
		if l < len(child.label) {
			child = &node[T]{
				label: child.label[:l],
				br: &branch[T]{indices: child.label[l : l+1],
					children: []*node[T]{child.relabel(own, child.label[l:])}},
				own: own,
			}
		} else {
			child = child.mut(own)
		}
		n.br.children[i] = child
		key = key[l:]
		n = child
	}
	n.starts = append(n.starts, v)
	n.dirty = true
}

// remove takes out of key's list the first candidate for which match is
// true. It reports false, changing nothing, when there is none. A node
// left without candidates is deleted, or merged into its only child, so
// the tree keeps the shape a fresh build of the same keys has: every node
// but the root holds candidates or branches.
func (t *tree[T]) remove(own *owner, key string, exact bool, match func(T) bool) bool {
	if exact {
		return t.exact.remove(key, match)
	}
	// Find the node first, so that a miss copies nothing.
	var path []*node[T] // root .. target
	var at []int        // at[i]: index of path[i+1] among path[i]'s children
	n := t.root
	path = append(path, n)
	for rest := key; rest != ""; {
		i := strings.IndexByte(n.idx(), rest[0])
		if i < 0 || !strings.HasPrefix(rest, n.br.children[i].label) {
			return false
		}
		n = n.br.children[i]
		rest = rest[len(n.label):]
		path = append(path, n)
		at = append(at, i)
	}
	j := slices.IndexFunc(n.starts, match)
	if j < 0 {
		return false
	}
	// Copy the path and take the candidate out.
	path[0] = path[0].mut(own)
	for i := 1; i < len(path); i++ {
		path[i] = path[i].mut(own)
		path[i-1].br.children[at[i-1]] = path[i]
	}
	t.root = path[0]
	n = path[len(path)-1]
	n.starts = slices.Concat(n.starts[:j:j], n.starts[j+1:])
	if len(n.starts) == 0 {
		n.starts = nil
	}
	n.dirty = true
	// Restore the shape: the target, then its parent, may be left with
	// neither candidates nor a branch.
	for k := len(path) - 1; k >= 1 && k >= len(path)-2; k-- {
		n, parent, i := path[k], path[k-1], at[k-1]
		if len(n.starts) > 0 || len(n.kids()) > 1 {
			break
		}
		if len(n.kids()) == 1 {
			c := n.br.children[0]
			parent.br.children[i] = c.relabel(own, n.label+c.label)
			break
		}
		pb := parent.br
		pb.children = slices.Delete(pb.children, i, i+1)
		pb.indices = pb.indices[:i] + pb.indices[i+1:]
		if len(pb.children) == 0 {
			parent.br = nil
		}
	}
	return true
}

// get returns the prefix candidates stored under exactly key.
func (t *tree[T]) get(key string) []T {
	n := t.root
	for key != "" {
		i := strings.IndexByte(n.idx(), key[0])
		if i < 0 || !strings.HasPrefix(key, n.br.children[i].label) {
			return nil
		}
		n = n.br.children[i]
		key = key[len(n.label):]
	}
	return n.starts
}

// empty reports whether the tree holds no candidate (after finish).
func (t *tree[T]) empty() bool {
	return len(t.root.starts) == 0 && len(t.root.kids()) == 0 && t.exact.len() == 0
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// finish ends the build own: it sorts every changed candidate list with
// less (which must be a total order on one list's candidates), and on the
// nodes the build owns recomputes weights, puts the heaviest children
// first and indexes wide nodes. Nodes it does not own are unchanged and
// not visited, so finish costs what the build changed.
func (t *tree[T]) finish(own *owner, less func(a, b T) int) {
	t.exact.finish(less)
	t.root.finish(own, less)
}

func (n *node[T]) finish(own *owner, less func(a, b T) int) int32 {
	if n.own != own {
		return n.weight
	}
	if n.dirty {
		slices.SortFunc(n.starts, less)
		n.dirty = false
	}
	n.weight = int32(len(n.starts))
	b := n.br
	if b == nil {
		return n.weight
	}
	if len(b.children) == 0 {
		n.br = nil
		return n.weight
	}
	for _, c := range b.children {
		n.weight += c.finish(own, less)
	}
	if len(b.children) > 1 && !slices.IsSortedFunc(b.children, heavierFirst[T]) {
		order := make([]int, len(b.children))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(x, y int) int {
			return heavierFirst(b.children[x], b.children[y])
		})
		children := make([]*node[T], len(order))
		idx := make([]byte, len(order))
		for i, o := range order {
			children[i] = b.children[o]
			idx[i] = b.indices[o]
		}
		b.children, b.indices = children, string(idx)
	}
	b.lut = nil
	if len(b.children) > wideNode && len(b.children) <= maxLookupChildren {
		// A new table even when one exists: an owned node may be a copy
		// whose table is still shared with the tree it came from.
		b.lut = newLookupTable(b.indices)
	}
	return n.weight
}

func heavierFirst[T any](a, b *node[T]) int { return cmp.Compare(b.weight, a.weight) }

// child returns the child whose label starts with c.
func (n *node[T]) child(c byte) *node[T] {
	b := n.br
	if b == nil {
		return nil
	}
	if b.lut != nil {
		if i := b.lut.get(c); i != 0 {
			return b.children[i-1]
		}
		return nil
	}
	for i := 0; i < len(b.indices); i++ {
		if b.indices[i] == c {
			return b.children[i]
		}
	}
	return nil
}

// trailLen is how many candidate-holding nodes one walk remembers; a path
// with more is walked again for the shallower ones (see trail).
const trailLen = 8

// trail records, during one walk from the root, the nodes holding prefix
// candidates whose key is a prefix of the looked-up string, shallowest
// first. It keeps the deepest trailLen of them (a ring) and counts them
// all. It lives on the caller's stack: without parent pointers, this is
// how prefix candidates are visited from the longest prefix to the
// shortest with no allocation. Use it as
//
//	for stop := (*node[T])(nil); ; {
//		var tl trail[T]
//		tr.collect(s, stop, &tl)
//		for i := tl.n - 1; i >= tl.first(); i-- { ... tl.at(i) ... }
//		if stop = tl.rest(); stop == nil { break }
//	}
type trail[T any] struct {
	nodes [trailLen]*node[T]
	n     int
}

func (tl *trail[T]) push(n *node[T]) {
	tl.nodes[tl.n&(trailLen-1)] = n
	tl.n++
}

// first is the index of the shallowest node still held.
func (tl *trail[T]) first() int { return max(0, tl.n-trailLen) }

// at returns the i-th node found, first() <= i < n.
func (tl *trail[T]) at(i int) *node[T] { return tl.nodes[i&(trailLen-1)] }

// rest returns the node the next walk must stop before, nil when the walk
// held every node.
func (tl *trail[T]) rest() *node[T] {
	if tl.n <= trailLen {
		return nil
	}
	return tl.at(tl.first())
}

// collect walks s from the root, recording on tl the nodes with prefix
// candidates whose key is a prefix of s; it stops before stop (nil: none).
func (t *tree[T]) collect(s []byte, stop *node[T], tl *trail[T]) {
	n := t.root
	if n == stop {
		return
	}
	if len(n.starts) > 0 {
		tl.push(n)
	}
walk:
	for len(s) > 0 {
		child := n.child(s[0])
		if child == nil || child == stop {
			break
		}
		l := child.label
		if len(s) < len(l) {
			break
		}
		// The first byte matched through the index. Short labels (most of
		// them) are compared inline, long ones with memequal.
		if len(l) <= 16 {
			for k := 1; k < len(l); k++ {
				if s[k] != l[k] {
					break walk
				}
			}
		} else if string(s[1:len(l)]) != l[1:] {
			break
		}
		s = s[len(l):]
		n = child
		if len(n.starts) > 0 {
			tl.push(n)
		}
	}
}

// collectReversed is collect for the reverse of s, read from its end
// without a copy (the host tree is keyed by reversed host suffixes).
func (t *tree[T]) collectReversed(s []byte, stop *node[T], tl *trail[T]) {
	n := t.root
	if n == stop {
		return
	}
	if len(n.starts) > 0 {
		tl.push(n)
	}
	i := len(s) // s[:i] is still to be read, backwards
walk:
	for i > 0 {
		child := n.child(s[i-1])
		if child == nil || child == stop || i < len(child.label) {
			break
		}
		for k := 1; k < len(child.label); k++ {
			if child.label[k] != s[i-1-k] {
				break walk
			}
		}
		i -= len(child.label)
		n = child
		if len(n.starts) > 0 {
			tl.push(n)
		}
	}
}
