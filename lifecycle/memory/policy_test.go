package memory

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestReleaseDelay: a release waits for the configuration to settle, and for the interval since
// the previous release.
func TestReleaseDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		last time.Time
		want time.Duration
	}{
		{"first release", time.Time{}, time.Second},
		{"long after the previous one", now.Add(-time.Hour), time.Second},
		{"soon after the previous one", now.Add(-10 * time.Second), 20 * time.Second},
		{"interval almost over", now.Add(-29*time.Second - 500*time.Millisecond), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := releaseDelay(now, tt.last, time.Second, 30*time.Second); got != tt.want {
				t.Errorf("releaseDelay = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMemorySettles: a burst of applied snapshots makes one release, settle after its last
// change; a later change makes another, settle after it.
func TestMemorySettles(t *testing.T) {
	m := New(slog.New(slog.DiscardHandler))
	m.settle, m.interval = 300*time.Millisecond, 0
	var mu sync.Mutex
	var at []time.Time // when each release happened
	m.released = func() {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}
	releases, waitReleases := runMemory(t, m)
	releaseTime := func(i int) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at[i]
	}

	// A burst: applied many times, far faster than settle.
	began := time.Now()
	for range 100 {
		m.Applied()
	}
	last := time.Now()
	if burst := last.Sub(began); burst >= m.settle/2 {
		t.Skipf("the burst took %v, too close to settle (%v) to tell one release from two", burst, m.settle)
	}
	waitReleases(1)
	if d := releaseTime(0).Sub(last); d < m.settle {
		t.Errorf("released %v after the burst's last change, before it settled (%v)", d, m.settle)
	}
	last = time.Now()
	m.Applied()
	waitReleases(2)
	if d := releaseTime(1).Sub(last); d < m.settle {
		t.Errorf("released %v after the later change, before it settled (%v)", d, m.settle)
	}
	// Had the burst made more than one release, they would all have come before the one that
	// follows the later change.
	if got := releases.Load(); got != 2 {
		t.Errorf("%d releases after a burst and one later change, want 2", got)
	}
}

// TestIdleReleaseDue: a quiet process is released again once it has allocated enough, and never
// sooner than the interval after its last release; a configuration that changed waits for its
// own release.
func TestIdleReleaseDue(t *testing.T) {
	const interval, growth = 30 * time.Second, 512 << 10
	tests := []struct {
		name  string
		quiet bool
		since time.Duration
		grown uint64
		want  bool
	}{
		{"quiet, grown, interval over", true, 31 * time.Second, growth, true},
		{"quiet, grown a lot, interval not over", true, 29 * time.Second, 100 * growth, false},
		{"quiet, interval over, grown too little", true, time.Hour, growth - 1, false},
		{"configuration changed since", false, time.Hour, 100 * growth, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := idleReleaseDue(tt.quiet, tt.since, tt.grown, interval, growth); got != tt.want {
				t.Errorf("idleReleaseDue = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMemoryReleasesWhileIdle: after the release that follows a change, a process that keeps
// allocating with no further change is released again.
func TestMemoryReleasesWhileIdle(t *testing.T) {
	m := New(slog.New(slog.DiscardHandler))
	m.settle, m.interval, m.growth = 5*time.Millisecond, 40*time.Millisecond, 1000
	var allocated atomic.Int64
	m.allocated = func() uint64 { return uint64(allocated.Load()) }
	_, waitReleases := runMemory(t, m)
	m.Applied()
	waitReleases(1)
	allocated.Add(1000)
	waitReleases(2)
	allocated.Add(1000)
	waitReleases(3)
}

// runMemory runs m's policy until the test ends (m.released, when set, is still called). It
// returns m's count of releases, and a function that waits for the count to reach want.
func runMemory(t *testing.T, m *Policy) (*atomic.Int64, func(want int64)) {
	t.Helper()
	releases := new(atomic.Int64)
	counted := m.released
	m.released = func() {
		if counted != nil {
			counted()
		}
		releases.Add(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return releases, func(want int64) {
		t.Helper()
		testutil.WaitForState(t, fmt.Sprintf("%d releases", want), 20*time.Second, func() (bool, string) {
			n := releases.Load()
			return n >= want, fmt.Sprintf("%d releases", n)
		})
	}
}
