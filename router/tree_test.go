package router

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkTree asserts a finished tree's invariants (the checkPriorities of
// httprouter's tests): below the root, labels are non-empty and every node
// holds candidates or branches; indices are in step with children and
// their first bytes unique; children come heaviest first and weights add
// up; wide nodes, and only they, have a correct lookup table; no list is
// left unsorted; the exact map is consistent (see checkExact). less, when
// not nil, must hold on every candidate list.
func checkTree[T any](t testing.TB, tr *tree[T], less func(a, b T) int) {
	t.Helper()
	if tr.root == nil {
		t.Fatalf("nil root")
	}
	checkNode(t, tr.root, "", true, less)
	checkExact(t, &tr.exact, less)
}

func checkNode[T any](t testing.TB, n *node[T], key string, root bool, less func(a, b T) int) int {
	t.Helper()
	key += n.label
	if !root && n.label == "" {
		t.Fatalf("empty label at %q", key)
	}
	if !root && len(n.starts) == 0 && len(n.kids()) < 2 {
		t.Fatalf("node %q holds no candidate and does not branch (%d children)", key, len(n.kids()))
	}
	if n.dirty {
		t.Fatalf("node %q: unsorted candidates after finish", key)
	}
	if less != nil && !slices.IsSortedFunc(n.starts, less) {
		t.Fatalf("node %q: candidates out of order", key)
	}
	if n.br != nil && len(n.br.children) == 0 {
		t.Fatalf("node %q: a leaf with a branch", key)
	}
	if len(n.idx()) != len(n.kids()) {
		t.Fatalf("node %q: %d indices for %d children", key, len(n.idx()), len(n.kids()))
	}
	if (n.table() != nil) != (len(n.kids()) > wideNode && len(n.kids()) <= maxLookupChildren) {
		t.Fatalf("node %q: lookup table %v with %d children", key, n.table() != nil, len(n.kids()))
	}
	seen := map[byte]bool{}
	w := len(n.starts)
	for i, c := range n.kids() {
		if c.label == "" || c.label[0] != n.idx()[i] {
			t.Fatalf("node %q: index %q for child %q", key, n.idx()[i], c.label)
		}
		if seen[c.label[0]] {
			t.Fatalf("node %q: two children start with %q", key, c.label[0])
		}
		seen[c.label[0]] = true
		if n.table() != nil && n.table().get(c.label[0]) != i+1 {
			t.Fatalf("node %q: lookup table sends %q to %d, want %d", key, c.label[0], n.table().get(c.label[0]), i+1)
		}
		cw := checkNode(t, c, key, false, less)
		if i > 0 && cw > int(n.kids()[i-1].weight) {
			t.Fatalf("node %q: children not in weight order", key)
		}
		w += cw
	}
	if n.table() != nil {
		for b := range 256 {
			if n.table().get(byte(b)) != 0 && !seen[byte(b)] {
				t.Fatalf("node %q: lookup table entry for absent %q", key, byte(b))
			}
		}
	}
	if w != int(n.weight) {
		t.Fatalf("node %q: weight %d, counted %d", key, n.weight, w)
	}
	return w
}

// checkExact asserts that every key sits in its shard, is reachable by
// probing, is counted, and that shards are at most half full.
func checkExact[T any](t testing.TB, m *exactMap[T], less func(a, b T) int) {
	t.Helper()
	if m.pending != nil {
		t.Fatalf("exact map: pending changes after finish")
	}
	if m.n > 0 && len(m.shards) != int(m.mask)+1 {
		t.Fatalf("exact map: %d shards, mask %#x", len(m.shards), m.mask)
	}
	n := 0
	for i, sh := range m.shards {
		used := 0
		for _, p := range sh.index {
			if p != 0 {
				used++
				if int(p) > len(sh.entries) {
					t.Fatalf("exact map: shard %d: index entry %d past %d entries", i, p, len(sh.entries))
				}
			}
		}
		if used != len(sh.entries) || 2*used > len(sh.index) || len(sh.index)&(len(sh.index)-1) != 0 {
			t.Fatalf("exact map: shard %d: %d entries, %d indexed, %d index slots", i, len(sh.entries), used, len(sh.index))
		}
		for _, e := range sh.entries {
			if len(e.vals) == 0 {
				t.Fatalf("exact map: key %q with an empty list", e.key)
			}
			if h := maphash.String(m.seed, e.key); h != e.hash || h&m.mask != uint64(i) {
				t.Fatalf("exact map: key %q in the wrong shard or with a stale hash", e.key)
			}
			if got := m.get([]byte(e.key)); len(got) == 0 || &got[0] != &e.vals[0] {
				t.Fatalf("exact map: key %q not found by get", e.key)
			}
			if less != nil && !slices.IsSortedFunc(e.vals, less) {
				t.Fatalf("exact map: list of %q out of order", e.key)
			}
		}
		n += len(sh.entries)
	}
	if n != m.n {
		t.Fatalf("exact map: %d keys, counted %d", m.n, n)
	}
	if small := n <= smallMap; small != (len(m.small) == n) || !small && m.small != nil {
		t.Fatalf("exact map: %d keys, %d in the small list", n, len(m.small))
	}
}

