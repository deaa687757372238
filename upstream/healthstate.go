package upstream

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
)

// Health follows lua-resty-healthcheck's per-target state machine, shared by active probes and
// passive reports: four 8-bit counters (successes, HTTP failures, TCP failures, timeouts) and
// four states. A success clears the failure counters and a failure clears the success counter;
// a counter reaching its threshold moves the target to healthy or unhealthy; a first failure in
// the healthy state makes it "mostly healthy" (still routed to), a first success in the unhealthy
// state "mostly unhealthy" (still ejected). Everything lives in one atomic word updated by CAS.

const (
	stHealthy uint64 = iota
	stMostlyHealthy
	stMostlyUnhealthy
	stUnhealthy
)

// Counter positions in the health word (8 bits each).
const (
	ctrSuccess = iota
	ctrHTTP
	ctrTCP
	ctrTimeout
)

const failureMask = 0xffffff00

// healthSet is what the health states of one upstream key under one checks configuration
// share: a generation bumped whenever a node flips between routable and ejected, the balancers
// whose candidate views the flip rebuilds, and what a flip is logged with.
type healthSet struct {
	gen    atomic.Uint64
	serial uint64 // distinguishes incarnations: a checks change makes a new set
	key    string
	log    *slog.Logger
	// subs are the balancers of the key's live pools (and of pools built since the last Retain):
	// a flip rebuilds their views at once, so that no Pick has to. Copy-on-write, under subsMu.
	subsMu sync.Mutex
	subs   atomic.Pointer[[]*balancer]
}

// subscribe adds b to the balancers whose views a flip rebuilds.
func (s *healthSet) subscribe(b *balancer) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	var next []*balancer
	if old := s.subs.Load(); old != nil {
		if slices.Contains(*old, b) {
			return
		}
		next = slices.Clone(*old)
	}
	next = append(next, b)
	b.eager.Store(true)
	s.subs.Store(&next)
}

// keepOnly unsubscribes every balancer not in live; those rebuild lazily from then on (a request
// still holding an old pool may pick from it).
func (s *healthSet) keepOnly(live []*balancer) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	old := s.subs.Load()
	if old == nil {
		return
	}
	stale := false
	for _, b := range *old {
		stale = stale || !slices.Contains(live, b)
	}
	if !stale {
		return
	}
	next := make([]*balancer, 0, len(live))
	for _, b := range *old {
		if slices.Contains(live, b) {
			next = append(next, b)
		} else {
			b.eager.Store(false)
		}
	}
	s.subs.Store(&next)
}

// flipped records a node's flip and rebuilds the subscribed balancers' views, on the goroutine
// of the report that flipped it (an active checker, or the Done of the try that ejected it).
func (s *healthSet) flipped() {
	s.gen.Add(1)
	if subs := s.subs.Load(); subs != nil {
		for _, b := range *subs {
			b.rebuild()
		}
	}
}

// healthState is the health of one node address of one upstream key.
type healthState struct {
	word atomic.Uint64 // counters in bits 0..31, state in bits 32..33
	set  *healthSet
	addr string
}

func (h *healthState) healthy() bool { return h.word.Load()>>32 <= stMostlyHealthy }

// report counts one good (success) or bad (failure of kind ctr) observation against limit;
// limit 0 disables the counter, as in lua-resty-healthcheck.
func (h *healthState) report(good bool, ctr uint, limit int, source string) {
	if limit <= 0 {
		return
	}
	for {
		old := h.word.Load()
		st := old >> 32
		if good && st == stHealthy || !good && st == stUnhealthy {
			return
		}
		shift := 8 * ctr
		c := (old >> shift) & 0xff
		if c < 0xff {
			c++
		}
		var counters uint64
		if good {
			counters = c
		} else {
			counters = old&failureMask&^(0xff<<shift) | c<<shift
		}
		next := st
		switch {
		case int(c) >= limit && good:
			next = stHealthy
		case int(c) >= limit:
			next = stUnhealthy
		case st == stHealthy && counters&failureMask != 0:
			next = stMostlyHealthy
		case st == stUnhealthy && counters&0xff != 0:
			next = stMostlyUnhealthy
		}
		if !h.word.CompareAndSwap(old, next<<32|counters) {
			continue
		}
		if wasUp, isUp := st <= stMostlyHealthy, next <= stMostlyHealthy; wasUp != isUp {
			h.set.flipped()
			h.set.log.LogAttrs(context.Background(), slog.LevelInfo, "upstream node health changed",
				slog.String("upstream", h.set.key), slog.String("node", h.addr),
				slog.Bool("healthy", isUp), slog.String("source", source))
		}
		return
	}
}

// statusSet is a bitmap of HTTP statuses 0..639.
type statusSet [10]uint64

func newStatusSet(codes []int) statusSet {
	var s statusSet
	for _, c := range codes {
		if c >= 0 && c < 640 {
			s[c>>6] |= 1 << (c & 63)
		}
	}
	return s
}

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 640 && s[code>>6]&(1<<(code&63)) != 0
}

// thresholds is one side (active or passive) of a checks configuration, compiled.
type thresholds struct {
	good, bad            statusSet
	successes, httpFails int
	tcpFails, timeouts   int
	reportStatuses       bool // passive: only when checks.passive is configured
}

func activeThresholds(a *ActiveCheck) thresholds {
	return thresholds{
		good: newStatusSet(a.Healthy.HTTPStatuses), bad: newStatusSet(a.Unhealthy.HTTPStatuses),
		successes: a.Healthy.Successes, httpFails: a.Unhealthy.HTTPFailures,
		tcpFails: a.Unhealthy.TCPFailures, timeouts: a.Unhealthy.Timeouts, reportStatuses: true,
	}
}

// passiveThresholds compiles checks.passive. Without it, APISIX's checker still counts failed
// tries (connect errors, timeouts) with lua-resty-healthcheck's passive defaults but never looks
// at response statuses.
func passiveThresholds(c *Checks) thresholds {
	p, configured := c.Passive, c.Passive != nil
	if !configured {
		d := defaultPassive()
		p = &d
	}
	return thresholds{
		good: newStatusSet(p.Healthy.HTTPStatuses), bad: newStatusSet(p.Unhealthy.HTTPStatuses),
		successes: p.Healthy.Successes, httpFails: p.Unhealthy.HTTPFailures,
		tcpFails: p.Unhealthy.TCPFailures, timeouts: p.Unhealthy.Timeouts, reportStatuses: configured,
	}
}

// status reports an HTTP status; 0 stands for an unreadable response (counted as an HTTP
// failure, as lua-resty-healthcheck does). Statuses in neither list are ignored.
func (t *thresholds) status(h *healthState, code int, source string) {
	switch {
	case t.good.has(code):
		h.report(true, ctrSuccess, t.successes, source)
	case code == 0 || t.bad.has(code):
		h.report(false, ctrHTTP, t.httpFails, source)
	}
}
