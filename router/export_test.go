package router

import (
	"testing"
)

// This file exports internals to the external tests (package router_test).

// CheckInvariants asserts the tree invariants (see checkTree) on every
// tree of tab: the host-less paths, the host tree and each host bucket,
// with candidate lists in Match order and no empty bucket.
func CheckInvariants(t testing.TB, tab *Table) {
	t.Helper()
	checkTree(t, &tab.paths, compareCand)
	if tab.hosts == nil {
		return
	}
	checkTree(t, tab.hosts, nil)
	if tab.hosts.empty() {
		t.Fatalf("empty host tree instead of nil")
	}
	for _, b := range tableBuckets(tab) {
		checkTree(t, &b.paths, compareCand)
		if b.paths.empty() {
			t.Fatalf("empty bucket %q", b.host)
		}
	}
}

func tableBuckets(tab *Table) []*bucket {
	var out []*bucket
	if tab.hosts == nil {
		return nil
	}
	tab.hosts.exact.all(func(_ string, list []*bucket) { out = append(out, list...) })
	walkSorted(tab.hosts.root, "", func(_ string, n *node[*bucket]) { out = append(out, n.starts...) })
	return out
}

// Fresh counts the objects of tab's structure (tree nodes, exact-map
// shards, buckets) that base does not share: what building tab from base
// allocated.
func Fresh(base, tab *Table) int {
	seen := map[any]bool{}
	reach(base, func(p any) { seen[p] = true })
	n := 0
	reach(tab, func(p any) {
		if !seen[p] {
			n++
		}
	})
	return n
}

func reach(tab *Table, visit func(any)) {
	reachTree(&tab.paths, visit)
	if tab.hosts != nil {
		reachTree(tab.hosts, visit)
		for _, b := range tableBuckets(tab) {
			visit(b)
			reachTree(&b.paths, visit)
		}
	}
}

func reachTree[T any](tr *tree[T], visit func(any)) {
	for _, sh := range tr.exact.shards {
		visit(sh)
	}
	walkSorted(tr.root, "", func(_ string, n *node[T]) { visit(n) })
}
