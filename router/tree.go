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
// a few bytes per level. Every prefix key of a looked-up string lies on the
// path from the root to the deepest node find returns, so prefix candidates
// are visited by climbing parent pointers: no recursion, no allocation.
//
// Build with insert, then call finish once; after that the tree is
// read-only and safe for concurrent lookups.
type tree[T any] struct {
	root  node[T]
	exact map[string][]T // exact-key candidates
}

type node[T any] struct {
	label    string
	indices  string
	children []*node[T]
	lut      *[256]uint16 // child index + 1 by first byte, for wide nodes
	parent   *node[T]
	starts   []T // candidates whose prefix is this node's key
	weight   int // candidates in this subtree, to order children
}

// wideNode is the child count from which a node gets a lookup table.
const wideNode = 8

// insert adds v under key, as an exact or a prefix candidate.
func (t *tree[T]) insert(key string, exact bool, v T) {
	if exact {
		if t.exact == nil {
			t.exact = make(map[string][]T)
		}
		t.exact[key] = append(t.exact[key], v)
		return
	}
	n := &t.root
	for key != "" {
		i := strings.IndexByte(n.indices, key[0])
		if i < 0 {
			child := &node[T]{label: key, parent: n}
			n.indices += key[:1]
			n.children = append(n.children, child)
			n = child
			break
		}
		child := n.children[i]
		l := commonPrefix(key, child.label)
		if l < len(child.label) {
			mid := &node[T]{
				label:    child.label[:l],
				parent:   n,
				indices:  child.label[l : l+1],
				children: []*node[T]{child},
			}
			child.label = child.label[l:]
			child.parent = mid
			n.children[i] = mid
			child = mid
		}
		key = key[l:]
		n = child
	}
	n.starts = append(n.starts, v)
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

// finish sorts every candidate list with less (stable: ties keep insertion
// order), puts the heaviest children first and indexes wide nodes.
func (t *tree[T]) finish(less func(a, b T) int) {
	for _, list := range t.exact {
		slices.SortStableFunc(list, less)
	}
	var walk func(n *node[T]) int
	walk = func(n *node[T]) int {
		slices.SortStableFunc(n.starts, less)
		n.weight = len(n.starts)
		for _, c := range n.children {
			n.weight += walk(c)
		}
		if len(n.children) > 1 {
			order := make([]int, len(n.children))
			for i := range order {
				order[i] = i
			}
			slices.SortStableFunc(order, func(a, b int) int {
				return cmp.Compare(n.children[b].weight, n.children[a].weight)
			})
			children := make([]*node[T], len(order))
			idx := make([]byte, len(order))
			for i, o := range order {
				children[i] = n.children[o]
				idx[i] = n.indices[o]
			}
			n.children, n.indices = children, string(idx)
		}
		if len(n.children) > wideNode {
			n.lut = new([256]uint16)
			for i := 0; i < len(n.indices); i++ {
				n.lut[n.indices[i]] = uint16(i + 1)
			}
		}
		return n.weight
	}
	walk(&t.root)
}

// lookup returns the exact-key candidates for s.
func (t *tree[T]) lookup(s []byte) []T {
	return t.exact[string(s)]
}

// child returns the child whose label starts with c.
func (n *node[T]) child(c byte) *node[T] {
	if n.lut != nil {
		if i := n.lut[c]; i != 0 {
			return n.children[i-1]
		}
		return nil
	}
	for i := 0; i < len(n.indices); i++ {
		if n.indices[i] == c {
			return n.children[i]
		}
	}
	return nil
}

// find returns the deepest node whose key is a prefix of s.
func (t *tree[T]) find(s []byte) *node[T] {
	n := &t.root
walk:
	for len(s) > 0 {
		child := n.child(s[0])
		if child == nil {
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
	}
	return n
}

// findReversed is find for the reverse of s, read from its end without a
// copy (the host tree is keyed by reversed host suffixes).
func (t *tree[T]) findReversed(s []byte) *node[T] {
	n := &t.root
	i := len(s) // s[:i] is still to be read, backwards
walk:
	for i > 0 {
		child := n.child(s[i-1])
		if child == nil || i < len(child.label) {
			break
		}
		for k := 1; k < len(child.label); k++ {
			if child.label[k] != s[i-1-k] {
				break walk
			}
		}
		i -= len(child.label)
		n = child
	}
	return n
}

// key rebuilds the full key of n (for dumps and tests).
func (n *node[T]) key() string {
	var parts []string
	for m := n; m != nil; m = m.parent {
		parts = append(parts, m.label)
	}
	slices.Reverse(parts)
	return strings.Join(parts, "")
}
