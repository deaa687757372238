package limit

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const shards = 64

// Table maps keys to counters of type V, made on first use. A key it holds is found without a
// lock: each shard keeps a read-only map behind an atomic pointer, as sync.Map does, and the keys
// added since in a dirty map under the shard's mutex, which replaces the read-only one once it
// has been missed as often as it has keys (or at a sweep). Entries a stale function reports as no
// longer needed (a window long over) are swept as new keys come, a shard at a time, so that a
// Table holding the keys of many clients does not grow without bound.
//
// Every route with a limit plugin has its Table, and most routes see few clients, or none: the
// shards are made as keys come (the array of them at the first key, a shard at the first key it
// holds), so that an unused Table is a few words and a Table's size follows its keys (64 shards
// made up front were 12 KB a route).
type Table[V any] struct {
	seed   maphash.Seed
	stale  func(v *V, now int64) bool
	shards atomic.Pointer[[shards]atomic.Pointer[shard[V]]]
}

type shard[V any] struct {
	read    atomic.Pointer[map[string]*V] // never written once stored; nil until the first promotion
	mu      sync.Mutex
	dirty   map[string]*V // read's keys and the newer ones; nil when read holds them all
	misses  int           // lookups that needed dirty since it was made
	inserts int           // since the last sweep
	next    int           // inserts before the next sweep: as many as the keys the last one left, at least 16
	_       [64]byte      // keeps the fields above off the cache line of the next shard's
}

// NewTable returns a Table; stale may be nil (nothing is swept).
func NewTable[V any](stale func(v *V, now int64) bool) *Table[V] {
	return &Table[V]{seed: maphash.MakeSeed(), stale: stale}
}

// Get returns the counter of key, making it when there is none; now is passed to stale when
// the shard is swept. It takes no lock for a key the shard's read-only map holds, and allocates
// only for a key the Table does not hold.
func (t *Table[V]) Get(key []byte, now int64) *V {
	all := t.shards.Load()
	if all == nil {
		t.shards.CompareAndSwap(nil, new([shards]atomic.Pointer[shard[V]]))
		all = t.shards.Load()
	}
	slot := &all[maphash.Bytes(t.seed, key)%shards]
	s := slot.Load()
	if s == nil {
		slot.CompareAndSwap(nil, new(shard[V]))
		s = slot.Load()
	}
	if read := s.read.Load(); read != nil {
		if v := (*read)[string(key)]; v != nil {
			return v
		}
	}
	return t.getSlow(s, key, now)
}

func (t *Table[V]) getSlow(s *shard[V], key []byte, now int64) *V {
	s.mu.Lock()
	defer s.mu.Unlock()
	var read map[string]*V
	if p := s.read.Load(); p != nil {
		read = *p
	}
	if v := read[string(key)]; v != nil {
		return v // promoted while this one waited for the lock
	}
	if v := s.dirty[string(key)]; v != nil {
		s.missed()
		return v
	}
	if s.dirty == nil {
		s.dirty = make(map[string]*V, len(read)+1)
		for k, v := range read {
			s.dirty[k] = v
		}
	}
	s.inserts++
	swept := false
	if t.stale != nil && s.inserts >= max(16, s.next) {
		for k, old := range s.dirty {
			if t.stale(old, now) {
				delete(s.dirty, k)
			}
		}
		s.inserts, s.next, swept = 0, len(s.dirty), true
	}
	v := new(V)
	s.dirty[string(key)] = v
	if swept {
		s.promote() // the swept keys leave the read-only map too
	} else {
		s.missed()
	}
	return v
}

// missed counts a lookup that needed the dirty map, which becomes the read-only one once it has
// been needed as often as it has keys: copying it again costs no more than those lookups did.
func (s *shard[V]) missed() {
	if s.misses++; s.misses >= len(s.dirty) {
		s.promote()
	}
}

func (s *shard[V]) promote() {
	m := s.dirty
	s.read.Store(&m)
	s.dirty, s.misses = nil, 0
}

// Len is the number of keys held (for tests).
func (t *Table[V]) Len() int {
	all := t.shards.Load()
	if all == nil {
		return 0
	}
	n := 0
	for i := range all {
		s := all[i].Load()
		if s == nil {
			continue
		}
		s.mu.Lock()
		if s.dirty != nil {
			n += len(s.dirty)
		} else if read := s.read.Load(); read != nil {
			n += len(*read)
		}
		s.mu.Unlock()
	}
	return n
}
