package cpclient

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SnapshotWriter writes States to the snapshot file in the background. The newest State wins and
// writes are at least Interval apart, so that a burst of changes costs one file write, not one per
// change; whatever is pending when Run's context ends is written before Run returns.
type SnapshotWriter struct {
	path, prefix string
	interval     time.Duration
	log          *slog.Logger

	mu      sync.Mutex
	pending *State
	kick    chan struct{}
}

// NewSnapshotWriter returns a writer for path; interval 0 means one second.
func NewSnapshotWriter(path, prefix string, interval time.Duration, log *slog.Logger) *SnapshotWriter {
	if interval <= 0 {
		interval = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SnapshotWriter{path: path, prefix: prefix, interval: interval, log: log.With("component", "cpclient"),
		kick: make(chan struct{}, 1)}
}

// Save queues st to be written; it never blocks.
func (w *SnapshotWriter) Save(st *State) {
	w.mu.Lock()
	w.pending = st
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run writes queued States until ctx is done, then writes the last one queued.
func (w *SnapshotWriter) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			w.flush()
			return
		case <-w.kick:
		}
		w.flush()
		t := time.NewTimer(w.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			w.flush()
			return
		case <-t.C:
		}
	}
}

func (w *SnapshotWriter) flush() {
	w.mu.Lock()
	st := w.pending
	w.pending = nil
	w.mu.Unlock()
	if st == nil {
		return
	}
	start := time.Now()
	if err := WriteSnapshot(w.path, w.prefix, st); err != nil {
		w.log.Warn("could not write the snapshot file", "file", w.path, "error", err)
		return
	}
	w.log.Debug("wrote the snapshot file", "file", w.path, "revision", st.Revision, "keys", len(st.KVs),
		"duration", time.Since(start).Round(time.Millisecond))
}
