package cpclient

import (
	"hash/maphash"
	"iter"
	"maps"
	"sort"
)

// KVs is an immutable set of keys with their KVs: the configuration of a State. The zero value is
// empty.
//
// States follow one another many times a second under churn, each differing from the last by a
// few keys, and each is whole. A plain map would be copied whole for each (a millisecond and a
// megabyte of garbage at 10,000 keys); KVs is split into kvShards maps by a hash of the key, and
// the next State shares every shard in which no key changed.
type KVs struct{ t *kvTable }

// kvShards is how many maps a KVs is split into: the copy of a State that changes c keys costs
// kvShards pointers and c shards of n/kvShards keys.
const kvShards = 256

type kvTable struct {
	shards [kvShards]map[string]KV
	n      int
}

var kvSeed = maphash.MakeSeed()

func shardOf(key string) int { return int(maphash.String(kvSeed, key) % kvShards) }

// NewKVs returns the KVs of m, which it copies.
func NewKVs(m map[string]KV) KVs {
	var b kvBuilder
	for k, kv := range m {
		b.set(k, kv)
	}
	return b.freeze()
}

// Get returns the KV of key, and whether there is one.
func (s KVs) Get(key string) (KV, bool) {
	if s.t == nil {
		return KV{}, false
	}
	kv, ok := s.t.shards[shardOf(key)][key]
	return kv, ok
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
		for _, m := range s.t.shards {
			for k, kv := range m {
				if !yield(k, kv) {
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

// Map returns a copy of s as a map.
func (s KVs) Map() map[string]KV {
	m := make(map[string]KV, s.Len())
	for k, kv := range s.All() {
		m[k] = kv
	}
	return m
}

// kvBuilder is a mutable KVs: freeze hands out its current content as a KVs, after which the
// builder copies a shard before its first change (copy on write).
type kvBuilder struct {
	t     kvTable
	owned [kvShards]bool // the shard was copied since the last freeze: it may be changed in place
}

// kvBuilderOf starts a builder from s.
func kvBuilderOf(s KVs) kvBuilder {
	var b kvBuilder
	if s.t != nil {
		b.t = *s.t // every shard shared with s: owned is all false
	}
	return b
}

func (b *kvBuilder) shard(key string) map[string]KV {
	i := shardOf(key)
	if !b.owned[i] {
		m := maps.Clone(b.t.shards[i])
		if m == nil {
			m = make(map[string]KV)
		}
		b.t.shards[i], b.owned[i] = m, true
	}
	return b.t.shards[i]
}

func (b *kvBuilder) set(key string, kv KV) {
	m := b.shard(key)
	if _, ok := m[key]; !ok {
		b.t.n++
	}
	m[key] = kv
}

func (b *kvBuilder) delete(key string) {
	if _, ok := b.get(key); !ok {
		return
	}
	delete(b.shard(key), key)
	b.t.n--
}

func (b *kvBuilder) get(key string) (KV, bool) {
	kv, ok := b.t.shards[shardOf(key)][key]
	return kv, ok
}

func (b *kvBuilder) len() int { return b.t.n }

// all yields the builder's keys and KVs; the builder must not change meanwhile.
func (b *kvBuilder) all() iter.Seq2[string, KV] { return KVs{&b.t}.All() }

// freeze returns the builder's content as an immutable KVs; the builder goes on from there.
func (b *kvBuilder) freeze() KVs {
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
	b := kvBuilderOf(s)
	for _, kv := range set {
		b.set(kv.Key, kv)
	}
	for _, k := range del {
		b.delete(k)
	}
	return b.freeze()
}
