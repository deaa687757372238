package upstream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ewmaDecay is APISIX's DECAY_TIME (balancer/ewma.lua): an observation's weight halves in
// about 7 s.
const ewmaDecay = 10.0 // seconds

// loadState is the load of one node address of one upstream key: in-flight requests for
// least_conn and the latency average for ewma. It outlives config updates for as long as a live
// pool has that address, whatever else changes.
type loadState struct {
	// conns counts least_conn requests: in-flight ones in the low 32 bits (as an int32), picks
	// ever made in the high 32 bits (they vary the tie-break salt without a random number).
	conns atomic.Uint64
	slot  atomic.Pointer[lcSlot] // the newest least_conn tree holding this node, if any
	// score is ln(ewma) + t/ewmaDecay as float64 bits, t being the time of the last observation
	// in seconds since the registry's epoch. Comparing two scores compares the two decayed
	// averages at any common instant, so a pick needs no clock.
	score atomic.Uint64

	mu   sync.Mutex // guards ewma and last
	ewma float64    // seconds
	last float64    // seconds since epoch
	_    [40]byte   // keep neighbours off the counters' cache line
}

func newLoadState() *loadState {
	l := &loadState{}
	l.score.Store(math.Float64bits(math.Inf(-1)))
	return l
}

// observe folds one round-trip time into the average, the way APISIX's get_or_update_ewma does:
// the old value decays by exp(-Δt/10s) and the new sample takes the remaining weight.
func (l *loadState) observe(rtt time.Duration, epoch time.Time) {
	now := time.Since(epoch).Seconds()
	sample := rtt.Seconds()
	l.mu.Lock()
	w := math.Exp(-max(now-l.last, 0) / ewmaDecay)
	l.ewma = l.ewma*w + sample*(1-w)
	l.last = now
	score := math.Inf(-1)
	if l.ewma > 0 {
		score = math.Log(l.ewma) + now/ewmaDecay
	}
	l.score.Store(math.Float64bits(score))
	l.mu.Unlock()
}

// inflight is the number of least_conn requests in flight (never negative).
func (l *loadState) inflight() int64 { return max(int64(int32(uint32(l.conns.Load()))), 0) }

func (l *loadState) ewmaScore() float64 { return math.Float64frombits(l.score.Load()) }

// acquire counts a request picked by least_conn on this node; own is the tree it was picked
// from (nil for a pick outside any tree).
func (l *loadState) acquire(own *lcTree, leaf int) {
	l.conns.Add(1<<32 | 1)
	if own != nil {
		own.update(leaf)
	}
	if s := l.slot.Load(); s != nil && s.tree != own {
		s.tree.update(s.leaf)
	}
}

// release ends a least_conn request.
func (l *loadState) release() {
	l.conns.Add(^uint64(0))
	if s := l.slot.Load(); s != nil {
		s.tree.update(s.leaf)
	}
}
