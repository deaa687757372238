package state

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"iter"
	"runtime"
	"slices"
	"sort"
)

// KVs is an immutable set of keys with their KVs: the configuration of a State. The zero value is
// empty.
//
// States follow one another many times a second under churn, each differing from the last by a
// few keys, and each is whole. A plain map would be copied whole for each (a millisecond and a
// megabyte of garbage at 10,000 keys); KVs is split into kvShards shards by a hash of the key, and
// the next State shares every shard in which no key changed. A shard is a slice sorted by key,
// not a map: the KV holds its key already, and a few dozen KVs in a row take half the memory of a
// map of them (a binary search among them costs about as much as hashing the key).
type KVs struct{ t *kvTable }

// kvShards is how many shards a KVs is split into: the copy of a State that changes c keys costs
// kvShards pointers and c shards of n/kvShards keys.
const kvShards = 256

type kvTable struct {
	shards [kvShards][]KV // each sorted by Key
	n      int
}

// find returns the index of key in shard, or where it would be inserted, and whether it is there.
func find(shard []KV, key string) (int, bool) {
	return slices.BinarySearchFunc(shard, key, func(kv KV, k string) int { return cmp.Compare(kv.Key, k) })
}

var kvSeed = maphash.MakeSeed()

func shardOf(key string) int { return int(maphash.String(kvSeed, key) % kvShards) }

// NewKVs returns the KVs of m, which it copies; each KV is filed under its key in m.
func NewKVs(m map[string]KV) KVs {
	var b Builder
	for k, kv := range m {
		b.Set(k, kv)
	}
	return b.Freeze()
}

// Get returns the KV of key, and whether there is one.
func (s KVs) Get(key string) (KV, bool) {
	if s.t == nil {
		return KV{}, false
	}
	shard := s.t.shards[shardOf(key)]
	if i, ok := find(shard, key); ok {
		return shard[i], true
	}
	return KV{}, false
}

// Has reports whether key is in s.
func (s KVs) Has(key string) bool {
	_, ok := s.Get(key)
	return ok
}

// Len is the number of keys.
func (s KVs) Len() int {
	if s.t == nil {
		return 0
	}
	return s.t.n
}

// All yields every key and its KV, in no particular order.
func (s KVs) All() iter.Seq2[string, KV] {
	return func(yield func(string, KV) bool) {
		if s.t == nil {
			return
		}
		for _, shard := range s.t.shards {
			for _, kv := range shard {
				if !yield(kv.Key, kv) {
					return
				}
			}
		}
	}
}

