package cpclient

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SnapshotWriter writes States to the snapshot file in the background. The newest State wins and
// writes are at least the interval apart — or ten times the last write's duration, when that is
// longer, so that writing a large configuration under churn costs at most a tenth of a CPU — so a
// burst of changes costs one file write, not one per change; whatever is pending when Run's context
// ends is written before Run returns.
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
		took := w.flush()
		t := time.NewTimer(max(w.interval, 10*took))
		select {
		case <-ctx.Done():
			t.Stop()
			w.flush()
			return
		case <-t.C:
		}
	}
}

func (w *SnapshotWriter) flush() time.Duration {
	w.mu.Lock()
	st := w.pending
	w.pending = nil
	w.mu.Unlock()
	if st == nil {
		return 0
	}
	start := time.Now()
	err := WriteSnapshot(w.path, w.prefix, st)
	took := time.Since(start)
	if err != nil {
		w.log.Warn("could not write the snapshot file", "file", w.path, "error", err)
		return took
	}
	w.log.Debug("wrote the snapshot file", "file", w.path, "revision", st.Revision, "keys", st.KVs.Len(),
		"duration", took.Round(time.Millisecond))
	return took
}