// prefixes returns the prefix candidates of s from the longest key to the
// shortest, walking as Match does.
func prefixes[T any](tr *tree[T], s string, reversed bool) []T {
	var out []T
	for stop := (*node[T])(nil); ; {
		var tl trail[T]
		if reversed {
			tr.collectReversed([]byte(s), stop, &tl)
		} else {
			tr.collect([]byte(s), stop, &tl)
		}
		for i := tl.n - 1; i >= tl.first(); i-- {
			out = append(out, tl.at(i).starts...)
		}
		if stop = tl.rest(); stop == nil {
			return out
		}
	}
}

// buildTree makes a finished tree holding every key as a prefix candidate
// (and "="+key as an exact one when exact is set).
func buildTree(keys []string, exact bool) *tree[string] {
	own := new(owner)
	tr := newTree[string](own)
	for _, k := range keys {
		tr.add(own, k, false, k)
		if exact {
			tr.add(own, k, true, "="+k)
		}
	}
	tr.finish(own, strings.Compare)
	return &tr
}

func TestTree(t *testing.T) {
	keys := []string{"/", "/a", "/ab", "/abc", "/b/c", "/b/d", "/api/v1/", "/api/v2/x", "/api", "", "/x*y", "/b"}
	tr := buildTree(keys, true)
	var wide []string
	for c := byte('0'); c <= '9'; c++ { // a wide node
		wide = append(wide, "/w/"+string(c))
	}
	own := new(owner)
	for _, k := range wide {
		tr.add(own, k, false, k)
	}
	tr.finish(own, strings.Compare)
	checkTree(t, tr, strings.Compare)
	if tr.root.table() != nil {
		t.Fatalf("lookup table on the root")
	}
	tests := []struct {
		in   string
		want string // prefix candidates, longest first
	}{
		{"/abc", "/abc /ab /a / "},
		{"/abcd", "/abc /ab /a / "},
		{"/ab", "/ab /a / "},
		{"/api/v1/x", "/api/v1/ /api /a / "},
		{"/api/v3", "/api /a / "},
		{"/b/c", "/b/c /b / "},
		{"/b/e", "/b / "},
		{"/w/7/x", "/w/7 / "},
		{"/w/x", "/ "},
		{"/zzz", "/ "},
		{"", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := strings.Join(prefixes(tr, tt.in, false), " "); got != tt.want {
				t.Fatalf("prefixes(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := strings.Join(prefixes(tr, reverse(tt.in), true), " "); got != tt.want {
				t.Fatalf("reversed prefixes(%q) = %q, want %q", reverse(tt.in), got, tt.want)
			}
			ex := tr.exact.get([]byte(tt.in))
			if slices.Contains(keys, tt.in) != (len(ex) == 1 && ex[0] == "="+tt.in) {
				t.Fatalf("exact get(%q) = %v", tt.in, ex)
			}
			if got := tr.get(tt.in); slices.Contains(keys, tt.in) != (len(got) == 1 && got[0] == tt.in) {
				t.Fatalf("get(%q) = %v", tt.in, got)
			}
		})
	}
}