// Keys returns the keys in ascending byte order, the order in which etcd lists them.
func (s KVs) Keys() []string {
	keys := make([]string, 0, s.Len())
	for k := range s.All() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Sorted returns s's KVs in ascending key order, as pointers into s (which never changes). It
// merges the shards, each sorted already, and lets other goroutines run every yieldEvery KVs: it
// serves background work (the state file), which must not hold up requests on a single
// processor for the millisecond that ordering 10,000 keys takes.
func (s KVs) Sorted() []*KV {
	out := make([]*KV, 0, s.Len())
	if s.t == nil {
		return out
	}
	// A min-heap of the shards' unmerged rests, by their first key.
	h := make([][]KV, 0, kvShards)
	for _, shard := range s.t.shards {
		if len(shard) > 0 {
			h = append(h, shard)
		}
	}
	less := func(i, j int) bool { return h[i][0].Key < h[j][0].Key }
	down := func(i int) {
		for {
			m := i
			if l := 2*i + 1; l < len(h) && less(l, m) {
				m = l
			}
			if r := 2*i + 2; r < len(h) && less(r, m) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		if len(out)%yieldEvery == yieldEvery-1 {
			runtime.Gosched()
		}
		out = append(out, &h[0][0])
		if h[0] = h[0][1:]; len(h[0]) == 0 {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	return out
}

// yieldEvery is how many KVs background work over a whole KVs handles between two yields (some
// 50 µs of work).
const yieldEvery = 256

// Map returns a copy of s as a map.
func (s KVs) Map() map[string]KV {
	m := make(map[string]KV, s.Len())
	for k, kv := range s.All() {
		m[k] = kv
	}
	return m
}

// Builder is a mutable KVs: Freeze hands out its current content as a KVs, after which the
// builder copies a shard before its first change (copy on write). The zero value is empty.
type Builder struct {
	t     kvTable
	owned [kvShards]bool // the shard was copied since the last freeze: it may be changed in place
}

// BuilderOf starts a builder from s.
func BuilderOf(s KVs) Builder {
	var b Builder
	if s.t != nil {
		b.t = *s.t // every shard shared with s: owned is all false
	}
	return b
}

// shard returns the shard of key, which the builder may change: a shard shared with a frozen KVs
// is copied first.
func (b *Builder) shard(key string) *[]KV {
	i := shardOf(key)
	if !b.owned[i] {
		b.t.shards[i], b.owned[i] = slices.Clone(b.t.shards[i]), true
	}
	return &b.t.shards[i]
}

// Set files kv under key (kv.Key is set to key).
func (b *Builder) Set(key string, kv KV) {
	kv.Key = key
	shard := b.shard(key)
	i, ok := find(*shard, key)
	if ok {
		(*shard)[i] = kv
		return
	}
	*shard = slices.Insert(*shard, i, kv)
	b.t.n++
}

// Delete removes key; a key that is not there is ignored.
func (b *Builder) Delete(key string) {
	if _, ok := b.Get(key); !ok {
		return
	}
	shard := b.shard(key)
	i, _ := find(*shard, key)
	*shard = slices.Delete(*shard, i, i+1)
	b.t.n--
}

// Get returns the KV of key, and whether there is one.
func (b *Builder) Get(key string) (KV, bool) { return KVs{&b.t}.Get(key) }

// Len is the number of keys.
func (b *Builder) Len() int { return b.t.n }

// All yields the builder's keys and KVs; the builder must not change meanwhile.
func (b *Builder) All() iter.Seq2[string, KV] { return KVs{&b.t}.All() }

// Freeze returns the builder's content as an immutable KVs; the builder goes on from there. A
// shard the builder grew is copied to its length first when its append slack is more than an
// eighth of it: a State lives on, and the slack with it (BenchmarkKVsMemory, 10,000 keys set one
// at a time: 82 bytes a key with the slack, 52 without).
func (b *Builder) Freeze() KVs {
	for i, own := range b.owned {
		if sh := b.t.shards[i]; own && cap(sh)-len(sh) > len(sh)/8 {
			b.t.shards[i] = slices.Clone(sh)
		}
	}
	t := b.t
	b.owned = [kvShards]bool{}
	return KVs{&t}
}

// With returns s with every KV of set put (by its Key) and every key of del removed; s itself is
// unchanged, and shares with the result every shard neither touches.
func (s KVs) With(set []KV, del []string) KVs {
	if len(set) == 0 && len(del) == 0 {
		return s
	}
	b := BuilderOf(s)
	for _, kv := range set {
		b.Set(kv.Key, kv)
	}
	for _, k := range del {
		b.Delete(k)
	}
	return b.Freeze()
}

// Diff returns what changed from s to t: the KVs of t that s lacks or holds with another mod
// revision or value, and the keys of s that t lacks. It skips the shards that t shares with s, so
// that its cost follows the change between States that follow one another, not their size.
func (s KVs) Diff(t KVs) (puts []*KV, dels []string) {
	var empty kvTable
	a, b := s.t, t.t
	if a == nil {
		a = &empty
	}
	if b == nil {
		b = &empty
	}
	for i := range a.shards {
		x, y := a.shards[i], b.shards[i]
		if len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0]) {
			continue // shared
		}
		for len(x) > 0 || len(y) > 0 {
			switch {
			case len(y) == 0 || len(x) > 0 && x[0].Key < y[0].Key:
				dels = append(dels, x[0].Key)
				x = x[1:]
			case len(x) == 0 || y[0].Key < x[0].Key:
				puts = append(puts, &y[0])
				y = y[1:]
			default:
				if x[0].ModRevision != y[0].ModRevision || !bytes.Equal(x[0].Value, y[0].Value) {
					puts = append(puts, &y[0])
				}
				x, y = x[1:], y[1:]
			}
		}
	}
	return puts, dels
}
