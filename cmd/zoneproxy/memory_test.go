package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
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

// TestMemorySettles: a burst of applied snapshots makes one release, once it is over; a later
// one makes another.
func TestMemorySettles(t *testing.T) {
	m := newMemory(slog.New(slog.DiscardHandler))
	m.settle, m.interval = 20*time.Millisecond, 0
	var releases atomic.Int64
	m.released = func() { releases.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitReleases := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for releases.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d releases, want %d", releases.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// A burst: applied every few milliseconds, faster than settle.
	began := time.Now()
	for i := 0; i < 10; i++ {
		m.applied()
		time.Sleep(2 * time.Millisecond)
	}
	burst := time.Since(began)
	waitReleases(1)
	if got := releases.Load(); got != 1 && burst < m.settle {
		t.Errorf("%d releases after one burst, want 1", got)
	}
	m.applied()
	waitReleases(2)
}
