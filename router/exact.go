package router

import (
	"hash/maphash"
	"math/bits"
	"slices"
)

// exactMap maps exact keys to candidate lists. It is a hash table split
// into shards by the key's hash, each shard a small open-addressed table,
// so a change copies only the shards it touches (and the slice of shard
// pointers, about n/shardAvg words) instead of the whole map. A lookup
// hashes the key once, with maphash, as a Go map would.
//
// Changes (add, remove) collect in pending until finish, which sorts the
// changed lists and rebuilds the touched shards into new ones; shards are
// never changed in place, so a map value copied from another shares its
// shards safely. The map is read-only after finish.
type exactMap[T any] struct {
	seed    maphash.Seed
	mask    uint64 // len(shards) - 1; shards are picked by the hash's low bits
	shards  []*shard[T]
	n       int            // keys
	small   []slot[T]      // the entries when n <= smallMap: scanned, not hashed
	pending map[string][]T // changed keys (until finish): the new list, nil when removed
}

// shard holds its entries densely and finds them through an open-addressed
// index (linear probing from the hash's high 32 bits, at most half full).
type shard[T any] struct {
	index   []uint32 // entry position + 1; 0 is free; len is a power of two
	entries []slot[T]
}

type slot[T any] struct {
	hash uint64
	key  string
	vals []T // never empty
}

// smallMap is the key count up to which get compares keys instead of
// hashing, as Go's maps do for small maps (a few host names, say).
const smallMap = 8

// shardAvg is the mean number of keys per shard a rebuild aims at; the
// shards are rebuilt with a new count when the mean leaves
// [shardAvg/4, shardAvg*4].
const shardAvg = 64

// get returns the list stored under s.
func (m *exactMap[T]) get(s []byte) []T {
	if m.n <= smallMap {
		for i := range m.small {
			if e := &m.small[i]; e.key == string(s) {
				return e.vals
			}
		}
		return nil
	}
	h := maphash.Bytes(m.seed, s)
	sh := m.shards[h&m.mask]
	mask := uint64(len(sh.index) - 1)
	for i := h >> 32 & mask; ; i = (i + 1) & mask {
		p := sh.index[i]
		if p == 0 {
			return nil
		}
		if e := &sh.entries[p-1]; e.hash == h && e.key == string(s) {
			return e.vals
		}
	}
}

// getString is get for a string key (builds use it).
func (m *exactMap[T]) getString(key string) []T {
	if m.n == 0 {
		return nil
	}
	h := maphash.String(m.seed, key)
	sh := m.shards[h&m.mask]
	mask := uint64(len(sh.index) - 1)
	for i := h >> 32 & mask; ; i = (i + 1) & mask {
		p := sh.index[i]
		if p == 0 {
			return nil
		}
		if e := &sh.entries[p-1]; e.hash == h && e.key == key {
			return e.vals
		}
	}
}

// current returns key's list as changed so far in this build.
func (m *exactMap[T]) current(key string) []T {
	if list, ok := m.pending[key]; ok {
		return list
	}
	return m.getString(key)
}

func (m *exactMap[T]) len() int { return m.n }

func (m *exactMap[T]) add(key string, v T) {
	if m.pending == nil {
		m.pending = make(map[string][]T)
	}
	list, ok := m.pending[key]
	if !ok {
		// Clipped, so that appending never writes into a shared array.
		list = slices.Clip(m.getString(key))
	}
	m.pending[key] = append(list, v)
}

// remove takes out of key's list the first value for which match is true;
// false when there is none.
func (m *exactMap[T]) remove(key string, match func(T) bool) bool {
	list := m.current(key)
	i := slices.IndexFunc(list, match)
	if i < 0 {
		return false
	}
	if m.pending == nil {
		m.pending = make(map[string][]T)
	}
	var rest []T // a new array: list may be shared
	if len(list) > 1 {
		rest = slices.Concat(list[:i:i], list[i+1:])
	}
	m.pending[key] = rest
	return true
}

