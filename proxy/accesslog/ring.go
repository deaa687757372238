package accesslog

import "sync/atomic"

// ring is a bounded multi-producer, single-consumer queue of line buffers (D. Vyukov's bounded
// queue): each slot carries a sequence number saying whose turn it is, so producers claim a slot
// with one CAS and nobody takes a lock. A slot's buffer is formatted in place by the producer that
// claimed it and written out by the consumer; buffers are never handed around.
//
// For slot i of lap k (position p = k*len + i): seq == p means free for the producer of p,
// seq == p+1 means published and ready for the consumer, and the consumer frees it for the next
// lap by setting seq = p+len.
type ring struct {
	slots []slot
	mask  uint64
	_     [64]byte
	tail  atomic.Uint64 // next position to claim (producers)
	_     [56]byte
	head  atomic.Uint64 // next position to consume (written by the consumer only)
}

// slot is one line buffer, padded to a cache line so that producers on neighbouring slots do not
// share one.
type slot struct {
	seq atomic.Uint64
	buf []byte
	_   [32]byte
}

// newRing returns a ring of at least n slots (a power of two), each buffer of capacity size.
func newRing(n, size int) *ring {
	c := 1
	for c < n {
		c <<= 1
	}
	r := &ring{slots: make([]slot, c), mask: uint64(c - 1)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
		r.slots[i].buf = make([]byte, 0, size)
	}
	return r
}

// claim reserves the next slot for a producer; ok is false when the ring is full.
func (r *ring) claim() (s *slot, pos uint64, ok bool) {
	for {
		pos = r.tail.Load()
		s = &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch {
		case seq == pos:
			if r.tail.CompareAndSwap(pos, pos+1) {
				return s, pos, true
			}
		case seq < pos:
			return nil, 0, false // the slot still holds the line of the previous lap
		}
		// seq > pos: another producer took pos; try the next position.
	}
}

// publish hands a claimed slot to the consumer.
func (s *slot) publish(pos uint64) { s.seq.Store(pos + 1) }

// peek returns the next published slot for the consumer, if any.
func (r *ring) peek() (*slot, bool) {
	pos := r.head.Load()
	s := &r.slots[pos&r.mask]
	return s, s.seq.Load() == pos+1
}

// release frees the slot peek returned, for the producers of the next lap.
func (r *ring) release(s *slot) {
	pos := r.head.Load()
	s.seq.Store(pos + uint64(len(r.slots)))
	r.head.Store(pos + 1)
}

// queued is how many slots are claimed and not yet released (an estimate while producers run).
func (r *ring) queued() uint64 {
	h := r.head.Load() // first: head never passes tail
	return r.tail.Load() - h
}
