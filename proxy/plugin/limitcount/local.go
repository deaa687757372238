package limitcount

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/limit"
)

// fixedLocal is the local fixed window (resty.limit.count with APISIX's reset dict): a key's
// window starts at its first request and lasts the time window.
type fixedLocal struct {
	limit  int64
	window int64       // ns
	one    *fixedEntry // key_type constant: the one counter
	keys   *limit.Table[fixedEntry]
}

type fixedEntry struct{ w atomic.Pointer[fixedWin] }

// fixedWin is one window of a key: immutable but for n, replaced when it ends.
type fixedWin struct {
	end int64 // unix ns
	n   atomic.Int64
}

func newFixedLocal(n int64, window time.Duration, constant bool) *fixedLocal {
	l := &fixedLocal{limit: n, window: int64(window)}
	if constant {
		l.one = new(fixedEntry)
	} else {
		// A window over for a whole window more is nobody's.
		l.keys = limit.NewTable(func(e *fixedEntry, now int64) bool {
			w := e.w.Load()
			return w == nil || now >= w.end+l.window
		})
	}
	return l
}

func (l *fixedLocal) incoming(key []byte, t time.Time) (result, error) {
	now := t.UnixNano()
	e := l.one
	if e == nil {
		e = l.keys.Get(key, now)
	}
	for {
		w := e.w.Load()
		if w == nil || now >= w.end {
			nw := &fixedWin{end: now + l.window}
			nw.n.Store(1)
			if !e.w.CompareAndSwap(w, nw) {
				continue
			}
			return result{remaining: l.limit - 1, reset: float64(l.window) / 1e9}, nil
		}
		rem := l.limit - w.n.Add(1)
		// A request read before the one that started the window (times are each request's
		// own) has at most the window left.
		reset := float64(min(w.end-now, l.window)) / 1e9
		return result{rejected: rem < 0, remaining: rem, reset: reset}, nil
	}
}

// slidingLocal is APISIX's sliding window on a shared dict (sliding-window.lua with
// store/shared-dict.lua), exact here: the check and the increment are one compare-and-swap.
type slidingLocal struct {
	limit  int64
	window int64 // ns
	one    *slidingEntry
	keys   *limit.Table[slidingEntry]
}

type slidingEntry struct{ w atomic.Pointer[slideWin] }

// slideWin is the current window of a key (id = now / window) and the count of the one before.
type slideWin struct {
	id   int64
	last int64
	cur  atomic.Int64
}

func newSlidingLocal(n int64, window time.Duration, constant bool) *slidingLocal {
	l := &slidingLocal{limit: n, window: int64(window)}
	if constant {
		l.one = new(slidingEntry)
	} else {
		l.keys = limit.NewTable(func(e *slidingEntry, now int64) bool {
			w := e.w.Load()
			return w == nil || w.id < now/l.window-1
		})
	}
	return l
}

func (l *slidingLocal) incoming(key []byte, t time.Time) (result, error) {
	now := t.UnixNano()
	e := l.one
	if e == nil {
		e = l.keys.Get(key, now)
	}
	id := now / l.window
	w := e.w.Load()
	for w == nil || w.id < id {
		nw := &slideWin{id: id}
		if w != nil && w.id == id-1 {
			nw.last = w.cur.Load()
		}
		if e.w.CompareAndSwap(w, nw) {
			w = nw
			break
		}
		w = e.w.Load()
	}
	if w.id > id {
		// The request was read before one that opened a later window (times are each
		// request's own, and requests overtake each other): it counts in that window, at its
		// start, instead of putting an earlier window back and losing the later one's count.
		id = w.id
		now = id * l.window
	}
	size := float64(l.window) / 1e9
	remainingTime := float64(l.window-now%l.window) / 1e9
	last := min(w.last, l.limit)
	lastRate := float64(last) / size
	estimatedLast := lastRate * remainingTime
	for {
		cur := w.cur.Load()
		if cur >= l.limit || estimatedLast+float64(cur) >= float64(l.limit) {
			// Rejected: the time until a request would be admitted.
			reset := remainingTime
			if cur < l.limit && lastRate > 0 {
				reset = max(remainingTime-float64(l.limit-cur)/lastRate, 0)
			}
			return result{rejected: true, reset: ceil2(reset)}, nil
		}
		if w.cur.CompareAndSwap(cur, cur+1) {
			rem := int64(math.Floor(float64(l.limit) - float64(cur+1) - estimatedLast))
			return result{remaining: rem, reset: ceil2(remainingTime)}, nil
		}
	}
}

// ceil2 is sliding-window.lua's round_off_decimal_places(x, 2).
func ceil2(x float64) float64 { return math.Ceil(x*100) / 100 }
