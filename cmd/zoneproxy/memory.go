package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// The memory policy's timing: how long the configuration must stay unchanged before memory is
// released, and the least time between two releases (each is a garbage collection, some 20 ms of
// CPU with 10,000 routes).
const (
	settleDelay        = time.Second
	minReleaseInterval = 30 * time.Second
)

// memory is zoneproxy's memory policy: what the process gives back once its configuration
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
// Under constant updates nothing is released: the collector runs anyway. GOGC and
// zoneproxy.memory_limit keep their usual meaning.
//
// applied may be called from any goroutine; run is the policy's one goroutine.
type memory struct {
	log              *slog.Logger
	settle, interval time.Duration
	kick             chan struct{}
	// released, when set, is told of each release (tests).
	released func()
}

func newMemory(log *slog.Logger) *memory {
	return &memory{log: log.With("component", "memory"), settle: settleDelay, interval: minReleaseInterval,
		kick: make(chan struct{}, 1)}
}

// applied notes that a snapshot was applied: memory is released once none has been for settle.
func (m *memory) applied() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// run releases memory when the configuration settles, until ctx is done.
func (m *memory) run(ctx context.Context) {
	var (
		timer *time.Timer
		fire  <-chan time.Time
		last  time.Time // the last release
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
			d := releaseDelay(time.Now(), last, m.settle, m.interval)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			last = time.Now()
			m.release()
			if m.released != nil {
				m.released()
			}
		}
	}
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
func (m *memory) release() {
	before := residentKiB()
	debug.FreeOSMemory()
	textBytes, err := releaseText()
	if err != nil {
		m.log.Debug("could not release the executable's pages", "error", err)
	}
	m.log.Debug("memory released", "rss_kib_before", before, "rss_kib_after", residentKiB(),
		"text_bytes", textBytes)
}