// TestTrailOverflow walks paths holding more candidate nodes than a trail
// keeps, so that the walk is redone for the shallower ones.
func TestTrailOverflow(t *testing.T) {
	var keys []string
	for i := 0; i <= 3*trailLen+2; i++ {
		keys = append(keys, strings.Repeat("a", i))
	}
	tr := buildTree(keys, false)
	checkTree(t, tr, strings.Compare)
	tests := []struct {
		name string
		in   string
		n    int // candidates found: keys "", "a", ... of length <= n-1
	}{
		{"fewer than a trail", "aaa", 4},
		{"exactly a trail", strings.Repeat("a", trailLen-1), trailLen},
		{"one more", strings.Repeat("a", trailLen), trailLen + 1},
		{"three trails", strings.Repeat("a", 3*trailLen+2) + "b", 3*trailLen + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, reversed := range []bool{false, true} {
				in := tt.in
				if reversed {
					in = reverse(in)
				}
				got := prefixes(tr, in, reversed)
				want := slices.Clone(keys[:tt.n])
				slices.Reverse(want)
				if !slices.Equal(got, want) {
					t.Fatalf("reversed=%v: prefixes(%q) = %q, want %q", reversed, tt.in, got, want)
				}
			}
		})
	}
}

// dumpTree lists a tree's content (exact and prefix candidates by key).
func dumpTree(tr *tree[string]) string {
	var b strings.Builder
	for _, k := range sortedKeys(&tr.exact) {
		fmt.Fprintf(&b, "=%q%q ", k, tr.exact.getString(k))
	}
	walkSorted(tr.root, "", func(key string, n *node[string]) {
		if len(n.starts) > 0 {
			fmt.Fprintf(&b, "^%q%q ", key, n.starts)
		}
	})
	return b.String()
}

// TestTreePersistent derives trees by random adds and removes, each change
// set a build of its own, and checks every version against a model, a
// fresh build of the same keys, and its own earlier dump: changes never
// show through in the trees they were derived from.
func TestTreePersistent(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const alphabet = "/ab.c"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	for round := 0; round < 12; round++ {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			type version struct {
				tr    tree[string]
				model map[string]int // key -> count of prefix (and exact) candidates
				dump  string
			}
			own := new(owner)
			first := version{tr: newTree[string](own), model: map[string]int{}}
			first.tr.finish(own, strings.Compare)
			first.dump = dumpTree(&first.tr)
			versions := []version{first}
			for step := 0; step < 60; step++ {
				from := versions[rnd.IntN(len(versions))] // branch from any version
				v := version{tr: from.tr, model: map[string]int{}}
				for k, c := range from.model {
					v.model[k] = c
				}
				own := new(owner)
				for op := 0; op < 1+rnd.IntN(4); op++ {
					k := word(rnd.IntN(6))
					if v.model[k] > 0 && rnd.IntN(2) == 0 {
						drop := func(s string) bool { return strings.TrimPrefix(s, "=") == k }
						if !v.tr.remove(own, k, false, drop) || !v.tr.remove(own, k, true, drop) {
							t.Fatalf("remove(%q) found nothing", k)
						}
						v.model[k]--
						continue
					}
					v.tr.add(own, k, false, k)
					v.tr.add(own, k, true, "="+k)
					v.model[k]++
				}
				if v.tr.remove(own, "zz", false, func(string) bool { return true }) {
					t.Fatalf("remove of an absent key succeeded")
				}
				v.tr.finish(own, strings.Compare)
				checkTree(t, &v.tr, strings.Compare)
				v.dump = dumpTree(&v.tr)
				var keys []string
				for k, c := range v.model {
					for range c {
						keys = append(keys, k)
					}
				}
				if fresh := dumpTree(buildTree(keys, true)); fresh != v.dump {
					t.Fatalf("step %d: derived tree\n%s\nfresh build\n%s", step, v.dump, fresh)
				}
				for i := 0; i < 20; i++ {
					s := word(rnd.IntN(8))
					var want []string
					for l := len(s); l >= 0; l-- {
						for range v.model[s[:l]] {
							want = append(want, s[:l])
						}
					}
					if got := prefixes(&v.tr, s, false); !slices.Equal(got, want) {
						t.Fatalf("step %d: prefixes(%q) = %q, want %q", step, s, got, want)
					}
				}
				if dumpTree(&from.tr) != from.dump {
					t.Fatalf("step %d: the version derived from changed", step)
				}
				versions = append(versions, v)
			}
			for i, old := range versions {
				if dumpTree(&old.tr) != old.dump {
					t.Fatalf("version %d changed", i)
				}
			}
		})
	}
}

