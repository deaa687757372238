package statefile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// Writer writes States to the state file in the background. The newest State wins and
// writes are at least the interval apart — or ten times the last write's duration, when that is
// longer, so that writing a large configuration under churn costs at most a tenth of a CPU — so a
// burst of changes costs one write, not one per change; whatever is pending when Run's context
// ends is written before Run returns.
//
// The first write of a process is a whole state file; the next ones append what changed to its
// journal (see journalFormat), until the journal outgrows the file or the State comes from
// another store or endpoint; then the writer starts again from a whole file.
type Writer struct {
	path, prefix string
	interval     time.Duration
	log          *slog.Logger

	mu      sync.Mutex
	pending *state.State
	kick    chan struct{}

	// Run's goroutine only: what is on disk.
	written *state.State // the last State on disk (file and journal); nil if none or the last write failed
	journal *journal     // the journal of the last whole write, nil when there is none to append to
}

// NewWriter returns a writer for path; interval 0 means one second.
func NewWriter(path, prefix string, interval time.Duration, log *slog.Logger) *Writer {
	if interval <= 0 {
		interval = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{path: path, prefix: prefix, interval: interval, log: log.With("component", "cpclient"),
		kick: make(chan struct{}, 1)}
}

// Save queues st to be written; it never blocks.
func (w *Writer) Save(st *state.State) {
	w.mu.Lock()
	w.pending = st
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run writes queued States until ctx is done, then writes the last one queued.
func (w *Writer) Run(ctx context.Context) {
	defer w.closeJournal()
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

func (w *Writer) flush() time.Duration {
	w.mu.Lock()
	st := w.pending
	w.pending = nil
	w.mu.Unlock()
	if st == nil {
		return 0
	}
	start := time.Now()
	if w.appendable(st) {
		puts, dels := w.written.KVs.Diff(st.KVs)
		err := w.journal.append(st, puts, dels)
		took := time.Since(start)
		if err == nil {
			w.written = st
			w.log.Debug("appended to the state journal", "file", journalPath(w.path), "revision", st.Revision,
				"puts", len(puts), "deletes", len(dels), "duration", took.Round(time.Microsecond))
			return took
		}
		w.log.Warn("could not append to the state journal; writing the whole state file",
			"file", journalPath(w.path), "error", err)
	}
	w.closeJournal()
	w.written = nil
	id, err := writeFile(w.path, w.prefix, st)
	if err != nil {
		w.log.Warn("could not write the state file", "file", w.path, "error", err)
		return time.Since(start)
	}
	w.written = st
	if w.journal, err = createJournal(w.path, w.prefix, id); err != nil {
		w.log.Warn("could not start the state journal; the next change writes the whole state file",
			"file", journalPath(w.path), "error", err)
	}
	took := time.Since(start)
	w.log.Debug("wrote the state file", "file", w.path, "revision", st.Revision, "keys", st.KVs.Len(),
		"duration", took.Round(time.Millisecond))
	return took
}

// appendable reports whether st can go to the journal: there is one to append to, with room, and
// st continues the last State written, from the same store and endpoint.
func (w *Writer) appendable(st *state.State) bool {
	return w.journal != nil && !w.journal.full() && w.written != nil && st.Revision > w.written.Revision &&
		st.ClusterID == w.written.ClusterID && st.Endpoint == w.written.Endpoint
}

func (w *Writer) closeJournal() {
	if w.journal != nil {
		w.journal.close()
		w.journal = nil
	}
}
