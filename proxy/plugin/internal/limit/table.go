package limit

import (
	"hash/maphash"
	"sync"
)

const shards = 64

// Table maps keys to counters of type V, made on first use. Entries a stale function reports
// as no longer needed (a window long over) are swept as new keys come, a shard at a time, so
// that a Table holding the keys of many clients does not grow without bound.
type Table[V any] struct {
	seed   maphash.Seed
	stale  func(v *V, now int64) bool
	shards [shards]shard[V]
}

type shard[V any] struct {
	mu      sync.RWMutex
	m       map[string]*V
	inserts int      // since the last sweep
	next    int      // inserts before the next sweep: as many as the keys the last one left, at least 16
	_       [64]byte // keeps shards on their own cache lines
}

// NewTable returns a Table; stale may be nil (nothing is swept).
func NewTable[V any](stale func(v *V, now int64) bool) *Table[V] {
	t := &Table[V]{seed: maphash.MakeSeed(), stale: stale}
	for i := range t.shards {
		t.shards[i].m = map[string]*V{}
	}
	return t
}

// Get returns the counter of key, making it when there is none; now is passed to stale when
// the shard is swept. It allocates only for a key the Table does not hold.
func (t *Table[V]) Get(key []byte, now int64) *V {
	s := &t.shards[maphash.Bytes(t.seed, key)%shards]
	s.mu.RLock()
	v := s.m[string(key)]
	s.mu.RUnlock()
	if v != nil {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v = s.m[string(key)]; v != nil {
		return v
	}
	s.inserts++
	if t.stale != nil && s.inserts >= max(16, s.next) {
		for k, old := range s.m {
			if t.stale(old, now) {
				delete(s.m, k)
			}
		}
		s.inserts, s.next = 0, len(s.m)
	}
	v = new(V)
	s.m[string(key)] = v
	return v
}

// Len is the number of keys held (for tests).
func (t *Table[V]) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
