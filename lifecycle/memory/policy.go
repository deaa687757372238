package memory

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The memory policy's timing: how long the configuration must stay unchanged before memory is
// released, and the least time between two releases (each is a garbage collection, some 20 ms of
// CPU with 10,000 routes).
const (
	settleDelay        = time.Second
	minReleaseInterval = 30 * time.Second
)

// idleGrowth is how much the process must have allocated since the last release for a quiet
// configuration to be released again (see Policy).
const idleGrowth = 512 << 10

// Policy is zoneproxy's memory policy: what the process gives back once its configuration
// settles.
//
// Building a snapshot leaves garbage behind (decoded JSON, the tables it replaced), and the hot
// path allocates nothing, so the garbage collector may not run again for two minutes (the
// runtime's forced cycle) while the heap's high-water mark stays resident. Once no snapshot has
// been applied for settle, memory runs a collection that hands every free page back to the
// operating system (debug.FreeOSMemory), at most once per interval. It also drops the
// executable's read-only pages (code, constants) from the resident set (releaseText): most of
// them served start-up or the build only (the package initialisation of gRPC, protobuf and etcd's
// client, JSON decoding, compiling); those still in use come back from the page cache at their
// next use, a few hundred minor page faults.
//
// While the configuration stays quiet, the little the process allocates (the control-plane
// probes, some 27 KB a second; new client connections) would pile up until the runtime's forced
// collection every two minutes. So every interval, when no snapshot was applied since the last
// release and the process has allocated idleGrowth since, memory releases again: a collection
// every minute or so at that rate, a thousandth of a CPU.
//
// Under constant updates nothing is released: the collector runs anyway. GOGC and
// zoneproxy.memory_limit keep their usual meaning.
//
// Applied may be called from any goroutine; Run is the policy's one goroutine.
type Policy struct {
	log              *slog.Logger
	settle, interval time.Duration
	growth           uint64        // idleGrowth
	allocated        func() uint64 // bytes allocated since the process started
	kick             chan struct{}
	// released, when set, is told of each release (tests).
	released func()
}

// New returns the policy; log receives a debug line per release.
func New(log *slog.Logger) *Policy {
	return &Policy{log: log.With("component", "memory"), settle: settleDelay, interval: minReleaseInterval,
		growth: idleGrowth, allocated: heapAllocated, kick: make(chan struct{}, 1)}
}

// heapAllocated is the bytes allocated on the heap since the process started (a cheap read: no
// stop of the world, unlike runtime.ReadMemStats).
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// Applied notes that a snapshot was applied: memory is released once none has been for settle.
func (m *Policy) Applied() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run releases memory when the configuration settles, and again while it stays quiet (see
// Policy), until ctx is done.
func (m *Policy) Run(ctx context.Context) {
	var (
		timer       *time.Timer
		fire        <-chan time.Time
		last        time.Time // the last release
		allocAtLast uint64    // m.allocated() then
		quiet       bool      // released, and no snapshot applied since
		idle        <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	if m.interval > 0 {
		tick := time.NewTicker(m.interval / idleChecks)
		defer tick.Stop()
		idle = tick.C
	}
	release := func(why string) {
		fire = nil
		last, quiet = time.Now(), true
		m.release(why)
		allocAtLast = m.allocated()
		if m.released != nil {
			m.released()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
			quiet = false
			d := releaseDelay(time.Now(), last, m.settle, m.interval)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			fire = timer.C
		case <-fire:
			release("configuration settled")
		case now := <-idle:
			if idleReleaseDue(quiet, now.Sub(last), m.allocated()-allocAtLast, m.interval, m.growth) {
				release("allocations while idle")
			}
		}
	}
}

// idleChecks is how many times per interval run looks at what a quiet process allocated.
const idleChecks = 4

// idleReleaseDue tells whether to release again a process whose last release was since ago and
// which has allocated grown bytes since then: only while quiet (released, and no snapshot
// applied since), at least interval after that release, and once grown reaches growth.
func idleReleaseDue(quiet bool, since time.Duration, grown uint64, interval time.Duration, growth uint64) bool {
	return quiet && since >= interval && grown >= growth
}

// releaseDelay is how long to wait, at now, before a release: settle, or longer so that two
// releases are interval apart (last is the previous one, zero for none).
func releaseDelay(now, last time.Time, settle, interval time.Duration) time.Duration {
	d := settle
	if !last.IsZero() {
		d = max(d, last.Add(interval).Sub(now))
	}
	return d
}

// release collects garbage and returns free memory and the executable's read-only pages to the
// operating system.
func (m *Policy) release(why string) {
	before := residentKiB()
	debug.FreeOSMemory()
	textBytes, err := releaseText()
	if err != nil {
		m.log.Debug("could not release the executable's pages", "error", err)
	}
	m.log.Debug("memory released", "reason", why, "rss_kib_before", before, "rss_kib_after", residentKiB(),
		"text_bytes", textBytes)
}