// finish sorts the changed lists with less and rebuilds the shards they
// fall in (all of them when the shard count must change).
func (m *exactMap[T]) finish(less func(a, b T) int) {
	if len(m.pending) == 0 {
		m.pending = nil
		return
	}
	n := m.n
	for key, list := range m.pending {
		had := m.getString(key) != nil
		switch {
		case len(list) == 0:
			if had {
				n--
			}
		case !had:
			n++
			fallthrough
		default:
			slices.SortFunc(list, less)
		}
	}
	count := shardCount(n)
	old := len(m.shards)
	if old == 0 || count >= old*4 || count*4 <= old {
		m.rebuildAll(n, count)
	} else {
		m.rebuildTouched(n)
	}
	m.small = nil
	if m.n <= smallMap {
		for _, sh := range m.shards {
			m.small = append(m.small, sh.entries...)
		}
	}
	m.pending = nil
}

// shardCount is the power of two giving about shardAvg keys a shard.
func shardCount(n int) int {
	if n <= shardAvg {
		return 1
	}
	return 1 << bits.Len(uint((n-1)/shardAvg))
}

// rebuildAll rehashes every key into count new shards.
func (m *exactMap[T]) rebuildAll(n, count int) {
	if m.shards == nil {
		m.seed = maphash.MakeSeed()
	}
	all := make([]slot[T], 0, n)
	for _, sh := range m.shards {
		for _, e := range sh.entries {
			if _, changed := m.pending[e.key]; !changed {
				all = append(all, e) // same seed: the hash stands
			}
		}
	}
	for key, list := range m.pending {
		if len(list) > 0 {
			all = append(all, slot[T]{hash: maphash.String(m.seed, key), key: key, vals: list})
		}
	}
	mask := uint64(count - 1)
	sizes := make([]int, count)
	for _, e := range all {
		sizes[e.hash&mask]++
	}
	groups := make([][]slot[T], count)
	for i := range groups {
		groups[i] = make([]slot[T], 0, sizes[i])
	}
	for _, e := range all {
		groups[e.hash&mask] = append(groups[e.hash&mask], e)
	}
	m.shards = make([]*shard[T], count)
	for i, g := range groups {
		m.shards[i] = newShard(g)
	}
	m.mask, m.n = mask, n
}

// rebuildTouched replaces the shards holding a pending key.
func (m *exactMap[T]) rebuildTouched(n int) {
	touched := make(map[uint64][]slot[T], len(m.pending))
	for key, list := range m.pending {
		h := maphash.String(m.seed, key)
		touched[h&m.mask] = append(touched[h&m.mask], slot[T]{hash: h, key: key, vals: list})
	}
	shards := slices.Clone(m.shards)
	for i, changes := range touched {
		old := shards[i]
		entries := make([]slot[T], 0, len(old.entries)+len(changes))
		for _, e := range old.entries {
			if _, changed := m.pending[e.key]; !changed {
				entries = append(entries, e)
			}
		}
		for _, e := range changes {
			if len(e.vals) > 0 {
				entries = append(entries, e)
			}
		}
		shards[i] = newShard(entries)
	}
	m.shards, m.n = shards, n
}

// newShard indexes entries, which it keeps.
func newShard[T any](entries []slot[T]) *shard[T] {
	size := 2
	for size < 2*len(entries) {
		size *= 2
	}
	sh := &shard[T]{index: make([]uint32, size), entries: entries}
	mask := uint64(size - 1)
	for p, e := range entries {
		i := e.hash >> 32 & mask
		for sh.index[i] != 0 {
			i = (i + 1) & mask
		}
		sh.index[i] = uint32(p + 1)
	}
	return sh
}

// all calls f for every key and its list, in no particular order.
func (m *exactMap[T]) all(f func(key string, vals []T)) {
	for _, sh := range m.shards {
		for _, e := range sh.entries {
			f(e.key, e.vals)
		}
	}
}