// TestExactMapShards grows an exact map past several shard counts and
// shrinks it back, one small build at a time, checking it against a Go map
// and that a build copies only the shards it touches.
func TestExactMapShards(t *testing.T) {
	model := map[string]bool{}
	var m exactMap[string]
	var keys []string
	next := 0
	step := func(add, del []string) {
		t.Helper()
		prev := m
		for _, k := range del {
			if !m.remove(k, func(string) bool { return true }) {
				t.Fatalf("remove(%q) found nothing", k)
			}
			delete(model, k)
		}
		for _, k := range add {
			m.add(k, k)
			model[k] = true
		}
		m.finish(strings.Compare)
		checkExact(t, &m, strings.Compare)
		if m.len() != len(model) {
			t.Fatalf("%d keys, want %d", m.len(), len(model))
		}
		for k := range model {
			if got := m.get([]byte(k)); len(got) != 1 || got[0] != k {
				t.Fatalf("get(%q) = %q", k, got)
			}
		}
		if m.get([]byte("absent")) != nil {
			t.Fatalf("get of an absent key found something")
		}
		if len(prev.shards) == len(m.shards) {
			copied := 0
			for i := range m.shards {
				if m.shards[i] != prev.shards[i] {
					copied++
				}
			}
			if copied > len(add)+len(del) {
				t.Fatalf("%d shards copied for %d changes", copied, len(add)+len(del))
			}
		}
	}
	tests := []struct {
		name   string
		target int // grow or shrink to this many keys
		batch  int // keys added or removed by one build
	}{
		{"first build of two shards", 2*shardAvg - 1, 100},
		{"shrink to small in two shards", 5, 7},
		{"grow to one shard's worth", shardAvg, 7},
		{"grow past resharding", 12 * shardAvg, 7},
		{"shrink", 3, 7},
		{"empty", 0, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for len(keys) != tt.target {
				var add, del []string
				if d := tt.target - len(keys); d > 0 {
					for range min(d, tt.batch) {
						add = append(add, fmt.Sprintf("/k/%d", next))
						next++
					}
				} else {
					del = slices.Clone(keys[len(keys)-min(-d, tt.batch):])
				}
				keys = append(keys[:len(keys)-len(del)], add...)
				step(add, del)
			}
			if want := shardCount(len(keys)); len(m.shards) >= 4*want || 4*len(m.shards) <= want {
				t.Fatalf("%d keys in %d shards", len(keys), len(m.shards))
			}
		})
	}
}

// TestLookupTableRanges: wide nodes find every child and no other, whatever range their first
// bytes span (the ends of the byte range included), and a node with a child for nearly every byte
// value goes without a table.
func TestLookupTableRanges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes []byte
	}{
		{"digits", []byte("0123456789")},
		{"sparse", []byte("a0zZ~!-._q")},
		{"ends", []byte{0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 'a', 'b', 'c'}},
		{"255 children", func() (b []byte) {
			for c := range 255 {
				b = append(b, byte(c+1))
			}
			return b
		}()},
		{"every byte", func() (b []byte) {
			for c := range 256 {
				b = append(b, byte(c))
			}
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			for _, c := range tc.bytes {
				keys = append(keys, "/w/"+string([]byte{c})+"x")
			}
			tr := buildTree(keys, false)
			checkTree(t, tr, strings.Compare)
			n := tr.root.child('/')
			if n == nil || n.label != "/w/" {
				t.Fatalf("no node for %q: %v", "/w/", n)
			}
			if want := len(tc.bytes) > wideNode && len(tc.bytes) <= maxLookupChildren; (n.table() != nil) != want {
				t.Fatalf("lookup table %v with %d children", n.table() != nil, len(tc.bytes))
			}
			in := map[byte]bool{}
			for _, c := range tc.bytes {
				in[c] = true
			}
			for b := range 256 {
				got := n.child(byte(b))
				if in[byte(b)] != (got != nil) || got != nil && got.label[0] != byte(b) {
					t.Fatalf("child(%#x) = %v, want one: %v", b, got, in[byte(b)])
				}
			}
		})
	}
}
